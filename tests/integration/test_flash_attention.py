"""A GPU machine without flash-attn: the launch stops and names the one option that turns flash
attention off (pointcept_dos.integration.flash_attention). The decision is a pure function,
checked here on every config of configs/dos without a GPU; with POINTCEPT_ROOT set, the launch
of tools/train.py is run with CUDA faked present and flash_attn absent."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pointcept_dos.integration.flash_attention import flash_attention_action, flash_attention_options
from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept
from test_configs import ALL_CONFIGS, load_config


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_ptv3_config_has_one_option_to_turn_flash_off(path):
    cfg, bases = load_config(path)
    if "model" not in cfg:  # Sonata's / Pointcept's model, unchanged (PT-v3m2, enable_flash=True)
        assert bases and ("sonata/" in bases[0] or "spunet" in bases[0]), bases
        return
    options = flash_attention_options(cfg)
    if cfg["model"]["backbone"]["type"] == "PT-v3m2":
        assert options == ["model.backbone.enable_flash"]
    else:
        assert options == []


def test_decision():
    ptv3 = dict(model=dict(type="DOS-v1m1", backbone=dict(type="PT-v3m2", enable_flash=True),
                           teacher_custom=dict(drop_path=0.0)))
    action, message = flash_attention_action(cuda_available=True, flash_importable=False, cfg=ptv3)
    assert action == "stop"
    assert "-- model.backbone.enable_flash=False" in message and "pip install flash-attn" in message
    # flash-attn present, or a CPU run (cpu_mode builds without flash): go on
    assert flash_attention_action(True, True, ptv3) == ("run", None)
    assert flash_attention_action(False, False, ptv3) == ("run", None)
    # turned off already, or no PT-v3 at all: nothing to stop for
    off = dict(model=dict(backbone=dict(type="PT-v3m2", enable_flash=False)))
    assert flash_attention_action(True, False, off) == ("run", None)
    spunet = dict(model=dict(type="DefaultSegmentor", backbone=dict(type="SpUNet-v1m1")))
    assert flash_attention_action(True, False, spunet) == ("run", None)
    # a PT-v3 left at Pointcept's default (True) counts, at any depth
    nested = dict(model=dict(type="X", models=[dict(backbone=dict(type="PT-v3m1"))]))
    assert flash_attention_options(nested) == ["model.models.0.backbone.enable_flash"]


LAUNCH = """
    import sys
    sys.path.insert(0, {tools!r})
    sys.modules["flash_attn"] = None  # `import flash_attn` raises ImportError, as without the package
    from _dos_entry import bootstrap, launch_from_command_line
    # this test machine needs CPU mode's patches to import Pointcept; the launch below still
    # takes the GPU path (--num-gpus 1), where the check runs
    bootstrap(["--num-gpus", "0"])
    import torch
    torch.cuda.is_available = lambda: True  # a GPU machine, as far as the check can tell
    sys.argv = ["train.py", "--config-file", "configs/dos/scannet-lin.py", "--num-gpus", "1",
                "--options", "save_path={save_path}"] + {extra!r}
    launch_from_command_line(lambda cfg: print("launched, enable_flash =", cfg.model.backbone.enable_flash), None)
"""


@requires_pointcept
@pytest.mark.parametrize("extra", [[], ["model.backbone.enable_flash=False"]], ids=["flash", "option-off"])
def test_launch_without_flash_attn(extra, tmp_path):
    script = textwrap.dedent(LAUNCH.format(tools=str(Path(REPO_ROOT) / "tools"), save_path=str(tmp_path), extra=extra))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env=pointcept_env(), cwd=str(REPO_ROOT))
    if extra:  # the printed option turns it off: the launch goes on to the worker
        assert out.returncode == 0, out.stderr[-3000:]
        assert "launched, enable_flash = False" in out.stdout
    else:
        assert out.returncode == 1 and "launched" not in out.stdout
        assert "flash-attn is not importable" in out.stderr
        assert "-- model.backbone.enable_flash=False" in out.stderr
