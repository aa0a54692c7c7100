"""Checkpoints load safely: weights only everywhere; a crafted pickle is refused without running,
and so are numpy scalars that are not numbers;
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




_SCALAR = (getattr(np, "_core", None) or np.core).multiarray.scalar


class _Dtype:
    """Pickles as numpy.dtype(code) with no state: what a crafted file can hold."""

    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return np.dtype, (self.code, False, True)


class _Scalar:
    """Pickles as a numpy scalar of any dtype through the allowlisted globals only."""

    def __init__(self, code, data):
        self.code, self.data = code, data

    def __reduce__(self):
        return _SCALAR, (_Dtype(self.code), self.data)


@pytest.mark.parametrize("code, value, kind", [
    ("V4", b"abcd", "void"),
    ("M8[D]", np.datetime64("2020-01-01").tobytes(), "datetime64"),
    ("m8[s]", np.timedelta64(5, "s").tobytes(), "timedelta64"),
    ("U1", np.str_("x").tobytes(), "str_"),
    ("S1", b"x", "bytes_"),
], ids=["void", "datetime64", "timedelta64", "str_", "bytes_"])
def test_numpy_scalars_that_are_not_numbers_are_refused(tmp_path, code, value, kind):
    # the issue: void / datetime64 scalars passed the allowlist (no code ran, but not data either)
    path = tmp_path / "odd.pth"
    torch.save(dict(state_dict={"w": torch.ones(2)},
                    optimizer=dict(param_groups=[dict(lr=0.1, weight_decay=_Scalar(code, value))])), path)
    with pytest.raises(ValueError, match=rf"checkpoint '{path}' refused: checkpoint\['optimizer'\]\['param_groups'\]"
                                         rf"\[0\]\['weight_decay'\] is a numpy {kind} .*expected tensors, plain "
                                         r"containers and numeric scalars only"):
        read_checkpoint(path)


def test_a_dtype_that_is_not_a_number_is_refused_even_as_a_key(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save(dict(state_dict={"w": torch.ones(2)}, meta={_Dtype("V8"): 1}), path)
    with pytest.raises(ValueError, match=r"refused: a key of checkpoint\['meta'\] is a numpy VoidDType"):
        read_checkpoint(path)


def test_numeric_numpy_scalars_load(tmp_path):
    # Pointcept's WeightDecaySchedular writes the weight decay as a numpy float64
    path = tmp_path / "pointcept.pth"
    values = dict(wd=np.float64(0.05), steps=np.int64(3), flag=np.bool_(True), u=_Scalar("u1", b"\x07"),
                  f=_Scalar("f4", np.float32(1.5).tobytes()), z=_Scalar("c8", np.complex64(2j).tobytes()))
    torch.save(dict(state_dict={"w": torch.ones(2)}, optimizer=dict(param_groups=[values])), path)
    group = read_checkpoint(path)["optimizer"]["param_groups"][0]
    assert group["wd"] == 0.05 and group["steps"] == 3 and group["flag"] and group["u"] == 7
    assert group["f"] == 1.5 and group["z"] == 2j and group["wd"].dtype == np.float64
