"""``pointcept-dos`` command line.

    pointcept-dos demo [--out dos-demo] [--quick] [--seed 0] [--steps N] [--backbone NAME]
                       [--threads N] [--overwrite]

``demo`` shows DOS working on a CPU, without dataset, GPU or Pointcept: it writes synthetic
ScanNet-like scenes in Pointcept's ScanNet layout (``OUT/data/scannet``), pretrains DOS-v1m1
and the paper's three ablations (uniform Sinkhorn, a mask token, a per-point objective) on one
budget, probes each teacher linearly beside the raw input channels and a randomly initialised
backbone, and writes a report folder (``OUT/report``).

Every argument is checked before any work (exit code 2 and a message naming it). ``--out``
must be new, empty, or hold an earlier demo run with the same settings (resumed); anything
else is refused before a byte is written, see ``pointcept_dos.demo.output_folder``.
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
    demo.add_argument("--threads", type=_int_at_least(1), default=None,
                      help="CPU threads in all (default: min(2, cores))")
    demo.add_argument("--overwrite", action="store_true",
                      help="start afresh in --out, replacing the demo's own files there (an "
                      "earlier run with other settings); other files are left alone")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo.output_folder import OutputFolderError
        from .demo.run import run_demo

        try:
            return run_demo(args)
        except OutputFolderError as err:
            print(f"pointcept-dos demo: error: {err}", file=sys.stderr)
            return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
