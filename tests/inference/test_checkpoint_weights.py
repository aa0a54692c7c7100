"""load_dos_backbone checks a checkpoint before building from it: a config that does not describe
the stored tensors, tensors without their data, NaN weights and negative BatchNorm variances are
refused, naming the file and the tensor, and nothing large is allocated on the way."""

import json
import os
import subprocess
import sys

import pytest
import torch

from pointcept_dos.backbones import build_backbone
from pointcept_dos.inference import load_dos_backbone
from pointcept_dos.inference.weight_checks import backbone_shapes
from pointcept_dos.io import write_checkpoint
from pointcept_env import REPO_ROOT, requires_pointcept, run_cpu_mode_python

SMALL = dict(type="DOS-SpUNet-lite", in_channels=9, channels=(8, 16), enc_depths=(1, 1), dec_depths=(1,))
# the config: 6.5e9 values, 26 GB of float32, for a file of a few KB
HUGE = dict(SMALL, channels=(4096,) * 4, enc_depths=(1,) * 4, dec_depths=(1,) * 3)


def _checkpoint(path, state, backbone_cfg):
    write_checkpoint(path, {f"teacher.backbone.{k}": v for k, v in state.items()},
                     cfg=dict(model=dict(backbone=backbone_cfg), grid_size=0.05, in_channels=9))
    return str(path)


@pytest.fixture(scope="module")
def small_state():
    torch.manual_seed(0)
    return build_backbone(SMALL).state_dict()


LOAD_UNDER_A_MEMORY_CAP = """
import json, resource, sys
import torch
from pointcept_dos.inference import load_dos_backbone
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
cap = size + (1 << 30)  # what the process holds now and 1 GB: the huge backbone needs 26 GB
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    load_dos_backbone(sys.argv[1])
    print(json.dumps("loaded"))
except Exception as err:
    print(json.dumps(f"{type(err).__name__}: {err}"))
"""


@pytest.mark.parametrize("stored", ["empty", "small"])
def test_a_small_file_with_a_huge_config_is_refused_without_allocating(tmp_path, small_state, stored):
    state = {} if stored == "empty" else small_state
    path = _checkpoint(tmp_path / "model_last.pth", state, HUGE)
    assert os.path.getsize(path) < 200_000  # 26 GB asked by a file of at most 0.2 MB
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    run = subprocess.run([sys.executable, "-c", LOAD_UNDER_A_MEMORY_CAP, path], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    message = json.loads(run.stdout.strip().splitlines()[-1])
    if stored == "empty":
        assert message.startswith("KeyError: 'no teacher.backbone.* / student.backbone.* / backbone.* keys")
    else:
        assert message.startswith(f"ValueError: checkpoint {path!r}: its backbone weights do not match its "
                                  "config (nothing was built)"), message
        assert "'stem.conv.weight' is stored as [27, 9, 8], the config builds [27, 9, 4096]" in message


def test_a_config_of_other_shapes_is_named(tmp_path, small_state):
    path = _checkpoint(tmp_path / "m.pth", small_state, dict(SMALL, channels=(8, 32)))
    with pytest.raises(ValueError, match=r"do not match its config \(nothing was built\): missing \[\] \(0\), "
                                         r"unexpected \[\] \(0\), 16 of other shape: 'down\.0\.0\.weight' is stored as "
                                         r"\[16, 8\], the config builds \[32, 8\]"):
        load_dos_backbone(path)
    path = _checkpoint(tmp_path / "n.pth", small_state, dict(SMALL, enc_depths=(1, 2)))
    with pytest.raises(ValueError, match=r"missing \['enc\.1\.1\..*\] \(\d+\), unexpected \[\] \(0\)"):
        load_dos_backbone(path)


def test_tensors_without_their_data_are_refused(tmp_path, small_state):
    # a stride-0 view: the file holds one value, the shape claims 27 x 16 x 16
    state = dict(small_state)
    key = next(k for k, v in state.items() if v.dim() == 3 and v.shape[-1] == 16)
    state[key] = torch.zeros(1).expand(*state[key].shape)
    path = _checkpoint(tmp_path / "views.pth", state, SMALL)
    with pytest.raises(ValueError, match=rf"backbone tensor '{key}' has shape \[27, \d+, 16\] but only 4 bytes "
                                         r"of data: expected a tensor saved with its values"):
        load_dos_backbone(path)


@pytest.mark.parametrize("damage, words", [
    ("nan running_var", r"'(.*)running_var' holds 1 NaN or Inf of \d+ values: expected finite weights"),
    ("negative running_var", r"'(.*)running_var' \(a BatchNorm running variance\) holds 2 negative values "
                             r"\(min -0\.5\): expected variances >= 0"),
    ("inf weight", r"'stem\.conv\.weight' holds 1 NaN or Inf of \d+ values"),
])
def test_unusable_weights_are_refused_naming_the_tensor(tmp_path, small_state, damage, words):
    # the issue: NaN or negative running_var gave 100% NaN features and no error
    state = {k: v.clone() for k, v in small_state.items()}
    var_key = next(k for k in state if k.endswith("running_var"))
    if damage == "nan running_var":
        state[var_key][3] = torch.nan
    elif damage == "negative running_var":
        state[var_key][:2] = -0.5
    else:
        state["stem.conv.weight"][0, 0, 0] = torch.inf
    path = _checkpoint(tmp_path / "damaged.pth", state, SMALL)
    with pytest.raises(ValueError, match=rf"checkpoint '{path}': backbone tensor " + words) as info:
        load_dos_backbone(path)
    if damage != "inf weight":
        assert var_key in str(info.value)
    _checkpoint(tmp_path / "fine.pth", small_state, SMALL)
    assert load_dos_backbone(tmp_path / "fine.pth").dos_grid_size == 0.05


@requires_pointcept
def test_pointcepts_backbones_are_checked_without_building_them():
    """Pointcept's backbones build on the meta device with the state-dict shapes of a real build,
    so their checkpoints get the shape check (PT-v3m2 reads its drop-path rates back with .item())."""
    result = run_cpu_mode_python("""
        from pointcept_dos.backbones import build_backbone
        from pointcept_dos.inference.weight_checks import backbone_shapes
        same = {}
        for cfg in (dict(type="PT-v3m2", in_channels=6, enc_mode=True),
                    dict(type="SpUNet-v1m1", in_channels=6, num_classes=0)):
            shapes = backbone_shapes(cfg)
            real = {k: tuple(v.shape) for k, v in build_backbone(cfg).state_dict().items()}
            same[cfg["type"]] = shapes == real and len(real) > 50
        print(json.dumps(same))
    """)
    assert result == {"PT-v3m2": True, "SpUNet-v1m1": True}


def test_a_config_that_cannot_build_fails_as_the_real_build_does():
    assert backbone_shapes(dict(type="DOS-SpUNet-lite", in_channels=9, no_such_option=1)) is None
    with pytest.raises(TypeError, match="no_such_option"):
        build_backbone(dict(type="DOS-SpUNet-lite", in_channels=9, no_such_option=1))
