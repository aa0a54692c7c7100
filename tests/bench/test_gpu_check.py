"""bench/gpu_check.py: the section list and budget, the summary of the targets from the
sections' figures, the sections that need no Pointcept run for real in the fast lane (the head
in bf16, the two-process Zipf-Sinkhorn), and, with Pointcept, the whole dry run from a bundle
through tools/gpu_check.sh, as the GPU machine will run it."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import pytest

import gpu_check
from pointcept_env import REPO_ROOT, pointcept_env, pointcept_root, requires_pointcept


def test_sections_are_checked_and_kept_in_run_order():
    assert gpu_check.parse_sections("") == list(gpu_check.ORDER)
    assert gpu_check.parse_sections("head-bf16, environment") == ["environment", "head-bf16"]
    with pytest.raises(ValueError, match=r"--sections: unknown \['head'\]"):
        gpu_check.parse_sections("head")


def _ok(**result):
    return dict(status="ok", result=result)


def test_the_summary_reads_the_targets_off_the_sections():
    step = dict(finite=True, skipped_steps=0, scale=65536.0, peak_allocated_mb=0.0)
    sections = {
        "step-DOS-v1m1-PT-v3m2-bfloat16": _ok(**dict(step, median_s=0.4, peak_allocated_mb=500.0, standins={"pointops": "x"})),
        "step-Sonata-v1m1-PT-v3m2-bfloat16": _ok(**dict(step, median_s=1.0, peak_allocated_mb=1000.0)),
        "step-DOS-v1m1-PT-v3m2-float32": _ok(**dict(step, median_s=0.9, finite=False, scale=None)),
        "step-Sonata-v1m1-PT-v3m2-float32": dict(status="timeout"),
        "train-resume": _ok(continues=True),
    }
    summary = gpu_check.summarise(sections)
    bf16 = summary["dos_over_sonata_bfloat16"]
    assert bf16["time_ratio"] == pytest.approx(0.4) and bf16["memory_ratio"] == pytest.approx(0.5)
    assert bf16["time_target_met"] and bf16["memory_target_met"]  # <= 0.5x time, <= 0.6x memory
    assert "dos_over_sonata_float32" not in summary  # Sonata's fp32 run did not finish
    assert summary["steps_all_finite"] is False
    assert summary["gradscaler_skips"] == {"step-DOS-v1m1-PT-v3m2-bfloat16": 0, "step-Sonata-v1m1-PT-v3m2-bfloat16": 0}
    assert summary["resume_continues"] is True and summary["standins"] == ["pointops"]
    sections["step-DOS-v1m1-PT-v3m2-bfloat16"]["result"]["median_s"] = 0.7
    assert not gpu_check.summarise(sections)["dos_over_sonata_bfloat16"]["time_target_met"]


@pytest.mark.slow  # two section processes and a two-process spawn: ~15 s on 2 cores
def test_the_sections_without_pointcept_run_and_write_their_figures(tmp_path):
    code = gpu_check.main(["--dry-run", "--out", str(tmp_path), "--sections", "head-bf16,sinkhorn-distributed"])
    results = json.loads((tmp_path / "results.json").read_text())
    assert code == 0, (tmp_path / "gpu_check.log").read_text()[-4000:]
    assert sorted(os.listdir(tmp_path)) == ["gpu_check.log", "results.json"]
    head = results["sections"]["head-bf16"]["result"]
    assert head["autocast_dtype"] == "bfloat16" and 0.5 < head["argmax_agreement"] <= 1.0
    assert 0 < head["cos_abs_diff"]["max"] < 0.05  # bf16 rounding, not garbage
    for tau in ("0.04", "0.07"):
        assert 0 < head["taus"][tau]["target_tv"]["mean"] < 0.5
    sinkhorn = results["sections"]["sinkhorn-distributed"]["result"]
    assert sinkhorn["equal"] and sinkhorn["max_abs_diff"] < 1e-6 and sinkhorn["backend"] == "gloo"


def test_a_section_that_fails_is_reported_and_the_rest_still_run(tmp_path, monkeypatch):
    """A section process that dies is 'failed' with its last line; the next one still runs."""
    script = tmp_path / "sections.py"
    script.write_text(
        "import json, sys\n"
        "name, result = sys.argv[1], sys.argv[sys.argv.index('--result') + 1]\n"
        "if name == 'environment':\n    raise SystemExit('environment broke here')\n"
        "json.dump(dict(answer=42), open(result, 'w'))\n")
    monkeypatch.setattr(gpu_check, "SECTIONS_SCRIPT", script)
    code = gpu_check.main(["--dry-run", "--out", str(tmp_path / "out"), "--sections", "environment,head-bf16"])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert code == 1
    assert results["sections"]["environment"]["status"] == "failed"
    assert results["sections"]["environment"]["error"] == "environment broke here"
    assert results["sections"]["head-bf16"] == dict(status="ok", wall_s=results["sections"]["head-bf16"]["wall_s"],
                                                    returncode=0, result=dict(answer=42))


def _fake_bundle_wheels(folder):
    """One tiny wheel and its requirements line (the real ones need the package index)."""
    wheel = folder / "dosprobe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("dosprobe/__init__.py", "")
    (folder / "reqs.txt").write_text(f"{wheel.name} {hashlib.sha256(wheel.read_bytes()).hexdigest()}\n")
    return folder / "reqs.txt"


@pytest.mark.slow  # every section on the CPU: about 3 minutes on 2 cores
@requires_pointcept
def test_prepare_a_bundle_then_the_whole_dry_run(tmp_path):
    """tools/prepare_gpu_bundle.sh (a stand-in wheel; the real Pointcept checkout), then
    tools/gpu_check.sh --dry-run from that bundle: every section ok, its Pointcept the bundle's
    copy, every stand-in named, the targets' ratios computed."""
    requirements = _fake_bundle_wheels(tmp_path)
    env = pointcept_env()
    env.update(PYTHON=sys.executable, DOS_BUNDLE_DIR=str(tmp_path / "unpacked"), GPU_BUNDLE=str(tmp_path / "bundle"))
    env.pop("DOS_STANDINS", None)
    prep = subprocess.run(["sh", str(REPO_ROOT / "tools" / "prepare_gpu_bundle.sh"), "--out", str(tmp_path / "bundle"),
                           "--wheels", str(tmp_path), "--requirements", str(requirements), "--xz-preset", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert prep.returncode == 0, prep.stderr[-3000:]
    # the bundle's Pointcept replaces the checkout's: nothing of it is taken from POINTCEPT_ROOT
    env["POINTCEPT_ROOT"] = str(tmp_path / "no-such-checkout")
    env["PYTHONPATH"] = os.pathsep.join(p for p in env["PYTHONPATH"].split(os.pathsep) if p != str(pointcept_root()))
    out = subprocess.run(["sh", str(REPO_ROOT / "tools" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=1500, cwd=str(tmp_path))
    log = (tmp_path / "out" / "gpu_check.log").read_text() if (tmp_path / "out" / "gpu_check.log").exists() else ""
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:] + log[-6000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [n for n, row in results["sections"].items() if row["status"] == "ok"] == list(gpu_check.ORDER)
    assert results["summary"]["standins"] == ["open3d", "pointops", "torch_cluster", "torch_scatter", "wandb"]
    assert results["summary"]["steps_all_finite"] and results["summary"]["resume_continues"]
    # tools/train.sh's own process installed them too, and said so in its log
    assert results["sections"]["train-resume"]["result"]["trainer_standins"] == results["summary"]["standins"]
    assert results["summary"]["dos_over_sonata_bfloat16"]["time_ratio"] > 0
    assert results["sections"]["environment"]["result"]["pointcept_root"]["checkout"]
    assert str(tmp_path / "unpacked") in log or "unpacked" in out.stderr + out.stdout
