"""`pointcept-dos demo` as a user runs it: a subprocess, for the end-to-end and SIGKILL tests."""

import subprocess
import sys

# tiny but complete: the quick preset (6 train + 2 val scenes) with 6 pretraining steps, so a
# resume checkpoint is written after every step (steps // 10 rounds up to 1)
QUICK_DEMO = ("demo", "--quick", "--steps", "6", "--threads", "2", "--seed", "0")


def demo_command(out, *extra):
    return [sys.executable, "-m", "pointcept_dos.cli", *QUICK_DEMO, "--out", str(out), *extra]


def run_demo(out, *extra):
    """Run the quick demo into `out` (working directory: its parent) and wait."""
    return subprocess.run(demo_command(out, *extra), cwd=out.parent, capture_output=True, text=True,
                          timeout=900)
