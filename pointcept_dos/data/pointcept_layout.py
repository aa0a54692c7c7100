"""A user's dataset in Pointcept's preprocessed layout, read for the CPU demo (`--data DIR`).

Two layouts, told apart by their folders:

- ScanNet: `DIR/train/<scene>/` and `DIR/val/<scene>/` with `coord.npy`, `color.npy`,
  `segment20.npy` and, when present, `normal.npy` (Pointcept's ScanNet preprocessing); val is
  the held-out split.
- S3DIS: `DIR/Area_<n>/<room>/` with `coord.npy`, `color.npy`, `segment.npy` (13 classes) and
  optionally `normal.npy`; Area 5 is held out, as Pointcept's S3DIS configs do.

Pretraining reads only `coord`, `color` and `normal` (`scene_files(..., labels=False)`); labels
are read by the probe alone. Missing normals are estimated (`normals.estimate_normals`). Every
array is checked where it enters: a missing file, a wrong shape or dtype, a non-finite value
or a label out of range is an error naming the file.
"""

import os
from dataclasses import dataclass

import numpy as np

from .normals import estimate_normals
from .scannet_taxonomy import CLASS_NAMES, IGNORE_INDEX

S3DIS_CLASS_NAMES = ("ceiling", "floor", "wall", "beam", "column", "window", "door", "table",
                     "chair", "sofa", "bookcase", "board", "clutter")
NORMAL_RADIUS = 0.1  # metres: the neighbourhood of an estimated normal, 3 voxels of this side


@dataclass(frozen=True)
class Layout:
    """One preprocessed layout: where its splits are and what its labels mean."""

    name: str
    label_key: str
    class_names: tuple
    structure: tuple  # classes that are the room itself (not counted as "learned beyond it")

    def split_folders(self, root, split):
        """Top-level folders of `root` that make up `split` ("train" or "val")."""
        if self.name == "scannet":
            return [split]
        areas = sorted(e for e in os.listdir(root) if e.startswith("Area_") and
                       os.path.isdir(os.path.join(root, e)))
        return [a for a in areas if (a == "Area_5") == (split == "val")]


LAYOUTS = {
    "scannet": Layout("scannet", "segment20", CLASS_NAMES, ("wall", "floor", "ceiling")),
    "s3dis": Layout("s3dis", "segment", S3DIS_CLASS_NAMES, ("ceiling", "floor", "wall")),
}
INPUT_KEYS = ("coord", "color", "normal")


class DatasetError(ValueError):
    """The dataset is not what the layout promises: the file, the problem, what was expected."""


def detect_layout(root):
    """"scannet" or "s3dis" from the folders of `root`; DatasetError when neither."""
    if not os.path.isdir(root):
        raise DatasetError(f"--data {root}: not a folder; expected Pointcept's preprocessed "
                           "ScanNet (train/, val/) or S3DIS (Area_1/ ... Area_6/)")
    entries = set(os.listdir(root))
    if {"train", "val"} <= entries:
        return "scannet"
    if any(e.startswith("Area_") for e in entries):
        return "s3dis"
    found = ", ".join(sorted(entries)[:8]) or "nothing"
    raise DatasetError(f"--data {root}: holds {found}; expected Pointcept's preprocessed ScanNet "
                       "(train/<scene>/coord.npy, val/<scene>/...) or S3DIS (Area_<n>/<room>/...)")


def list_scenes(root, layout, split):
    """Sorted '/'-paths (relative to `root`) of the scene folders of `split`; DatasetError for
    an empty split."""
    scenes = []
    for folder in layout.split_folders(root, split):
        path = os.path.join(root, folder)
        if os.path.isdir(path):
            scenes += [f"{folder}/{name}" for name in sorted(os.listdir(path))
                       if os.path.isdir(os.path.join(path, name))]
    if not scenes:
        where = ", ".join(layout.split_folders(root, split)) or "no Area_<n> folder"
        raise DatasetError(f"--data {root}: the {split} split ({where}) holds no scene folder")
    return scenes


def scene_files(root, rel, layout, labels):
    """{key: path} of the files a scene needs (normal only where present); DatasetError for a
    missing one."""
    keys = ["coord", "color"] + ([layout.label_key] if labels else [])
    files = {k: os.path.join(root, *rel.split("/"), f"{k}.npy") for k in keys}
    for key, path in files.items():
        if not os.path.isfile(path):
            raise DatasetError(f"{path}: missing; a {layout.name} scene needs {', '.join(keys)}.npy")
    normal = os.path.join(root, *rel.split("/"), "normal.npy")
    if os.path.isfile(normal):
        files["normal"] = normal
    return files


def _check(path, array, kind, num_points=None):
    """The array of `path`, checked: kind "points" ([N, 3] real, finite), "color" ([N, 3]
    0..255) or "labels" ([N] integers)."""
    want = "[N]" if kind == "labels" else "[N, 3]"
    shape_ok = array.ndim == 1 if kind == "labels" else array.ndim == 2 and array.shape[1] == 3
    if not shape_ok or (num_points is not None and len(array) != num_points):
        rows = "" if num_points is None else f" with N = {num_points} (coord.npy's points)"
        raise DatasetError(f"{path}: shape {array.shape}, expected {want}{rows}")
    if kind == "labels":
        if not np.issubdtype(array.dtype, np.integer):
            raise DatasetError(f"{path}: dtype {array.dtype}, expected integer class ids")
        return array.astype(np.int64)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DatasetError(f"{path}: dtype {array.dtype}, expected real numbers")
    if not np.isfinite(array).all():
        raise DatasetError(f"{path}: holds NaN or Inf in {int((~np.isfinite(array)).any(1).sum())} points")
    if kind == "color" and (array.min() < 0 or array.max() > 255):
        raise DatasetError(f"{path}: values in [{array.min()}, {array.max()}], expected colours in 0..255")
    return array.astype(np.float32)


def check_scene(files, arrays, layout, labels=False):
    """One scene's loaded arrays, checked: coord [N, 3], color [N, 3] in 0..255, normal [N, 3]
    when given and, with `labels`, `label` [N] (the layout's ids, in [-1, classes)); float32 and
    int64. files: {key: path} from `scene_files`, named in errors; arrays: {key: array}."""
    coord = _check(files["coord"], arrays["coord"], "points")
    n = len(coord)
    if n == 0:
        raise DatasetError(f"{files['coord']}: holds no point")
    scene = dict(coord=coord, color=_check(files["color"], arrays["color"], "color", n))
    if "normal" in files:
        scene["normal"] = _check(files["normal"], arrays["normal"], "points", n)
    if labels:
        path = files[layout.label_key]
        label = _check(path, arrays[layout.label_key], "labels", n)
        bad = (label < IGNORE_INDEX) | (label >= len(layout.class_names))
        if bad.any():
            raise DatasetError(f"{path}: {int(bad.sum())} labels outside [-1, {len(layout.class_names) - 1}] "
                               f"(e.g. {int(label[bad][0])}); expected {layout.name}'s "
                               f"{len(layout.class_names)} classes, -1 ignored")
        scene["label"] = label
    return scene


def build_scene(files, arrays, layout, labels=False, max_points=None, seed=0):
    """`check_scene`, then at most `max_points` points (a random subset fixed by `seed`, the
    same on every read) and the normals estimated where the scene has none."""
    scene = check_scene(files, arrays, layout, labels)
    n = len(scene["coord"])
    if max_points is not None and n > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        scene = {k: v[keep] for k, v in scene.items()}
    if "normal" not in scene:
        scene["normal"] = estimate_normals(scene["coord"], NORMAL_RADIUS)
    return scene
