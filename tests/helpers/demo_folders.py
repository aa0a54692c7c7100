"""Shared by the demo's folder and resume tests: folder snapshots, quick settings, tiny scenes."""

import hashlib
import os
from pathlib import Path

import numpy as np

from pointcept_dos.cli import build_parser
from pointcept_dos.demo.output_folder import (
    ensure_scenes,
    prepare_output_folder,
)
from pointcept_dos.demo.run import RUNS, demo_settings

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


def tiny_layout(folder, seed=0):
    """A stand-in for write_scannet_layout: 2 train + 1 val scenes of 40 points."""
    rng = np.random.default_rng(seed)
    for split, names in (("train", ["scene0000_00", "scene0001_00"]), ("val", ["scene0002_00"])):
        for name in names:
            scene = Path(folder) / split / name
            scene.mkdir(parents=True)
            np.save(scene / "coord.npy", rng.uniform(0, 3, (40, 3)).astype(np.float32))
            np.save(scene / "color.npy", rng.integers(0, 256, (40, 3)).astype(np.uint8))
            np.save(scene / "normal.npy", np.tile(np.float32([0, 0, 1]), (40, 1)))
            np.save(scene / "segment20.npy", rng.integers(-1, 20, 40).astype(np.int32))


def demo_with_scenes(out, settings):
    """A claimed output folder whose (tiny) scenes are written: (manifest, scene hashes)."""
    state, manifest = prepare_output_folder(str(out), settings, RUN_DIRS)
    assert state == "new"
    return manifest, ensure_scenes(str(out), manifest, tiny_layout)


