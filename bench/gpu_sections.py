"""The sections of bench/gpu_check.py, each run in a process of its own:

    python bench/gpu_sections.py NAME --work DIR --result FILE [--dry-run]

writes the section's figures as JSON to FILE. A section runs on CUDA when this machine has it,
else on the CPU in pointcept-dos's CPU mode; `--dry-run` shrinks every size so that the whole
check runs in minutes on two CPU cores (the test suite runs it). Sizes: `SIZES`. Stand-ins for
missing extensions come from DOS_STANDINS (integration/standins.py) and every section names
the ones in its process (`standins` in its JSON).

Sections that need Pointcept (POINTCEPT_ROOT on PYTHONPATH): data, step-*, train-resume,
full-batch. Without it: environment, head-bf16, sinkhorn-distributed.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import step

REPO_ROOT = step.REPO_ROOT
SCANNET_PRETRAIN = REPO_ROOT / "configs" / "dos" / "scannet-pretrain.py"
SPUNET_PRETRAIN = REPO_ROOT / "configs" / "dos" / "scannet-pretrain-spunet.py"

# GPU: the pretrain configs' encoder and input, ScanNet-like density (about 110k points per
# scene at 0.02 m); dry: the smallest sizes that still cross every code path
SIZES = dict(
    gpu=dict(scenes=12, density=1000.0, step_scenes=4, step_batches=3, step_repeats=2, max_size=65536,
             encoder="base", spunet=dict(), head=dict(points=20000, scenes=4, prototypes=1024,
             in_channels=1088, hidden=2048, embed=256), sinkhorn=dict(points=6000, prototypes=1024),
             train_epochs=8),
    dry=dict(scenes=4, density=60.0, step_scenes=2, step_batches=2, step_repeats=1, max_size=1500,
             encoder="small", spunet=dict(channels=(8, 8, 16, 16, 16, 16, 8, 8), layers=(1,) * 8),
             head=dict(points=400, scenes=2, prototypes=64, in_channels=32, hidden=64, embed=16),
             sinkhorn=dict(points=300, prototypes=32), train_epochs=8),
)
SPUNET = dict(type="SpUNet-v1m1", in_channels=9, num_classes=0,
              channels=(32, 64, 128, 256, 256, 128, 96, 96), layers=(2, 3, 4, 6, 2, 2, 2, 2))
MODULES = ("spconv", "cumm", "torch_scatter", "torch_cluster", "pointops", "flash_attn", "timm",
           "torchvision", "addict", "yapf", "termcolor", "tensorboardX", "wandb", "open3d", "einops",
           "scipy", "h5py", "peft", "transformers", "torch_geometric", "numpy")


# ----- process set-up --------------------------------------------------------------------------


def setup(dry_run, pointcept=True):
    """Stand-ins as DOS_STANDINS asks, CPU mode without CUDA, DOS registered. -> torch.device."""
    import torch

    from pointcept_dos.integration.standins import install_requested_standins

    install_requested_standins()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":  # its patches touch only what imports (spconv, Pointcept)
        from pointcept_dos.integration import cpu_mode

        cpu_mode.enable_cpu_mode()
    if pointcept:
        import pointcept_dos.integration.registration  # noqa: F401
    torch.manual_seed(0)
    return device


def sizes(dry_run):
    return SIZES["dry" if dry_run else "gpu"]


def standins_now():
    from pointcept_dos.integration.standins import active_standins

    return active_standins()


# ----- environment -----------------------------------------------------------------------------


def _module_version(name):
    import importlib

    from pointcept_dos.integration.standins import _marker

    try:
        module = importlib.import_module(name)
    except Exception as error:  # noqa: BLE001  any failure to import is what this reports
        return f"missing ({type(error).__name__}: {str(error)[:120]})"
    if _marker(module):
        return f"stand-in ({_marker(module)})"
    return str(getattr(module, "__version__", "present"))


def _spconv_smoke(device):
    """A submanifold convolution forward and backward on `device`, in float32 and under bf16
    autocast (where spconv's ops cast to float16 on CUDA): the bundle's spconv works here."""
    import torch
    import spconv.pytorch as spconv

    gen = torch.Generator().manual_seed(0)
    coords = torch.unique(torch.randint(0, 40, (4000, 3), generator=gen), dim=0)
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.long), coords], 1).int().to(device)
    conv = spconv.SubMConv3d(16, 32, 3, indice_key="smoke").to(device)
    out = {}
    for name, amp in (("float32", None), ("bfloat16 autocast", "bfloat16")):
        feat = torch.randn(len(coords), 16, generator=gen).to(device).requires_grad_(True)
        with step.autocast(device, amp if device.type == "cuda" else None):
            x = spconv.SparseConvTensor(feat, indices, [40, 40, 40], 1)
            y = conv(x).features
        y.float().square().sum().backward()
        out[name] = dict(output=str(y.dtype).replace("torch.", ""), grad_finite=bool(torch.isfinite(feat.grad).all()))
    return out


def section_environment(dry_run, work):
    import platform

    import torch

    device = setup(dry_run, pointcept=False)
    info = dict(
        python=platform.python_version(), torch=torch.__version__, torch_cuda=torch.version.cuda,
        cuda_available=torch.cuda.is_available(), device=str(device),
        modules={name: _module_version(name) for name in MODULES},
    )
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}",
                    gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    bf16_supported=torch.cuda.is_bf16_supported(),
                    cudnn=torch.backends.cudnn.version())
    try:
        info["spconv_smoke"] = _spconv_smoke(device)
    except Exception as error:  # noqa: BLE001  reported, the other sections still run
        info["spconv_smoke"] = f"failed: {type(error).__name__}: {str(error)[:300]}"
    root = os.environ.get("POINTCEPT_ROOT")
    info["pointcept_root"] = dict(set=bool(root), checkout=bool(root) and (Path(root) / "pointcept" / "__init__.py").is_file())
    info["standins"] = standins_now()
    return info


# ----- data ------------------------------------------------------------------------------------


def sizing_comment(config=SCANNET_PRETRAIN):
    """The memory a config says it is sized for: its docstring's "Sized for N GPUs of A-B GB
    (batch P per GPU)" -> dict(gpus, gb_low, gb_high, batch_per_gpu), or None."""
    found = re.search(r"Sized for (\d+) GPUs of (\d+)-(\d+) GB \(batch (\d+) per GPU\)",
                      " ".join(Path(config).read_text().split()))
    if not found:
        return None
    gpus, low, high, batch = (int(v) for v in found.groups())
    return dict(gpus=gpus, gb_low=low, gb_high=high, batch_per_gpu=batch)


def section_data(dry_run, work):
    """Synthetic ScanNet-layout scenes through Pointcept's ScanNetDataset and the pretrain
    configs' two-view transform; the batches every step section uses (batches.pt) and the
    per-GPU batch of the ScanNet config (full_batch.pt)."""
    import torch

    from pointcept_dos.synthetic import write_scannet_layout

    setup(dry_run)
    size = sizes(dry_run)
    root = Path(work) / "scannet"
    start = time.perf_counter()
    written = write_scannet_layout(root, num_scenes={"train": size["scenes"]}, seed=0, density=size["density"])
    write_s = time.perf_counter() - start
    dataset = step.scannet_dataset(root, size["max_size"])
    n = len(dataset)
    batches = [step.collate(dataset, [(b * size["step_scenes"] + i) % n for i in range(size["step_scenes"])])
               for b in range(size["step_batches"])]
    torch.save(batches, Path(work) / "batches.pt")
    sizing = sizing_comment()
    per_gpu = sizing["batch_per_gpu"] if sizing and not dry_run else min(2, n)
    full = step.collate(dataset, [i % n for i in range(per_gpu)])
    torch.save(full, Path(work) / "full_batch.pt")
    return dict(
        scenes=n, points_per_scene=sorted(written["points_per_scene"].values()), write_s=round(write_s, 1),
        step_batches=len(batches), points_per_step_batch=[int(b["global_offset"][-1]) for b in batches],
        full_batch_scenes=per_gpu, full_batch_points=int(full["global_offset"][-1]),
        sizing_comment=sizing, standins=standins_now(),
    )


# ----- a training step -------------------------------------------------------------------------


def build_model(method, backbone, dry_run, flash):
    if backbone == "PT-v3m2":
        return step.build(method, sizes(dry_run)["encoder"], flash=flash)
    from pointcept.models.builder import build_model as pointcept_build

    spunet = dict(SPUNET, **sizes(dry_run)["spunet"])
    return pointcept_build(dict(type="DOS-v1m1", backbone=spunet, head_in_channels=spunet["channels"][-1],
                                num_prototypes=step.NUM_PROTOTYPES, head_hidden_channels=1024,
                                head_embed_channels=128, mask_size=0.4, mask_ratio=0.7))


def section_step(dry_run, work, method, backbone, amp):
    """One model's training steps on the shared batches: `step.run_steps` figures."""
    import torch

    device = setup(dry_run)
    batches = torch.load(Path(work) / "batches.pt", weights_only=False)
    data = batches * sizes(dry_run)["step_repeats"]
    flash = device.type == "cuda" and backbone == "PT-v3m2" and step.flash_available()
    model = build_model(method, backbone, dry_run, flash)
    amp_dtype = None if amp == "float32" else amp
    # spconv has no bfloat16 kernels: a CPU rehearsal keeps the scaler and skips the cast
    cast = device.type == "cuda"
    row = step.run_steps(model, method, data, device, amp_dtype, cast=cast)
    row.update(method=method, backbone=backbone, amp=amp, autocast=bool(amp_dtype) and cast, flash=flash,
               points=[int(b["global_offset"][-1]) for b in batches], steps=len(data),
               parameters_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
               standins=standins_now())
    if amp_dtype and not cast:
        row["note"] = "CPU rehearsal: GradScaler on, no autocast (spconv has no bfloat16 kernels on the CPU)"
    return row


# ----- the head in bf16 ------------------------------------------------------------------------


def _mixture_features(points, scenes, channels, gen):
    """Features with the structure of a trained backbone's: points of a scene fall in clusters
    (parts, objects), each a direction plus noise, so that the head's cosines reach near 1."""
    import torch

    centres = torch.randn(32, channels, generator=gen) * 2.0
    member = torch.randint(0, 32, (points * scenes,), generator=gen)
    return centres[member] + 0.5 * torch.randn(points * scenes, channels, generator=gen)


def section_head_bf16(dry_run, work):
    """The prototype head in bf16 autocast against float32 on the same features: cosine
    differences, argmax agreement, ties, and at tau_T 0.04 and 0.07 the total variation between
    the Zipf-Sinkhorn target softmaps and the softmap loss."""
    import torch

    from pointcept_dos.core import PrototypeHead, softmap_distillation_loss, zipf_prior, zipf_sinkhorn

    device = setup(dry_run, pointcept=False)
    size = sizes(dry_run)["head"]
    gen = torch.Generator().manual_seed(0)
    head = PrototypeHead(size["in_channels"], size["hidden"], size["embed"], size["prototypes"])
    feat = _mixture_features(size["points"], size["scenes"], size["in_channels"], gen)
    with torch.no_grad():  # prototypes on embeddings, as a trained head's sit near its points
        pick = torch.randperm(len(feat), generator=gen)[: size["prototypes"]]
        head.prototypes.copy_(head.embed(feat[pick]) + 0.05 * torch.randn(size["prototypes"], size["embed"], generator=gen))
    head = head.to(device)
    feat = feat.to(device)
    student_feat = feat + 0.3 * torch.randn(feat.shape, generator=gen).to(device)
    offset = torch.arange(1, size["scenes"] + 1, device=device) * size["points"]
    prior = zipf_prior(size["prototypes"], 1.3)

    with torch.no_grad():
        cos = {"float32": head(feat).float(), "student float32": head(student_feat).float()}
        with step.autocast(device, "bfloat16"):
            bf16, student_bf16 = head(feat), head(student_feat)
        cos["bfloat16"], cos["student bfloat16"] = bf16.float(), student_bf16.float()
    diff = (cos["bfloat16"] - cos["float32"]).abs()
    top2 = cos["bfloat16"].topk(2, dim=1).values
    result = dict(
        device=str(device), autocast_dtype=str(bf16.dtype).replace("torch.", ""),
        points=int(offset[-1]), prototypes=size["prototypes"], features="gaussian mixture, 32 clusters",
        cos_abs_diff=dict(mean=float(diff.mean()), max=float(diff.max())),
        cos_max_float32=float(cos["float32"].max()),
        argmax_agreement=float((cos["bfloat16"].argmax(1) == cos["float32"].argmax(1)).float().mean()),
        top2_tied_fraction=dict(bfloat16=float((top2[:, 0] == top2[:, 1]).float().mean()),
                                float32=float((lambda t: (t[:, 0] == t[:, 1]).float().mean())(
                                    cos["float32"].topk(2, dim=1).values))),
        taus={},
    )
    bounds = offset.tolist()
    for tau in (0.04, 0.07):
        targets = {k: zipf_sinkhorn(cos[k] / tau, offset, prior) for k in ("float32", "bfloat16")}
        tv = []
        for start, end in zip([0] + bounds[:-1], bounds):
            tv.append(0.5 * (targets["bfloat16"][start:end] - targets["float32"][start:end]).abs().sum(0))
        tv = torch.stack(tv)
        losses = {k: float(softmap_distillation_loss(cos[f"student {k}"] / 0.1, targets[k], offset))
                  for k in ("float32", "bfloat16")}
        result["taus"][str(tau)] = dict(
            target_tv=dict(mean=float(tv.mean()), max=float(tv.max())),
            loss=losses, loss_rel_diff=abs(losses["bfloat16"] - losses["float32"]) / max(abs(losses["float32"]), 1e-12),
        )
    result["standins"] = standins_now()
    return result


# ----- distributed Zipf-Sinkhorn ---------------------------------------------------------------


def _sinkhorn_inputs(points, prototypes):
    import torch

    gen = torch.Generator().manual_seed(0)
    # 2 processes x 2 scenes of unequal size, cos-like scores / tau_T
    sizes_ = [points, points // 2, points // 3, points]
    logits = torch.randn(sum(sizes_), prototypes, generator=gen).tanh() / 0.04
    return logits, sizes_


def _sinkhorn_rank(rank, url, work, device_name, points, prototypes):
    import torch
    import torch.distributed as dist

    from pointcept_dos.core import zipf_prior, zipf_sinkhorn

    dist.init_process_group("gloo", init_method=url, world_size=2, rank=rank)
    try:
        logits, sizes_ = _sinkhorn_inputs(points, prototypes)
        mine = sizes_[2 * rank: 2 * rank + 2]
        start = sum(sizes_[: 2 * rank])
        device = torch.device(device_name)
        local = logits[start: start + sum(mine)].to(device)
        offset = torch.tensor(mine, device=device).cumsum(0)
        target = zipf_sinkhorn(local, offset, zipf_prior(prototypes, 1.3), group=dist.group.WORLD)
        torch.save(dict(target=target.cpu(), device=str(target.device)), Path(work) / f"sinkhorn_rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def section_sinkhorn_distributed(dry_run, work):
    """The batch-scope Zipf-Sinkhorn in 2 processes over gloo, both on this machine's one GPU
    (NCCL refuses two ranks on one GPU), against 1 process on the concatenated batch."""
    import socket

    import torch
    import torch.multiprocessing as mp

    from pointcept_dos.core import zipf_prior, zipf_sinkhorn

    device = setup(dry_run, pointcept=False)
    size = sizes(dry_run)["sinkhorn"]
    logits, sizes_ = _sinkhorn_inputs(size["points"], size["prototypes"])
    offset = torch.tensor(sizes_, device=device).cumsum(0)
    reference = zipf_sinkhorn(logits.to(device), offset, zipf_prior(size["prototypes"], 1.3)).cpu()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    start = time.perf_counter()
    mp.spawn(_sinkhorn_rank, args=(url, str(work), str(device), size["points"], size["prototypes"]), nprocs=2)
    wall = time.perf_counter() - start
    parts = [torch.load(Path(work) / f"sinkhorn_rank{r}.pt", weights_only=True) for r in range(2)]
    both = torch.cat([p["target"] for p in parts])
    diff = (both - reference).abs()
    result = dict(device=str(device), rank_devices=[p["device"] for p in parts], backend="gloo",
                scenes=sizes_, prototypes=size["prototypes"], max_abs_diff=float(diff.max()),
                max_rel_diff=float((diff / reference.abs().clamp_min(1e-12)).max()),
                equal=bool(torch.allclose(both, reference, rtol=1e-5, atol=1e-7)), two_process_wall_s=round(wall, 2),
                standins=standins_now())
    if not result["equal"]:
        result["failed"] = f"2 processes differ from 1 by up to {result['max_abs_diff']:.3g}"
    return result


# ----- tools/train.sh, then a resume -----------------------------------------------------------

SMALL_SPUNET = dict(channels=[16, 16, 32, 32, 32, 32, 16, 16], layers=[1, 1, 1, 1, 1, 1, 1, 1])
# the SpUNet pretrain config with the hooks this section reads, whatever the configs' list holds:
# the hook's report after every step and a checkpoint after every trainer epoch
RESUME_CONFIG = """
_base_ = [{base!r}]

hooks = [
    dict(type="CheckpointLoader"),
    dict(type="ModelHook"),
    dict(type="ZipfSinkhornHook", log_interval=1),
    dict(type="IterationTimer", warmup_iter=2),
    dict(type="InformationWriter"),
    dict(type="CheckpointSaver", save_freq=1),
]
"""


def _train(args, work, dry_run, log_name):
    env = dict(os.environ, DOS_EXP_ROOT=str(Path(work) / "exp"), WANDB_MODE="disabled")
    cmd = ["sh", str(REPO_ROOT / "tools" / "train.sh"), "-p", sys.executable, "-g", "0" if dry_run else "1",
           "-d", "scannet", *args]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO_ROOT), timeout=400)
    log = out.stdout + out.stderr
    (Path(work) / log_name).write_text(log)
    print(f"----- {' '.join(cmd[2:])} (exit {out.returncode}) -----\n{log[-6000:]}", flush=True)
    return out.returncode, log, time.perf_counter() - start


def _hook_lines(log):
    return {int(s): line for s, line in re.findall(r"Prototype usage @ step (\d+): (.*)", log)}


def _losses(log):
    found = re.findall(r"Train: \[(\d+)/\d+\]\[(\d+)/\d+\].*? loss: ([0-9.eE+-]+|nan|inf)", log)
    return {f"{e}/{i}": float(v) for e, i, v in found}


def _schedules(line):
    """The values in force a hook line reports: teacher_temp, momentum, zipf_alpha."""
    return dict(re.findall(r"(teacher_temp|momentum|zipf_alpha) ([0-9.]+)", line))


def section_train_resume(dry_run, work):
    """tools/train.sh -g 1 (-g 0 in a dry run) trains the SpUNet pretrain config, small, for a
    few iterations with the hook's report at every step and a checkpoint every epoch; the same
    run is then stopped after epoch 2 (its checkpoint as model_last) and resumed with -r true:
    it must continue at step 5 with the straight run's schedules."""
    from pointcept_dos.synthetic import write_scannet_layout

    setup(dry_run, pointcept=False)
    root = Path(work) / "train-data"
    write_scannet_layout(root, num_scenes={"train": 2}, seed=1, density=60.0 if dry_run else 330.0)
    epochs = sizes(dry_run)["train_epochs"]
    options = [
        # trainer epochs of 2 data loops over 2 scenes at batch 2: 2 steps each
        f"data.train.data_root={root}", f"epoch={epochs}", f"eval_epoch={epochs // 2}", "batch_size=2",
        "num_worker=2", "seed=0",
        "model.teacher_temp.warmup_ratio=1.0",  # tau_T changes at every step
        f"model.head_in_channels={SMALL_SPUNET['channels'][-1]}", "model.num_prototypes=64",
        "model.head_hidden_channels=64", "model.head_embed_channels=32",
        *[f"model.backbone.{k}={json.dumps(v)}" for k, v in SMALL_SPUNET.items()],
    ]
    config = Path(work) / "dos-spunet-resume-check.py"
    config.write_text(RESUME_CONFIG.format(base=str(SPUNET_PRETRAIN)))
    code, straight, straight_s = _train(["-c", str(config), "-n", "straight", "--", *options],
                                        work, dry_run, "train_straight.log")
    # the trainer's process names its stand-ins (tools/_dos_entry.py) in its log
    named = re.search(r"pointcept-dos stand-ins \(DOS_STANDINS\): (.*)", straight)
    result = dict(straight_exit=code, straight_s=round(straight_s, 1), standins=standins_now(),
                  trainer_standins=sorted(re.findall(r"(\w+): ", named.group(1))) if named else [])
    lines, losses = _hook_lines(straight), _losses(straight)
    result.update(hook_line=lines.get(1, ""), straight_steps=sorted(lines), straight_losses=losses,
                  amp="off (CPU mode)" if dry_run else "the config's")
    if code != 0:
        return dict(result, failed=f"tools/train.sh exited {code} (train_straight in the log)")
    first = Path(work) / "exp" / "scannet" / "straight"
    second = Path(work) / "exp" / "scannet" / "resumed"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("model_last.pth", "epoch_[34].pth", "events.out.tfevents.*"))
    shutil.copy(second / "model" / "epoch_2.pth", second / "model" / "model_last.pth")
    code, resumed, resumed_s = _train(["-n", "resumed", "-r", "true", "--", *options], work, dry_run, "train_resumed.log")
    resumed_lines, resumed_losses = _hook_lines(resumed), _losses(resumed)
    same = {s: _schedules(resumed_lines[s]) == _schedules(lines.get(s, "")) for s in resumed_lines}
    common = sorted(set(losses) & set(resumed_losses))
    result.update(
        resumed_exit=code, resumed_s=round(resumed_s, 1),
        resumed_at_epoch_2="Resuming train at eval epoch: 2" in resumed,
        resumed_steps=sorted(resumed_lines), schedules_equal=same,
        resumed_losses=resumed_losses,
        max_loss_diff=max((abs(losses[k] - resumed_losses[k]) for k in common), default=None),
        losses_finite=all(math.isfinite(v) for v in [*losses.values(), *resumed_losses.values()]),
        # stopped after trainer epoch 2 of epochs // 2, 2 steps each: the resumed run's first step is 5
        continues=bool(resumed_lines) and min(resumed_lines) == 5 and all(same.values()),
    )
    if code != 0 or not result["continues"]:
        result["failed"] = f"the resumed run exited {code}; continues at step 5 with the same schedules: {result['continues']}"
    return result


# ----- the ScanNet config's per-GPU batch ------------------------------------------------------


def section_full_batch(dry_run, work):
    """One DOS step of configs/dos/scannet-pretrain.py's model (PT-v3m2 base, bf16 autocast
    as the config) on its per-GPU batch (12 scenes, views of up to 65536 points): peak memory
    against the config's sizing comment (a dry run: the small encoder, 2 scenes)."""
    import torch

    device = setup(dry_run)  # stand-ins and CPU mode before Pointcept is imported
    from pointcept.models.builder import build_model
    from pointcept.utils.config import Config

    cfg = Config.fromfile(str(SCANNET_PRETRAIN))
    flash = device.type == "cuda" and step.flash_available()
    model_cfg = cfg.model
    backbone = dict(model_cfg.backbone, enable_flash=flash)
    if flash:
        backbone.update(enable_rpe=False, upcast_attention=False, upcast_softmax=False)
    if dry_run:
        backbone.update(step.encoder("small"), enable_flash=False)
        model_cfg.update(head_in_channels=step.HEADS["small"]["head_in_channels"], num_prototypes=64,
                         head_hidden_channels=64, head_embed_channels=32)
    model_cfg.backbone = backbone
    model = build_model(model_cfg)
    batch = torch.load(Path(work) / "full_batch.pt", weights_only=False)
    amp_dtype = step.amp_from_config() if cfg.enable_amp else None
    sizing = sizing_comment()
    result = dict(config=str(SCANNET_PRETRAIN.relative_to(REPO_ROOT)), flash=flash, amp=amp_dtype,
                  scenes=len(batch["global_offset"]) // 2, points=int(batch["global_offset"][-1]),
                  sizing_comment=sizing, standins=standins_now())
    try:
        row = step.run_steps(model, "DOS-v1m1", [batch, batch], device, amp_dtype, cast=device.type == "cuda")
    except torch.cuda.OutOfMemoryError as error:
        result.update(out_of_memory=True, error=str(error)[:400],
                      peak_reserved_mb=torch.cuda.max_memory_reserved(device) / 2**20)
        return result
    result.update({k: row[k] for k in row if k != "times"}, times=row["times"], out_of_memory=False)
    peak_gb = row.get("peak_reserved_mb", 0.0) / 1024
    if sizing and device.type == "cuda":
        result.update(peak_reserved_gb=round(peak_gb, 1), fits_low=peak_gb <= sizing["gb_low"],
                      fits_high=peak_gb <= sizing["gb_high"])
    return result


SECTIONS = {
    "environment": section_environment,
    "data": section_data,
    "head-bf16": section_head_bf16,
    "sinkhorn-distributed": section_sinkhorn_distributed,
    "train-resume": section_train_resume,
    "full-batch": section_full_batch,
}
for _method, _backbone in (("DOS-v1m1", "PT-v3m2"), ("Sonata-v1m1", "PT-v3m2"), ("DOS-v1m1", "SpUNet-v1m1")):
    for _amp in ("bfloat16", "float32"):
        SECTIONS[f"step-{_method}-{_backbone}-{_amp}"] = (
            lambda dry_run, work, m=_method, b=_backbone, a=_amp: section_step(dry_run, work, m, b, a))


def main(argv=None):
    parser = argparse.ArgumentParser(description="one section of bench/gpu_check.py")
    parser.add_argument("name", choices=sorted(SECTIONS))
    parser.add_argument("--work", required=True, help="the check's scratch folder (data, batches, experiments)")
    parser.add_argument("--result", required=True, help="JSON file for the section's figures")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    result = SECTIONS[args.name](args.dry_run, args.work)
    tmp = tempfile.NamedTemporaryFile("w", dir=os.path.dirname(os.path.abspath(args.result)), delete=False, suffix=".tmp")
    with tmp:
        json.dump(result, tmp, indent=1, default=str)
    os.replace(tmp.name, args.result)


if __name__ == "__main__":
    main()
