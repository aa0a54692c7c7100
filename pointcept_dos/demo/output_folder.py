"""The demo's output folder: whether ``--out`` may be written, and which scenes may be read.

``pointcept-dos demo --out OUT`` writes only into
- a new OUT, or one that holds no file;
- an OUT holding an earlier demo run with the same settings, finished or interrupted: the
  manifest ``OUT/demo_manifest.json`` (written first) records the settings and the SHA-256 of
  every scene file the demo wrote; the run is then resumed, and what is finished is reused.
Anything else stops before a byte is written, with the reason: files the demo did not write,
a run with other settings, a scene file changed since the demo wrote it, or a symbolic link in
the demo's folders (a real ScanNet linked at ``OUT/data/scannet`` is never written through).
``--overwrite`` then starts afresh: it removes the demo's own files (those of an earlier
manifest, the pretraining runs, the report) and leaves every other file in OUT alone; a link
in the demo's folders is refused even then.

Scenes are read back only from the manifest's list, each file checked against its hash, so a
scene the demo did not write is never mixed into a run.
"""

import hashlib
import io
import json
import os
import re
import shutil

import numpy as np

from ..io.atomic import atomic_write
from .pretrain import RUN_FILES
from .report import REPORT_FILES

MANIFEST_NAME = "demo_manifest.json"
DATA_ROOT = os.path.join("data", "scannet")  # Pointcept's ScanNet layout, scenes by split
REPORT_DIR = "report"
STAGING_NAME = ".staging"  # scenes are generated here, hashed, then moved into DATA_ROOT
WRITTEN_BY = "pointcept-dos demo"
SCENE_KEYS = ("coord", "color", "normal", "segment20")  # what the demo reads of a scene
# atomic_write's temporary sibling of NAME: ".NAME.<random>.tmp", left behind by a kill
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")


class OutputFolderError(ValueError):
    """``--out`` may not be written (nothing has been written): the reason and the remedy."""


def sha256_file(path, sync=False):
    """Hex SHA-256 of a file's bytes; ``sync`` also flushes it to disk."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
        if sync:
            os.fsync(f.fileno())
    return digest.hexdigest()


def _walk(root, names):
    """'/'-paths, relative to ``root``, of the files and of the symbolic links under its
    top-level entries ``names``; a link is listed, never followed."""
    files, links = [], []
    pending = list(names)
    while pending:
        rel = pending.pop()
        path = os.path.join(root, *rel.split("/"))
        if os.path.islink(path):
            links.append(rel)
        elif os.path.isdir(path):
            pending.extend(f"{rel}/{name}" for name in os.listdir(path))
        else:
            files.append(rel)
    return sorted(files), sorted(links)


def _read_manifest(root):
    """The manifest at ``root``, or None when absent or not one of ours."""
    try:
        with open(os.path.join(root, MANIFEST_NAME)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("written_by") != WRITTEN_BY or not isinstance(
        manifest.get("settings"), dict
    ):
        return None
    return manifest


def _data_path(rel):
    return "/".join(DATA_ROOT.split(os.sep) + [rel])


class _DemoPaths:
    """What the demo writes in OUT, as '/'-paths relative to it."""

    def __init__(self, run_dirs, manifest):
        self.top = {MANIFEST_NAME, DATA_ROOT.split(os.sep)[0], REPORT_DIR, STAGING_NAME, *run_dirs}
        self.files = {MANIFEST_NAME}
        self.files |= {f"{d}/{name}" for d in run_dirs for name in RUN_FILES}
        self.files |= {f"{REPORT_DIR}/{name}" for name in REPORT_FILES}
        self.scenes = {_data_path(rel) for rel in ((manifest or {}).get("scenes") or {})}

    def owns(self, path):
        """A file the demo wrote (or left half-written: a temporary of atomic_write, staging)."""
        if path.split("/")[0] == STAGING_NAME:
            return True
        folder, _, name = path.rpartition("/")
        temporary = _TEMPORARY.match(name)
        if temporary:
            path = f"{folder}/{temporary['name']}" if folder else temporary["name"]
        return path in self.files or path in self.scenes


def _refuse(root, reason, overwrite_helps=True):
    remedy = (
        "choose a new or empty --out, or pass --overwrite to replace the demo's own files there "
        "(other files are left alone)" if overwrite_helps else "choose another --out"
    )
    return OutputFolderError(f"refusing to write into {root}: {reason}; {remedy}")


def _differences(old, new):
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k} {old.get(k)!r} (now {new.get(k)!r})" for k in keys if old.get(k) != new.get(k))


def _changed_scenes(root, scenes):
    """Recorded scene files present in OUT whose bytes differ from the manifest's hash."""
    changed = []
    for rel, digest in sorted(scenes.items()):
        path = os.path.join(root, DATA_ROOT, *rel.split("/"))
        if os.path.isfile(path) and sha256_file(path) != digest:
            changed.append(_data_path(rel))
    return changed


def _listing(paths, limit=5):
    return ", ".join(paths[:limit]) + (" ..." if len(paths) > limit else "")


def _inspect(root, settings, run_dirs, overwrite):
    """-> ("new" | "resume", manifest or None), writing nothing; raises OutputFolderError.
    Only the demo's own top-level entries are walked: a user's folders are never searched."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise _refuse(root, "it is a file, not a folder", overwrite_helps=False)
    entries = sorted(os.listdir(root)) if os.path.isdir(root) else []
    if not entries:
        return "new", None
    manifest = _read_manifest(root)
    paths = _DemoPaths(run_dirs, manifest)
    files, links = _walk(root, [e for e in entries if e in paths.top])
    if links:
        target = os.readlink(os.path.join(root, *links[0].split("/")))
        raise _refuse(
            root, f"{links[0]} is a symbolic link (to {target}): the demo never writes through, "
            "nor removes, a link in its own folders (" + ", ".join(sorted(paths.top)) + ")",
            overwrite_helps=False,
        )
    others = [e for e in entries if e not in paths.top]
    if overwrite or not others and not files:  # nothing but empty folders of the demo's names
        return "new", manifest
    if manifest is None:
        found = others + files
        raise _refuse(root, f"it holds {len(found)} files or folders the demo did not write "
                      f"({_listing(found)})")
    if manifest["settings"] != settings:
        raise _refuse(root, "it holds a demo run with other settings: "
                      + _differences(manifest["settings"], settings))
    foreign = others + [path for path in files if not paths.owns(path)]
    if foreign:
        raise _refuse(root, f"next to an earlier demo run it holds {len(foreign)} files or folders "
                      f"the demo did not write ({_listing(foreign)})")
    changed = _changed_scenes(root, manifest.get("scenes") or {})
    if changed:
        raise _refuse(root, f"{len(changed)} scene files changed since the demo wrote them "
                      f"({_listing(changed, 3)}): the demo reads only scenes it wrote")
    return "resume", manifest


def _remove_demo_files(root, run_dirs, manifest, temporaries_only=False):
    """Remove the files the demo writes (and those of an earlier manifest), or only the
    temporaries that a killed run left behind."""
    paths = _DemoPaths(run_dirs, manifest)
    files, _ = _walk(root, [e for e in os.listdir(root) if e in paths.top])
    for path in files:
        if paths.owns(path) and (not temporaries_only or _TEMPORARY.match(path.rpartition("/")[2])):
            os.remove(os.path.join(root, *path.split("/")))
    if not temporaries_only:
        shutil.rmtree(os.path.join(root, STAGING_NAME), ignore_errors=True)


def write_manifest(root, manifest):
    with atomic_write(os.path.join(root, MANIFEST_NAME)) as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def prepare_output_folder(root, settings, run_dirs, overwrite=False):
    """Decide whether the demo may write into ``root``, then claim it.

    Args:
        root: the ``--out`` folder (absolute path).
        settings: JSON-able dict that decides whether an earlier run is the same run.
        run_dirs: names of the pretraining runs' folders in ``root``.
        overwrite: start afresh, removing the demo's own files (never anything else).
    Returns:
        ("new" | "resume", manifest dict): the manifest is on disk when this returns.
    Raises:
        OutputFolderError: before anything is written, with the reason and the remedy.
    """
    state, manifest = _inspect(root, settings, run_dirs, overwrite)
    if state == "resume":
        _remove_demo_files(root, run_dirs, manifest, temporaries_only=True)
        return state, manifest
    if overwrite and os.path.isdir(root):
        _remove_demo_files(root, run_dirs, manifest)
    manifest = dict(written_by=WRITTEN_BY, settings=settings, scenes=None)
    os.makedirs(root, exist_ok=True)
    write_manifest(root, manifest)
    return "new", manifest


def ensure_scenes(root, manifest, write_layout):
    """The scenes of the run, written once: {'/'-path relative to DATA_ROOT: SHA-256}.

    ``write_layout(folder)`` writes the scenes in Pointcept's ScanNet layout under ``folder``.
    They are written to a staging folder, hashed into the manifest, then moved into place
    file by file (a rename), so DATA_ROOT only ever holds complete files the manifest lists.
    Recorded scenes all present: reused as they are. Some missing (a run killed while moving
    them): generated again, and they must hash as recorded.
    """
    data_root = os.path.join(root, DATA_ROOT)
    recorded = manifest.get("scenes")
    staging = os.path.join(root, STAGING_NAME)
    shutil.rmtree(staging, ignore_errors=True)  # what a killed run left half-written
    if recorded and all(os.path.isfile(os.path.join(data_root, *rel.split("/"))) for rel in recorded):
        return recorded
    staged_root = os.path.join(staging, "scannet")
    write_layout(staged_root)
    staged, _ = _walk(staged_root, os.listdir(staged_root))
    hashes = {rel: sha256_file(os.path.join(staged_root, *rel.split("/")), sync=True) for rel in staged}
    if recorded and hashes != recorded:
        raise RuntimeError(
            f"the scenes generated again for {root} differ from those its manifest records: "
            "scene generation is not deterministic on this machine; rerun with --overwrite"
        )
    manifest["scenes"] = hashes
    write_manifest(root, manifest)
    for rel in staged:
        target = os.path.join(data_root, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.replace(os.path.join(staged_root, *rel.split("/")), target)
    shutil.rmtree(staging)
    return hashes


def load_split(data_root, split, hashes):
    """Scenes of ``split`` listed in ``hashes`` as numpy dicts (SCENE_KEYS + name), by name.

    Only listed files are read, each checked against its SHA-256 first, so a file the demo
    did not write (or one changed since) is refused instead of mixed into the run."""
    names = sorted({rel.split("/")[1] for rel in hashes if rel.split("/")[0] == split})
    scenes = []
    for name in names:
        scene = dict(name=name)
        for key in SCENE_KEYS:
            rel = f"{split}/{name}/{key}.npy"
            path = os.path.join(data_root, split, name, key + ".npy")
            with open(path, "rb") as f:
                data = f.read()
            if hashlib.sha256(data).hexdigest() != hashes.get(rel):
                raise OutputFolderError(
                    f"scene file {path} changed since the demo wrote it (SHA-256 differs from its "
                    "manifest): the demo reads only scenes it wrote; rerun with --overwrite"
                )
            scene[key] = np.load(io.BytesIO(data), allow_pickle=False)
        scenes.append(scene)
    return scenes
