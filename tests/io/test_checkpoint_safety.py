"""Checkpoints load safely: weights only everywhere; a crafted pickle is refused without running;
empty, truncated and foreign files give an error naming the path and what was expected; writes
are atomic."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pointcept_dos.inference import load_dos_backbone
from pointcept_dos.io import read_checkpoint, write_checkpoint

ROOT = Path(__file__).resolve().parents[2]


class _WritesAFile:
    """A pickle that, loaded with weights_only=False, would create `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model_last.pth"
    torch.save(dict(state_dict={}, cfg=_WritesAFile(marker)), evil)
    refused = r"model_last.pth' refused: loading it would import and run (io|builtins)\.open"
    with pytest.raises(ValueError, match=refused):
        read_checkpoint(evil)
    with pytest.raises(ValueError, match="refused"):
        load_dos_backbone(evil)
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "export_backbone.py"), str(evil),
                          "-o", str(tmp_path / "backbone.pth")], capture_output=True, text=True)
    assert run.returncode == 2 and "error: checkpoint" in run.stderr and "refused" in run.stderr
    assert str(evil) in run.stderr and "Traceback" not in run.stderr
    assert not marker.exists() and not (tmp_path / "backbone.pth").exists()


def test_every_checkpoint_load_goes_through_read_checkpoint():
    sources = [p for d in ("pointcept_dos", "tools") for p in (ROOT / d).rglob("*.py")]
    loads = {str(p.relative_to(ROOT)): re.findall(r"torch\.load\(([^)]*)\)", p.read_text())
             for p in sources}
    loads = {path: calls for path, calls in loads.items() if calls}
    assert list(loads) == [os.path.join("pointcept_dos", "io", "checkpoints.py")], loads
    assert all("weights_only=True" in call for call in loads[list(loads)[0]])


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "real.pth"
    write_checkpoint(path, {"w": torch.randn(1000)}, epoch=1)
    return path


@pytest.mark.parametrize("case, error, words", [
    ("missing", FileNotFoundError, "no checkpoint at"),
    ("folder", ValueError, "is a folder: expected a .pth"),
    ("empty", ValueError, r"is empty \(0 bytes\): expected a .pth"),
    ("truncated", ValueError, r"not a readable torch file \(truncated or foreign\?\).*expected a .pth"),
    ("text", ValueError, r"not a (readable )?torch (file|checkpoint).*expected a .pth"),
    ("numpy", ValueError, r"not a torch checkpoint.*expected a .pth"),
    ("tensor", ValueError, r"expected a dict with 'state_dict', got Tensor"),
    ("no state_dict", ValueError, r"expected a dict with 'state_dict', got \['epoch', 'model'\]"),
    ("state_dict not a dict", ValueError, r"expected 'state_dict' to be a dict of tensors, got list"),
])
def test_bad_checkpoint_files_name_the_path_and_the_expectation(tmp_path, real_checkpoint, case, error,
                                                               words):
    path = tmp_path / f"{case.replace(' ', '_')}.pth"
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        data = real_checkpoint.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "text":
        path.write_text("model weights: see the wiki\n")
    elif case == "numpy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif case == "tensor":
        torch.save(torch.zeros(3), path)
    elif case == "no state_dict":
        torch.save(dict(model={}, epoch=3), path)
    elif case == "state_dict not a dict":
        torch.save(dict(state_dict=[1, 2]), path)
    with pytest.raises(error, match=words) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_checkpoint_writes_are_atomic_and_not_private(tmp_path):
    path = tmp_path / "model_last.pth"
    write_checkpoint(path, {"w": torch.ones(3)})
    before = path.read_bytes()
    with pytest.raises(Exception):  # a lambda cannot be pickled: the write fails half-way
        write_checkpoint(path, {"w": torch.zeros(3)}, extra=lambda: 0)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model_last.pth"]
    old = os.umask(0o022)
    try:
        write_checkpoint(tmp_path / "shared.pth", {"w": torch.ones(3)})
    finally:
        os.umask(old)
    assert (tmp_path / "shared.pth").stat().st_mode & 0o777 == 0o644


