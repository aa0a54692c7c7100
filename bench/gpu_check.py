"""The GPU check: every figure of the GPU path in one JSON, from one command.

    python bench/gpu_check.py --out gpu-check [--dry-run] [--sections a,b] [--budget-s 360]

(usually through `sh tools/gpu_check.sh`, which unpacks the GPU bundle first). Each section
(bench/gpu_sections.py) runs in a process of its own, in the order of `ORDER`, so that one
failure, hang or out-of-memory hides none of the others; a section that would start with less
than its minimum of the budget left is skipped, and each gets at most what is left. Writes into
`--out` two files, rewritten after every section so that a killed run keeps what it measured:

- `results.json`: per section its status (ok / failed / timeout / skipped), wall time and
  figures; `summary`: the issue's targets (DOS / Sonata-v1m1 time and memory at bf16 on the
  same PT-v3m2 batches, non-finite losses and GradScaler skips, the resume, the per-GPU batch
  against the config's sizing) and every stand-in any section used;
- `gpu_check.log`: every section's output, in order.

Scratch (synthetic scenes, batches, experiments) goes to a temporary folder, removed at the end
unless `--keep-work`. `--dry-run` runs every section on the CPU at tiny sizes (minutes on two
cores): the test suite runs it, so the check cannot rot between the rare times a GPU is lent.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTIONS_SCRIPT = HERE / "gpu_sections.py"

# name -> (seconds it needs at least to be worth starting, at most on the GPU); in the order
# they run: what the targets need first, so that a short budget still answers them
ORDER = {
    "environment": (20, 90),
    "data": (30, 150),
    "step-DOS-v1m1-PT-v3m2-bfloat16": (30, 120),
    "step-Sonata-v1m1-PT-v3m2-bfloat16": (30, 120),
    "head-bf16": (15, 60),
    "sinkhorn-distributed": (15, 60),
    "train-resume": (45, 150),
    "full-batch": (40, 150),
    "step-DOS-v1m1-SpUNet-v1m1-bfloat16": (20, 90),
    "step-DOS-v1m1-PT-v3m2-float32": (30, 120),
    "step-Sonata-v1m1-PT-v3m2-float32": (30, 120),
    "step-DOS-v1m1-SpUNet-v1m1-float32": (20, 90),
}
# sections that need the batches the data section writes
NEEDS_DATA = tuple(name for name in ORDER if name.startswith("step-") or name == "full-batch")
TARGETS = dict(time_ratio=0.5, memory_ratio=0.6)  # DOS / Sonata-v1m1, bf16, same batches
LOG_TAIL = 20000  # characters of a section's output kept in gpu_check.log


def parse_sections(text):
    """`--sections` "a,b" -> [names] in run order; "" or None -> all."""
    if not text:
        return list(ORDER)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        raise ValueError(f"--sections: unknown {unknown}; expected names from {list(ORDER)}")
    return [n for n in ORDER if n in names]


def section_env(dry_run):
    """The environment of a section's process: Pointcept on PYTHONPATH (POINTCEPT_ROOT),
    passive OpenMP waits, stand-ins as asked (`all` in a dry run unless DOS_STANDINS is set)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONUNBUFFERED="1", WANDB_MODE="disabled")
    paths = [os.environ.get("POINTCEPT_ROOT", ""), str(HERE.parent), os.environ.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    if dry_run:
        env.setdefault("DOS_STANDINS", "all")
        env.setdefault("OMP_NUM_THREADS", "2")
    return env


def run_section(name, work, dry_run, timeout, log):
    """Run one section in its own process. -> dict(status, wall_s, returncode, result | error)."""
    result_file = Path(work) / f"result-{name}.json"
    cmd = [sys.executable, str(SECTIONS_SCRIPT), name, "--work", str(work), "--result", str(result_file)]
    if dry_run:
        cmd.append("--dry-run")
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=section_env(dry_run),
                             cwd=str(HERE.parent))
        output, code, status = out.stdout + out.stderr, out.returncode, "ok" if out.returncode == 0 else "failed"
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") + (expired.stderr or b"").decode(errors="replace")
        code, status = None, "timeout"
    wall = time.perf_counter() - start
    log.write(f"\n===== {name}: {status} in {wall:.1f} s (exit {code}) =====\n{output[-LOG_TAIL:]}\n")
    log.flush()
    row = dict(status=status, wall_s=round(wall, 1), returncode=code)
    if status == "ok" and result_file.is_file():
        row["result"] = json.loads(result_file.read_text())
        if row["result"].get("failed"):  # it ran to its end and found the GPU path broken
            row.update(status="failed", error=row["result"]["failed"])
    elif status == "ok":
        row.update(status="failed", error="the section wrote no result")
    else:
        row["error"] = output.strip().splitlines()[-1][:500] if output.strip() else status
    return row


def _ratio(a, b):
    return None if a is None or not b else a / b


def summarise(sections):
    """The targets and what every section used, from the sections' figures."""
    def result(name):
        row = sections.get(name, {})
        return row.get("result") if row.get("status") == "ok" else None

    summary = dict(standins=sorted({n for row in sections.values() for n in (row.get("result") or {}).get("standins", {})}))
    for amp in ("bfloat16", "float32"):
        dos, sonata = result(f"step-DOS-v1m1-PT-v3m2-{amp}"), result(f"step-Sonata-v1m1-PT-v3m2-{amp}")
        if not (dos and sonata):
            continue
        memory = "peak_allocated_mb" if "peak_allocated_mb" in dos else "peak_rss_mb"
        row = dict(time_ratio=_ratio(dos["median_s"], sonata["median_s"]),
                   memory_ratio=_ratio(dos.get(memory), sonata.get(memory)), memory=memory,
                   dos_step_s=dos["median_s"], sonata_step_s=sonata["median_s"])
        if amp == "bfloat16":
            row.update(time_target_met=row["time_ratio"] is not None and row["time_ratio"] <= TARGETS["time_ratio"],
                       memory_target_met=row["memory_ratio"] is not None and row["memory_ratio"] <= TARGETS["memory_ratio"])
        summary[f"dos_over_sonata_{amp}"] = row
    steps = {n: result(n) for n in ORDER if n.startswith("step-") and result(n)}
    summary["steps_all_finite"] = all(r["finite"] for r in steps.values()) if steps else None
    summary["gradscaler_skips"] = {n: r["skipped_steps"] for n, r in steps.items() if r.get("scale") is not None}
    resume = result("train-resume")
    if resume:
        summary["resume_continues"] = resume.get("continues")
    full = result("full-batch")
    if full:
        summary["full_batch"] = {k: full.get(k) for k in ("points", "peak_reserved_gb", "fits_low", "fits_high",
                                                          "out_of_memory", "sizing_comment")}
    return summary


def write_results(out, results):
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1, default=str))
    os.replace(tmp, out / "results.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu-check", help="folder for results.json and gpu_check.log")
    parser.add_argument("--dry-run", action="store_true", help="every section on the CPU at tiny sizes")
    parser.add_argument("--sections", default="", help=f"comma-separated subset of: {', '.join(ORDER)}")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="wall time for all sections together (default 360 s; a dry run 1500 s)")
    parser.add_argument("--keep-work", action="store_true", help="keep the scratch folder (its path is logged)")
    args = parser.parse_args(argv)
    try:
        names = parse_sections(args.sections)
    except ValueError as error:
        parser.error(str(error))
    if args.budget_s is None:
        args.budget_s = 1500.0 if args.dry_run else 360.0
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be > 0 seconds, got {args.budget_s}")
    if any(n in NEEDS_DATA for n in names) and "data" not in names:
        names.insert(1 if names[0] == "environment" else 0, "data")  # their batches come from it
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="dos-gpu-check-"))
    results = dict(command=" ".join([Path(sys.executable).name, *sys.argv]), dry_run=args.dry_run,
                   started=datetime.now(timezone.utc).isoformat(timespec="seconds"), budget_s=args.budget_s,
                   sections={}, summary={})
    start = time.perf_counter()
    with open(out / "gpu_check.log", "w") as log:
        log.write(f"gpu_check: sections {names}, scratch {work}, budget {args.budget_s:.0f} s\n")
        for name in names:
            least, most = ORDER[name]
            left = args.budget_s - (time.perf_counter() - start)
            if not args.dry_run and left < least:
                results["sections"][name] = dict(status="skipped", error=f"budget: {left:.0f} s left, needs {least} s")
            elif name in NEEDS_DATA and results["sections"].get("data", {}).get("status") != "ok":
                results["sections"][name] = dict(status="skipped", error="the data section did not finish")
            else:
                timeout = max(left, 1.0) if args.dry_run else min(most, left)
                results["sections"][name] = run_section(name, work, args.dry_run, timeout, log)
            print(f"{name}: {results['sections'][name]['status']}", flush=True)
            results["wall_s"] = round(time.perf_counter() - start, 1)
            results["summary"] = summarise(results["sections"])
            write_results(out, results)
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    failed = [n for n, row in results["sections"].items() if row["status"] != "ok"]
    print(f"gpu_check: {len(names) - len(failed)} of {len(names)} sections ok"
          + (f"; not ok: {', '.join(failed)}" if failed else "") + f"; {out / 'results.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
