"""The README's commands and example must stay true."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[2] / "README.md"
CI = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_core_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    block = next(b for b in blocks if "zipf_sinkhorn(" in b)
    scope = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["target"].shape == (int(scope["visible"].sum()), 1024)
    assert torch.isfinite(scope["loss"]) and float(scope["loss"]) > 0


def test_ci_runs_exactly_the_readme_test_command():
    shell_blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    test_command = shell_blocks[1].strip()
    assert test_command in CI.read_text().splitlines()
