"""tools/train.sh and tools/test.sh: argument handling (no Pointcept needed) and, with
POINTCEPT_ROOT set, real CPU runs (-g 0) of Pointcept's stock ScanNet configs on a tiny synthetic
ScanNet-layout dataset: a few training iterations, a checkpoint in the experiment folder (under
DOS_EXP_ROOT, a tmp folder), then the tester on it."""

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch

from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept, write_scannet_like

TRAIN_SH = str(REPO_ROOT / "tools" / "train.sh")
TEST_SH = str(REPO_ROOT / "tools" / "test.sh")


def run_sh(script, args, env, timeout=600):
    return subprocess.run(
        ["sh", script, "-p", sys.executable, *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO_ROOT),
    )


def test_train_sh_needs_pointcept_root(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "POINTCEPT_ROOT"}
    env["DOS_EXP_ROOT"] = str(tmp_path)
    out = run_sh(TRAIN_SH, ["-g", "0", "-c", "whatever"], env)
    assert out.returncode == 2
    assert "POINTCEPT_ROOT is not set" in out.stderr


def test_scripts_reject_a_wrong_pointcept_root(tmp_path):
    env = dict(os.environ, POINTCEPT_ROOT=str(tmp_path), DOS_EXP_ROOT=str(tmp_path / "exp"))
    for script in (TRAIN_SH, TEST_SH):
        out = run_sh(script, ["-g", "0", "-c", "whatever"], env)
        assert out.returncode == 2
        assert "is not a Pointcept checkout" in out.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_no_silent_cpu_mode_without_g0(tmp_path):
    (tmp_path / "pointcept").mkdir()
    (tmp_path / "pointcept" / "__init__.py").write_text("")
    (tmp_path / "configs").mkdir()
    out = run_sh(TRAIN_SH, ["-c", "whatever"],
                 dict(os.environ, POINTCEPT_ROOT=str(tmp_path), DOS_EXP_ROOT=str(tmp_path / "exp")))
    assert out.returncode == 2
    assert "pass -g 0 explicitly" in out.stderr


def test_train_sh_reports_a_missing_config(tmp_path):
    (tmp_path / "pointcept").mkdir()
    (tmp_path / "pointcept" / "__init__.py").write_text("")
    (tmp_path / "configs").mkdir()
    out = run_sh(TRAIN_SH, ["-g", "0", "-c", "no-such-config", "-n", f"t-{uuid.uuid4().hex[:6]}"],
                 dict(os.environ, POINTCEPT_ROOT=str(tmp_path), DOS_EXP_ROOT=str(tmp_path / "exp")))
    assert out.returncode == 2
    assert "config 'no-such-config' not found" in out.stderr
    assert not (tmp_path / "exp" / "scannet").exists()  # nothing created before the error


# ---- real runs (need Pointcept) ---------------------------------------------------------------

SHRINK_COMMON = [
    "epoch=1", "eval_epoch=1", "batch_size=1", "num_worker=1", "mix_prob=0", "seed=0",
]
SHRINK_PTV3 = [
    "model.backbone_out_channels=16",
    "model.backbone.enc_depths=[1,1,1,1,1]",
    "model.backbone.enc_channels=[16,16,32,32,64]",
    "model.backbone.enc_num_head=[1,1,2,2,4]",
    "model.backbone.enc_patch_size=[64,64,64,64,64]",
    "model.backbone.dec_depths=[1,1,1,1]",
    "model.backbone.dec_channels=[16,16,32,32]",
    "model.backbone.dec_num_head=[1,1,2,2]",
    "model.backbone.dec_patch_size=[64,64,64,64]",
]
SHRINK_SPUNET = [
    "model.backbone.channels=[8,8,16,16,16,16,8,8]",
    "model.backbone.layers=[1,1,1,1,1,1,1,1]",
]


@pytest.fixture(scope="module")
def scannet_root(tmp_path_factory):
    return write_scannet_like(tmp_path_factory.mktemp("scannet"), points=400)


@pytest.fixture()
def exp_root(tmp_path):
    return (tmp_path / "exp").resolve()


def data_options(root):
    return [f"data.{split}.data_root={root}" for split in ("train", "val", "test")]


def train_then_test(config, shrink, root, name, exp_root):
    exp = exp_root / "scannet" / name
    env = pointcept_env(exp_root=exp_root)
    out = run_sh(TRAIN_SH, ["-g", "0", "-d", "scannet", "-c", config, "-n", name, "--",
                            *SHRINK_COMMON, *shrink, *data_options(root)], env)
    log = train_log = out.stdout + out.stderr
    assert out.returncode == 0, log[-8000:]
    assert "pointcept-dos CPU mode: patched" in log
    assert f"Experiment dir: {exp}" in log
    # Pointcept's InformationWriter: "Train: [1/1][2/2] ... loss: ..."
    losses = [float(v) for v in re.findall(r"Train: \[\d+/\d+\]\[\d+/\d+\].*?loss: ([0-9.naif]+)", log)]
    assert len(losses) == 2 and all(v == v and v < 1e4 for v in losses), log[-4000:]
    checkpoint = exp / "model" / "model_last.pth"
    assert checkpoint.is_file()
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and any(k.startswith("backbone.") for k in state["state_dict"])
    assert (exp / "code" / "pointcept").is_dir() and (exp / "config.py").is_file()

    # the trainer's PreciseEvaluator already tested and cached predictions in result/: drop
    # them so that the tester runs the model again
    shutil.rmtree(exp / "result", ignore_errors=True)
    out = run_sh(TEST_SH, ["-g", "0", "-d", "scannet", "-n", name, "-w", "model_last"], env)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-8000:]
    assert f"Loading weight at: {checkpoint}" in log and "Test: 1/1-scene0002_00, Batch: 0/" in log
    assert "Syncing ..." in log and re.search(r"Val result: mIoU/mAcc/allAcc", log), log[-4000:]
    assert (exp / "result" / "scene0002_00_pred.npy").is_file()
    assert not (REPO_ROOT / "exp" / "scannet" / name).exists()
    return train_log


ONE_TEST_VIEW = """
_base_ = [{stock!r}]
# a stock config, with test-time augmentation cut to its first (identity) view to keep the
# CPU test short; everything else is Pointcept's
data = dict(test=dict(test_cfg=dict(aug_transform=[
    [dict(type="RandomRotateTargetAngle", angle=[0], axis="z", center=[0, 0, 0], p=1)]
])))
"""


@requires_pointcept
def test_train_and_test_ptv3m2_on_cpu(scannet_root, tmp_path, exp_root):
    # PT-v3m2 from Pointcept's stock config (enable_flash=True there: CPU mode turns it off);
    # -c given as a path to a config file that inherits the stock one
    stock = Path(os.environ["POINTCEPT_ROOT"]) / "configs" / "scannet" / "semseg-pt-v3m2-0-sonata-scratch.py"
    config = tmp_path / "ptv3m2-one-test-view.py"
    config.write_text(ONE_TEST_VIEW.format(stock=str(stock.resolve())))
    log = train_then_test(str(config), SHRINK_PTV3, scannet_root, "cpu-smoke-ptv3", exp_root)
    assert f"Loading config in: {config}" in log


@requires_pointcept
def test_train_and_test_spunet_on_cpu(scannet_root, exp_root):
    # SpUNet-v1m1 from Pointcept's stock config, named as Pointcept's scripts do
    train_then_test("semseg-spunet-v1m1-0-base", SHRINK_SPUNET, scannet_root, "cpu-smoke-spunet", exp_root)
