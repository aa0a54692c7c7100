"""Shared helpers for tests that need a Pointcept checkout (reuse them in other test files).

Pointcept has no package: it is found through the POINTCEPT_ROOT environment variable, and the
tests that need it skip with a clear reason when it is unset or incomplete (CI has no Pointcept).

    from pointcept_env import requires_pointcept, pointcept_root, write_scannet_like

    @requires_pointcept
    def test_something():
        root = pointcept_root()
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Modules that importing pointcept.engines / pointcept.datasets / pointcept.models imports at
# module level (Pointcept v1.7.0), beyond torch and numpy: a partial environment skips with their
# names instead of failing inside Pointcept. (SharedArray is optional there; pointops is CUDA
# only and stood in for by CPU mode.)
POINTCEPT_IMPORT_DEPS = (
    "spconv", "torch_scatter", "torch_cluster", "torch_geometric", "timm", "torchvision", "addict",
    "yapf", "einops", "scipy", "termcolor", "tensorboardX", "wandb", "peft", "transformers",
    "h5py", "open3d", "PIL", "packaging",
)


def pointcept_root():
    """The Pointcept checkout named by POINTCEPT_ROOT, or None when unset or not a checkout."""
    value = os.environ.get("POINTCEPT_ROOT")
    if not value:
        return None
    path = Path(value)
    if not (path / "pointcept" / "__init__.py").is_file() or not (path / "configs").is_dir():
        return None
    return path


def pointcept_skip_reason():
    """Why Pointcept tests cannot run here, or None when they can."""
    value = os.environ.get("POINTCEPT_ROOT")
    if not value:
        return "POINTCEPT_ROOT is not set (point it at a Pointcept checkout to run these tests)"
    if pointcept_root() is None:
        return f"POINTCEPT_ROOT={value} is not a Pointcept checkout"
    missing = [m for m in POINTCEPT_IMPORT_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        return "Pointcept's import-time dependencies are missing: " + ", ".join(missing)
    return None


requires_pointcept = pytest.mark.skipif(
    pointcept_skip_reason() is not None, reason=pointcept_skip_reason() or ""
)


def pointcept_env(extra_pythonpath=(), exp_root=None):
    """os.environ for a subprocess that imports Pointcept (POINTCEPT_ROOT on PYTHONPATH).
    exp_root: a folder for tools/train.sh and test.sh experiments (DOS_EXP_ROOT); tests pass a
    tmp folder so that nothing is written into the repository."""
    env = dict(os.environ)
    if exp_root is not None:
        env["DOS_EXP_ROOT"] = str(exp_root)
    parts = [str(p) for p in extra_pythonpath] + [str(pointcept_root())]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("OMP_NUM_THREADS", "2")
    env["WANDB_MODE"] = "disabled"
    return env


def write_scannet_like(root, scenes=None, points=400, seed=0):
    """Write a tiny synthetic dataset in Pointcept's preprocessed ScanNet layout.

    root/{split}/{scene}/coord.npy (float32 metres), color.npy (uint8 0-255), normal.npy
    (float32), segment20.npy / segment200.npy / instance.npy (int16, -1 = ignore), as Pointcept's
    ScanNet preprocessing writes them. Each scene is a small room: floor (class 1), walls (0) and a
    box (chair, 4), a few hundred points. Returns the root path.
    """
    scenes = scenes or {"train": ["scene0000_00", "scene0001_00"], "val": ["scene0002_00"]}
    rng = np.random.default_rng(seed)
    root = Path(root)
    for split, names in scenes.items():
        for name in names:
            n_floor, n_wall = points // 2, points // 4
            n_box = points - n_floor - n_wall
            size = rng.uniform(2.0, 3.0, size=2)
            floor = np.c_[rng.uniform(0, size[0], n_floor), rng.uniform(0, size[1], n_floor), np.zeros(n_floor)]
            wall = np.c_[rng.uniform(0, size[0], n_wall), np.full(n_wall, size[1]), rng.uniform(0, 2.0, n_wall)]
            corner = rng.uniform(0.3, 1.2, size=2)
            box = np.c_[rng.uniform(0, 0.5, (n_box, 2)) + corner, rng.uniform(0, 0.8, n_box)]
            coord = np.concatenate([floor, wall, box]).astype(np.float32)
            normal = np.concatenate(
                [np.tile([0, 0, 1], (n_floor, 1)), np.tile([0, -1, 0], (n_wall, 1)), np.tile([1, 0, 0], (n_box, 1))]
            ).astype(np.float32)
            color = rng.integers(0, 256, size=(points, 3)).astype(np.uint8)
            segment20 = np.concatenate([np.full(n_floor, 1), np.full(n_wall, 0), np.full(n_box, 4)]).astype(np.int16)
            segment20[rng.random(points) < 0.05] = -1  # some unlabelled points
            segment200 = np.where(segment20 == 4, 2, segment20).astype(np.int16)
            instance = np.concatenate([np.full(n_floor, -1), np.full(n_wall, -1), np.full(n_box, 0)]).astype(np.int16)
            scene = root / split / name
            scene.mkdir(parents=True, exist_ok=True)
            for key, value in dict(
                coord=coord, color=color, normal=normal, segment20=segment20, segment200=segment200, instance=instance
            ).items():
                np.save(scene / f"{key}.npy", value)
    return root


def write_lattice_scene(root, split="train", name="scene0000_00", spacing=0.05):
    """One scene whose points lie on a `spacing` lattice (floor 1.6 x 1.6 m, a wall, a box), in
    Pointcept's ScanNet layout. Every point has a voxel of its own at grid sizes below
    spacing / sqrt(3), so grid sampling keeps all of them whatever its random choice: with
    view augmentation off, every data-loader pass gives the same points (in an order that may
    vary). Returns the root path."""
    axis = np.arange(0.0, 1.6, spacing)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    floor = np.c_[x.ravel(), y.ravel(), np.zeros(x.size)]
    x, z = np.meshgrid(axis, np.arange(spacing, 1.0, spacing), indexing="ij")
    wall = np.c_[x.ravel(), np.full(x.size, 1.6), z.ravel()]
    box_axis = np.arange(0.4, 0.8, spacing)
    x, y = np.meshgrid(box_axis, box_axis, indexing="ij")
    box = np.c_[x.ravel(), y.ravel(), np.full(x.size, 0.5)]
    coord = np.concatenate([floor, wall, box]).astype(np.float32)
    normal = np.concatenate([np.tile([0, 0, 1], (len(floor), 1)), np.tile([0, -1, 0], (len(wall), 1)),
                             np.tile([0, 0, 1], (len(box), 1))]).astype(np.float32)
    color = (np.abs(np.sin(coord * 7.0)) * 255).astype(np.uint8)
    segment20 = np.concatenate([np.full(len(floor), 1), np.full(len(wall), 0), np.full(len(box), 4)]).astype(np.int16)
    scene = Path(root) / split / name
    scene.mkdir(parents=True, exist_ok=True)
    for key, value in dict(coord=coord, color=color, normal=normal, segment20=segment20,
                           segment200=segment20, instance=np.full(len(coord), -1, np.int16)).items():
        np.save(scene / f"{key}.npy", value)
    return Path(root)


_CPU_MODE_PRELUDE = """
import json, sys
sys.path.insert(0, {tools!r})
sys.path.insert(0, {tests!r})
from _dos_entry import bootstrap
bootstrap(["--num-gpus", "0"])
"""


def run_cpu_mode_python(code, timeout=600):
    """Run `code` in a fresh interpreter as `-g 0` starts (CPU mode on, DOS registered, the
    tests folder importable); returns the JSON object the code prints last."""
    script = _CPU_MODE_PRELUDE.format(
        tools=str(REPO_ROOT / "tools"), tests=str(REPO_ROOT / "tests" / "helpers")
    ) + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=timeout, env=pointcept_env(), cwd=str(REPO_ROOT))
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
