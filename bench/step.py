"""DOS-v1m1 against Pointcept's Sonata-v1m1: one training step, same backbone, same data.

Both models get the same PT-v3m2 encoder (`--encoder small`, or `base`: Sonata's, as the
pretrain configs), the same prototype head size, the same batches (two global views per scene
from Pointcept's own transform pipeline on synthetic ScanNet-layout scenes) and the same
thread count. Sonata runs its two masked-view terms (mask + roll-mask; local views off, since
DOS has none), with its mask size and ratio at DOS's values. Each model runs in its own
subprocess so that its peak memory is its own. A step is what Pointcept's trainer does: forward
under autocast, backward through the GradScaler when AMP is on, gradient clipping, optimizer
step, then the EMA teacher update. Needs a Pointcept checkout:

    POINTCEPT_ROOT=... python bench/step.py [--device cpu|cuda] [--threads 2] [--steps 8] [--scenes 2]

`--device cuda` moves model and batches to the GPU, runs autocast as the pretrain configs say
(`enable_amp`, `amp_dtype` of configs/dos/_base_/pretrain-dos-ptv3.py, unless `--amp` says
otherwise), synchronises before every clock reading and reports the CUDA allocator's peak
allocated and reserved memory. `--device cpu` runs pointcept-dos's CPU mode (tools/train.sh
-g 0), float32 unless `--amp` asks for CPU autocast, and reports the peak resident memory.
Flash attention is off unless `flash_attn` imports.
"""

import argparse
import ast
import contextlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PRETRAIN_BASE = REPO_ROOT / "configs" / "dos" / "_base_" / "pretrain-dos-ptv3.py"
METHODS = ("Sonata-v1m1", "DOS-v1m1")
AMP_CHOICES = ("config", "none", "bfloat16", "float16")

ENCODERS = dict(
    small=dict(
        type="PT-v3m2",
        in_channels=9,
        order=("z", "z-trans", "hilbert", "hilbert-trans"),
        stride=(2, 2, 2, 2),
        enc_depths=(1, 1, 1, 2, 1),
        enc_channels=(32, 64, 128, 192, 256),
        enc_num_head=(2, 4, 8, 12, 16),
        enc_patch_size=(256, 256, 256, 256, 256),
        enc_mode=True,
        traceable=True,
    ),
    # the encoder of the pretrain configs (config_presets.ptv3m2("pretrain"), Sonata's base)
    base=None,
)
HEADS = dict(
    small=dict(head_in_channels=256 + 192 + 128, head_hidden_channels=1024, head_embed_channels=128),
    base=dict(head_in_channels=1088, head_hidden_channels=2048, head_embed_channels=256),
)
NUM_PROTOTYPES = 1024
TIMED_AFTER = 2  # warm-up steps left out of the median


def encoder(name):
    if name not in ENCODERS:
        raise ValueError(f"--encoder must be one of {sorted(ENCODERS)}, got {name!r}")
    if name == "base":
        from pointcept_dos.integration.config_presets import ptv3m2

        return ptv3m2("pretrain", in_channels=9)
    return dict(ENCODERS[name])


def flash_available():
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def build(method, encoder_name="small", flash=False):
    from pointcept.models.builder import build_model

    backbone = dict(encoder(encoder_name), enable_flash=flash)
    if flash:  # PT-v3 with flash attention takes no relative position / upcast options
        backbone.update(enable_rpe=False, upcast_attention=False, upcast_softmax=False)
    head = HEADS[encoder_name]
    if method == "DOS-v1m1":
        return build_model(dict(
            type="DOS-v1m1", backbone=dict(backbone, mask_token=False), num_prototypes=NUM_PROTOTYPES,
            mask_size=0.4, mask_ratio=0.7, **head,
        ))
    if method != "Sonata-v1m1":
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return build_model(dict(
        type="Sonata-v1m1", backbone=dict(backbone, mask_token=True), head_num_prototypes=NUM_PROTOTYPES,
        num_global_view=2, num_local_view=0, mask_loss_weight=0.5, roll_mask_loss_weight=0.5,
        unmask_loss_weight=0.0, mask_size_start=0.4, mask_size_base=0.4, mask_ratio_start=0.7,
        mask_ratio_base=0.7, match_max_r=0.32, **head,
    ))


def scannet_dataset(root, max_size, split="train"):
    """Pointcept's ScanNetDataset over `root` with the pretrain configs' two-view transform."""
    from pointcept.datasets.builder import build_dataset

    from pointcept_dos.integration.config_presets import multiview_transform

    return build_dataset(dict(
        type="ScanNetDataset", split=split, data_root=str(root), test_mode=False,
        transform=multiview_transform(grid_size=0.02, feat_keys=("coord", "color", "normal"), max_size=max_size),
    ))


def collate(dataset, indices):
    """One Pointcept-collated DOS / Sonata batch of the scenes at `indices`."""
    from pointcept.datasets.utils import point_collate_fn

    batch = point_collate_fn([dataset[i] for i in indices])
    # Sonata builds a local-view Point even with its local term off: give it the globals
    for key in ("feat", "coord", "origin_coord", "offset"):
        batch[f"local_{key}"] = batch[f"global_{key}"]
    return batch


def batches(num_batches, scenes, seed, max_size, root=None):
    """Pointcept-collated DOS/Sonata batches from synthetic ScanNet-layout scenes (written to
    `root`, or to a new temporary folder)."""
    from pointcept_dos.synthetic import write_scannet_layout

    if root is None:
        root = tempfile.mkdtemp(prefix="dos-bench-")
        write_scannet_layout(root, num_scenes={"train": scenes * num_batches}, seed=seed)
    dataset = scannet_dataset(root, max_size)
    return [collate(dataset, [(b * scenes + i) % len(dataset) for i in range(scenes)])
            for b in range(num_batches)]


def set_schedules(model, method):
    if method == "DOS-v1m1":
        model.steps.begin(100, 1000)
    else:  # Sonata's schedulers need a trainer; fix their values as DOS's at step 100
        model.teacher_temp, model.momentum = 0.07, 0.994


def end_step(model, method):
    model.steps.end() if method == "DOS-v1m1" else model.after_step()


# ----- device, autocast, clock and memory ---------------------------------------------------


def resolve_device(name):
    """torch.device for `--device`: "cpu", "cuda" or "cuda:N"; CUDA must be there."""
    import torch

    if not isinstance(name, str) or name.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu, cuda or cuda:N, got {name!r}")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine (torch {torch.__version__})")
    return device


def amp_from_config(path=PRETRAIN_BASE):
    """The autocast dtype name a config asks for ("bfloat16", "float16") or None (AMP off),
    read from its top-level `enable_amp` and `amp_dtype` without running it."""
    values = {}
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("enable_amp", "amp_dtype"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    if not values.get("enable_amp"):
        return None
    return values.get("amp_dtype", "float16")  # Pointcept's default amp_dtype


def resolve_amp(choice, device, config=PRETRAIN_BASE):
    """`--amp` -> autocast dtype name or None. "config": the pretrain configs' on CUDA; on the
    CPU none, as CPU mode (-g 0) turns AMP off."""
    if choice not in AMP_CHOICES:
        raise ValueError(f"--amp must be one of {AMP_CHOICES}, got {choice!r}")
    if choice == "config":
        return amp_from_config(config) if device.type == "cuda" else None
    return None if choice == "none" else choice


def autocast(device, amp_dtype):
    """Autocast for `device` in `amp_dtype` ("bfloat16", "float16"), or a null context."""
    import torch

    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, amp_dtype))


def to_device(batch, device):
    """Every tensor of a collated batch on `device` (the trainer's `.cuda(non_blocking=True)`)."""
    import torch

    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


class DeviceMeter:
    """Wall clock and peak memory of work queued on one device. On CUDA the clock is read
    after `torch.cuda.synchronize` (kernels run asynchronously: without it a step's time would
    be its launch time) and memory is the caching allocator's peak; on the CPU the peak
    resident set size above the one at `reset`."""

    def __init__(self, device):
        self.device = device
        self._base_rss = 0

    def sync(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def now(self):
        self.sync()
        return time.perf_counter()

    def reset(self):
        import torch

        if self.device.type == "cuda":
            self.sync()
            torch.cuda.reset_peak_memory_stats(self.device)
        self._base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak(self):
        """{peak_allocated_mb, peak_reserved_mb} on CUDA, {peak_rss_mb} on the CPU (MiB)."""
        import torch

        if self.device.type == "cuda":
            self.sync()
            return dict(peak_allocated_mb=torch.cuda.max_memory_allocated(self.device) / 2**20,
                        peak_reserved_mb=torch.cuda.max_memory_reserved(self.device) / 2**20)
        return dict(peak_rss_mb=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self._base_rss) / 1024)


def dtype_probe(model):
    """Forward hooks recording the dtypes at the student's prototype head(s) (input and
    output) and at its first sparse convolution's output. -> (dict filled while running,
    the hook handles)."""
    found, handles = {}, []

    def record(name):
        def hook(module, args, output):
            # spconv takes and returns a SparseConvTensor: its dtype is its features'
            inputs = [getattr(a, "features", a) for a in args]
            tensor_in = next((a for a in inputs if hasattr(a, "dtype")), None)
            features = getattr(output, "features", output)
            found.setdefault(name, dict(
                input=str(getattr(tensor_in, "dtype", None)).replace("torch.", ""),
                output=str(getattr(features, "dtype", None)).replace("torch.", ""),
            ))

        return hook

    student = model.student
    for key in student.keys():
        if key.endswith("head"):
            handles.append(student[key].register_forward_hook(record(f"student.{key}")))
    for name, module in student.named_modules():
        if type(module).__module__.startswith("spconv") and hasattr(module, "kernel_size"):
            handles.append(module.register_forward_hook(record(f"first sparse conv ({name})")))
            break
    return found, handles


def run_steps(model, method, data, device, amp_dtype, clip_grad=3.0, lr=1e-4, cast=True):
    """Train `model` one step per batch of `data` as Pointcept's trainer does, on `device`
    under autocast in `amp_dtype` (None: float32; a GradScaler whenever AMP is on, as the
    trainer builds one). cast=False keeps the GradScaler but runs no autocast: a CPU rehearsal
    of an AMP run whose backbone cannot run in `amp_dtype` on the CPU (spconv has no bfloat16
    kernels; on CUDA its ops cast to float16 themselves).
    -> dict: `times` (s per step), `first_step_s`, `median_s` (after
    TIMED_AFTER warm-up steps), peak memory (`DeviceMeter.peak`), `losses`, `finite`,
    `scale` (the GradScaler's at the end, None without AMP), `skipped_steps` (steps whose
    scale the scaler lowered: their optimizer step was skipped), `dtypes` (`dtype_probe`)."""
    import torch

    model.to(device).train()
    set_schedules(model, method)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    scaler = torch.amp.GradScaler(device.type) if amp_dtype is not None else None
    dtypes, handles = dtype_probe(model)
    meter = DeviceMeter(device)
    meter.reset()
    times, losses, skipped = [], [], 0
    for batch in data:
        start = meter.now()
        batch = to_device(batch, device)
        with autocast(device, amp_dtype if cast else None):
            loss = model(dict(batch))["loss"]
        optimizer.zero_grad()
        if scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scale = scaler.get_scale()
            scaler.update()
            skipped += scaler.get_scale() < scale
        end_step(model, method)
        times.append(meter.now() - start)
        losses.append(float(loss.detach()))
    for handle in handles:
        handle.remove()
    return dict(
        times=times, first_step_s=times[0], median_s=statistics.median(times[TIMED_AFTER:] or times),
        losses=losses, finite=all(math.isfinite(v) for v in losses),
        scale=None if scaler is None else float(scaler.get_scale()), skipped_steps=int(skipped),
        dtypes=dtypes, **meter.peak(),
    )


def child(method, threads, steps, scenes, max_size, device_name="cpu", amp="config", encoder_name="small"):
    import torch

    device = resolve_device(device_name)
    if device.type == "cpu":
        from pointcept_dos.integration import cpu_mode

        cpu_mode.enable_cpu_mode(allow_cuda=True)
    import pointcept_dos.integration.registration  # noqa: F401  registers DOS-v1m1

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    amp_dtype = resolve_amp(amp, device)
    data = batches(steps, scenes, seed=0, max_size=max_size)
    flash = device.type == "cuda" and flash_available()
    model = build(method, encoder_name, flash=flash)
    row = run_steps(model, method, data, device, amp_dtype)
    points = [int(b["global_offset"][-1]) for b in data]
    row.update(points=statistics.median(points), amp=amp_dtype or "off", flash=flash, device=str(device))
    print(json.dumps(row))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help=f"timed steps; the first {TIMED_AFTER} are warm-up")
    parser.add_argument("--scenes", type=int, default=2, help="scenes per batch (two views each)")
    parser.add_argument("--max-size", type=int, default=10000, help="points per view at most")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--amp", default="config", choices=AMP_CHOICES,
                        help="autocast dtype; config: the pretrain configs' on CUDA, off on the CPU")
    parser.add_argument("--encoder", default="small", choices=sorted(ENCODERS),
                        help="PT-v3m2 size: small (depths 1-1-1-2-1) or base (the pretrain configs')")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.steps, args.scenes, args.max_size, args.device, args.amp, args.encoder)
        return
    if not os.environ.get("POINTCEPT_ROOT"):
        sys.exit("bench/step.py needs POINTCEPT_ROOT (a Pointcept checkout)")
    try:
        resolve_device(args.device)
    except ValueError as error:
        sys.exit(f"error: {error}")
    # OpenMP threads that spin while waiting slow 2-thread runs tenfold on a busy machine
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=os.pathsep.join(
        [os.environ["POINTCEPT_ROOT"], os.environ.get("PYTHONPATH", "")]))
    rows = {}
    for method in METHODS:
        cmd = [sys.executable, __file__, "--child", method, "--threads", str(args.threads),
               "--steps", str(args.steps), "--scenes", str(args.scenes), "--max-size", str(args.max_size),
               "--device", args.device, "--amp", args.amp, "--encoder", args.encoder]
        lines = subprocess.check_output(cmd, env=env).decode().strip().splitlines()
        rows[method] = json.loads(lines[-1])
    dos, sonata = rows["DOS-v1m1"], rows["Sonata-v1m1"]
    memory = "peak_allocated_mb" if "peak_allocated_mb" in dos else "peak_rss_mb"
    print(f"{args.scenes} scenes x 2 views (median {dos['points']:.0f} points per batch), device {dos['device']}, "
          f"AMP {dos['amp']}, flash {'on' if dos['flash'] else 'off'}, {args.threads} threads, "
          f"median of {max(args.steps - TIMED_AFTER, 1)} steps, K={NUM_PROTOTYPES}")
    print(f"{'model':<12} | {'step s':>7} | {'first s':>7} | {memory:>17} | {'finite':>6} | {'skipped':>7}")
    for method, row in rows.items():
        print(f"{method:<12} | {row['median_s']:>7.3f} | {row['first_step_s']:>7.3f} | {row[memory]:>17.0f} | "
              f"{str(row['finite']):>6} | {row['skipped_steps']:>7}")
    print(f"{'DOS/Sonata':<12} | {dos['median_s'] / sonata['median_s']:>7.2f} | {'':>7} | "
          f"{dos[memory] / max(sonata[memory], 1e-9):>17.2f} |")


if __name__ == "__main__":
    main()
