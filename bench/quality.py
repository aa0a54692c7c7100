"""Representation quality on CPU: the demo's table over several seeds.

For each seed ``pointcept-dos demo`` generates synthetic scenes (validation scenes are never
seen in pretraining), pretrains DOS and its ablations with one budget and initialisation, and
probes them linearly beside the raw input channels and a randomly initialised backbone. Prints
mean +- sample std over seeds of mIoU, head / common / tail IoU, and the number of classes other
than wall, floor and ceiling at IoU >= 20, per method; with ``--probe-seeds``, the spread of
the probe alone: the same checkpoints probed again with other probe seeds (mean over the seeds
of each method's max - min).

    python bench/quality.py --seeds 0 1 2 --threads 2 --out dos-quality --probe-seeds 1 2
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def _sample_std(values):
    values = [v for v in values if not np.isnan(v)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def _probe_spread(args, method, per_seed):
    """Mean over seeds of max - min mIoU of `method`'s checkpoint probed with the demo's seed and
    `--probe-seeds` (None without them, or for the rows without a checkpoint)."""
    if not args.probe_seeds:
        return None
    from pointcept_dos.data.pointcept_layout import LAYOUTS
    from pointcept_dos.demo.run import PRESETS, RUNS, _load_model, run_label
    from pointcept_dos.demo.pretrain import model_config
    from pointcept_dos.demo.scene_source import synthetic_source, load_split
    from pointcept_dos.evaluation import linear_probe
    from pointcept_dos.synthetic import scannet_layout_names

    folders = {run_label(model_config(**o), model_config()): run for run, o in RUNS.items()}
    if method not in folders:
        return None
    spreads = []
    preset = PRESETS["default"]
    for seed in args.seeds:
        out = os.path.join(args.out, f"seed{seed}")
        with open(os.path.join(out, "demo_manifest.json")) as f:
            files = json.load(f)["files"]
        source = synthetic_source(os.path.join(out, "data", "scannet"),
                                  scannet_layout_names(dict(train=preset["train_scenes"], val=preset["val_scenes"])),
                                  {k[len("data/scannet/"):]: v for k, v in files.items() if k.startswith("data/scannet/")})
        train = load_split(source, "train", labels=True)[: preset["probe_train_scenes"]]
        val = load_split(source, "val", labels=True)
        backbone = _load_model(os.path.join(out, folders[method], "model_last.pth")).teacher["backbone"]
        mious = [per_seed[seed][method]["miou"]] + [
            linear_probe(backbone, train, val, 0.05, LAYOUTS["scannet"].class_names, seed=p,
                         iters=preset["probe_iters"], max_train_points=preset["probe_points"])["miou"]
            for p in args.probe_seeds]
        spreads.append(max(mious) - min(mious))
    return float(np.mean(spreads))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="default: the demo's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="dos-quality")
    parser.add_argument("--collect", action="store_true",
                        help="summarise the finished seed folders in --out without running")
    parser.add_argument("--probe-seeds", type=int, nargs="*", default=[],
                        help="probe every run's checkpoint again with these probe seeds")
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
        summary[method] = {k: (float(np.nanmean(v)), _sample_std(v)) for k, v in vals.items()}
        good = [len(good_classes(per_seed[s][method]["iou"], LAYOUTS["scannet"].structure))
                for s in args.seeds]
        summary[method]["classes >= 20"] = (float(np.mean(good)), _sample_std(good))
        spread = _probe_spread(args, method, per_seed)
        rows.append(f"| {method} | " + " | ".join(
            f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in list(summary[method].values())[:4])
            + f" | {np.mean(good):.1f} ± {_sample_std(good):.1f} | "
            + ("-" if spread is None else f"{100 * spread:.1f}") + " |")
    table = "\n".join(["| method | mIoU | head | common | tail | classes >= 20 IoU (not wall/floor/ceiling) "
                       "| probe-seed spread (mIoU) |", "|---|---|---|---|---|---|---|"] + rows)
    print(f"\n{len(args.seeds)} seeds {args.seeds}, {args.steps or 'demo'} steps, {args.threads} threads, "
          f"{time.time() - start:.0f} s\n")
    print(table)
    with open(os.path.join(args.out, "quality.json"), "w") as f:
        json.dump(dict(seeds=args.seeds, steps=args.steps, summary=summary, per_seed=per_seed), f,
                  indent=1)


if __name__ == "__main__":
    main()
