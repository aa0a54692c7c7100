"""Representation quality on CPU: linear probe of random init, DOS alpha=0 and alpha=1.3.

The demo's comparison (``pointcept-dos demo``) with more steps and several seeds: for each
seed, synthetic scenes are generated, DOS is pretrained with alpha=1.3 and alpha=0 (same
budget, same initialisation), and the teachers and a randomly initialised backbone are probed
linearly. Prints mean +- std over seeds of mIoU and head / common / tail IoU per method.

    python bench/quality.py --seeds 0 1 2 --steps 600 --threads 2 --out dos-quality
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
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="dos-quality")
    args = parser.parse_args()

    from pointcept_dos.cli import main as cli_main

    per_seed = {}
    start = time.time()
    for seed in args.seeds:
        out = os.path.join(args.out, f"seed{seed}")
        code = cli_main(["demo", "--out", out, "--seed", str(seed), "--steps", str(args.steps),
                         "--threads", str(args.threads)])
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
        rows.append(f"| {method} | " + " | ".join(
            f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in summary[method].values()) + " |")
    table = "\n".join(["| method | mIoU | head | common | tail |", "|---|---|---|---|---|"] + rows)
    print(f"\n{len(args.seeds)} seeds {args.seeds}, {args.steps} steps, {args.threads} threads, "
          f"{time.time() - start:.0f} s\n")
    print(table)
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump(dict(seeds=args.seeds, steps=args.steps, summary=summary, per_seed=per_seed), f,
                  indent=1)


if __name__ == "__main__":
    main()
