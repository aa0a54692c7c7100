"""Train with Pointcept's own engine, with the pointcept-dos classes registered.

Same arguments as Pointcept's tools/train.py (--config-file --num-gpus --num-machines
--machine-rank --dist-url --options k=v ...); usually started by tools/train.sh.
``--num-gpus 0`` is CPU smoke mode (see pointcept_dos/cpu_mode.py): one process, on the CPU.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _dos_entry import bootstrap  # noqa: E402

# Top-level, before anything else: enables CPU mode when asked, and imports pointcept_dos so
# that multi-GPU workers (mp.spawn re-imports __main__) register our classes too.
CPU_MODE = bootstrap()

from pointcept.engines.defaults import (  # noqa: E402
    default_argument_parser,
    default_config_parser,
    default_setup,
)
from pointcept.engines.launch import launch  # noqa: E402
from pointcept.engines.train import TRAINERS  # noqa: E402


def main_worker(cfg):
    cfg = default_setup(cfg)
    trainer = TRAINERS.build(dict(type=cfg.train.type, cfg=cfg))
    trainer.train()


def main():
    args = default_argument_parser().parse_args()
    cfg = default_config_parser(args.config_file, args.options)
    num_gpus = args.num_gpus
    if num_gpus == 0:
        CPU_MODE.cpu_config(cfg)
        num_gpus = 1  # one process; launch() then runs main_worker in-process, no DDP
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
