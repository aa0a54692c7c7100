"""Atomic file writes: a file is either absent or complete, never truncated.

Data goes to a temporary file in the target's folder, is flushed to disk, and is renamed over
the target (rename is atomic within one filesystem), so a run killed at any moment leaves the
old file or the new one.
"""

import contextlib
import os
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Context manager yielding a file object open on a temporary sibling of `path`; on a
    clean exit it is renamed to `path`, on an exception it is removed and `path` is untouched.

    mode: "w" (text) or "wb" (binary)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file private (0600); give it the mode open() would (umask applies)
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_folder(folder)  # the rename itself survives a power cut
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
