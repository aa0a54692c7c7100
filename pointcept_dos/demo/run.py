"""The demo's orchestration: scenes (synthetic, or the user's with ``--data``) -> DOS and its
ablations pretrained on one budget -> linear probes beside the raw input and a random
initialisation -> report folder. ``pointcept-dos demo`` (``pointcept_dos.cli``) calls
:func:`run_demo`.

Everything the command line can check is checked before the first byte is written
(:func:`check_args`, then the output folder's path and, with ``--data``, every file of the
dataset). The output folder is then claimed (``output_folder``: one demo at a time; a new or
empty folder, or an earlier run with the same settings, which is resumed): a rerun of an
interrupted command reuses the scenes, resumes the pretraining runs from their last checkpoint
and ends with the result of an uninterrupted run. The probes and the report are computed again.

Jobs (a pretraining run, a probe) run in worker processes, one per core, each on one torch
thread: one process per core scales better on CPU than intra-op threads, and a run's numbers do
not depend on ``--threads`` (the order of a multi-threaded reduction does, and over 300 steps
that moves a probe by points: bench/README.md). A worker ends itself when the demo's process
dies.
"""

import json
import os
import time

# The pretraining runs, one budget, seed and initialisation: DOS, then the paper's three
# ablations, each one change to DOS: the prior (uniform Sinkhorn), the student's input (masked
# points kept with a mask token, loss at every matched point: Sonata's) and the objective
# (per-point assignment over prototypes: Sonata's / DINO's). folder -> model overrides; each
# run's label is made from what it ran (`run_label`)
# The per-point arm runs as Sonata's objective does, on a uniform Sinkhorn, at its own healthy
# teacher temperature: 0.04, Sonata's starting value, chosen on tuning seed 100 (bench/README.md,
# "Representation quality")
RUNS = {
    "dos": dict(),
    "dos_alpha0": dict(zipf_alpha=0.0),
    "dos_mask_token": dict(student_input="mask_token"),
    "dos_per_point": dict(objective="per_point", zipf_alpha=0.0, teacher_temp=0.04),
}
MAIN_RUN = "dos"
RAW_INPUT = "raw input (9 channels)"
RANDOM_INIT = "random init"
REPORT_DIR = "report"

# demo presets: the default about 9 minutes on 2 CPU cores, --quick about one (bench/README.md,
# "Representation quality")
# online_probe: the probe taken while a run pretrains (25%, 50%, 100% of its steps): fit on the
# first `train` train scenes, scored on the first `val` held-out scenes, quick settings
PRESETS = dict(
    default=dict(train_scenes=24, val_scenes=6, probe_train_scenes=12, steps=300, max_points=4000,
                 probe_iters=300, probe_points=100_000, precise_bn_scenes=8,
                 online_probe=dict(train=4, val=2, iters=100, points=30_000)),
    quick=dict(train_scenes=6, val_scenes=2, probe_train_scenes=4, steps=20, max_points=1500,
               probe_iters=100, probe_points=20_000, precise_bn_scenes=2,
               online_probe=dict(train=2, val=1, iters=30, points=5_000)),
)
MAX_STEPS = 100_000  # about a day on 2 CPU cores: more is a typo, not a demo
MAX_SEED = 2**32 - 1


class DemoArgumentError(ValueError):
    """A command-line value the demo cannot run with (exit code 2): the value and why."""


def run_label(model_cfg, main_cfg=None):
    """A run's row label, from its model config: DOS, the ablation's change, the Zipf exponent,
    and the teacher temperature where it differs from the main run's (``main_cfg``)."""
    from ..models.dos_v1m1 import resolved_config
    from ..models.step_params import build_schedule

    def resolved(c):
        return resolved_config({k: v for k, v in c.items() if k != "type"})

    cfg = resolved(model_cfg)
    name = "DOS"
    if cfg["student_input"] == "mask_token":
        name += " + mask token"
    if cfg["objective"] == "per_point":
        name += " + per-point objective"
    name += f" alpha={build_schedule('zipf_alpha', cfg['zipf_alpha'])!r}"
    if main_cfg is not None and resolved(main_cfg)["teacher_temp"] != cfg["teacher_temp"]:
        name += f" tau_T={build_schedule('teacher_temp', cfg['teacher_temp'])!r}"
    return name


def _log(msg):
    print(f"[pointcept-dos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _end_with_parent(parent):
    """In a worker: end this process as soon as the demo's process `parent` is gone (a killed
    demo must not leave workers writing into its folder)."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _task(name, kw):
    """One demo job (run in this process or a worker): "pretrain" or "probe"."""
    import torch

    from .output_folder import OutputFolder
    from .scene_source import load_split

    torch.set_num_threads(1)  # every job on one thread: see the module docstring
    if name == "pretrain":
        from ..data.pointcept_layout import LAYOUTS
        from ..evaluation.linear_probe import linear_probe
        from .pretrain import pretrain

        scenes = load_split(kw["source"], "train")
        quick = kw["online_probe"]
        # the labels are read here, by the probe alone, never by the training loop
        probe_train = load_split(kw["source"], "train", labels=True)[: quick["train"]]
        probe_val = load_split(kw["source"], "val", labels=True)[: quick["val"]]

        def probe(backbone):
            return linear_probe(backbone, probe_train, probe_val, kw["train"]["grid_size"],
                                LAYOUTS[kw["source"]["layout"]].class_names, seed=kw["seed"],
                                iters=quick["iters"], max_train_points=quick["points"])

        r = pretrain(scenes, kw["out_dir"], kw["model_cfg"], seed=kw["seed"], log=_log,
                     position=kw["position"], files=OutputFolder(kw["out"]), probe=probe, **kw["train"])
        return dict(history=r["history"], checkpoint=r["checkpoint"], seconds=r["seconds"],
                    resumed_from=r["resumed_from"], probes=r["probes"])
    if name == "probe":
        from tqdm import tqdm

        from ..data.pointcept_layout import LAYOUTS
        from .pretrain import build_model
        from ..evaluation.linear_probe import linear_probe

        train = load_split(kw["source"], "train", labels=True)[: kw["probe_train_scenes"]]
        val = load_split(kw["source"], "val", labels=True)
        if kw["label"] == RAW_INPUT:
            backbone = None  # the probe reads the backbone's input channels themselves
        elif kw["checkpoint"] is None:
            backbone = build_model(kw["model_cfg"], kw["seed"]).teacher["backbone"]
        else:
            backbone = _load_model(kw["checkpoint"]).teacher["backbone"]
        with tqdm(total=len(train) + len(val), desc=f"probe {kw['label']}", unit="scene",
                  position=kw["position"], dynamic_ncols=True) as bar:
            return linear_probe(backbone, train, val, kw["grid_size"],
                                LAYOUTS[kw["source"]["layout"]].class_names, seed=kw["seed"],
                                progress=bar.update, iters=kw["iters"],
                                max_train_points=kw["max_train_points"])
    raise ValueError(name)


def _run_tasks(pretrain_tasks, probe_tasks, probe_of, jobs):
    """Run the pretraining tasks and the probes in ``jobs`` worker processes (1: here).

    Each run's own probe (the task ``probe_of(i, result)``) is queued as soon as run i ends,
    so a worker freed by a short run probes while a longer one (the mask-token run costs two
    of DOS's) still trains.
    Returns (pretraining results, results of ``probe_tasks`` then of each run's probe), in order.
    """
    if jobs <= 1:
        runs = [_task(*t) for t in pretrain_tasks]
        return runs, [_task(*t) for t in probe_tasks] + [_task(*probe_of(i, r)) for i, r in enumerate(runs)]
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(jobs, initializer=_end_with_parent, initargs=(os.getpid(),)) as pool:
        run_probes = [None] * len(pretrain_tasks)

        def queue_probe(i):
            def callback(result):  # runs before that run's get() returns
                run_probes[i] = pool.apply_async(_task, probe_of(i, result))
            return callback

        runs = [pool.apply_async(_task, t, callback=queue_probe(i)) for i, t in enumerate(pretrain_tasks)]
        probes = [pool.apply_async(_task, t) for t in probe_tasks]
        runs = [r.get() for r in runs]
        return runs, [p.get() for p in probes + run_probes]


def _load_model(checkpoint):
    """DOS-v1m1 model from a checkpoint written by the demo (config in ``cfg``)."""
    from ..io.checkpoints import read_checkpoint
    from ..models.dos_v1m1 import upgrade_model_config
    from .pretrain import build_model

    ckpt = read_checkpoint(checkpoint)
    model = build_model(upgrade_model_config(ckpt["cfg"]["model"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def check_args(args):
    """Every value of the command line that can be judged without writing: DemoArgumentError
    naming the option, the value and what was expected."""
    from .pretrain import BACKBONES

    if args.backbone not in BACKBONES:
        raise DemoArgumentError(f"--backbone: {args.backbone!r} is not a demo backbone; expected one "
                                f"of {', '.join(sorted(BACKBONES))}")
    if args.backbone != "DOS-SpUNet-lite":  # Pointcept's: it must import and know the name
        try:
            from pointcept.models.builder import MODELS
        except ImportError as err:
            raise DemoArgumentError(f"--backbone {args.backbone} is Pointcept's, and Pointcept does not "
                                    f"import ({err}); put a Pointcept checkout on PYTHONPATH, or use "
                                    "DOS-SpUNet-lite, which runs without it") from None
        if MODELS.get(args.backbone) is None:
            raise DemoArgumentError(f"--backbone {args.backbone}: not in this Pointcept's MODELS registry")
    if args.seed > MAX_SEED:
        raise DemoArgumentError(f"--seed: expected an integer in [0, {MAX_SEED}], got {args.seed}")
    if args.steps is not None and args.steps > MAX_STEPS:
        raise DemoArgumentError(f"--steps: expected at most {MAX_STEPS} (about a day on 2 CPU cores), "
                                f"got {args.steps}")
    cores = os.cpu_count() or 1
    if args.threads is not None and args.threads > cores:
        raise DemoArgumentError(f"--threads: expected at most this machine's {cores} cores, got "
                                f"{args.threads} (more threads than cores only slow a CPU run down)")
    unknown = [r for r in args.runs or () if r not in RUNS]
    if unknown or (args.runs is not None and MAIN_RUN not in args.runs):
        raise DemoArgumentError(f"--runs: expected {MAIN_RUN} and any of {', '.join(r for r in RUNS if r != MAIN_RUN)}, "
                                f"got {', '.join(args.runs)}")


def demo_settings(args, data=None):
    """(preset, settings): the resolved preset, and the settings that make two runs the same run
    (the threads do not: they change the speed, not the result). `data`: the identity of a
    user's dataset (None for the synthetic scenes)."""
    from .pretrain import TRAIN_DEFAULTS
    from .views import SCAN_VIEW_OPTIONS

    preset = dict(PRESETS["quick" if args.quick else "default"])
    if args.steps is not None:
        preset["steps"] = args.steps
    if data is not None:
        # a user's scans get their own colour augmentation (`views.SCAN_VIEW_OPTIONS`), as
        # JSON holds it, so that the manifest's settings compare equal on a resume
        preset["views"] = json.loads(json.dumps(SCAN_VIEW_OPTIONS))
    settings = dict(backbone=args.backbone, seed=args.seed,
                    preset="quick" if args.quick else "default",
                    grid_size=TRAIN_DEFAULTS["grid_size"], **preset)
    if args.runs is not None:
        settings["runs"] = [r for r in RUNS if r in args.runs]
    if data is not None:
        settings["data"] = data
    return preset, settings


def _class_summary(scenes, class_names):
    """{class name: points} over ``scenes`` (their labels), most frequent first."""
    import numpy as np

    counts = np.zeros(len(class_names), np.int64)
    for s in scenes:
        counts += np.bincount(s["label"][s["label"] >= 0], minlength=len(class_names))
    return sorted(zip(class_names, counts.tolist()), key=lambda kv: -kv[1])


def _synthetic_scenes(folder, preset, seed):
    """The synthetic scenes in OUT/data/scannet, written once (through the output folder, so
    only the demo's own files are ever replaced); -> their source. A scene file found as
    recorded is reused; a missing one is generated again and must have the recorded bytes."""
    import hashlib
    import io

    import numpy as np

    from ..synthetic import ASSETS, scannet_layout_names, scannet_layout_scenes
    from .scene_source import SYNTHETIC_DATA, synthetic_source

    counts = dict(train=preset["train_scenes"], val=preset["val_scenes"])
    names = scannet_layout_names(counts)
    rels = [f"{split}/{name}/{key}.npy" for split, name in names for key in ASSETS]
    recorded = folder.manifest()["files"]
    recorded = {rel: recorded.get(f"{SYNTHETIC_DATA}/{rel}") for rel in rels}
    if not all(recorded.values()) or folder.conflicts([f"{SYNTHETIC_DATA}/{rel}" for rel in rels],
                                                      folder.manifest()):
        for split, name, scene in scannet_layout_scenes(counts, seed):
            for key in ASSETS:
                rel = f"{split}/{name}/{key}.npy"
                buffer = io.BytesIO()
                np.save(buffer, scene[key])
                digest = hashlib.sha256(buffer.getvalue()).hexdigest()
                if recorded[rel] is not None and os.path.isfile(folder.path(f"{SYNTHETIC_DATA}/{rel}")):
                    if digest != recorded[rel]:
                        raise RuntimeError(
                            f"the scenes generated again for {folder.root} differ from those its "
                            "manifest records: scene generation is not deterministic on this "
                            "machine; rerun with --overwrite")
                    continue
                with folder.write(f"{SYNTHETIC_DATA}/{rel}", "wb") as f:
                    f.write(buffer.getvalue())
                recorded[rel] = digest
    return synthetic_source(folder.path(SYNTHETIC_DATA), names, recorded)


def _plan(runs, preset, data):
    """'/'-paths of every file the run writes in OUT (besides its manifest)."""
    from ..synthetic import ASSETS, scannet_layout_names
    from .pretrain import RUN_FILES
    from .report import REPORT_FILES
    from .scene_source import SYNTHETIC_DATA

    plan = [f"{run}/{name}" for run in runs for name in RUN_FILES]
    plan += [f"{REPORT_DIR}/{name}" for name in REPORT_FILES]
    if data is None:
        names = scannet_layout_names(dict(train=preset["train_scenes"], val=preset["val_scenes"]))
        plan += [f"{SYNTHETIC_DATA}/{split}/{name}/{key}.npy" for split, name in names for key in ASSETS]
    return plan


def run_demo(args):
    """``pointcept-dos demo``: returns the exit code. Raises DemoArgumentError or
    OutputFolderError (before anything is written) or DatasetError (``--data``)."""
    from .output_folder import OutputFolder, check_out_path
    from .scene_source import dataset_source, fingerprint

    check_args(args)
    out = os.path.abspath(args.out)
    check_out_path(out)
    source = data = None
    if args.data is not None:
        _log(f"reading and checking the dataset in {os.path.abspath(args.data)}")
        source = dataset_source(os.path.abspath(args.data), args.max_scenes, args.max_points, args.seed)
        data = dict(layout=source["layout"], fingerprint=fingerprint(source),
                    max_scenes=args.max_scenes, max_points=args.max_points)
    preset, identity = demo_settings(args, data)
    runs_to_do = identity.get("runs", list(RUNS))
    folder = OutputFolder(out)
    state = folder.claim(identity, _plan(runs_to_do, preset, data), overwrite=args.overwrite,
                         data=None if source is None else dict(root=source["root"], files=source["files"]))
    try:
        return _run_claimed(args, folder, state, source, preset, identity, runs_to_do)
    finally:
        folder.release()


def _run_claimed(args, folder, state, source, preset, identity, runs_to_do):
    """`run_demo` once OUT is claimed: scenes, pretraining and probes, report."""
    import torch

    from ..data.pointcept_layout import LAYOUTS
    from .pretrain import TRAIN_DEFAULTS, model_config
    from .report import prior_view, teacher_assignments, write_report
    from .scene_source import load_split
    from .views import colour_augmentation

    out = folder.root
    threads = args.threads or min(2, os.cpu_count() or 1)
    torch.set_num_threads(1)  # the report's teacher passes here, like every job, on one thread
    grid_size = TRAIN_DEFAULTS["grid_size"]
    timings = {}
    start = time.time()
    _log(f"DOS CPU demo ({identity['preset']}) -> {out}; "
         f"{threads} threads, backbone {args.backbone}, seed {args.seed}")
    if state == "resume":
        _log(f"{out} holds an earlier run with the same settings: reusing what it finished, "
             "resuming the rest")

    # 1. data: synthetic scenes in Pointcept's ScanNet layout, or the user's dataset
    t = time.time()
    if source is None:
        source = _synthetic_scenes(folder, preset, args.seed)
        description = "synthetic ScanNet-like scenes"
    else:
        description = f"{source['layout']} scenes of {source['root']}"
    layout = LAYOUTS[source["layout"]]
    train, val = load_split(source, "train", labels=True), load_split(source, "val", labels=True)
    timings["scenes"] = time.time() - t
    top = _class_summary(train + val, layout.class_names)
    _log(f"{len(train)} train + {len(val)} val scenes "
         f"({sum(len(s['coord']) for s in train + val)} points) in {source['root']}")
    present = [k for k, v in top if v > 0]
    counts = dict(top)
    _log(f"{len(present)} of {len(layout.class_names)} classes present; most frequent "
         + ", ".join(f"{k} ({v})" for k, v in top[:3]) + "; rarest "
         + ", ".join(f"{k} ({counts[k]})" for k in present[-3:]))

    # 2. pretraining of DOS and its ablations (same budget and seed), and 3. linear probes of
    # the raw input, random init and every pretrained teacher. With 2+ threads the jobs go to
    # as many one-thread processes (no more than there are jobs at once); a run's probe starts
    # when the run ends.
    train_opts = dict(steps=preset["steps"], grid_size=grid_size, max_points=preset["max_points"],
                      precise_bn_scenes=preset["precise_bn_scenes"])
    if "views" in preset:  # a user's scans
        train_opts["views"] = preset["views"]
    jobs = min(threads, len(runs_to_do) + 2)  # the runs and the two baseline probes
    model_cfgs = {run: model_config(args.backbone, **RUNS[run]) for run in runs_to_do}
    labels = {run: run_label(cfg, model_cfgs[MAIN_RUN]) for run, cfg in model_cfgs.items()}
    _log(f"pretraining {', '.join(labels.values())}: {preset['steps']} steps each, "
         f"{preset['max_points']} points per view, 2 scenes x 2 views per step; {jobs} "
         f"process(es) x 1 thread; linear probes on {preset['probe_train_scenes']} "
         f"train scenes, evaluated on {len(val)} val scenes")
    t = time.time()
    pretrain_tasks = [
        ("pretrain", dict(source=source, out=out, out_dir=os.path.join(out, run),
                          model_cfg=model_cfgs[run], seed=args.seed,
                          position=i % jobs, train=train_opts, online_probe=preset["online_probe"]))
        for i, run in enumerate(runs_to_do)
    ]
    probe_opts = dict(source=source, probe_train_scenes=preset["probe_train_scenes"],
                      grid_size=grid_size, seed=args.seed,
                      iters=preset["probe_iters"], max_train_points=preset["probe_points"])
    baseline_probes = [("probe", dict(probe_opts, label=label, checkpoint=None,
                                      model_cfg=model_config(args.backbone), position=i % jobs))
                       for i, label in enumerate((RAW_INPUT, RANDOM_INIT))]

    def run_probe(i, run):
        return ("probe", dict(probe_opts, label=list(labels.values())[i],
                              checkpoint=run["checkpoint"], model_cfg=None, position=i % jobs))

    run_results, probe_results = _run_tasks(pretrain_tasks, baseline_probes, run_probe, jobs)
    runs = {labels[run]: r for run, r in zip(runs_to_do, run_results)}
    main = labels[MAIN_RUN]
    timings["pretrain and probes"] = time.time() - t
    for label, r in runs.items():
        timings[f"pretrain {label} (own)"] = r["seconds"]
    results = dict(zip([RAW_INPUT, RANDOM_INIT, *runs], probe_results))
    for label, result in results.items():
        g = result["groups"]
        _log(f"linear probe {label}: mIoU {100 * result['miou']:.1f}, head "
             f"{100 * g['head']:.1f}, common {100 * g['common']:.1f}, tail {100 * g['tail']:.1f}")
    models = {label: _load_model(r["checkpoint"]) for label, r in runs.items()}

    # 4. report
    t = time.time()
    views = {label: prior_view(m, val, grid_size, runs[label]["history"][-1]["teacher_temp"])
             for label, m in models.items()}
    main_model = models[main]
    ply_scene = (val[0]["coord"], teacher_assignments(main_model, val[0], grid_size))
    timings["report"] = time.time() - t
    timings["total"] = time.time() - start
    first, last = runs[main]["history"][0], runs[main]["history"][-1]
    settings = dict(
        backbone=args.backbone, seed=args.seed, preset=identity["preset"], data=description,
        train_scenes=len(train), val_scenes=len(val), probe_train_scenes=preset["probe_train_scenes"],
        steps=preset["steps"], grid_size_m=grid_size, points_per_view=preset["max_points"],
        scenes_per_step=TRAIN_DEFAULTS["scenes_per_batch"], lr=TRAIN_DEFAULTS["lr"],
        colour_augmentation=colour_augmentation(train_opts.get("views", {})),
        num_prototypes=main_model.num_prototypes, mask=f"{main_model.mask_ratio} of "
        f"{main_model.mask_size} m cubes",
        # the values in force at the first and the last step, as they ran (the method's:
        # tau_T 0.04 -> 0.07, momentum 0.994 -> 1, alpha 1.3)
        **{name: f"{first[name]:.3g} -> {last[name]:.4g}"
           for name in ("teacher_temp", "momentum", "zipf_alpha")},
        student_temp=f"{main_model.params.student_temp:g}",
        threads=threads, checkpoints=", ".join(r["checkpoint"] for r in runs.values()),
        resumed=", ".join(f"{label} at step {r['resumed_from']}" for label, r in runs.items()
                          if r["resumed_from"]) or "no",
    )
    path = write_report(
        os.path.join(out, REPORT_DIR), results, main, (RAW_INPUT, RANDOM_INIT), settings,
        timings, {label: r["history"] for label, r in runs.items()},
        {label: r["probes"] for label, r in runs.items()}, views, ply_scene,
        dict(description=description, classes=f"{layout.name} ({len(layout.class_names)})",
             structure=layout.structure),
        opener=folder.write,
    )
    _log(f"done in {timings['total']:.0f} s; report: {path}")
    with open(path) as f:
        print(f.read().split("\n## ")[0].split("\n\n", 2)[-1])
    return 0
