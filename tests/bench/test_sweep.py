"""bench/sweep.py keeps choosing and reporting apart: tuning seeds (100 and up) for choosing a
setting, `--report` for running a chosen one on the reported seeds (0-99)."""

import os
import subprocess
import sys

import pytest

from sweep import parse_variant

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "sweep.py")
SWEEP = [sys.executable, SCRIPT, "--variant", "x: model.zipf_alpha=0.0"]


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "100", "0"], "tuning seeds are 100 and up"),
    (["--report", "--seeds", "0", "100"], "the reported seeds are 0-99"),
])
def test_seeds_of_the_wrong_kind_are_refused_before_any_run(extra, message, tmp_path):
    done = subprocess.run(SWEEP + extra + ["--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_variant_overrides_are_python_literals_split_by_where():
    name, model, train = parse_variant("dos m0.9: model.momentum={'start':0.9,'end':1.0} train.lr=4e-3")
    assert name == "dos m0.9"
    assert model == dict(momentum=dict(start=0.9, end=1.0))
    assert train == dict(lr=4e-3)
