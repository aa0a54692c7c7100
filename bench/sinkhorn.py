"""Zipf-Sinkhorn against a plain uniform Sinkhorn written the usual way (DINOv2 / Sonata).

Each method runs in a fresh subprocess with a fixed thread count, so its peak resident memory
above the input is its own. Memory is reported in units of one [N, K] float32 buffer; the
returned targets count as one. Usage:
    python bench/sinkhorn.py [--points 100000] [--prototypes 1024 4096] [--threads 2] [--repeats 3]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def uniform_sinkhorn(logits, num_iters=3):
    """Exp-domain Sinkhorn as DINOv2 and Sonata write it: prototypes x points, uniform
    marginals, in place on Q; returns per-point assignments [N, K]."""
    q = torch.exp(logits.float()).t()
    n, k = q.shape[1], q.shape[0]
    q /= q.sum()
    for _ in range(num_iters):
        q /= q.sum(dim=1, keepdim=True)
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= n
    q *= n
    return q.t()


def zipf(logits, num_iters=3):
    from pointcept_dos import zipf_prior, zipf_sinkhorn

    offset = torch.tensor([logits.shape[0] // 2, logits.shape[0]])
    return zipf_sinkhorn(logits, offset, zipf_prior(logits.shape[1], 1.3), num_iters=num_iters)


METHODS = {"uniform (DINOv2/Sonata style)": uniform_sinkhorn, "Zipf-Sinkhorn (ours)": zipf}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(method, points, prototypes, threads, repeats):
    """Runs in the child: times `repeats` calls, reports the median and the peak memory."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    # cosine / tau_T: realistic teacher scores in [-1/0.07, 1/0.07], made in place so that
    # the baseline peak memory is the input alone
    logits = torch.empty(points, prototypes).uniform_(-1 / 0.07, 1 / 0.07, generator=generator)
    METHODS[method](logits[:1000].clone())  # warm up kernels outside the measurement
    base = peak_rss_bytes()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = METHODS[method](logits)
        times.append(time.perf_counter() - start)
        del out
    extra = peak_rss_bytes() - base
    print(json.dumps(dict(seconds=statistics.median(times), extra_bytes=extra)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--prototypes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child[0], args.points, int(args.child[1]), args.threads, args.repeats)
        return
    print(f"N={args.points} points, T=3 iterations, {args.threads} threads, median of {args.repeats}")
    print(f"{'K':>5} | {'method':<30} | {'time s':>7} | {'peak extra':>11} | {'[N,K] bufs':>10}")
    for k in args.prototypes:
        rows = {}
        for method in METHODS:
            cmd = [sys.executable, __file__, "--points", str(args.points), "--threads",
                   str(args.threads), "--repeats", str(args.repeats), "--child", method, str(k)]
            rows[method] = json.loads(subprocess.check_output(cmd).decode().strip().splitlines()[-1])
            buffers = rows[method]["extra_bytes"] / (args.points * k * 4)
            print(f"{k:>5} | {method:<30} | {rows[method]['seconds']:>7.3f} | "
                  f"{rows[method]['extra_bytes'] / 2**20:>8.0f} MB | {buffers:>10.2f}")
        ours, base = rows["Zipf-Sinkhorn (ours)"], rows["uniform (DINOv2/Sonata style)"]
        print(f"{k:>5} | {'ratio ours / uniform':<30} | {ours['seconds'] / base['seconds']:>7.2f} | "
              f"{ours['extra_bytes'] / max(base['extra_bytes'], 1):>11.2f} |")


if __name__ == "__main__":
    main()
