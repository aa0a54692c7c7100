"""``pointcept-dos`` command line.

    pointcept-dos demo [--out dos-demo] [--quick] [--seed 0] [--steps N] [--backbone NAME]
                       [--threads N] [--overwrite] [--runs dos ...]
                       [--data DIR [--max-scenes N] [--max-points N]]

``demo`` shows DOS working on a CPU, without dataset, GPU or Pointcept: it writes synthetic
ScanNet-like scenes in Pointcept's ScanNet layout (``OUT/data/scannet``), pretrains DOS-v1m1
and the paper's three ablations (uniform Sinkhorn, a mask token, a per-point objective) on one
budget, probes each teacher linearly beside the raw input channels and a randomly initialised
backbone, and writes a report folder (``OUT/report``). ``--data DIR`` does the same on a
user's dataset in Pointcept's preprocessed layout (ScanNet: ``DIR/train``, ``DIR/val``; S3DIS:
``DIR/Area_<n>``, Area 5 held out), which is only read.

Every argument is checked before any work (exit code 2 and a message naming it). ``--out``
must be new, empty, or hold an earlier demo run with the same settings (resumed); anything
else is refused before a byte is written, see ``pointcept_dos.demo.output_folder``. A full
disk stops the demo with exit code 2, resumable.
"""

import argparse
import sys

from . import __version__


def _int_at_least(low):
    """argparse type: an int >= low, refused before any work with the value and the bound."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


def _output_folder(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder path, got an empty string")
    return text


def build_parser():
    parser = argparse.ArgumentParser(prog="pointcept-dos", description="DOS for Pointcept")
    parser.add_argument("--version", action="version", version=f"pointcept-dos {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="pretrain DOS and its ablations on synthetic scenes on CPU and "
                          "report a linear probe against the raw input and random init")
    demo.add_argument("--out", default="dos-demo", type=_output_folder,
                      help="output folder: new, empty, or an earlier demo run with the same "
                      "settings, which is resumed (default: dos-demo)")
    demo.add_argument("--quick", action="store_true", help="tiny run (about a minute)")
    demo.add_argument("--seed", type=_int_at_least(0), default=0)
    demo.add_argument("--steps", type=_int_at_least(1), default=None,
                      help="pretraining steps per run")
    demo.add_argument("--backbone", default="DOS-SpUNet-lite",
                      help="DOS-SpUNet-lite (default), or with Pointcept: SpUNet-v1m1, PT-v3m2")
    demo.add_argument("--threads", type=_int_at_least(1), default=None, metavar="N",
                      help="CPU cores to use: up to N worker processes of one thread each, the same "
                      "numbers whatever N (default: min(2, cores))")
    demo.add_argument("--overwrite", action="store_true",
                      help="start afresh in --out, replacing the files of the demo run there (an "
                      "earlier run with other settings); any other file is never touched")
    demo.add_argument("--runs", nargs="+", default=None, metavar="RUN",
                      help="pretraining runs: dos (always) and any of dos_alpha0, dos_mask_token, "
                      "dos_per_point (default: all four)")
    demo.add_argument("--data", default=None, metavar="DIR",
                      help="pretrain and probe on this dataset in Pointcept's preprocessed layout "
                      "(ScanNet or S3DIS) instead of synthetic scenes; only read")
    demo.add_argument("--max-scenes", type=_int_at_least(1), default=None, metavar="N",
                      help="with --data: at most N scenes per split (the first, by name)")
    demo.add_argument("--max-points", type=_int_at_least(1), default=None, metavar="N",
                      help="with --data: at most N points per scene (a fixed random subset)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo.scene_source import DatasetError
        from .demo.output_folder import OutputFolderError, no_space_left
        from .demo.run import DemoArgumentError, run_demo

        if args.data is None and (args.max_scenes is not None or args.max_points is not None):
            parser.error("--max-scenes and --max-points cap a dataset given with --data")
        try:
            return run_demo(args)
        except (DemoArgumentError, OutputFolderError, DatasetError) as err:
            print(f"pointcept-dos demo: error: {err}", file=sys.stderr)
            return 2
        except (OSError, RuntimeError) as err:
            if not no_space_left(err):
                raise
            print(f"pointcept-dos demo: error: no space left on the disk of {args.out} ({err}); "
                  "free some and run the same command again: the run resumes", file=sys.stderr)
            return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
