"""Where the demo's scenes come from, and reading them back unchanged.

Two sources, one form: the synthetic scenes the demo writes into `OUT/data/scannet` (the
default), or a user's dataset in Pointcept's preprocessed layout (`--data DIR`, ScanNet or
S3DIS), which is only ever read. A source is a JSON-able dict (it travels to the worker
processes and into the manifest):

    root     the layout's folder
    layout   "scannet" | "s3dis" (`data.pointcept_layout.LAYOUTS`)
    scenes   {split: ['/'-paths of scene folders, relative to root]}
    files    {'/'-path of every file a run may read: SHA-256}
    max_points, seed   the per-scene cap (a fixed random subset) and its seed

Every read checks the file's SHA-256 against `files`, so a resumed run sees the very data the
run started with and a file changed since is an error, not a silently different run. Labels
are read only when asked (the probe); pretraining never opens them.
"""

import hashlib
import io
import zlib

import numpy as np

from ..data.pointcept_layout import (
    LAYOUTS,
    DatasetError,
    build_scene,
    check_scene,
    detect_layout,
    list_scenes,
    scene_files,
)

__all__ = ["DatasetError", "SYNTHETIC_DATA", "dataset_source", "fingerprint", "load_split", "synthetic_source"]

SYNTHETIC_DATA = "data/scannet"  # in OUT: Pointcept's ScanNet layout, scenes by split


def _read(path, digest=None):
    """(array, SHA-256) of a .npy file, refusing one whose bytes are not `digest`."""
    with open(path, "rb") as f:
        data = f.read()
    found = hashlib.sha256(data).hexdigest()
    if digest is not None and found != digest:
        raise DatasetError(f"{path} changed since this run started (SHA-256 differs from its "
                           "manifest): a run reads the data it started with; restore the file or "
                           "start a new run in another --out")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False), found
    except ValueError as err:  # an object array (a pickle) or no .npy at all
        raise DatasetError(f"{path}: not a .npy file of plain numbers ({err})") from None


def dataset_source(root, max_scenes=None, max_points=None, seed=0):
    """The source of a user's dataset at `root`: its layout detected, at most `max_scenes`
    scenes per split (the first, by name), every file of them read, checked (labels included)
    and hashed, before the demo writes anything. DatasetError names what is wrong."""
    layout = LAYOUTS[detect_layout(root)]
    scenes, files = {}, {}
    for split in ("train", "val"):
        scenes[split] = list_scenes(root, layout, split)[:max_scenes]
        for rel in scenes[split]:
            paths = scene_files(root, rel, layout, labels=True)
            arrays = {}
            for key, path in paths.items():
                arrays[key], files[f"{rel}/{key}.npy"] = _read(path)
            check_scene(paths, arrays, layout, labels=True)
    return dict(root=root, layout=layout.name, scenes=scenes, files=files, max_points=max_points,
                seed=seed)


def synthetic_source(root, names, files):
    """The source of the demo's synthetic scenes at `root` (`OUT/data/scannet`): `names`
    [(split, scene)], `files` {'/'-path relative to root: SHA-256} of the scenes written."""
    scenes = {}
    for split, name in names:
        scenes.setdefault(split, []).append(f"{split}/{name}")
    return dict(root=root, layout="scannet", scenes=scenes, files=files, max_points=None, seed=0)


def fingerprint(source):
    """SHA-256 over a source's files and their hashes: the data's identity in the settings."""
    digest = hashlib.sha256()
    for rel, sha in sorted(source["files"].items()):
        digest.update(f"{rel}:{sha}\n".encode())
    return digest.hexdigest()


def load_split(source, split, labels=False):
    """The scenes of `split` as numpy dicts: name, coord, color (0..255), normal and, with
    `labels`, label; each file checked against its recorded SHA-256."""
    layout = LAYOUTS[source["layout"]]
    out = []
    for rel in source["scenes"][split]:
        paths = scene_files(source["root"], rel, layout, labels)
        if "normal" in paths and f"{rel}/normal.npy" not in source["files"]:
            del paths["normal"]  # appeared after the run started: keep estimating, as it began
        arrays = {key: _read(path, source["files"].get(f"{rel}/{key}.npy", ""))[0]
                  for key, path in paths.items()}
        # the point cap draws the same subset at every read, in every process
        seed = [int(source["seed"]), zlib.crc32(rel.encode())]
        out.append(dict(name=rel, **build_scene(paths, arrays, layout, labels, source["max_points"], seed)))
    return out
