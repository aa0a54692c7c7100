"""The demo's orchestration: synthetic scenes -> two DOS pretraining runs -> linear probes ->
report folder. ``pointcept-dos demo`` (``pointcept_dos.cli``) calls :func:`run_demo`.

Jobs (a pretraining run, a probe) run in worker processes, one per core: one process per core
scales better on CPU than intra-op threads.
"""

import os
import time

# demo presets: the default finishes in under 10 minutes on 2 CPU cores, --quick in about one
PRESETS = dict(
    default=dict(train_scenes=24, val_scenes=6, probe_train_scenes=12, steps=400, max_points=4000,
                 probe_iters=300, precise_bn_scenes=8),
    quick=dict(train_scenes=6, val_scenes=2, probe_train_scenes=4, steps=20, max_points=1500,
               probe_iters=100, precise_bn_scenes=2),
)


def _log(msg):
    print(f"[pointcept-dos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_split(root, split):
    """Scenes of ``root/split`` (Pointcept's ScanNet layout) as numpy dicts, sorted by name."""
    import numpy as np

    scenes = []
    for name in sorted(os.listdir(os.path.join(root, split))):
        path = os.path.join(root, split, name)
        scenes.append({k: np.load(os.path.join(path, k + ".npy"))
                       for k in ("coord", "color", "normal", "segment20")})
        scenes[-1]["name"] = name
    return scenes


def _task(name, kw):
    """One demo job (run in this process or a worker): "pretrain" or "probe"."""
    import torch

    torch.set_num_threads(kw["threads"])
    if name == "pretrain":
        from .pretrain import pretrain

        scenes = load_split(kw["data_root"], "train")
        r = pretrain(scenes, kw["out_dir"], kw["model_cfg"], seed=kw["seed"], log=_log,
                     position=kw["position"], **kw["train"])
        return dict(history=r["history"], checkpoint=r["checkpoint"], seconds=r["seconds"])
    if name == "probe":
        from tqdm import tqdm

        from .pretrain import build_model
        from .probe import linear_probe

        train = load_split(kw["data_root"], "train")[: kw["probe_train_scenes"]]
        val = load_split(kw["data_root"], "val")
        if kw["checkpoint"] is None:
            backbone = build_model(kw["model_cfg"], kw["seed"]).teacher["backbone"]
        else:
            backbone = _load_model(kw["checkpoint"]).teacher["backbone"]
        with tqdm(total=2 * len(train) + len(val), desc=f"probe {kw['label']}", unit="scene",
                  position=kw["position"], dynamic_ncols=True) as bar:
            return linear_probe(backbone, train, val, kw["grid_size"], seed=kw["seed"],
                                progress=bar.update, iters=kw["iters"])
    raise ValueError(name)


def _run_tasks(tasks, jobs):
    """Run [(name, kwargs)] in ``jobs`` worker processes (1: here); results in order."""
    if jobs <= 1:
        return [_task(*t) for t in tasks]
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(jobs) as pool:
        return pool.starmap(_task, tasks)


def _load_model(checkpoint):
    """DOS-v1m1 model from a checkpoint written by the demo (config in ``cfg``)."""
    from ..io.checkpoints import read_checkpoint
    from .pretrain import build_model

    ckpt = read_checkpoint(checkpoint)
    model = build_model(ckpt["cfg"]["model"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def run_demo(args):
    import torch

    from ..data import CLASS_NAMES, write_scannet_layout
    from .pretrain import TRAIN_DEFAULTS, model_config
    from .report import teacher_assignments, usage_on_scenes, write_report

    preset = dict(PRESETS["quick" if args.quick else "default"])
    if args.steps is not None:
        preset["steps"] = args.steps
    threads = args.threads or min(2, os.cpu_count() or 1)
    torch.set_num_threads(1 if threads >= 2 else threads)
    grid_size = TRAIN_DEFAULTS["grid_size"]
    out = os.path.abspath(args.out)
    timings = {}
    start = time.time()
    _log(f"DOS CPU demo ({'quick' if args.quick else 'default'}) -> {out}; "
         f"{threads} threads, backbone {args.backbone}, seed {args.seed}")

    # 1. data, in Pointcept's ScanNet layout
    t = time.time()
    data_root = os.path.join(out, "data", "scannet")
    summary = write_scannet_layout(
        data_root, num_scenes=dict(train=preset["train_scenes"], val=preset["val_scenes"]),
        seed=args.seed)
    train, val = load_split(data_root, "train"), load_split(data_root, "val")
    timings["synthetic scenes"] = time.time() - t
    counts = summary["class_counts"]
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    _log(f"wrote {len(train)} train + {len(val)} val scenes ({summary['total_points']} points) "
         f"to {data_root}")
    present = [k for k, v in top if v > 0]
    _log(f"{len(present)} of {len(CLASS_NAMES)} classes present; most frequent "
         + ", ".join(f"{k} ({v})" for k, v in top[:3]) + "; rarest "
         + ", ".join(f"{k} ({counts[k]})" for k in present[-3:]))

    # 2. pretraining: alpha=1.3 (Zipf) and alpha=0 (uniform Sinkhorn), same budget and seed;
    # with 2+ threads the two runs go to two processes of threads // 2 torch threads each
    # (one process per core scales better on CPU than intra-op threads)
    train_opts = dict(steps=preset["steps"], grid_size=grid_size, max_points=preset["max_points"],
                      precise_bn_scenes=preset["precise_bn_scenes"])
    jobs = 2 if threads >= 2 else 1
    per_job = max(1, threads // jobs)
    _log(f"pretraining DOS alpha=1.3 and alpha=0: {preset['steps']} steps each, "
         f"{preset['max_points']} points per view, 2 scenes x 2 views per step; {jobs} "
         f"process(es) x {per_job} thread(s)")
    t = time.time()
    tasks = [("pretrain", dict(data_root=data_root, out_dir=os.path.join(out, f"dos_alpha{a:g}"),
                               model_cfg=model_config(args.backbone, zipf_alpha=a),
                               seed=args.seed, threads=per_job, position=i, train=train_opts))
             for i, a in enumerate((1.3, 0.0))]
    runs = dict(zip(("DOS alpha=1.3", "DOS alpha=0"), _run_tasks(tasks, jobs)))
    timings["pretrain (both runs)"] = time.time() - t
    for label, r in runs.items():
        timings[f"pretrain {label} (own)"] = r["seconds"]

    # 3. linear probes: random init and both DOS teachers
    _log(f"linear probes on {preset['probe_train_scenes']} train scenes, evaluated on "
         f"{len(val)} val scenes")
    t = time.time()
    probe_opts = dict(data_root=data_root, probe_train_scenes=preset["probe_train_scenes"],
                      grid_size=grid_size, seed=args.seed, threads=per_job,
                      iters=preset["probe_iters"])
    tasks = [("probe", dict(probe_opts, label="random init", checkpoint=None,
                            model_cfg=model_config(args.backbone), position=0))]
    tasks += [("probe", dict(probe_opts, label=label, checkpoint=r["checkpoint"], model_cfg=None,
                             position=i + 1)) for i, (label, r) in enumerate(runs.items())]
    results = {}
    for task, result in zip(tasks, _run_tasks(tasks, jobs)):
        label = task[1]["label"]
        results[label] = result
        g = result["groups"]
        _log(f"linear probe {label}: mIoU {100 * result['miou']:.1f}, head "
             f"{100 * g['head']:.1f}, common {100 * g['common']:.1f}, tail {100 * g['tail']:.1f}")
    timings["probes"] = time.time() - t
    models = {label: _load_model(r["checkpoint"]) for label, r in runs.items()}

    # 4. report
    t = time.time()
    usages = {label: usage_on_scenes(m, val, grid_size) for label, m in models.items()}
    main_model = models["DOS alpha=1.3"]
    ply_scene = (val[0]["coord"], teacher_assignments(main_model, val[0], grid_size))
    timings["report"] = time.time() - t
    timings["total"] = time.time() - start
    settings = dict(
        backbone=args.backbone, seed=args.seed, preset="quick" if args.quick else "default",
        train_scenes=len(train), val_scenes=len(val), probe_train_scenes=preset["probe_train_scenes"],
        steps=preset["steps"], grid_size_m=grid_size, points_per_view=preset["max_points"],
        scenes_per_step=TRAIN_DEFAULTS["scenes_per_batch"], lr=TRAIN_DEFAULTS["lr"],
        num_prototypes=main_model.num_prototypes, mask=f"{main_model.mask_ratio} of "
        f"{main_model.mask_size} m cubes", threads=threads, data_root=data_root,
        checkpoints=", ".join(r["checkpoint"] for r in runs.values()),
    )
    path = write_report(
        os.path.join(out, "report"), results, settings, timings,
        {label: r["history"] for label, r in runs.items()}, usages,
        main_model.prior.numpy(), ply_scene,
    )
    _log(f"done in {timings['total']:.0f} s; report: {path}")
    print(open(path).read().split("\n## ")[0].split("\n\n", 2)[-1])
    return 0
