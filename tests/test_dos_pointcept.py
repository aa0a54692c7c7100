"""DOS inside the real Pointcept (skipped without POINTCEPT_ROOT): registration, a forward and
backward on batches from Pointcept's own transform pipeline for both backbones, a CPU smoke
pretraining through tools/train.sh, the stock Sonata linear-probe config loading its checkpoint
with only the head missing, and a resume that continues the schedules where they were."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest
import torch

from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept, write_scannet_like

pytestmark = requires_pointcept

TRAIN_SH = str(REPO_ROOT / "tools" / "train.sh")

SMALL_PTV3 = dict(
    enc_depths=[1, 1, 1, 1, 1], enc_channels=[16, 16, 32, 32, 64],
    enc_num_head=[1, 1, 2, 2, 4], enc_patch_size=[64, 64, 64, 64, 64],
)
SMALL_SPUNET = dict(channels=[8, 8, 16, 16, 16, 16, 8, 8], layers=[1, 1, 1, 1, 1, 1, 1, 1])
SMALL_HEAD = ["model.num_prototypes=32", "model.head_hidden_channels=32", "model.head_embed_channels=16"]


def backbone_options(prefix, small):
    return [f"{prefix}.{k}={json.dumps(v)}" for k, v in small.items()]


def run_python(code, timeout=600):
    """Run code in a fresh interpreter with CPU mode on and pointcept_dos imported; returns
    the JSON object the code prints last."""
    script = textwrap.dedent("""
        import json, sys
        sys.path.insert(0, {tools!r})
        from _dos_entry import bootstrap
        bootstrap(["--num-gpus", "0"])
    """).format(tools=str(REPO_ROOT / "tools")) + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=timeout, env=pointcept_env(), cwd=str(REPO_ROOT))
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_train(args, timeout=900):
    out = subprocess.run(["sh", TRAIN_SH, "-p", sys.executable, "-g", "0", "-d", "scannet", *args],
                         capture_output=True, text=True, timeout=timeout, env=pointcept_env(),
                         cwd=str(REPO_ROOT))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-8000:]
    return log


@pytest.fixture(scope="module")
def scannet_root(tmp_path_factory):
    return write_scannet_like(tmp_path_factory.mktemp("scannet"), points=600)


@pytest.fixture()
def exp_name():
    name = f"dos-test-{uuid.uuid4().hex[:6]}"
    yield name
    if not os.environ.get("POINTCEPT_DOS_KEEP_EXP"):
        shutil.rmtree(REPO_ROOT / "exp" / "scannet" / name, ignore_errors=True)


def test_registered_in_pointcept_registries():
    names = run_python("""
        from pointcept.models.builder import MODELS
        from pointcept.models.losses.builder import LOSSES
        from pointcept.engines.hooks.builder import HOOKS
        print(json.dumps(dict(
            model=MODELS.get("DOS-v1m1").__name__, lite=MODELS.get("DOS-SpUNet-lite").__name__,
            loss=LOSSES.get("SoftmapDistillationLoss").__name__,
            hook=HOOKS.get("ZipfSinkhornHook").__name__,
            sonata=MODELS.get("Sonata-v1m1").__name__)))
    """)
    assert names == dict(model="DOSPointModel", lite="SpUNetLite",
                         loss="SoftmapDistillationLoss", hook="ZipfSinkhornHook", sonata="Sonata")


@pytest.mark.parametrize("config, small, prefix", [
    ("configs/dos/scannet-pretrain.py", SMALL_PTV3, "backbone"),
    ("configs/dos/scannet-pretrain-spunet.py", SMALL_SPUNET, "backbone"),
])
def test_forward_backward_on_pointcept_pipeline(config, small, prefix, scannet_root):
    result = run_python(f"""
        import torch
        from pointcept.utils.config import Config
        from pointcept.models.builder import build_model
        from pointcept.datasets.builder import build_dataset
        from pointcept.datasets.utils import point_collate_fn
        cfg = Config.fromfile({config!r})
        cfg.model.backbone.update({small!r})
        cfg.model.update(num_prototypes=32, head_hidden_channels=32, head_embed_channels=16)
        if cfg.model.backbone.type == "PT-v3m2":
            cfg.model.head_in_channels = sum({small!r}["enc_channels"][-3:])
        else:
            cfg.model.head_in_channels = {small!r}["channels"][-1]
        cfg.data.train.data_root = {str(scannet_root)!r}
        torch.manual_seed(0)
        model = build_model(cfg.model)
        model.set_step(0, 10)
        dataset = build_dataset(cfg.data.train)
        batch = point_collate_fn([dataset[0], dataset[1]])
        out = model(batch)
        out["loss"].backward()
        grads = [p.grad for p in model.student.parameters() if p.requires_grad]
        print(json.dumps(dict(
            keys=sorted(out), loss=float(out["loss"]),
            student_grads=sum(g is not None and bool(g.abs().sum() > 0) for g in grads),
            student_params=len(grads),
            teacher_grads=sum(p.grad is not None for p in model.teacher.parameters()),
            views=len(batch["global_offset"]))))
    """)
    assert result["keys"] == ["cross_view_loss", "loss", "same_view_loss"]
    assert 0 < result["loss"] < 100
    assert result["views"] == 4 and result["teacher_grads"] == 0
    assert result["student_grads"] > 0.8 * result["student_params"]


def pretrain_options(root, epochs):
    return [
        f"data.train.data_root={root}", f"epoch={epochs}", f"eval_epoch={epochs}", "batch_size=2", "num_worker=0",
        "seed=0", "enable_amp=False",
        f"model.head_in_channels={sum(SMALL_PTV3['enc_channels'][-3:])}",
        "hooks.2.log_interval=1", "hooks.6.save_freq=1",
        *SMALL_HEAD, *backbone_options("model.backbone", SMALL_PTV3),
    ]


def schedule_log(log):
    """step -> (teacher_temp, momentum) from ZipfSinkhornHook's log lines."""
    found = re.findall(r"Prototype usage @ step (\d+):.*?teacher_temp ([0-9.]+), momentum ([0-9.]+)", log)
    return {int(s): (float(t), float(m)) for s, t, m in found}


def test_pretrain_then_stock_linear_probe_loads_the_student(scannet_root, exp_name):
    log = run_train(["-c", "configs/dos/scannet-pretrain.py", "-n", exp_name, "--",
                     *pretrain_options(scannet_root, epochs=1)])
    assert "pointcept-dos CPU mode: patched" in log
    assert re.search(r"Prototype usage @ step 1: effective", log), log[-3000:]
    checkpoint = REPO_ROOT / "exp" / "scannet" / exp_name / "model" / "model_last.pth"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    assert any(k.startswith("student.backbone.") for k in state)
    assert any(k.startswith("teacher.head.") for k in state)

    probe = f"{exp_name}-lin"
    try:
        log = run_train(["-c", "configs/dos/scannet-lin.py", "-n", probe, "-w", str(checkpoint), "--",
                         *(f"data.{s}.data_root={scannet_root}" for s in ("train", "val", "test")),
                         "epoch=1", "eval_epoch=1", "batch_size=1", "num_worker=0", "mix_prob=0",
                         "enable_amp=False",
                         f"model.backbone_out_channels={sum(SMALL_PTV3['enc_channels'])}",
                         *backbone_options("model.backbone", SMALL_PTV3)])
    finally:
        shutil.rmtree(REPO_ROOT / "exp" / "scannet" / probe, ignore_errors=True)
    missing = re.search(r"Missing keys: (\[.*?\])", log).group(1)
    missing = eval(missing)  # noqa: S307  Pointcept logs a Python list literal
    assert missing and all(k.startswith("seg_head.") for k in missing), missing


def test_resume_continues_the_schedules(scannet_root, exp_name):
    options = pretrain_options(scannet_root, epochs=2) + ["model.teacher_temp_warmup_ratio=1.0"]
    full = schedule_log(run_train(["-c", "configs/dos/scannet-pretrain.py", "-n", exp_name, "--", *options]))
    exp = REPO_ROOT / "exp" / "scannet" / exp_name
    steps_per_epoch = len(full) // 2
    assert steps_per_epoch >= 1 and sorted(full) == list(range(1, 2 * steps_per_epoch + 1))
    # stop after epoch 1: make its checkpoint the last one, then resume with -r true
    shutil.copy(exp / "model" / "epoch_1.pth", exp / "model" / "model_last.pth")
    resumed = schedule_log(run_train(["-n", exp_name, "-r", "true", "--", *options]))
    assert sorted(resumed) == list(range(steps_per_epoch + 1, 2 * steps_per_epoch + 1))
    for step, values in resumed.items():
        assert values == full[step], (step, values, full[step])
    # the warm-up spans the run, so a restart from step 0 would have shown other values
    assert full[1][0] < full[2 * steps_per_epoch][0]
