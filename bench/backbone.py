"""Sparse U-Nets forward + backward on CPU, side by side: our plain-PyTorch DOS-SpUNet-lite
against spconv's (Pointcept's SpUNet-v1m1, the field's sparse convolution; needs Pointcept:
POINTCEPT_ROOT, spconv's CPU wheel).

Synthetic batch: ``--scenes`` rooms x ``--views`` views, each view a crop of
``--points`` surface points (one per voxel of ``--grid-size`` metres), as a DOS pretraining
batch. Each backbone runs in its own process (same batch, same thread count); the table gives
parameters, median forward and backward times over ``--repeats`` runs (wall and process CPU),
peak RSS, and the ratios against the first backbone.

    POINTCEPT_ROOT=... python bench/backbone.py --threads 1 --scenes 2 --views 1 --points 26500

On a machine shared with other busy processes, set OMP_WAIT_POLICY=PASSIVE: with
OpenMP's default spin-waiting, every multi-threaded op waits for a descheduled thread,
and 2-thread runs measured more than 10x slower than with passive waiting.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from pointcept_dos.backbones import build_backbone


def synthetic_room(num_points: int, grid_size: float, generator: torch.Generator):
    """Surface voxels of a furnished room, one point each, as after Pointcept's GridSample.

    Returns ([num_points, 3] float32 coordinates in metres, [num_points, 3] int64 voxel
    coordinates anchored at the cloud's minimum voxel).

    A box room (floor, ceiling, walls) with a few boxes inside is voxelised densely; the
    ``num_points`` voxels nearest a random centre are kept, like a crop of a real scan,
    so that local neighbourhoods are as dense as on real surfaces.
    """
    size = torch.tensor([8.0, 7.0, 3.0]) + 2 * torch.rand(3, generator=generator)
    boxes = [(torch.zeros(3), size)]
    for _ in range(6):
        lo = torch.rand(3, generator=generator) * size * torch.tensor([0.8, 0.8, 0.0])
        boxes.append((lo, lo + torch.tensor([0.4, 0.4, 0.3]) + torch.rand(3, generator=generator)))
    step = grid_size / 2  # sample surfaces finer than the voxels so none are left empty
    samples = []
    for lo, hi in boxes:
        for axis in range(3):
            u, v = [a for a in range(3) if a != axis]
            gu = torch.arange(lo[u], hi[u], step)
            gv = torch.arange(lo[v], hi[v], step)
            plane = torch.zeros(len(gu) * len(gv), 3)
            plane[:, u] = gu.repeat_interleave(len(gv))
            plane[:, v] = gv.repeat(len(gu))
            for side in (lo[axis], hi[axis]):
                face = plane.clone()
                face[:, axis] = side
                samples.append(face)
    voxels = torch.unique(torch.floor(torch.cat(samples) / grid_size).long(), dim=0)
    centre = voxels[torch.randint(len(voxels), (1,), generator=generator)].float()
    keep = torch.argsort(((voxels.float() - centre) ** 2).sum(1))[:num_points]
    voxels = voxels[keep]
    jitter = torch.rand(len(voxels), 3, generator=generator)
    return (voxels + jitter) * grid_size, voxels - voxels.min(0).values


# the backbones compared: registry type and config (the demo's DOS-SpUNet-lite; Pointcept's
# SpUNet-v1m1 at the widths of its ScanNet config, no classifier)
BACKBONES = {
    "DOS-SpUNet-lite": dict(type="DOS-SpUNet-lite", channels=(32, 64, 128, 256),
                            enc_depths=(1, 1, 1, 1), dec_depths=(1, 1, 1)),
    "SpUNet-v1m1": dict(type="SpUNet-v1m1", num_classes=0, base_channels=32,
                        channels=(32, 64, 128, 256, 256, 128, 96, 96), layers=(2, 3, 4, 6, 2, 2, 2, 2)),
}


def batch(args):
    generator = torch.Generator().manual_seed(0)
    clouds = [
        synthetic_room(args.points, args.grid_size, generator)
        for _ in range(args.scenes * args.views)
    ]
    coord = torch.cat([c for c, _ in clouds])
    return dict(
        coord=coord,
        grid_coord=torch.cat([g for _, g in clouds]).int(),
        feat=torch.randn(len(coord), args.in_channels, generator=generator),
        offset=torch.cumsum(torch.tensor([len(c) for c, _ in clouds]), 0),
        grid_size=args.grid_size,
    )


def measure(name, args):
    """Run one backbone in this process: dict of medians (ms), parameters and peak RSS (MB)."""
    torch.set_num_threads(args.threads)
    if name != "DOS-SpUNet-lite":
        from pointcept_dos.integration import cpu_mode

        cpu_mode.enable_cpu_mode()  # spconv's CPU backward needs it (spconv issue 366)
    torch.manual_seed(0)
    input_dict = batch(args)
    model = build_backbone(dict(BACKBONES[name], in_channels=args.in_channels)).train()

    def step():
        """(wall, process CPU) milliseconds of forward and of backward."""
        model.zero_grad(set_to_none=True)
        clocks = [(time.perf_counter(), time.process_time())]
        out = model(dict(input_dict))
        clocks.append((time.perf_counter(), time.process_time()))
        out.square().mean().backward()
        clocks.append((time.perf_counter(), time.process_time()))
        return [
            [(b - a) * 1e3 for a, b in zip(start, end)] for start, end in zip(clocks, clocks[1:])
        ]

    step()  # warm-up: allocator, thread pool, spconv's kernel selection
    times = [step() for _ in range(args.repeats)]
    (fwd, fwd_cpu), (bwd, bwd_cpu) = [
        [statistics.median(t[phase][clock] for t in times) for clock in (0, 1)] for phase in (0, 1)
    ]
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        voxels=len(input_dict["coord"]),  # synthetic_room keeps one point per voxel
        fwd=fwd, bwd=bwd, cpu=fwd_cpu + bwd_cpu,
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def conv_table(args):
    """One submanifold 3x3x3 convolution, ours against spconv's, on the same voxels and widths:
    the like-for-like comparison (whole networks differ in widths and depths)."""
    import spconv.pytorch as spconv

    from pointcept_dos.backbones.sparse import SubMConv3d, VoxelLevel
    from pointcept_dos.integration import cpu_mode

    cpu_mode.enable_cpu_mode()  # spconv's CPU backward needs it (spconv issue 366)
    torch.set_num_threads(args.threads)
    input_dict = batch(args)
    cloud = torch.repeat_interleave(torch.arange(len(input_dict["offset"])),
                                    torch.diff(input_dict["offset"], prepend=torch.zeros(1, dtype=torch.long)))
    grid = input_dict["grid_coord"].long()
    level, _ = VoxelLevel.from_coords(cloud, grid)
    indices = torch.cat([cloud[:, None], grid], 1).int()
    shape = (grid.max(0).values + 1).tolist()

    def run(conv, x, sparse):
        x = x.clone().requires_grad_()
        clocks = (time.perf_counter(), time.process_time())
        if sparse:
            out = conv(spconv.SparseConvTensor(x, indices, shape, len(input_dict["offset"]))).features
        else:
            out = conv(x, level)
        out.square().mean().backward()
        return time.perf_counter() - clocks[0], time.process_time() - clocks[1]

    print(f"\nOne SubMConv3d, fwd+bwd, {len(grid)} voxels, {args.threads} thread(s), median of "
          f"{args.repeats}, the two alternating in one process")
    print("| channels | ours ms (CPU ms) | spconv ms (CPU ms) | ours / spconv (CPU) |")
    print("|---:|---:|---:|---:|")
    for channels in (32, 64, 128):
        x = torch.randn(len(grid), channels)
        convs = dict(ours=(SubMConv3d(channels, channels), False),
                     spconv=(spconv.SubMConv3d(channels, channels, 3, bias=False), True))
        times = {k: [] for k in convs}
        for i in range(args.repeats + 1):
            for name, (conv, sparse) in convs.items():
                t = run(conv, x, sparse)
                if i:
                    times[name].append(t)
        med = {k: [1e3 * statistics.median(t[j] for t in v) for j in (0, 1)] for k, v in times.items()}
        print(f"| {channels} | {med['ours'][0]:.0f} ({med['ours'][1]:.0f}) | {med['spconv'][0]:.0f} "
              f"({med['spconv'][1]:.0f}) | {med['ours'][0] / med['spconv'][0]:.2f} "
              f"({med['ours'][1] / med['spconv'][1]:.2f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=list(BACKBONES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--points", type=int, default=26500)
    parser.add_argument("--grid-size", type=float, default=0.05)
    parser.add_argument("--in-channels", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--conv", action="store_true",
                        help="also compare one convolution, ours vs spconv, at equal widths")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one backbone, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return

    rows = {}
    for name in args.backbones:
        cmd = [sys.executable, __file__, "--one", name] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
            if k not in ("one", "backbones", "conv")
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
    if rows:
        backbone_table(rows, args)
    if args.conv:
        conv_table(args)


def backbone_table(rows, args):
    first = next(iter(rows.values()))
    print(f"{args.scenes} rooms x {args.views} views x {args.points} points at {args.grid_size} m "
          f"({first['voxels']} voxels), {args.threads} thread(s), median of {args.repeats}, "
          "each backbone in its own process")
    print("| backbone | params M | fwd ms | bwd ms | fwd+bwd ms | CPU ms | peak MB | time / first | "
          "time per M params / first |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = first["fwd"] + first["bwd"]
    for name, r in rows.items():
        total = r["fwd"] + r["bwd"]
        print(f"| {name} | {r['params'] / 1e6:.2f} | {r['fwd']:.0f} | {r['bwd']:.0f} | {total:.0f} | "
              f"{r['cpu']:.0f} | {r['peak_mb']:.0f} | {total / base:.2f} | "
              f"{(total / r['params']) / (base / first['params']):.2f} |")


if __name__ == "__main__":
    main()
