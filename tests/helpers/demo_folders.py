"""Shared by the demo's folder and resume tests: folder snapshots, quick settings, tiny scenes."""

import hashlib
import os
from pathlib import Path

import numpy as np

from pointcept_dos.cli import build_parser
from pointcept_dos.demo.run import PRESETS, RUNS, _plan, _synthetic_scenes, demo_settings

RUN_DIRS = list(RUNS)


def snapshot(folder):
    """{relative path: (bytes sha256 or link target)} of everything under `folder`."""
    state = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            state[rel] = "link -> " + os.readlink(path)
        elif path.is_file():
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[rel] = "dir"
    return state


def quick_settings(*argv):
    return demo_settings(build_parser().parse_args(["demo", "--quick", *argv]))[1]


def quick_plan():
    return _plan(RUN_DIRS, PRESETS["quick"], None)


def tiny_scenes(num_scenes=None, seed=0, points=40):
    """A stand-in for synthetic.scannet_layout_scenes: scenes of `points` random points."""
    from pointcept_dos.synthetic import scannet_layout_names

    rng = np.random.default_rng(seed)
    for split, name in scannet_layout_names(num_scenes):
        yield split, name, dict(
            coord=rng.uniform(0, 3, (points, 3)).astype(np.float32),
            color=rng.integers(0, 256, (points, 3)).astype(np.uint8),
            normal=np.tile(np.float32([0, 0, 1]), (points, 1)),
            segment20=rng.integers(-1, 20, points).astype(np.int32),
            segment200=np.zeros(points, np.int32), instance=np.zeros(points, np.int32))


def claim_with_scenes(out, settings, monkeypatch, seed=0):
    """A claimed output folder (quick preset) whose tiny scenes are written: (folder, source)."""
    from pointcept_dos import synthetic
    from pointcept_dos.demo.output_folder import OutputFolder

    monkeypatch.setattr(synthetic, "scannet_layout_scenes", lambda counts, s: tiny_scenes(counts, seed))
    folder = OutputFolder(out)
    folder.claim(settings, quick_plan())
    return folder, _synthetic_scenes(folder, PRESETS["quick"], 0)
