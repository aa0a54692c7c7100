"""DOS on real scans: pretrained on real train rooms, against random init and the raw input, on
held-out real rooms; and the synthetic demo's checkpoints probed on the same rooms.

Source: VoteNet's ScanNet export (`scannet/scannet_train_detection_data/` of picwoon/votenet:
per scan `sceneRRRR_SS_vert.npy` [50000, 6] xyz + rgb 0-255, axis-aligned, and
`sceneRRRR_SS_sem_label.npy` NYU40 ids, 0 unannotated; no normals, so the demo estimates
them). ScanNet's terms forbid handing the data on: point `--votenet` at your own copy; nothing
of it is written outside `--work`.

Only rooms 0000 to 0006 are ever opened (files of other rooms are not even read: they are held
back for evaluation elsewhere). Splits are by room, never by scan (a room's rescans `_00`,
`_01`, ... stay on one side):
- fold `tune`: train rooms 0001-0006, validate on room 0000; the only fold settings are chosen
  on, and room 0000 is in no reported fold;
- folds `a`, `b`, `c` (reported): each holds out two of rooms 0001-0006 (0001-0002, 0003-0004,
  0005-0006) and pretrains and fits the probe on the other four.

Each (fold, seed, steps) runs the user's command, `pointcept-dos demo --data <fold> --runs dos`
(DOS, random init and raw input through the same probe); `--checkpoint` also probes given
checkpoints (e.g. the synthetic demo's) on each fold. Prints mIoU per fold and the mean over
folds, mean +- sample std over seeds, and the spread over probe seeds (`--probe-seeds`).

    python bench/real_scans.py --votenet DATA/scannet_train_detection_data --work real-work \\
        --folds a b c --seeds 0 1 2 --steps 300 900 --threads 2
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOMS = [f"{r:04d}" for r in range(7)]  # rooms 0000-0006: the only ones this script opens
FOLDS = dict(
    tune=dict(train=["0001", "0002", "0003", "0004", "0005", "0006"], val=["0000"]),
    a=dict(train=["0003", "0004", "0005", "0006"], val=["0001", "0002"]),
    b=dict(train=["0001", "0002", "0005", "0006"], val=["0003", "0004"]),
    c=dict(train=["0001", "0002", "0003", "0004"], val=["0005", "0006"]),
)
# ScanNet's 20 benchmark classes by NYU40 id, in the order of segment20 (Pointcept's preprocessing)
NYU40_OF_SCANNET20 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
_SCAN = re.compile(r"^scene(\d{4})_(\d{2})_vert\.npy$")


def convert(votenet, work):
    """Rooms 0000-0006 of VoteNet's export -> `work/scans/<scan>/{coord,color,segment20}.npy`;
    -> {room: [scans]}."""
    rooms = {}
    for name in sorted(os.listdir(votenet)):
        match = _SCAN.match(name)
        if not match or match.group(1) not in ROOMS:
            continue  # another room's file is never opened
        scan = f"scene{match.group(1)}_{match.group(2)}"
        target = os.path.join(work, "scans", scan)
        rooms.setdefault(match.group(1), []).append(scan)
        if os.path.isfile(os.path.join(target, "segment20.npy")):
            continue
        vert = np.load(os.path.join(votenet, name))
        nyu = np.load(os.path.join(votenet, f"{scan}_sem_label.npy")).astype(np.int64)
        segment20 = np.full(len(nyu), -1, np.int16)
        for index, nyu_id in enumerate(NYU40_OF_SCANNET20):
            segment20[nyu == nyu_id] = index
        os.makedirs(target, exist_ok=True)
        np.save(os.path.join(target, "coord.npy"), vert[:, :3].astype(np.float32))
        np.save(os.path.join(target, "color.npy"), np.clip(vert[:, 3:6], 0, 255).astype(np.uint8))
        np.save(os.path.join(target, "segment20.npy"), segment20)
    missing = [r for r in ROOMS if r not in rooms]
    if missing:
        sys.exit(f"--votenet {votenet}: no scans of rooms {missing}")
    return rooms


def fold_layout(work, fold, rooms):
    """Pointcept's ScanNet layout of `fold` (links to the converted scans) -> its folder."""
    root = os.path.join(work, "folds", fold)
    for split, fold_rooms in FOLDS[fold].items():
        os.makedirs(os.path.join(root, split), exist_ok=True)
        for room in fold_rooms:
            for scan in rooms[room]:
                link = os.path.join(root, split, scan)
                if not os.path.islink(link):
                    os.symlink(os.path.join("..", "..", "..", "scans", scan), link)
    return root


def run_demo(fold_root, out, seed, steps, threads, extra):
    """The user's command on one fold; -> its metrics.json results."""
    metrics = os.path.join(out, "report", "metrics.json")
    if not os.path.isfile(metrics):
        command = [sys.executable, "-m", "pointcept_dos.cli", "demo", "--data", fold_root, "--out", out,
                   "--seed", str(seed), "--steps", str(steps), "--threads", str(threads), "--runs", "dos",
                   *extra]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode:
            sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-4000:]}")
    with open(metrics) as f:
        metrics = json.load(f)
    return metrics["results"], metrics["timings"]["total"]


def tuning_run(fold_root, out, seed, steps, overrides):
    """DOS pretrained in this process with settings the demo does not expose (`overrides`:
    "train.KEY=VALUE" for the training loop, "model.KEY=VALUE" for DOS-v1m1, "scene.KEY=VALUE"
    for the synthetic generator, values as Python literals), probed on the fold like the demo;
    -> its probe result. With any "scene." key (or "scene.synthetic=1") DOS is pretrained on the
    demo's 24 synthetic train scenes of `seed` instead of the fold's real ones: what the
    synthetic demo teaches, judged on real rooms. The fold's real scans are viewed as the demo
    views a user's (`SCAN_VIEW_OPTIONS`) unless a "train.views=" override replaces them. For
    choosing settings on the tune fold."""
    import ast

    import torch

    from pointcept_dos.demo.pretrain import model_config, pretrain
    from pointcept_dos.demo.run import PRESETS
    from pointcept_dos.demo.scene_source import dataset_source, load_split
    from pointcept_dos.demo.views import SCAN_VIEW_OPTIONS
    from pointcept_dos.synthetic import scannet_layout_scenes

    torch.set_num_threads(1)  # as the demo's jobs: another thread count gives other numbers
    preset = PRESETS["default"]
    train = dict(steps=steps, max_points=preset["max_points"], precise_bn_scenes=preset["precise_bn_scenes"])
    model, scene = {}, {}
    for item in overrides:
        key, value = item.split("=", 1)
        where, _, name = key.partition(".")
        dict(train=train, model=model, scene=scene)[where][name] = ast.literal_eval(value)
    if scene:
        scene.pop("synthetic", None)
        scenes = [s for split, _, s in scannet_layout_scenes(dict(train=preset["train_scenes"]), seed, **scene)]
    else:
        scenes = load_split(dataset_source(fold_root), "train")
        train.setdefault("views", SCAN_VIEW_OPTIONS)  # as the demo views a user's scans
    result = pretrain(scenes, out, model_config(**model), seed=seed, progress=False, log=lambda *_: None, **train)
    return probe_checkpoint(result["checkpoint"], fold_root, seed)


def probe_checkpoint(checkpoint, fold_root, probe_seed):
    """The linear probe of a demo checkpoint's teacher on a fold (train rooms fit, val rooms
    score), the demo's probe settings."""
    import torch

    from pointcept_dos.data.pointcept_layout import LAYOUTS
    from pointcept_dos.evaluation.linear_probe import linear_probe
    from pointcept_dos.demo.run import PRESETS, _load_model
    from pointcept_dos.demo.scene_source import dataset_source, load_split

    torch.set_num_threads(1)  # as the demo's probes
    source = dataset_source(fold_root)
    preset = PRESETS["default"]
    backbone = _load_model(checkpoint).teacher["backbone"]
    return linear_probe(backbone, load_split(source, "train", labels=True)[: preset["probe_train_scenes"]],
                        load_split(source, "val", labels=True), 0.05, LAYOUTS["scannet"].class_names,
                        seed=probe_seed, iters=preset["probe_iters"], max_train_points=preset["probe_points"])


def summarise(results, label):
    """{fold: {seed: mIoU}} -> line: per-fold means, mean over folds +- sample std over seeds."""
    folds = sorted(results)
    seeds = sorted(set.intersection(*(set(results[f]) for f in folds)))
    per_seed = [np.mean([results[f][s] for f in folds]) for s in seeds]
    std = np.std(per_seed, ddof=1) if len(per_seed) > 1 else float("nan")
    cells = " | ".join(f"{100 * np.mean(list(results[f].values())):.1f}" for f in folds)
    return f"| {label} | {cells} | {100 * np.mean(per_seed):.1f} ± {100 * std:.1f} |"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--votenet", required=True, help="folder of VoteNet's scannet_train_detection_data")
    parser.add_argument("--work", required=True, help="scratch folder: converted scans, folds, runs")
    parser.add_argument("--folds", nargs="+", default=["a", "b", "c"], choices=sorted(FOLDS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, nargs="+", default=[300])
    parser.add_argument("--threads", type=int, default=2, help="the demo's --threads (its worker processes)")
    parser.add_argument("--checkpoint", nargs="*", default=[], metavar="NAME=PATH",
                        help="also probe these demo checkpoints on every fold")
    parser.add_argument("--probe-seeds", type=int, nargs="*", default=[],
                        help="probe seeds for the spread of the probe alone (DOS at the first steps)")
    parser.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE",
                        help="instead of the demo: DOS pretrained here with these train.* / model.* "
                        "settings (choosing settings on the tune fold)")
    parser.add_argument("--demo-args", nargs=argparse.REMAINDER, default=[],
                        help="further options for every demo run (last on the line)")
    args = parser.parse_args()

    start = time.time()
    rooms = convert(args.votenet, args.work)
    table = {}  # label -> {fold: {seed: mIoU}}
    seconds = []
    for fold in args.folds:
        root = fold_layout(args.work, fold, rooms)
        for steps in args.steps:
            for seed in args.seeds:
                if args.set is not None:
                    name = "-".join(args.set).replace("/", "_") or "defaults"
                    out = os.path.join(args.work, "tuning", f"{fold}-seed{seed}-steps{steps}-{name}")
                    table.setdefault(f"DOS {' '.join(args.set)}, {steps} steps", {}).setdefault(
                        fold, {})[seed] = tuning_run(root, out, seed, steps, args.set)["miou"]
                    seconds.append(0.0)
                    continue
                out = os.path.join(args.work, "runs", f"{fold}-seed{seed}-steps{steps}")
                results, total = run_demo(root, out, seed, steps, args.threads, args.demo_args)
                seconds.append(total)
                for method, r in results.items():
                    label = method if not method.startswith("DOS") else f"{method}, {steps} steps"
                    table.setdefault(label, {}).setdefault(fold, {})[seed] = r["miou"]
        for spec in args.checkpoint:
            name, path = spec.split("=", 1)
            for seed in args.seeds:
                r = probe_checkpoint(path.format(seed=seed), root, seed)
                table.setdefault(name, {}).setdefault(fold, {})[seed] = r["miou"]
        for probe_seed in args.probe_seeds:
            checkpoint = os.path.join(args.work, "runs", f"{fold}-seed{args.seeds[0]}-steps{args.steps[0]}",
                                      "dos", "model_last.pth")
            r = probe_checkpoint(checkpoint, root, probe_seed)
            table.setdefault("DOS, probe seeds (spread of the probe)", {}).setdefault(fold, {})[probe_seed] = r["miou"]
    print(f"\nfolds {args.folds}, seeds {args.seeds}, steps {args.steps}, {args.threads} threads; "
          f"demo runs {min(seconds):.0f}-{max(seconds):.0f} s each; {time.time() - start:.0f} s in all\n")
    print("| method | " + " | ".join(f"fold {f} (val rooms {', '.join(FOLDS[f]['val'])})" for f in args.folds)
          + " | mean over folds (± sample std over seeds) |")
    print("|---" * (len(args.folds) + 2) + "|")
    for label, results in table.items():
        print(summarise(results, label))
    with open(os.path.join(args.work, "real_scans.json"), "w") as f:
        json.dump(dict(args=vars(args), table=table), f, indent=1)


if __name__ == "__main__":
    main()
