"""Train with Pointcept's own engine, with the pointcept-dos classes registered.

Same arguments as Pointcept's tools/train.py (--config-file --num-gpus --num-machines
--machine-rank --dist-url --options k=v ...); usually started by tools/train.sh.
``--num-gpus 0`` is CPU smoke mode (see pointcept_dos/integration/cpu_mode.py): on the CPU, one
process, or DOS_CPU_PROCESSES processes over gloo.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _dos_entry import bootstrap, launch_from_command_line  # noqa: E402

# Top-level, before anything else: enables CPU mode when asked, and imports pointcept_dos so
# that multi-GPU workers (mp.spawn re-imports __main__) register our classes too.
CPU_MODE = bootstrap()

from pointcept.engines.defaults import default_setup  # noqa: E402
from pointcept.engines.train import TRAINERS  # noqa: E402


def main_worker(cfg):
    cfg = default_setup(cfg)
    trainer = TRAINERS.build(dict(type=cfg.train.type, cfg=cfg))
    trainer.train()


def main():
    launch_from_command_line(main_worker, CPU_MODE)


if __name__ == "__main__":
    main()
