"""Test with Pointcept's own tester, with the pointcept-dos classes registered.

Same arguments as Pointcept's tools/test.py; usually started by tools/test.sh.
``--num-gpus 0`` is CPU smoke mode (see pointcept_dos/integration/cpu_mode.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _dos_entry import bootstrap, launch_from_command_line  # noqa: E402

CPU_MODE = bootstrap()

from pointcept.engines.defaults import default_setup  # noqa: E402
from pointcept.engines.test import TESTERS  # noqa: E402


def main_worker(cfg):
    cfg = default_setup(cfg)
    tester = TESTERS.build(dict(cfg=cfg, **cfg.test))
    tester.test()


def main():
    launch_from_command_line(main_worker, CPU_MODE)


if __name__ == "__main__":
    main()
