"""The demo's output folder: the user's folder, into which the demo writes only its own files.

`pointcept-dos demo --out OUT` claims OUT for one demo at a time (an OS lock on the folder,
released on any exit, a kill included) and keeps a manifest, `OUT/demo_manifest.json`: the
run's settings and every file the demo wrote in OUT with its SHA-256. The demo writes a file
only where there is none, or where the manifest records the very bytes found there (a file of
its own), and deletes only such files. A file it did not write, or one changed since, is never
replaced nor removed, with or without `--overwrite`: the demo stops before writing and names it.
A file being written is recorded as pending first, so the temporary a killed run left beside
it is known to be the demo's and is cleared when the run resumes; the file itself is complete
(writes are atomic) and is kept.

What OUT may hold when the demo starts:
- nothing (or OUT does not exist): a new run;
- an earlier run with the same settings, finished or interrupted: it is resumed;
- anything else (files without a manifest, a run with other settings): refused, unless
  `--overwrite`, which removes the earlier run's own files and starts afresh, leaving every
  other file where it is. Either way a file the new run would write that is not the demo's
  stops it, as does a symbolic link on the way to one (the demo never writes through a link).

Every path check is done before the first byte is written.
"""

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re

from ..io.atomic import atomic_write

MANIFEST_NAME = "demo_manifest.json"
LOCK_NAME = ".demo_manifest.lock"  # serialises manifest updates of the demo's processes
WRITTEN_BY = "pointcept-dos demo"
MANIFEST_VERSION = 2
# atomic_write's temporary sibling of NAME: ".NAME.<random>.tmp", left behind by a kill
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


class OutputFolderError(ValueError):
    """`--out` may not be written as asked: the reason and the remedy (exit code 2)."""


def sha256_file(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _refuse(root, reason, remedy="choose a new or empty --out"):
    return OutputFolderError(f"refusing to write into {root}: {reason}; {remedy}")


def _listing(paths, limit=5):
    return ", ".join(paths[:limit]) + (" ..." if len(paths) > limit else "")


def check_out_path(root):
    """Everything about the path `root` that can be checked without writing: it is a folder or
    can be made one, and the demo may write there. OutputFolderError otherwise."""
    if os.path.islink(root) and not os.path.exists(root):
        raise _refuse(root, f"it is a symbolic link to {os.readlink(root)}, which does not exist")
    if os.path.exists(root) and not os.path.isdir(root):
        raise _refuse(root, "it is a file, not a folder")
    existing = root
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        name = os.path.basename(existing)
        limit = os.pathconf(parent if os.path.isdir(parent) else "/", "PC_NAME_MAX")
        if len(name.encode()) > limit:
            raise _refuse(root, f"its name {name[:40]}... has {len(name.encode())} bytes, over this "
                          f"file system's {limit}")
        existing = parent
    if not os.path.isdir(existing):
        raise _refuse(root, f"{existing} is a file, so no folder can be made below it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _refuse(root, f"{existing} is not writable by this user")


def _check_manifest(root, manifest):
    """The manifest's structure, or an OutputFolderError that says what is damaged."""
    problems = []
    if not isinstance(manifest.get("settings"), dict):
        problems.append("'settings' is not a dict")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        problems.append("'files' is not a dict of path: SHA-256")
    if not isinstance(manifest.get("pending"), list) or not all(isinstance(p, str) for p in manifest["pending"]):
        problems.append("'pending' is not a list of paths")
    if not isinstance(manifest.get("data"), (dict, type(None))):
        problems.append("'data' is not a dict")
    if problems:
        raise _refuse(root, f"its {MANIFEST_NAME} is damaged ({'; '.join(problems)}): the demo "
                      "never deletes what it cannot prove it wrote")


def _read_manifest(root):
    """The manifest at `root`: None when absent or not the demo's; refused when the demo's but
    of another version or damaged."""
    try:
        with open(os.path.join(root, MANIFEST_NAME)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("written_by") != WRITTEN_BY:
        return None
    if manifest.get("version") != MANIFEST_VERSION:
        raise _refuse(root, f"it holds a run of an earlier pointcept-dos version "
                      f"({MANIFEST_NAME} version {manifest.get('version', 1)}, now {MANIFEST_VERSION})")
    _check_manifest(root, manifest)
    return manifest


class OutputFolder:
    """OUT as the demo sees it: its manifest and the only way the demo writes there.

    Paths are absolute or relative to `root`; every method records what it does in the
    manifest under the lock file, so the demo's worker processes may use it at once
    (`OutputFolder(root)` in each)."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self._folder_lock = None

    def _rel(self, path):
        rel = os.path.relpath(os.path.join(self.root, path), self.root)
        if rel.startswith(".."):
            raise ValueError(f"{path} is outside the output folder {self.root}")
        return rel.replace(os.sep, "/")

    def path(self, rel):
        return os.path.join(self.root, *rel.split("/"))

    # ----- the manifest -----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked_manifest(self):
        """The manifest, read under the lock file; written back (atomically) on exit."""
        fd = os.open(os.path.join(self.root, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            manifest = _read_manifest(self.root)
            if manifest is None:
                raise RuntimeError(f"{self.root} lost its {MANIFEST_NAME} while the demo was writing")
            yield manifest
            self._write_manifest(manifest)
        finally:
            os.close(fd)

    def _write_manifest(self, manifest):
        with atomic_write(os.path.join(self.root, MANIFEST_NAME)) as f:
            json.dump(manifest, f, indent=1, sort_keys=True)

    def manifest(self):
        return _read_manifest(self.root)

    # ----- ownership --------------------------------------------------------------------
    def _owns(self, manifest, rel):
        """A file of the demo's: pending, or recorded with the bytes it has now."""
        if rel in manifest["pending"]:
            return True
        path = self.path(rel)
        return rel in manifest["files"] and os.path.isfile(path) and sha256_file(path) == manifest["files"][rel]

    def _linked(self, rel):
        """The first symbolic link on the way from root to `rel`, or None."""
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            if os.path.islink(self.path("/".join(parts[:i]))):
                return "/".join(parts[:i])
        return None

    def conflicts(self, rels, manifest=None):
        """Of the paths `rels` a run will write: those that are a link or lie behind one, and
        those that hold a file the demo did not write (or changed since)."""
        manifest = manifest or dict(files={}, pending=[])
        found = []
        for rel in rels:
            link = self._linked(rel)
            if link:
                found.append(f"{link} (a symbolic link)")
            elif os.path.lexists(self.path(rel)) and not self._owns(manifest, rel):
                found.append(rel)
        return found

    # ----- writing and removing ---------------------------------------------------------
    @contextlib.contextmanager
    def write(self, path, mode="w"):
        """Open `path` for an atomic write (as `io.atomic_write`), refused unless no file is
        there or the file is the demo's; the new file is recorded with its SHA-256."""
        rel = self._rel(path)
        with self._locked_manifest() as manifest:
            conflict = self.conflicts([rel], manifest)
            if conflict:
                raise _refuse(self.root, f"{conflict[0]} was not written by the demo (or was changed "
                              "since); the demo never replaces it",
                              "move it away, or choose another --out")
            manifest["pending"] = sorted(set(manifest["pending"]) | {rel})
        try:
            with atomic_write(self.path(rel), mode) as f:
                yield f
        finally:
            digest = sha256_file(self.path(rel)) if os.path.isfile(self.path(rel)) else None
            with self._locked_manifest() as manifest:
                manifest["pending"] = [p for p in manifest["pending"] if p != rel]
                if digest is not None:
                    manifest["files"][rel] = digest

    def remove(self, path):
        """Remove `path` if it is the demo's file (else leave it); True when removed."""
        rel = self._rel(path)
        with self._locked_manifest() as manifest:
            if not self._owns(manifest, rel) or not os.path.isfile(self.path(rel)):
                return False
            os.remove(self.path(rel))
            manifest["files"].pop(rel, None)
            manifest["pending"] = [p for p in manifest["pending"] if p != rel]
            return True

    def _clear(self, manifest, everything):
        """Remove the demo's files of `manifest` (everything), or settle its pending ones after a
        kill: the temporaries of their atomic writes go, and the file at a pending path, always
        complete (the old one, or the new one renamed into place before its digest was
        recorded), stays and is recorded, so a checkpoint written just before a kill is resumed
        from. Returns the manifest left."""
        targets = list(manifest["pending"]) + (list(manifest["files"]) if everything else [])
        for rel in sorted(set(targets)):
            if self._linked(rel):
                continue
            path = self.path(rel)
            if os.path.isfile(path):
                if everything:
                    if self._owns(manifest, rel):
                        os.remove(path)
                else:
                    manifest["files"][rel] = sha256_file(path)
            folder, name = os.path.split(path)
            if os.path.isdir(folder):
                for entry in os.listdir(folder):
                    temporary = _TEMPORARY.match(entry)
                    if temporary and temporary["name"] == name:
                        os.remove(os.path.join(folder, entry))
        if everything:
            manifest["files"] = {}
        manifest["pending"] = []
        return manifest

    # ----- claiming -----------------------------------------------------------------------
    def claim(self, settings, plan, overwrite=False, data=None):
        """Take OUT for this run: lock it, decide new or resume, clear what the decision allows.

        Args:
            settings: JSON-able dict that makes two runs the same run.
            plan: '/'-paths relative to OUT of every file the run writes (its conflicts are
                checked before the first byte).
            overwrite: start afresh over an earlier run or a folder of other files.
            data: JSON-able record of the data the run reads (kept in the manifest).
        Returns:
            "new" or "resume"; the manifest is on disk when this returns.
        Raises:
            OutputFolderError: naming the reason; nothing of the user's has been touched.
        """
        root = self.root
        check_out_path(root)
        os.makedirs(root, exist_ok=True)
        self._folder_lock = os.open(root, os.O_RDONLY)
        try:
            fcntl.flock(self._folder_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._folder_lock)
            self._folder_lock = None
            raise _refuse(root, "another pointcept-dos demo is writing into it",
                          "wait for it to end, or choose another --out") from None
        try:
            return self._decide(settings, plan, overwrite, data)
        except BaseException:
            self.release()
            raise

    def _decide(self, settings, plan, overwrite, data):
        """`claim`'s decision, under the folder lock."""
        root = self.root
        manifest = _read_manifest(root)
        entries = [e for e in os.listdir(root) if e not in (LOCK_NAME, MANIFEST_NAME)]
        state = "new"
        if manifest is None:
            if entries and not overwrite:
                raise _refuse(root, f"it holds {len(entries)} files or folders the demo did not write "
                              f"({_listing(sorted(entries))})",
                              "choose a new or empty --out, or pass --overwrite to write the demo's "
                              "files beside them (a file of the same name stops it)")
        elif manifest["settings"] != settings:
            if not overwrite:
                differ = ", ".join(f"{k} {manifest['settings'].get(k)!r} (now {settings.get(k)!r})"
                                   for k in sorted(set(settings) | set(manifest["settings"]))
                                   if manifest["settings"].get(k) != settings.get(k))
                raise _refuse(root, f"it holds a demo run with other settings: {differ}",
                              "choose a new or empty --out, or pass --overwrite to replace that "
                              "run's own files (nothing else is touched)")
        else:
            state = "resume"
        owned = manifest or dict(files={}, pending=[])
        conflicts = self.conflicts(plan, owned if state == "resume" or overwrite else None)
        if conflicts:
            raise _refuse(root, f"{len(conflicts)} files the run would write are not the demo's, or "
                          f"changed since it wrote them ({_listing(conflicts)}); the demo never "
                          "replaces them, --overwrite included", "move them away, or choose another --out")
        if state == "resume":
            self._write_manifest(self._clear(manifest, everything=False))
        else:
            if manifest is not None:
                self._clear(manifest, everything=True)
            self._write_manifest(dict(written_by=WRITTEN_BY, version=MANIFEST_VERSION,
                                      settings=settings, files={}, pending=[], data=data))
        return state

    def release(self):
        """Give up the folder lock (the process's exit does the same)."""
        if self._folder_lock is not None:
            os.close(self._folder_lock)
            self._folder_lock = None


def no_space_left(err):
    """True for the errors a full disk raises while writing (OSError ENOSPC; torch's writer
    reports it as a RuntimeError about a failed or short write)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("No space left" in text or "unexpected pos" in text
                                              or "file write failed" in text)
