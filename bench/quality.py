"""Representation quality on CPU: the demo's table over several seeds.

For each seed ``pointcept-dos demo`` generates synthetic scenes (validation scenes are never
seen in pretraining), pretrains DOS and its ablations with one budget and initialisation, and
probes them linearly beside the raw input channels and a randomly initialised backbone. Prints
mean +- std over seeds of mIoU, head / common / tail IoU, and the number of classes other than
wall, floor and ceiling at IoU >= 20, per method.

    python bench/quality.py --seeds 0 1 2 --threads 2 --out dos-quality
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="default: the demo's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="dos-quality")
    parser.add_argument("--collect", action="store_true",
                        help="summarise the finished seed folders in --out without running")
    args = parser.parse_args()

    from pointcept_dos.cli import main as cli_main
    from pointcept_dos.data.pointcept_layout import LAYOUTS
    from pointcept_dos.demo.report import good_classes

    per_seed = {}
    start = time.time()
    for seed in args.seeds:
        out = os.path.join(args.out, f"seed{seed}")
        if not args.collect:
            steps = [] if args.steps is None else ["--steps", str(args.steps)]
            code = cli_main(["demo", "--out", out, "--seed", str(seed), "--threads", str(args.threads)]
                            + steps)
            if code:
                sys.exit(code)
        with open(os.path.join(out, "report", "metrics.json")) as f:
            per_seed[seed] = json.load(f)["results"]

    methods = list(next(iter(per_seed.values())))
    rows = []
    summary = {}
    for method in methods:
        vals = dict(
            mIoU=[per_seed[s][method]["miou"] for s in args.seeds],
            **{g: [per_seed[s][method]["groups"][g] for s in args.seeds]
               for g in ("head", "common", "tail")},
        )
        summary[method] = {k: (float(np.nanmean(v)), float(np.nanstd(v))) for k, v in vals.items()}
        good = [len(good_classes(per_seed[s][method]["iou"], LAYOUTS["scannet"].structure))
                for s in args.seeds]
        summary[method]["classes >= 20"] = (float(np.mean(good)), float(np.std(good)))
        rows.append(f"| {method} | " + " | ".join(
            f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in list(summary[method].values())[:4])
            + f" | {np.mean(good):.1f} ± {np.std(good):.1f} |")
    table = "\n".join(["| method | mIoU | head | common | tail | classes >= 20 IoU (not wall/floor/ceiling) |",
                       "|---|---|---|---|---|---|"] + rows)
    print(f"\n{len(args.seeds)} seeds {args.seeds}, {args.steps or 'demo'} steps, {args.threads} threads, "
          f"{time.time() - start:.0f} s\n")
    print(table)
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump(dict(seeds=args.seeds, steps=args.steps, summary=summary, per_seed=per_seed), f,
                  indent=1)


if __name__ == "__main__":
    main()
