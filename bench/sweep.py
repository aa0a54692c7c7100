"""Choosing a setting on tuning seeds: DOS variants pretrained on the demo's synthetic scenes of a
seed and probed as the demo probes, one table.

Tuning seeds are 100 and up: no reported number uses them. Each variant is a name and model /
train overrides (Python literals); every variant gets the same scenes, budget and probe.
`--report` runs settings already chosen on tuning seeds on the reported seeds (0-99) instead:
for a table, never for choosing.

    python bench/sweep.py --seeds 100 --threads 1 \\
        --variant "per-point tau_T 0.02: model.objective='per_point' model.zipf_alpha=0.0" \\
        --variant "per-point tau_T 0.04: model.objective='per_point' model.zipf_alpha=0.0 model.teacher_temp=0.04"
"""

import argparse
import ast
import json
import os
import tempfile
import time

import numpy as np


def parse_variant(text):
    """"name: where.key=value ..." -> (name, model overrides, train overrides)."""
    name, _, items = text.partition(":")
    model, train = {}, {}
    for item in items.split():
        key, value = item.split("=", 1)
        where, _, field = key.partition(".")
        dict(model=model, train=train)[where][field] = ast.literal_eval(value)
    return name.strip(), model, train


def run(variant, seed, out, threads):
    """-> dict(miou, groups, last-step signals, seconds) of one variant on one seed."""
    import torch

    from pointcept_dos.data.pointcept_layout import LAYOUTS
    from pointcept_dos.demo.pretrain import TRAIN_DEFAULTS, model_config, pretrain
    from pointcept_dos.demo.run import PRESETS
    from pointcept_dos.evaluation import linear_probe
    from pointcept_dos.synthetic import scannet_layout_scenes

    torch.set_num_threads(threads)
    name, model, train = variant
    preset = PRESETS["default"]
    scenes = {}
    for split, _, scene in scannet_layout_scenes(dict(train=preset["train_scenes"], val=preset["val_scenes"]), seed):
        scenes.setdefault(split, []).append(dict(scene, label=scene["segment20"]))
    opts = dict(steps=preset["steps"], max_points=preset["max_points"], precise_bn_scenes=preset["precise_bn_scenes"])
    opts.update(train)
    start = time.time()
    result = pretrain(scenes["train"], out, model_config(**model), seed=seed, progress=False,
                      log=lambda *_: None, **opts)
    probe = linear_probe(result["model"].teacher["backbone"], scenes["train"][: preset["probe_train_scenes"]],
                         scenes["val"], TRAIN_DEFAULTS["grid_size"], LAYOUTS["scannet"].class_names, seed=seed,
                         iters=preset["probe_iters"], max_train_points=preset["probe_points"])
    last = result["history"][-25:]
    return dict(name=name, seed=seed, miou=probe["miou"], groups=probe["groups"], seconds=time.time() - start,
                **{k: float(np.mean([h[k] for h in last])) for k in
                   ("effective_prototypes", "target_entropy", "teacher_spread", "loss")})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[100])
    parser.add_argument("--variant", action="append", required=True, help='"name: model.key=value train.key=value"')
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run; 1 (default) as the demo's jobs: another count gives other numbers")
    parser.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--report", action="store_true",
                        help="seeds 0-99: report settings chosen on tuning seeds (not for choosing)")
    args = parser.parse_args()
    if args.report and max(args.seeds) >= 100:
        parser.error("--seeds with --report: the reported seeds are 0-99 (100 and up are tuning seeds)")
    if not args.report and min(args.seeds) < 100:
        parser.error("--seeds: tuning seeds are 100 and up (seeds 0-99 are the reported ones; "
                     "--report runs settings already chosen on them)")
    out = args.out or tempfile.mkdtemp(prefix="dos-sweep-")
    rows = []
    for variant in map(parse_variant, args.variant):
        for seed in args.seeds:
            rows.append(run(variant, seed, os.path.join(out, f"{variant[0].replace(' ', '_')}-seed{seed}"), args.threads))
            r = rows[-1]
            print(f"| {r['name']} | {r['seed']} | {100 * r['miou']:.1f} | {r['effective_prototypes']:.1f} | "
                  f"{r['target_entropy']:.3f} | {r['teacher_spread']:.3f} | {r['loss']:.3f} | {r['seconds']:.0f} |",
                  flush=True)
    with open(os.path.join(out, "sweep.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"(| variant | seed | mIoU | effective prototypes | target entropy / log N | teacher spread | "
          f"loss | s |: the last 25 steps' means; runs in {out})")


if __name__ == "__main__":
    main()
