"""CPU pretraining loop for DOS-v1m1 (the demo's trainer; Pointcept's trainer is not needed).

One step: build the batch of ``scenes_per_batch`` scenes x two views (``views.pretrain_batch``),
then the step order of every DOS trainer (``models.step_sequence``): ``steps.begin``, forward,
backward, AdamW step (linear warm-up, cosine decay), ``steps.end``. Per step it records the loss
terms and the monitor's report (``models.monitor``): the values in force, the collapse signals
and the teacher's prototype usage against the Zipf prior (a collapse shows up as an effective
number of prototypes far below the prior's).

Interrupted runs resume exactly. Every ``checkpoint_every`` steps the whole training state goes
to ``resume.pth`` (atomically): the model, whose state includes the masking generator; the
optimizer; the next step; the history; torch's global RNG. The batches are a pure function of
(seed, step) and the schedules of the step, so a run stopped (or killed) and started again with
the same arguments ends with the same weights and history as one that never stopped. A
finished run (``model_last.pth`` with the same settings) is loaded instead of trained again.
"""

import contextlib
import hashlib
import json
import math
import os
import time

import numpy as np
import torch

from ..data.model_input import IN_CHANNELS
from ..io.atomic import atomic_write
from ..io.checkpoints import read_checkpoint, write_checkpoint
from ..models import DOSv1m1
from ..models.dos_v1m1 import upgrade_model_config
from ..models.monitor import scalars
from ..models.step_sequence import StepSequence
from ..evaluation.linear_probe import recalibrate_batchnorm
from .views import pretrain_batch

# backbone configs by name: (backbone cfg, head_in_channels). Ours runs anywhere; the other
# two need Pointcept importable (and are slow on CPU).
BACKBONES = {
    "DOS-SpUNet-lite": (
        dict(type="DOS-SpUNet-lite", in_channels=IN_CHANNELS, channels=(32, 64, 128, 256),
             enc_depths=(1, 1, 1, 1), dec_depths=(1, 1, 1)),
        32,
    ),
    "SpUNet-v1m1": (
        dict(type="SpUNet-v1m1", in_channels=IN_CHANNELS, num_classes=0, base_channels=32,
             channels=(32, 64, 128, 256, 256, 128, 96, 96), layers=(2, 3, 4, 6, 2, 2, 2, 2)),
        96,
    ),
    "PT-v3m2": (
        dict(type="PT-v3m2", in_channels=IN_CHANNELS, order=("z", "z-trans", "hilbert",
             "hilbert-trans"), stride=(2, 2, 2, 2), enc_depths=(1, 1, 1, 2, 1),
             enc_channels=(32, 64, 128, 256, 512), enc_num_head=(2, 4, 8, 16, 32),
             enc_patch_size=(256, 256, 256, 256, 256), mlp_ratio=4, drop_path=0.0,
             enable_flash=False, traceable=True, enc_mode=True, mask_token=False),
        128 + 256 + 512,  # up_cast_level 2: the last three encoder widths
    ),
}

TRAIN_DEFAULTS = dict(
    steps=300,
    lr=2e-3,
    weight_decay=0.05,
    warmup_ratio=0.05,
    grad_clip=3.0,
    scenes_per_batch=2,
    grid_size=0.05,
    max_points=4000,        # points per view
    precise_bn_scenes=8,    # teacher BatchNorm statistics re-estimated on this many scenes
    views={},               # overrides of views.VIEW_DEFAULTS (the views' augmentation)
)


def model_config(backbone="DOS-SpUNet-lite", **overrides):
    """DOS-v1m1 config of the demo (dict with ``type``): the paper's method at CPU scale.

    Only what the demo changes is set here; everything else (the Zipf exponent included) is
    DOSv1m1's default, the one source of the method's values. Narrow head (hidden 256,
    embedding 64) and K=256 prototypes keep a step cheap; the loss is pooled to 0.1 m voxels
    (stride 2 of the 0.05 m grid; the paper's 0.08 m); the teacher temperature and the EMA
    momentum are set for 300-step runs (why, with the measurements: bench/README.md, "Collapse"
    and "Representation quality").
    """
    if backbone not in BACKBONES:
        raise KeyError(f"unknown demo backbone {backbone!r}; choose from {sorted(BACKBONES)}")
    backbone_cfg, head_in = BACKBONES[backbone]
    cfg = dict(
        type="DOS-v1m1",
        backbone=dict(backbone_cfg),
        head_in_channels=head_in,
        head_hidden_channels=256,
        head_embed_channels=64,
        num_prototypes=256,
        # the method's 0.04 -> 0.07 collapses at this scale; tau_S / tau_T = 5 does not
        teacher_temp=0.02,
        # the method's 0.994 would average the teacher over more than half of a 300-step run;
        # 0.9 beat 0.95 for every arm of the demo on tuning seed 100 (bench/README.md)
        momentum=dict(start=0.9, end=1.0),
        loss_pool_stride=2,
    )
    cfg.update(overrides)
    return cfg


def build_model(cfg, seed=0):
    """DOSv1m1 from a config dict; weights drawn from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in cfg.items() if k != "type"}
    return DOSv1m1(mask_seed=seed, **kwargs)


def lr_at(step, total, base_lr, warmup_ratio):
    """Linear warm-up over ``warmup_ratio`` of the steps, then cosine decay to 0."""
    warmup = max(1, int(total * warmup_ratio))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


# the files of one run in ``out_dir``
CHECKPOINT_NAME = "model_last.pth"  # the finished run (teacher BatchNorm re-estimated)
RESUME_NAME = "resume.pth"          # the training state of an unfinished run
LOG_NAME = "train_log.jsonl"        # one JSON record per step, rewritten with each checkpoint
RUN_FILES = (CHECKPOINT_NAME, RESUME_NAME, LOG_NAME)


def scenes_fingerprint(scenes):
    """SHA-256 of the scenes' coord / color / normal arrays, in order: a resumed run must see
    the data the run started with."""
    digest = hashlib.sha256()
    for scene in scenes:
        for key in ("coord", "color", "normal"):
            array = np.ascontiguousarray(scene[key])
            digest.update(f"{key}{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


class AtomicFiles:
    """Plain atomic writes and removals: how a run writes outside a demo's output folder (whose
    `OutputFolder` has the same two methods and writes only its own files)."""

    write = staticmethod(atomic_write)

    @staticmethod
    def remove(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _write_log(files, path, history):
    with files.write(path, "w") as f:
        f.writelines(json.dumps(record) + "\n" for record in history)


def _same_run(path, checkpoint, run_cfg):
    """Refuse a checkpoint in ``out_dir`` written by a run with other settings or data."""
    saved = checkpoint.get("cfg")
    if isinstance(saved, dict) and isinstance(saved.get("model"), dict):  # written before a rename
        saved = dict(saved, model=upgrade_model_config(saved["model"]))
    if saved != run_cfg:
        differ = sorted(k for k in set(run_cfg) | set(saved or {})
                        if (saved or {}).get(k) != run_cfg.get(k))
        raise ValueError(
            f"{path} belongs to a pretraining run with other settings (differing: {differ}); "
            "it is neither resumed nor overwritten: choose another out_dir or remove the file"
        )


def probe_steps(total, fractions):
    """The steps (1-based: after that many optimizer steps) at which a run is probed."""
    return sorted({max(1, round(f * total)) for f in fractions})


def pretrain(scenes, out_dir, model_cfg, seed=0, progress=True, log=print, position=0,
             checkpoint_every=None, files=AtomicFiles, probe=None, probe_at=(0.25, 0.5, 1.0), **train):
    """Pretrain DOS-v1m1 on ``scenes`` (list of dicts with coord / color / normal), resuming
    the run found in ``out_dir`` if any.

    Args:
        scenes: training scenes (numpy dicts as ``generate_scene`` returns).
        out_dir: where ``model_last.pth``, ``train_log.jsonl`` and, while the run is not
            finished, ``resume.pth`` are written (each atomically).
        model_cfg: from :func:`model_config`.
        seed: model init, masking and batch sampling.
        progress: show a tqdm bar (ETA); ``position`` is its line (parallel runs).
        log: callable for log lines.
        checkpoint_every: steps between resume checkpoints; None: about ten per run
            (``max(1, steps // 10)``). It does not change the result.
        files: what writes and removes the run's files (``write(path, mode)`` an atomic-write
            context manager, ``remove(path)``): the demo's `OutputFolder`, or plain atomic writes.
        probe: None, or callable(teacher backbone) -> linear-probe result, taken after the
            steps ``probe_at`` (fractions of the run) without changing the run (the probe
            copies the backbone and forks every random stream).
        **train: override :data:`TRAIN_DEFAULTS`.
    Returns:
        dict(model, history (list of per-step dicts), checkpoint (path), seconds (training time
        over all sessions), resumed_from (the step this call started at: 0 for a new run,
        ``steps`` when a finished run was loaded), probes (list of dict(step, miou, groups))).
    Raises:
        ValueError: ``out_dir`` holds a checkpoint of a run with other settings or scenes.
    """
    unknown = set(train) - set(TRAIN_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown training options: {sorted(unknown)}")
    opt = dict(TRAIN_DEFAULTS, **train)
    run_name = os.path.basename(os.path.normpath(out_dir))  # in log lines and the progress bar
    total = int(opt["steps"])
    every = max(1, total // 10) if checkpoint_every is None else int(checkpoint_every)
    if total < 1 or every < 1:
        raise ValueError(f"steps and checkpoint_every must be >= 1, got {total} and {every}")
    run_cfg = dict(model=model_cfg, grid_size=opt["grid_size"], in_channels=IN_CHANNELS,
                   train=opt, seed=seed, scenes=scenes_fingerprint(scenes))
    os.makedirs(out_dir, exist_ok=True)
    checkpoint, resume, log_path = (os.path.join(out_dir, name) for name in RUN_FILES)
    model = build_model(model_cfg, seed)
    steps = StepSequence(model)

    if os.path.exists(checkpoint):  # a finished run: load it, train nothing
        saved = read_checkpoint(checkpoint)
        _same_run(checkpoint, saved, run_cfg)
        model.load_state_dict(saved["state_dict"])
        files.remove(resume)  # left by a run killed between its last two writes
        log(f"pretrained {run_name}: reusing the finished run {checkpoint}")
        return dict(model=model, history=saved["history"], checkpoint=checkpoint,
                    seconds=saved["seconds"], resumed_from=total, probes=saved.get("probes", []))

    model.train()
    params = [p for p in model.student.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [dict(params=decay, weight_decay=opt["weight_decay"]), dict(params=no_decay, weight_decay=0.0)],
        lr=opt["lr"],
    )
    history, first_step, seconds_before, probes = [], 0, 0.0, []
    to_probe = probe_steps(total, probe_at) if probe is not None else []
    if os.path.exists(resume):
        state = read_checkpoint(resume)
        _same_run(resume, state, run_cfg)
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history, first_step, seconds_before = state["history"], state["step"], state["seconds"]
        probes = state.get("probes", [])
        log(f"pretraining {run_name}: resuming at step {first_step} of "
            f"{total} from {resume}")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=first_step, desc=f"pretrain {run_name}",
                   unit="step", dynamic_ncols=True, leave=True, position=position)
    start = time.time()
    for step in range(first_step, total):
        batch = pretrain_batch(scenes, opt["grid_size"], seed, step, opt["scenes_per_batch"],
                               max_points=opt["max_points"], **opt["views"])
        lr = lr_at(step, total, opt["lr"], opt["warmup_ratio"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        steps.begin(step, total)
        out = model(batch)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, opt["grad_clip"])
        optimizer.step()
        steps.end()
        record = dict(step=step, lr=lr, points=int(batch["global_offset"][-1]),
                      grad_norm=float(grad_norm))
        record.update({k: float(v.detach()) for k, v in out.items()})
        # the step's usage, collapse signals and values in force
        record.update(scalars(steps.monitor.report()))
        if not math.isfinite(record["loss"]):
            raise FloatingPointError(f"loss is {record['loss']} at step {step}")
        history.append(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}",
                            eff_protos=f"{record['effective_prototypes']:.0f}")
        if step + 1 in to_probe:
            result = probe(model.teacher["backbone"])
            probes.append(dict(step=step + 1, miou=result["miou"], groups=result["groups"]))
            log(f"pretraining {run_name}: probe after step {step + 1} of {total}: mIoU "
                f"{100 * result['miou']:.1f}")
        if (step + 1) % every == 0 and step + 1 < total:
            write_checkpoint(resume, model.state_dict(), opener=files.write, cfg=run_cfg,
                             optimizer=optimizer.state_dict(), probes=probes,
                             step=step + 1, history=history, rng=torch.get_rng_state(),
                             seconds=seconds_before + time.time() - start, epoch=0, iter=step + 1)
            _write_log(files, log_path, history)
    if bar is not None:
        bar.close()
    # precise BatchNorm: the teacher's running statistics, an EMA of batch statistics of
    # crops, are re-estimated on whole training scenes before the checkpoint is written
    recalibrate_batchnorm(model.teacher["backbone"], scenes[: opt["precise_bn_scenes"]],
                          opt["grid_size"])
    seconds = seconds_before + time.time() - start
    write_checkpoint(checkpoint, model.state_dict(), opener=files.write, cfg=run_cfg, history=history,
                     probes=probes,
                     seconds=seconds, epoch=0, iter=total)
    _write_log(files, log_path, history)
    files.remove(resume)
    first, last = history[0], history[-1]
    log(
        f"pretrained {run_name}: {total} steps in {seconds:.0f} s; loss "
        f"{first['loss']:.3f} -> {last['loss']:.3f}; teacher uses "
        f"{last['effective_prototypes']:.1f} effective prototypes (prior "
        f"{last['prior_effective']:.1f}); checkpoint {checkpoint}"
    )
    return dict(model=model, history=history, checkpoint=checkpoint, seconds=seconds,
                resumed_from=first_step, probes=probes)
