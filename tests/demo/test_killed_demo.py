"""A killed demo takes its worker processes with it (issue 17, case 4): after `kill -9` of the
demo's process alone, its workers end within seconds and nothing in OUT changes after that, so
the rerun the README advises never races them."""

import os
import signal
import subprocess
import time
import uuid

import pytest

from demo_folders import snapshot
from demo_runs import demo_command


def _tagged(tag):
    """Live (not zombie) processes whose environment holds DOS_TEST_TAG=`tag`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if f"DOS_TEST_TAG={tag}".encode() not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/status") as f:
                if "\nState:\tZ" in f.read():
                    continue
        except OSError:  # gone meanwhile
            continue
        pids.append(int(entry))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_workers_end_with_a_killed_demo(tmp_path):
    tag = uuid.uuid4().hex
    out = tmp_path / "out"
    demo = subprocess.Popen(demo_command(out), cwd=tmp_path, env=dict(os.environ, DOS_TEST_TAG=tag),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while not (out / "dos" / "resume.pth").exists():
            assert demo.poll() is None, "the demo ended before its first checkpoint"
            assert time.time() < deadline, "no checkpoint after 600 s"
            time.sleep(0.05)
        workers = [p for p in _tagged(tag) if p != demo.pid]
        assert len(workers) >= 2, workers  # the pool's workers (and its resource tracker)
        os.kill(demo.pid, signal.SIGKILL)  # the demo alone, not its process group
        demo.wait()
        deadline = time.time() + 10
        while _tagged(tag) and time.time() < deadline:
            time.sleep(0.1)
        assert _tagged(tag) == [], "workers outlived the demo"
        before = snapshot(out)
        time.sleep(1.0)
        assert snapshot(out) == before  # nobody writes into OUT any more
    finally:
        for pid in _tagged(tag):
            os.kill(pid, signal.SIGKILL)
