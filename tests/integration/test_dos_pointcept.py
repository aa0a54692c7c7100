"""DOS inside the real Pointcept (skipped without POINTCEPT_ROOT): registration, a forward and
backward on batches from Pointcept's own transform pipeline for both backbones and the ablation
keys, ZipfSinkhornHook's report, a CPU smoke pretraining through tools/train.sh, the stock Sonata
linear-probe config loading its checkpoint with only the head missing, an exact resume (N steps
straight = N/2 + resume + N/2), and Pointcept's trainer in two processes (gloo). Experiments go
to a tmp folder (DOS_EXP_ROOT)."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from pointcept_env import (
    run_cpu_mode_python,
    REPO_ROOT, pointcept_env, requires_pointcept, write_lattice_scene, write_scannet_like,
)

pytestmark = requires_pointcept

TRAIN_SH = str(REPO_ROOT / "tools" / "train.sh")
TESTS_DIR = str(REPO_ROOT / "tests" / "helpers")
SPUNET_PRETRAIN = str(REPO_ROOT / "configs" / "dos" / "scannet-pretrain-spunet.py")

SMALL_PTV3 = dict(
    enc_depths=[1, 1, 1, 1, 1], enc_channels=[16, 16, 32, 32, 64],
    enc_num_head=[1, 1, 2, 2, 4], enc_patch_size=[64, 64, 64, 64, 64],
)
SMALL_SPUNET = dict(channels=[8, 8, 16, 16, 16, 16, 8, 8], layers=[1, 1, 1, 1, 1, 1, 1, 1])
SMALL_HEAD = ["model.num_prototypes=32", "model.head_hidden_channels=32", "model.head_embed_channels=16"]


def backbone_options(prefix, small):
    return [f"{prefix}.{k}={json.dumps(v)}" for k, v in small.items()]


def run_train(args, exp_root, timeout=900, processes=1, threads=None):
    env = pointcept_env(extra_pythonpath=[TESTS_DIR], exp_root=exp_root)
    env["DOS_CPU_PROCESSES"] = str(processes)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(["sh", TRAIN_SH, "-p", sys.executable, "-g", "0", "-d", "scannet", *args],
                         capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO_ROOT))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-8000:]
    return log


def load_checkpoint(path):
    """A Pointcept checkpoint, weights only. Pointcept's WeightDecaySchedular puts a numpy float
    into the optimizer's param groups, which weights_only=True refuses unless numpy scalars are
    allowed (they carry a dtype and bytes, no code)."""
    numpy_core = getattr(np, "_core", None) or np.core
    allowed = [numpy_core.multiarray.scalar, np.dtype, type(np.dtype(np.float64))]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def scannet_root(tmp_path_factory):
    return write_scannet_like(tmp_path_factory.mktemp("scannet"), points=600)


@pytest.fixture()
def exp_root(tmp_path):
    return (tmp_path / "exp").resolve()


def test_registered_in_pointcept_registries():
    names = run_cpu_mode_python("""
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


OUTPUT_KEYS = ["cross_view_loss", "empty_step", "empty_terms", "loss", "same_view_loss", "target_entropy",
               "teacher_spread"]


@pytest.mark.parametrize("config, small, ablation", [
    ("configs/dos/scannet-pretrain.py", SMALL_PTV3, {}),
    ("configs/dos/scannet-pretrain-spunet.py", SMALL_SPUNET, {}),
    # the paper's ablations from a Pointcept config: Sonata's mask token and per-point objective
    ("configs/dos/scannet-pretrain.py", SMALL_PTV3, dict(student_input="mask_token", objective="per_point")),
])
def test_forward_backward_on_pointcept_pipeline(config, small, ablation, scannet_root):
    result = run_cpu_mode_python(f"""
        import torch
        from pointcept.utils.config import Config
        from pointcept.models.builder import build_model
        from pointcept.datasets.builder import build_dataset
        from pointcept.datasets.utils import point_collate_fn
        cfg = Config.fromfile({config!r})
        cfg.model.backbone.update({small!r})
        cfg.model.update(num_prototypes=32, head_hidden_channels=32, head_embed_channels=16, **{ablation!r})
        if cfg.model.backbone.type == "PT-v3m2":
            cfg.model.head_in_channels = sum({small!r}["enc_channels"][-3:])
        else:
            cfg.model.head_in_channels = {small!r}["channels"][-1]
        cfg.data.train.data_root = {str(scannet_root)!r}
        torch.manual_seed(0)
        model = build_model(cfg.model)
        model.steps.begin(0, 10)
        dataset = build_dataset(cfg.data.train)
        batch = point_collate_fn([dataset[0], dataset[1]])
        out = model(batch)
        logged = {{k: v.item() for k, v in out.items()}}  # as Pointcept's InformationWriter
        out["loss"].backward()
        grads = [p.grad for p in model.student.parameters() if p.requires_grad]
        print(json.dumps(dict(
            keys=sorted(out), loss=logged["loss"], entropy=logged["target_entropy"],
            spread=logged["teacher_spread"],
            student_grads=sum(g is not None and bool(g.abs().sum() > 0) for g in grads),
            student_params=len(grads),
            teacher_grads=sum(p.grad is not None for p in model.teacher.parameters()),
            mask_token="mask_token" in model.student,
            views=len(batch["global_offset"]))))
    """)
    assert result["keys"] == OUTPUT_KEYS
    assert 0 < result["loss"] < 100 and 0 < result["entropy"] < 1 and result["spread"] > 0
    assert result["views"] == 4 and result["teacher_grads"] == 0
    assert result["student_grads"] > 0.8 * result["student_params"]
    assert result["mask_token"] == (ablation.get("student_input") == "mask_token")


def test_hook_logs_collapse_signals_and_empty_steps():
    result = run_cpu_mode_python("""
        import logging
        import torch
        from addict import Dict
        from pointcept.models.builder import build_model
        from pointcept.engines.hooks.builder import build_hooks
        from dos_batches import two_view_batch

        records, scalars, histograms = [], {}, {}

        class Capture(logging.Handler):
            def emit(self, record):
                records.append((record.levelname, record.getMessage()))

        class Writer:
            def add_scalar(self, key, value, step):
                scalars.setdefault(key, []).append((step, value))

            def add_histogram_raw(self, tag, bucket_limits, bucket_counts, global_step, **stats):
                histograms.setdefault(tag, []).append((global_step, bucket_limits, bucket_counts))

        logger = logging.getLogger("dos-hook-test")
        logger.addHandler(Capture())
        logger.setLevel(logging.INFO)
        model = build_model(dict(
            type="DOS-v1m1", head_in_channels=8, head_hidden_channels=16, head_embed_channels=8,
            num_prototypes=16, mask_seed=0,
            backbone=dict(type="DOS-SpUNet-lite", in_channels=6, channels=(8, 16), enc_depths=(1, 1),
                          dec_depths=(1,))))
        trainer = Dict(model=model, logger=logger, writer=Writer(), epoch=0, train_loader=[0] * 4,
                       comm_info=dict(iter=0), cfg=Dict(scheduler=dict(total_steps=4)))
        hook = build_hooks([dict(type="ZipfSinkhornHook", log_interval=2, entropy_threshold=0.05,
                                 spread_threshold=100.0)])[0]
        hook.trainer = model.trainer = trainer
        hook.before_train()
        one_point_views = dict(
            global_coord=torch.rand(2, 3), global_feat=torch.rand(2, 6),
            global_offset=torch.tensor([1, 2]), grid_size=torch.tensor([0.05]))
        one_point_views["global_origin_coord"] = one_point_views["global_coord"].clone()
        for it, batch in enumerate([two_view_batch(), one_point_views, two_view_batch(seed=1), two_view_batch(seed=2)]):
            trainer.comm_info["iter"] = it
            model.before_step()
            with torch.no_grad():
                model(batch)
            model.after_step()  # ModelHook's, before the hook's: the step's record to the monitor
            hook.after_step()
        print(json.dumps(dict(records=records, scalars=sorted(scalars), histograms=histograms)))
    """)
    lines = [m for _, m in result["records"] if m.startswith("Prototype usage @")]
    assert [line.split(":")[0] for line in lines] == ["Prototype usage @ step 2", "Prototype usage @ step 4"]
    # step 1: 2 scenes x 2 views x 2 terms; step 2: one scene of one-point views, all 4 empty
    assert "empty terms 4 of 12, empty steps 1 of 2" in lines[0] and "empty steps 0 of 2" in lines[1]
    assert re.search(r"target entropy/logN 0\.\d{3}, teacher spread 0\.\d{4}", lines[1])
    warnings = [m for level, m in result["records"] if level == "WARNING"]
    # thresholds every report crosses: each warns, with the remedy; step 2 also about the empty step
    assert sum(m.startswith("Collapse signals @ step") for m in warnings) == 2
    assert all("student_temp / teacher_temp >= 2.5" in m for m in warnings if m.startswith("Collapse"))
    assert any(m.startswith("1 of the last 2 steps had no matched point") for m in warnings)
    for key in ("target_entropy", "teacher_spread", "empty_terms", "empty_steps", "effective_prototypes",
                "prior_head_mass", "teacher_head_share", "target_head_share", "head_entropy", "tail_entropy"):
        assert f"prototypes/{key}" in result["scalars"]
    # by prototype index, against the prior: one bucket per prototype, shares summing to 1
    for key in ("prior", "usage", "target_usage"):
        (step, limits, counts), _ = result["histograms"][f"prototypes/{key}_by_index"]
        assert step == 2 and limits == [i + 0.5 for i in range(16)] and sum(counts) == pytest.approx(1.0)
    assert "prior head-10 mass" in lines[0] and "softmap entropy/logN head-10" in lines[0]


def pretrain_options(root, epochs):
    return [
        f"data.train.data_root={root}", f"epoch={epochs}", f"eval_epoch={epochs}", "batch_size=2", "num_worker=0",
        "seed=0", "enable_amp=False",
        f"model.head_in_channels={sum(SMALL_PTV3['enc_channels'][-3:])}",
        "hooks.2.log_interval=1", "hooks.6.save_freq=1",
        *SMALL_HEAD, *backbone_options("model.backbone", SMALL_PTV3),
    ]


def test_pretrain_then_stock_linear_probe_loads_the_student(scannet_root, exp_root):
    log = run_train(["-c", "configs/dos/scannet-pretrain.py", "-n", "dos-pretrain", "--",
                     *pretrain_options(scannet_root, epochs=1)], exp_root)
    assert "pointcept-dos CPU mode: patched" in log
    assert re.search(r"Prototype usage @ step 1: effective .* target entropy/logN 0\.\d+", log), log[-3000:]
    checkpoint = exp_root / "scannet" / "dos-pretrain" / "model" / "model_last.pth"
    state = load_checkpoint(checkpoint)["state_dict"]
    assert any(k.startswith("student.backbone.") for k in state)
    assert any(k.startswith("teacher.head.") for k in state)

    log = run_train(["-c", "configs/dos/scannet-lin.py", "-n", "dos-lin", "-w", str(checkpoint), "--",
                     *(f"data.{s}.data_root={scannet_root}" for s in ("train", "val", "test")),
                     "epoch=1", "eval_epoch=1", "batch_size=1", "num_worker=0", "mix_prob=0",
                     "enable_amp=False",
                     f"model.backbone_out_channels={sum(SMALL_PTV3['enc_channels'])}",
                     *backbone_options("model.backbone", SMALL_PTV3)], exp_root)
    missing = re.search(r"Missing keys: (\[.*?\])", log).group(1)
    missing = eval(missing)  # noqa: S307  Pointcept logs a Python list literal
    assert missing and all(k.startswith("seg_head.") for k in missing), missing
    assert not (REPO_ROOT / "exp" / "scannet" / "dos-pretrain").exists()


# ----- resume: N steps straight = N/2 + resume + N/2 ---------------------------------------------

# What is controlled so that two runs can agree: the data (one lattice scene: grid sampling keeps
# every point; colour and view augmentation off and views of the whole scene, so every sample is
# the same points; the sampler's shuffle and the workers' seeds then change nothing but the point
# order), the model (SpUNet: no drop path, no random serialisation order), seed=0. What must
# travel in the checkpoint: weights, teacher, optimizer, scheduler, epoch, and the masking
# generator (DOS-v1m1's `_extra_state`); the schedules follow from the step.
DETERMINISTIC_DATA_CONFIG = """
from pointcept_dos.integration.config_presets import multiview_transform as __multiview_transform

_base_ = [{base!r}]

data = dict(train=dict(transform=__multiview_transform(
    grid_size=0.02, feat_keys=("color", "normal"), shared_augmentation=(dict(type="NormalizeColor"),),
    view_augmentation=(), view_scale=(1.0, 1.0))))
"""


def resume_options(root):
    return [
        f"data.train.data_root={root}", "epoch=16", "eval_epoch=4", "batch_size=2", "num_worker=1", "seed=0",
        "enable_amp=False", f"model.head_in_channels={SMALL_SPUNET['channels'][-1]}",
        "model.teacher_temp.warmup_ratio=1.0",  # tau_T changes at every step of the run
        "hooks.2.log_interval=1", "hooks.6.save_freq=1",
        *SMALL_HEAD, *backbone_options("model.backbone", SMALL_SPUNET),
    ]


def step_losses(log):
    """(epoch, iter) -> loss from Pointcept's InformationWriter lines."""
    found = re.findall(r"Train: \[(\d+)/\d+\]\[(\d+)/\d+\].*? loss: ([0-9.]+)", log)
    return {(int(e), int(i)): float(v) for e, i, v in found}


def hook_lines(log):
    """step -> the hook's report (usage, collapse signals, schedules) after that step."""
    return {int(s): line for s, line in re.findall(r"Prototype usage @ step (\d+): (.*)", log)}


def test_resume_is_exact(tmp_path, exp_root):
    root = write_lattice_scene(tmp_path / "lattice")
    write_lattice_scene(root, split="val", name="scene0001_00")  # for the base's online probe
    config = tmp_path / "dos-spunet-deterministic.py"
    config.write_text(DETERMINISTIC_DATA_CONFIG.format(base=SPUNET_PRETRAIN))
    options = resume_options(root)
    # one thread: with two, the same straight run gave epoch-3 losses 1.2444, 1.2458 and 1.2452
    # in three invocations (a multi-threaded CPU reduction is not repeatable bit for bit), so
    # only one thread can show that resuming adds no difference of its own
    straight = run_train(["-c", str(config), "-n", "straight", "--", *options], exp_root, threads=1)
    losses, lines = step_losses(straight), hook_lines(straight)
    assert sorted(losses) == [(e, i) for e in range(1, 5) for i in (1, 2)], straight[-3000:]
    assert sorted(lines) == list(range(1, 9))

    # the same run stopped after epoch 2 (its epoch_2 checkpoint as the last one), then resumed
    first = exp_root / "scannet" / "straight"
    second = exp_root / "scannet" / "resumed"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("model_last.pth", "epoch_[34].pth", "events.out.tfevents.*"))
    shutil.copy(second / "model" / "epoch_2.pth", second / "model" / "model_last.pth")
    checkpoint = load_checkpoint(second / "model" / "model_last.pth")
    masks = checkpoint["state_dict"]["_extra_state"]["mask_generator"]
    assert not torch.equal(masks, torch.Generator().manual_seed(0).get_state())  # 4 steps of masks drawn
    resumed = run_train(["-n", "resumed", "-r", "true", "--", *options], exp_root, threads=1)
    assert "Resuming train at eval epoch: 2" in resumed
    resumed_losses, resumed_lines = step_losses(resumed), hook_lines(resumed)
    assert sorted(resumed_losses) == [(e, i) for e in (3, 4) for i in (1, 2)]
    for key, loss in resumed_losses.items():
        assert loss == pytest.approx(losses[key], abs=2e-4), (key, loss, losses[key])
    for step in range(5, 9):  # same usage, collapse signals, tau_T, momentum (printed rounded)
        assert resumed_lines[step] == lines[step], (step, resumed_lines[step], lines[step])

    final = [load_checkpoint(d / "model" / "model_last.pth")["state_dict"]
             for d in (first, second)]
    assert final[0].keys() == final[1].keys()
    for key, value in final[0].items():
        if torch.is_tensor(value) and value.is_floating_point():
            assert torch.allclose(final[1][key], value, rtol=1e-4, atol=1e-6), key
    # the straight run moved the weights: equal weights are not just the initial ones
    start = load_checkpoint(first / "model" / "epoch_1.pth")["state_dict"]
    assert not torch.allclose(start["student.head.prototypes"], final[0]["student.head.prototypes"])


# ----- two processes ---------------------------------------------------------------------------

TWO_PROCESS_CONFIG = """
from pointcept_dos.integration.config_presets import pretrain_hooks as __pretrain_hooks
from dos_rank_dump import RANK_DUMP_HOOK as __rank_dump

_base_ = [{base!r}]

hooks = __pretrain_hooks(base_wd=0.04, final_wd=0.2, save_freq=None,
                         online_probe=dict(interval=1, train_scenes=2, val_scenes=1, iters=20)) + [dict(type=__rank_dump)]
"""


def test_two_processes_on_cpu_hold_identical_weights(tmp_path, exp_root):
    # two rooms and a degenerate scan of one point: some process gets it at every epoch, and
    # its step has no matched point in any term
    root = write_scannet_like(tmp_path / "data", points=600,
                              scenes={"train": ["scene0000_00", "scene0001_00"], "val": ["scene0003_00"]})
    write_scannet_like(tmp_path / "data", points=1, scenes={"train": ["scene0002_00"], "val": []}, seed=1)
    config = tmp_path / "dos-spunet-two-processes.py"
    config.write_text(TWO_PROCESS_CONFIG.format(base=SPUNET_PRETRAIN))
    log = run_train(["-c", str(config), "-n", "two", "--",
                     f"data.train.data_root={root}", "epoch=2", "eval_epoch=2", "batch_size=2", "seed=0",
                     "enable_amp=False", f"model.head_in_channels={SMALL_SPUNET['channels'][-1]}",
                     "hooks.2.log_interval=1", *SMALL_HEAD, *backbone_options("model.backbone", SMALL_SPUNET)],
                    exp_root, timeout=600, processes=2)
    assert "pointcept-dos CPU mode: 2 processes, gloo at tcp://127.0.0.1:" in log
    # rank 0 probed after each epoch while rank 1 waited at the barrier (no hang, one line each)
    assert len(re.findall(r"Online probe @ epoch \d \(teacher\): mIoU \d+\.\d", log)) == 2, log[-4000:]
    # 3 scenes over 2 processes, one per process per step: 2 steps per epoch, 2 epochs
    reports = hook_lines(log)
    assert sorted(reports) == [1, 2, 3, 4], log[-4000:]
    # the hook's counts are summed over both processes: 2 steps each report; every epoch one
    # process (at least) trained on the one-point scan, a step with no matched point (loss 0)
    assert all(", empty steps " in line and " of 2;" in line for line in reports.values())
    empty = sum(int(re.search(r"empty steps (\d+) of 2", line).group(1)) for line in reports.values())
    assert empty >= 2, reports
    ranks = [load_checkpoint(exp_root / "scannet" / "two" / f"rank{r}.pth")
             for r in range(2)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    states = [r["state_dict"] for r in ranks]
    parameters = [k for k in states[0] if k.startswith(("student.", "teacher.")) and "running_" not in k
                  and "num_batches" not in k]
    assert len(parameters) > 20
    for key in parameters:  # DDP: identical gradients, identical steps, identical EMA teachers
        assert torch.equal(states[0][key], states[1][key]), key
    saved = load_checkpoint(exp_root / "scannet" / "two" / "model" / "model_last.pth")["state_dict"]
    assert torch.equal(saved["module.student.head.prototypes"], states[0]["student.head.prototypes"])


def test_online_probe_logs_and_leaves_the_run_as_it_was(tmp_path, exp_root):
    """OnlineProbeHook after every epoch: its log lines, and the same losses and weights as the
    run without it (the probe copies the teacher and forks every random stream)."""
    root = write_lattice_scene(tmp_path / "lattice")
    write_lattice_scene(root, split="val", name="scene0001_00")
    runs = {}
    for name, probe in (("with", "dict(interval=1, iters=20)"), ("without", "None")):
        config = tmp_path / f"dos-probe-{name}.py"
        config.write_text(DETERMINISTIC_DATA_CONFIG.format(base=SPUNET_PRETRAIN) + ONLINE_PROBE_HOOKS.format(probe=probe))
        options = [o for o in resume_options(root) if not o.startswith(("epoch=", "eval_epoch="))]
        log = run_train(["-c", str(config), "-n", name, "--", *options, "epoch=4", "eval_epoch=2"],
                        exp_root, threads=1)
        final = load_checkpoint(exp_root / "scannet" / name / "model" / "model_last.pth")["state_dict"]
        runs[name] = (log, step_losses(log), final)
    probes = re.findall(r"Online probe @ epoch (\d) \(teacher\): mIoU (\d+\.\d), head", runs["with"][0])
    assert [e for e, _ in probes] == ["1", "2"], runs["with"][0][-3000:]
    assert "Online probe" not in runs["without"][0]
    assert runs["with"][1] == runs["without"][1] and len(runs["with"][1]) >= 2
    for key, value in runs["without"][2].items():
        if torch.is_tensor(value):
            assert torch.equal(runs["with"][2][key], value), key


ONLINE_PROBE_HOOKS = """
from pointcept_dos.integration.config_presets import pretrain_hooks as __pretrain_hooks

hooks = __pretrain_hooks(base_wd=0.04, final_wd=0.2, save_freq=None, online_probe={probe})
"""
