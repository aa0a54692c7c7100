import os
import sys

import pytest

# test helpers (dos_batches, pointcept_env) are imported as plain modules
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "helpers"))


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory):
    """The quick demo (demo_runs.QUICK_DEMO) in a tmp folder, killed by SIGKILL once its first
    pretraining checkpoint exists and run again to its end; shared: the end-to-end test reads
    its report, the resume test compares it with an uninterrupted pretraining.
    -> dict(out, at_kill, rerun), see demo_runs.killed_then_rerun."""
    from demo_runs import killed_then_rerun

    out = tmp_path_factory.mktemp("quick-demo") / "out"
    run = killed_then_rerun(out, "dos/resume.pth")
    assert run["rerun"].returncode == 0, run["rerun"].stderr[-4000:]
    return dict(run, out=out)
