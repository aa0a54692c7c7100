"""`pointcept-dos demo` as a user runs it, in a subprocess: killed mid-pretraining, then rerun."""

import os
import signal
import subprocess
import sys
import time

# tiny but complete: the quick preset (6 train + 2 val scenes) with 6 pretraining steps, so a
# resume checkpoint is written after every step (max(1, steps // 10) = 1); two workers
QUICK_DEMO = ("demo", "--quick", "--steps", "6", "--threads", "2", "--seed", "0")


def demo_command(out, *extra):
    return [sys.executable, "-m", "pointcept_dos.cli", *QUICK_DEMO, "--out", str(out), *extra]


def killed_then_rerun(out, kill_when, timeout=900):
    """Start the quick demo in `out`, SIGKILL it and its workers as soon as `kill_when` (a path
    relative to `out`) exists, then run the same command again to its end.

    Returns dict(at_kill: sorted '/'-paths of the files present when killed, rerun:
    subprocess.CompletedProcess of the second run)."""
    demo = subprocess.Popen(demo_command(out), cwd=out.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    try:
        while not (out / kill_when).exists():
            if demo.poll() is not None:
                raise RuntimeError(f"the demo ended (code {demo.returncode}) before {kill_when} existed")
            if time.time() > deadline:
                raise TimeoutError(f"no {kill_when} after {timeout} s")
            time.sleep(0.02)
    finally:
        os.killpg(demo.pid, signal.SIGKILL)  # the demo and its worker processes, at once
        demo.wait()
    at_kill = sorted(str(p.relative_to(out)).replace(os.sep, "/") for p in out.rglob("*") if p.is_file())
    rerun = subprocess.run(demo_command(out), cwd=out.parent, capture_output=True, text=True,
                           timeout=timeout)
    return dict(at_kill=at_kill, rerun=rerun)
