"""Test with Pointcept's own tester, with the pointcept-dos classes registered.

Same arguments as Pointcept's tools/test.py; usually started by tools/test.sh.
``--num-gpus 0`` is CPU smoke mode (see pointcept_dos/cpu_mode.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _dos_entry import bootstrap  # noqa: E402

CPU_MODE = bootstrap()

from pointcept.engines.defaults import (  # noqa: E402
    default_argument_parser,
    default_config_parser,
    default_setup,
)
from pointcept.engines.launch import launch  # noqa: E402
from pointcept.engines.test import TESTERS  # noqa: E402


def main_worker(cfg):
    cfg = default_setup(cfg)
    tester = TESTERS.build(dict(cfg=cfg, **cfg.test))
    tester.test()


def main():
    args = default_argument_parser().parse_args()
    cfg = default_config_parser(args.config_file, args.options)
    num_gpus = args.num_gpus
    if num_gpus == 0:
        CPU_MODE.cpu_config(cfg)
        num_gpus = 1
    launch(
        main_worker,
        num_gpus_per_machine=num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        cfg=(cfg,),
    )


if __name__ == "__main__":
    main()
