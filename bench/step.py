"""DOS-v1m1 against Pointcept's Sonata-v1m1: one training step, same backbone, same data.

Both models get the same small PT-v3m2 encoder, the same prototype head size, the same batches
(two global views per scene from Pointcept's own transform pipeline on synthetic ScanNet-layout
scenes) and the same thread count. Sonata runs its two masked-view terms (mask + roll-mask;
local views off, since DOS has none), with its mask size and ratio at DOS's values. Each model
runs in its own subprocess so that its peak resident memory is its own. A step is forward,
backward, optimizer step and the EMA teacher update. Needs a Pointcept checkout:

    POINTCEPT_ROOT=... python bench/step.py [--threads 2] [--steps 8] [--scenes 2]

Without a GPU the run uses pointcept-dos's CPU mode (tools/train.sh -g 0), flash attention off.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


ENCODER = dict(
    type="PT-v3m2",
    in_channels=9,
    order=("z", "z-trans", "hilbert", "hilbert-trans"),
    stride=(2, 2, 2, 2),
    enc_depths=(1, 1, 1, 2, 1),
    enc_channels=(32, 64, 128, 192, 256),
    enc_num_head=(2, 4, 8, 12, 16),
    enc_patch_size=(256, 256, 256, 256, 256),
    enable_flash=False,
    enc_mode=True,
    traceable=True,
)
HEAD = dict(head_in_channels=256 + 192 + 128, head_hidden_channels=1024, head_embed_channels=128)
NUM_PROTOTYPES = 1024


def build(method):
    from pointcept.models.builder import build_model

    if method == "DOS-v1m1":
        return build_model(dict(
            type="DOS-v1m1", backbone=dict(ENCODER, mask_token=False), num_prototypes=NUM_PROTOTYPES,
            mask_size=0.4, mask_ratio=0.7, **HEAD,
        ))
    return build_model(dict(
        type="Sonata-v1m1", backbone=dict(ENCODER, mask_token=True), head_num_prototypes=NUM_PROTOTYPES,
        num_global_view=2, num_local_view=0, mask_loss_weight=0.5, roll_mask_loss_weight=0.5,
        unmask_loss_weight=0.0, mask_size_start=0.4, mask_size_base=0.4, mask_ratio_start=0.7,
        mask_ratio_base=0.7, match_max_r=0.32, **HEAD,
    ))


def batches(num_batches, scenes, seed, max_size):
    """Pointcept-collated DOS/Sonata batches from synthetic ScanNet-layout scenes."""
    from pointcept.datasets.builder import build_dataset
    from pointcept.datasets.utils import point_collate_fn

    from pointcept_dos.integration.config_presets import multiview_transform
    from pointcept_dos.synthetic import write_scannet_layout

    root = tempfile.mkdtemp(prefix="dos-bench-")
    write_scannet_layout(root, num_scenes={"train": scenes * num_batches}, seed=seed)
    dataset = build_dataset(dict(
        type="ScanNetDataset", split="train", data_root=root, test_mode=False,
        transform=multiview_transform(grid_size=0.02, feat_keys=("coord", "color", "normal"), max_size=max_size),
    ))
    out = []
    for b in range(num_batches):
        batch = point_collate_fn([dataset[b * scenes + i] for i in range(scenes)])
        # Sonata builds a local-view Point even with its local term off: give it the globals
        for key in ("feat", "coord", "origin_coord", "offset"):
            batch[f"local_{key}"] = batch[f"global_{key}"]
        out.append(batch)
    return out


def set_schedules(model, method):
    if method == "DOS-v1m1":
        model.steps.begin(100, 1000)
    else:  # Sonata's schedulers need a trainer; fix their values as DOS's at step 100
        model.teacher_temp, model.momentum = 0.07, 0.994


def child(method, threads, steps, scenes, max_size):
    import torch

    if not torch.cuda.is_available():
        from pointcept_dos.integration import cpu_mode

        cpu_mode.enable_cpu_mode()
    import pointcept_dos.integration.registration  # noqa: F401  registers DOS-v1m1

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = batches(steps, scenes, seed=0, max_size=max_size)
    model = build(method)
    model.train()
    set_schedules(model, method)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for batch in data:
        start = time.perf_counter()
        loss = model(dict(batch))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.steps.end() if method == "DOS-v1m1" else model.after_step()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    points = [int(b["global_offset"][-1]) for b in data]
    print(json.dumps(dict(
        median_s=statistics.median(times[2:] or times), peak_mb=peak / 1024,
        points=statistics.median(points),
    )))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps; the first 2 are warm-up")
    parser.add_argument("--scenes", type=int, default=2, help="scenes per batch (two views each)")
    parser.add_argument("--max-size", type=int, default=10000, help="points per view at most")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.steps, args.scenes, args.max_size)
        return
    if not os.environ.get("POINTCEPT_ROOT"):
        sys.exit("bench/step.py needs POINTCEPT_ROOT (a Pointcept checkout)")
    # OpenMP threads that spin while waiting slow 2-thread runs tenfold on a busy machine
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONPATH=os.pathsep.join(
        [os.environ["POINTCEPT_ROOT"], os.environ.get("PYTHONPATH", "")]))
    rows = {}
    for method in ("Sonata-v1m1", "DOS-v1m1"):
        cmd = [sys.executable, __file__, "--child", method, "--threads", str(args.threads),
               "--steps", str(args.steps), "--scenes", str(args.scenes), "--max-size", str(args.max_size)]
        lines = subprocess.check_output(cmd, env=env).decode().strip().splitlines()
        rows[method] = json.loads(lines[-1])
    print(f"{args.scenes} scenes x 2 views (median {rows['DOS-v1m1']['points']:.0f} points per batch), "
          f"{args.threads} threads, median of {max(args.steps - 2, 1)} steps, K={NUM_PROTOTYPES}")
    print(f"{'model':<12} | {'step s':>7} | {'peak MB':>8}")
    for method, row in rows.items():
        print(f"{method:<12} | {row['median_s']:>7.3f} | {row['peak_mb']:>8.0f}")
    dos, sonata = rows["DOS-v1m1"], rows["Sonata-v1m1"]
    print(f"{'DOS/Sonata':<12} | {dos['median_s'] / sonata['median_s']:>7.2f} | "
          f"{dos['peak_mb'] / max(sonata['peak_mb'], 1e-9):>8.2f}")


if __name__ == "__main__":
    main()
