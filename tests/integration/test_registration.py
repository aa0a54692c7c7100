"""Registration into Pointcept (needs POINTCEPT_ROOT): every registered class built through
Pointcept's own registry and called the way Pointcept calls it, and a DOS config that registers
DOS by itself, in the parsing process and in a spawned worker that only unpickles the config.

Each case runs in a fresh interpreter in CPU mode (Pointcept's CUDA-only pointops otherwise
stops `import pointcept.models` on a machine without a GPU)."""

import json
import subprocess
import sys
import textwrap

from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept

pytestmark = requires_pointcept

PRELUDE = """
import json, pickle, sys
import torch
from pointcept_dos.integration import cpu_mode
cpu_mode.enable_cpu_mode()
"""


def run(code, timeout=300):
    script = PRELUDE + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=timeout, env=pointcept_env([REPO_ROOT]), cwd=str(REPO_ROOT))
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nothing_is_registered_before_the_registration_import():
    result = run("""
        from pointcept.models.builder import MODELS
        from pointcept.models.losses.builder import LOSSES
        from pointcept.engines.hooks.builder import HOOKS
        before = [MODELS.get("DOS-v1m1"), LOSSES.get("SoftmapDistillationLoss"), HOOKS.get("ZipfSinkhornHook")]
        import pointcept_dos.integration.registration  # noqa: F401
        after = [MODELS.get("DOS-v1m1"), LOSSES.get("SoftmapDistillationLoss"), HOOKS.get("ZipfSinkhornHook")]
        print(json.dumps(dict(before=[b is None for b in before], after=[a.__name__ for a in after])))
    """)
    assert result["before"] == [True, True, True]
    assert result["after"] == ["DOSPointModel", "SoftmapDistillationLoss", "ZipfSinkhornHook"]


def test_loss_built_by_build_criteria_and_called_as_pointcept_calls_criteria():
    result = run("""
        import pointcept_dos.integration.registration  # noqa: F401
        from pointcept.models.losses.builder import build_criteria
        from pointcept_dos import softmap_distillation_loss, zipf_prior, zipf_sinkhorn
        g = torch.Generator().manual_seed(0)
        offset = torch.tensor([30, 70])
        student_cos = torch.rand(70, 16, generator=g) * 2 - 1
        target = zipf_sinkhorn(torch.randn(70, 16, generator=g) / 0.07, offset, zipf_prior(16, 1.3))
        criteria = build_criteria([
            dict(type="SoftmapDistillationLoss", student_temp=0.1, loss_weight=0.5),
            dict(type="SoftmapDistillationLoss", student_temp=0.2, loss_weight=1.0),
        ])
        pred = student_cos.clone().requires_grad_()
        loss = criteria(pred, dict(softmap=target, offset=offset))  # Criteria.__call__(pred, target)
        loss.backward()
        expected = (0.5 * softmap_distillation_loss(student_cos / 0.1, target, offset)
                    + softmap_distillation_loss(student_cos / 0.2, target, offset))
        try:
            criteria(pred, target)
            wrong_target = "accepted"
        except TypeError as err:
            wrong_target = str(err)
        print(json.dumps(dict(loss=float(loss), expected=float(expected),
                              grad=float(pred.grad.abs().sum()), wrong_target=wrong_target)))
    """)
    assert abs(result["loss"] - result["expected"]) < 1e-6 and result["loss"] > 0
    assert result["grad"] > 0
    assert "target must be dict(softmap=" in result["wrong_target"]


def test_model_and_hook_built_through_pointcept_registries():
    result = run("""
        import pointcept_dos.integration.registration  # noqa: F401
        from pointcept.models.builder import build_model
        from pointcept.engines.hooks.builder import HOOKS
        from pointcept_dos.demo.pretrain import model_config
        from pointcept_dos.demo.views import pretrain_batch
        from pointcept_dos.synthetic import generate_scene
        torch.manual_seed(0)
        cfg = model_config(num_prototypes=16)
        lite = build_model(dict(cfg["backbone"]))
        model = build_model(cfg)
        batch = pretrain_batch([generate_scene(1), generate_scene(2)], 0.05, 0, 0, max_points=600)
        out = model(batch)
        out["loss"].backward()
        hook = HOOKS.build(dict(type="ZipfSinkhornHook", log_interval=5))
        errors = []
        for old in (dict(zipf_alpha=dict(start=0.5, end=1.3)), dict(teacher_temp=dict(start=0.04, end=0.07))):
            try:
                HOOKS.build(dict(type="ZipfSinkhornHook", **old))
            except TypeError as err:
                errors.append(str(err))
        print(json.dumps(dict(model=type(model).__name__, lite=type(lite).__name__,
                              loss=float(out["loss"]), hook=type(hook).__name__,
                              scalars=all(v.dim() == 0 for v in out.values()), errors=errors)))
    """)
    assert result["model"] == "DOSPointModel" and result["lite"] == "SpUNetLite"
    assert result["hook"] == "ZipfSinkhornHook" and result["loss"] > 0 and result["scalars"]
    # the hook schedules nothing: its old schedule arguments name the model key that took them
    assert len(result["errors"]) == 2
    assert "zipf_alpha: set model.zipf_alpha (a number or dict(" in result["errors"][0]
    assert "teacher_temp: set model.teacher_temp (a number or dict(" in result["errors"][1]


def test_config_registers_dos_in_parser_and_in_spawned_workers(tmp_path):
    """The parsing process registers through the config's own import; a fresh process that only
    unpickles the parsed config (as mp.spawn's workers do) registers through the model type."""
    config = REPO_ROOT / "configs" / "dos" / "scannet-pretrain.py"
    pickled = tmp_path / "cfg.pkl"
    parsed = run(f"""
        from pointcept.models.builder import MODELS
        from pointcept.utils.config import Config
        assert MODELS.get("DOS-v1m1") is None
        cfg = Config.fromfile({str(config)!r})
        with open({str(pickled)!r}, "wb") as f:
            pickle.dump(cfg, f)
        print(json.dumps(dict(type=str(cfg.model.type), registered=MODELS.get("DOS-v1m1") is not None,
                              dos_loaded="pointcept_dos.integration.registration" in sys.modules)))
    """)
    assert parsed == dict(type="DOS-v1m1", registered=True, dos_loaded=True)
    worker = run(f"""
        from pointcept.models.builder import MODELS, build_model
        from pointcept.engines.hooks.builder import HOOKS
        before = MODELS.get("DOS-v1m1") is not None or "pointcept_dos.integration.registration" in sys.modules
        with open({str(pickled)!r}, "rb") as f:
            cfg = pickle.load(f)
        model_cfg = cfg.model
        # a small encoder: the test is about registration, not about PTv3's size
        model_cfg.backbone.update(enc_depths=[1, 1, 1, 1, 1], enc_channels=[16, 16, 32, 32, 64],
                                  enc_num_head=[1, 1, 2, 2, 4], enc_patch_size=[64] * 5)
        model_cfg.head_in_channels = 128
        model = build_model(model_cfg)
        hooks = [HOOKS.build(h) for h in cfg.hooks if h["type"] == "ZipfSinkhornHook"]
        print(json.dumps(dict(before=before, model=type(model).__name__, hooks=len(hooks))))
    """)
    assert worker == dict(before=False, model="DOSPointModel", hooks=1)
