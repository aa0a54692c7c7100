"""The command line: arguments checked before any work (exit code 2, a message); --version."""

import os
import re

import pytest

from pointcept_dos.cli import main


@pytest.mark.parametrize("argv, words", [
    (["--steps", "0"], r"--steps: expected an integer >= 1, got 0"),
    (["--steps", "-1"], r"--steps: expected an integer >= 1, got -1"),
    (["--steps", "ten"], r"--steps: expected an integer >= 1, got 'ten'"),
    (["--threads", "0"], r"--threads: expected an integer >= 1, got 0"),
    (["--threads", "-2"], r"--threads: expected an integer >= 1, got -2"),
    (["--seed", "-1"], r"--seed: expected an integer >= 0, got -1"),
    (["--out", ""], r"--out: expected a folder path, got an empty string"),
    (["--out", "  "], r"--out: expected a folder path, got an empty string"),
    (["--max-scenes", "3"], r"--max-scenes and --max-points cap a dataset given with --data"),
    (["--data", "somewhere", "--max-points", "0"], r"--max-points: expected an integer >= 1, got 0"),
])
def test_cli_arguments_are_checked_before_any_work(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)  # the default --out (dos-demo) would land here
    with pytest.raises(SystemExit) as info:
        main(["demo", "--quick", *argv])
    assert info.value.code == 2
    assert re.search(words, capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


def test_cli_version(capsys):
    from pointcept_dos import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"pointcept-dos {__version__}"


