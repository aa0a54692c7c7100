"""Collapse at the method's teacher temperature, the collapse guard, and the tau_S / tau_T rule.

Runs the CPU demo's pretraining loop (`pointcept_dos.demo.pretrain`, its scenes, model and
optimiser) with the method's teacher temperature (tau_T 0.04 -> 0.07, tau_S 0.1), without and
with `collapse_guard`, and optionally at other student / teacher temperature ratios. Prints, per
run, the collapse signals over the steps: target-softmap entropy / log N, the teacher's cosine
spread over points, and the teacher's effective number of prototypes (exp entropy of its argmax
usage per step; the Zipf prior's is given beside).

    python bench/collapse.py --steps 300 --threads 1 --runs method guard
    python bench/collapse.py --steps 300 --runs ratio-1.4 ratio-2.0 ratio-2.5 ratio-3.5 demo
    python bench/collapse.py --momentum-start 0.994 ...   # the method's EMA momentum
"""

import argparse
import json
import os
import tempfile
import time

import torch

# name -> (what it is, overrides of the demo's model_config)
METHOD = dict(teacher_temp=dict(start=0.04, end=0.07, warmup_ratio=0.05))
RUNS = {
    "method": ("tau_T 0.04->0.07, tau_S 0.1 (ratio 1.43), no guard", dict(METHOD)),
    "guard": ("as method, collapse_guard=dict()", dict(METHOD, collapse_guard=dict())),
    "ratio-1.4": ("tau_T 0.07, tau_S 0.1", dict(teacher_temp=0.07)),
    "ratio-2.0": ("tau_T 0.07, tau_S 0.14", dict(teacher_temp=0.07, student_temp=0.14)),
    "ratio-2.5": ("tau_T 0.04, tau_S 0.1", dict(teacher_temp=0.04)),
    "ratio-3.5": ("tau_T 0.07, tau_S 0.245", dict(teacher_temp=0.07, student_temp=0.245)),
    "demo": ("tau_T 0.02, tau_S 0.1 (ratio 5, the demo's)", dict()),
    "demo-guard": ("as demo, collapse_guard=dict()", dict(collapse_guard=dict())),
}


def run(name, scenes, steps, seed, out, momentum_start=None):
    from pointcept_dos.demo.pretrain import model_config, pretrain

    cfg = model_config(**RUNS[name][1])
    if momentum_start is not None:
        cfg["momentum"] = dict(cfg["momentum"], start=momentum_start)
    start = time.time()
    result = pretrain(scenes, os.path.join(out, name), cfg, seed=seed, progress=False,
                      log=lambda *_: None, steps=steps)
    history = result["history"]
    return dict(name=name, what=RUNS[name][0], seconds=time.time() - start,
                student_temp=result["model"].params.student_temp, history=[
        {k: h[k] for k in ("step", "loss", "teacher_temp", "target_entropy", "teacher_spread",
                           "effective_prototypes", "prior_effective", "empty_terms")}
        for h in history
    ])


def mean_around(history, step, key, window=5):
    """Mean of `key` over the `window` steps ending at `step` (the signals are noisy)."""
    values = [h[key] for h in history if step - window < h["step"] <= step]
    return sum(values) / len(values)


def summary(results):
    """One row per run: its worst signals, the first step where both crossed the thresholds, and
    the mean of its last 25 steps."""
    from pointcept_dos.models.collapse_guard import ENTROPY_THRESHOLD, SPREAD_THRESHOLD

    lines = [
        f"| run | tau_S / tau_T (end) | max entropy / log N | min spread | both crossed at step "
        f"(> {ENTROPY_THRESHOLD}, < {SPREAD_THRESHOLD}) | last 25: loss | entropy | spread | "
        "effective prototypes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        h = r["history"]
        tail = h[-25:]
        crossed = next((x["step"] + 1 for x in h if x["target_entropy"] > ENTROPY_THRESHOLD
                        and x["teacher_spread"] < SPREAD_THRESHOLD), None)
        mean = lambda k: sum(x[k] for x in tail) / len(tail)  # noqa: E731
        lines.append(
            f"| {r['name']} | {r['student_temp'] / h[-1]['teacher_temp']:.2f} | "
            f"{max(x['target_entropy'] for x in h):.3f} | {min(x['teacher_spread'] for x in h):.3f} | "
            f"{crossed or 'never'} | {mean('loss'):.3f} | {mean('target_entropy'):.3f} | "
            f"{mean('teacher_spread'):.3f} | {mean('effective_prototypes'):.1f} |"
        )
    return "\n".join(lines)


def table(results, steps, every):
    marks = sorted({0, *range(every - 1, steps, every), steps - 1})
    lines = []
    for r in results:
        h = r["history"]
        lines += [
            f"\n### {r['name']}: {r['what']} ({r['seconds']:.0f} s; prior effective "
            f"{h[0]['prior_effective']:.1f})\n",
            "| step | tau_T | loss | entropy / log N | spread | effective prototypes |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for s in marks:
            lines.append(
                f"| {s + 1} | {h[s]['teacher_temp']:.4f} | {mean_around(h, s, 'loss'):.3f} | "
                f"{mean_around(h, s, 'target_entropy'):.3f} | "
                f"{mean_around(h, s, 'teacher_spread'):.3f} | "
                f"{mean_around(h, s, 'effective_prototypes'):.1f} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["method", "guard"], choices=sorted(RUNS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--scenes", type=int, default=24, help="training scenes (demo: 24)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--every", type=int, default=25, help="table row every N steps")
    parser.add_argument("--out", default=None, help="folder for logs (default: a temp folder)")
    parser.add_argument("--momentum-start", type=float, default=None,
                        help="teacher EMA momentum at the start (default: the demo's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from pointcept_dos.synthetic import generate_scene

    scenes = [generate_scene(args.seed * 1000 + i) for i in range(args.scenes)]
    out = args.out or tempfile.mkdtemp(prefix="dos-collapse-")
    results = [run(name, scenes, args.steps, args.seed, out, args.momentum_start)
               for name in args.runs]
    momentum = args.momentum_start if args.momentum_start is not None else "the demo's"
    print(f"\n{args.steps} steps, {args.scenes} scenes, seed {args.seed}, {args.threads} "
          f"thread(s), momentum_start {momentum}; mean of the 5 steps up to each row")
    print(summary(results))
    print(table(results, args.steps, args.every))
    with open(os.path.join(out, "collapse.json"), "w") as f:
        json.dump(results, f)
    print(f"\nper-step logs: {out}")


if __name__ == "__main__":
    main()
