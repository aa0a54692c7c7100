import os
import sys

import pytest

# test helpers (dos_batches, pointcept_env) are imported as plain modules
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory):
    """One uninterrupted quick demo (demo_runs.QUICK_DEMO) in a tmp folder, shared: the
    end-to-end test reads its report, the SIGKILL test compares a killed-and-rerun demo to it."""
    from demo_runs import run_demo

    out = tmp_path_factory.mktemp("quick-demo") / "out"
    run = run_demo(out)
    assert run.returncode == 0, run.stderr[-4000:]
    return out
