"""Benchmark DOS-SpUNet-lite forward + backward on CPU.

Synthetic batch: ``--scenes`` rooms x ``--views`` views, each view a crop of
``--points`` surface points (one per voxel of ``--grid-size`` metres), as the DOS
pretraining batch of the CPU demo. Prints voxels per level, median forward and backward
times over ``--repeats`` runs, and the process's peak RSS.

    python bench/backbone.py --threads 2

On a machine shared with other busy processes, set OMP_WAIT_POLICY=PASSIVE: with
OpenMP's default spin-waiting, every multi-threaded op waits for a descheduled thread,
and 2-thread runs measured more than 10x slower than with passive waiting.
"""

import argparse
import resource
import statistics
import time

import torch

from pointcept_dos.backbones import build_backbone
from pointcept_dos.backbones.sparse import VoxelLevel
from pointcept_dos.backbones.spunet_lite import voxel_coords


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--grid-size", type=float, default=0.05)
    parser.add_argument("--in-channels", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)

    clouds = [
        synthetic_room(args.points, args.grid_size, generator)
        for _ in range(args.scenes * args.views)
    ]
    coord = torch.cat([c for c, _ in clouds])
    input_dict = dict(
        coord=coord,
        grid_coord=torch.cat([g for _, g in clouds]),
        feat=torch.randn(len(coord), args.in_channels),
        offset=torch.cumsum(torch.tensor([len(c) for c, _ in clouds]), 0),
        grid_size=args.grid_size,
    )
    model = build_backbone(dict(type="DOS-SpUNet-lite", in_channels=args.in_channels))
    model.train()

    level, _ = VoxelLevel.from_coords(*voxel_coords(input_dict))
    sizes = [len(level)]
    for _ in range(len(model.enc) - 1):
        level = level.downsample()
        sizes.append(len(level))

    def step():
        """(wall, process CPU) milliseconds of forward and of backward."""
        model.zero_grad(set_to_none=True)
        clocks = [(time.perf_counter(), time.process_time())]
        out = model(input_dict)
        clocks.append((time.perf_counter(), time.process_time()))
        out.square().mean().backward()
        clocks.append((time.perf_counter(), time.process_time()))
        return [
            [(b - a) * 1e3 for a, b in zip(start, end)] for start, end in zip(clocks, clocks[1:])
        ]

    step()  # warm-up: allocator and thread pool
    times = [step() for _ in range(args.repeats)]
    fwd, bwd = [
        [statistics.median(t[phase][clock] for t in times) for clock in (0, 1)] for phase in (0, 1)
    ]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Process CPU time is printed beside wall time because on a shared machine other
    # processes stretch wall time (multi-threaded small ops by far the most).
    print(f"DOS-SpUNet-lite, {len(clouds)} clouds x {args.points} points, grid {args.grid_size} m, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"{'voxels per level':<18}| {' / '.join(str(s) for s in sizes)}")
    print(f"{'':<18}| wall ms | CPU ms")
    for name, (wall, cpu) in (("forward", fwd), ("backward", bwd)):
        print(f"{name:<18}| {wall:7.0f} | {cpu:6.0f}")
    print(f"{'fwd+bwd':<18}| {fwd[0] + bwd[0]:7.0f} | {fwd[1] + bwd[1]:6.0f}")
    print(f"{'peak RSS MB':<18}| {peak_mb:.0f}")

    if args.profile:
        with torch.profiler.profile() as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


if __name__ == "__main__":
    main()
