import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dos_batches import tiny_model
from pointcept_dos.backbones import build_backbone
from pointcept_dos.io.checkpoints import backbone_state_dict, read_checkpoint

TOOL = Path(__file__).resolve().parents[2] / "tools" / "export_backbone.py"


def test_export_round_trip(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(1.0)  # make teacher and student differ
    ckpt = tmp_path / "model_last.pth"
    state = {f"module.{k}": v for k, v in model.state_dict().items()}  # as saved under DDP
    torch.save(dict(state_dict=state, epoch=3), ckpt)
    out = tmp_path / "backbone.pth"
    run = subprocess.run([sys.executable, str(TOOL), str(ckpt), "-o", str(out), "--branch", "teacher"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Exported teacher.backbone" in run.stdout
    exported = read_checkpoint(out)
    assert exported["epoch"] == 3 and exported["branch"] == "teacher"
    fresh = build_backbone(dict(type="DOS-SpUNet-lite", in_channels=6, channels=(8, 16), enc_depths=(1, 1), dec_depths=(1,)))
    fresh.load_state_dict(exported["state_dict"])  # strict: keys match the module exactly
    for k, v in model.teacher.backbone.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)


def test_backbone_state_dict_errors():
    with pytest.raises(ValueError, match="branch"):
        backbone_state_dict({"student.backbone.w": torch.zeros(1)}, "ema")
    with pytest.raises(KeyError, match="seg_head"):
        backbone_state_dict({"seg_head.weight": torch.zeros(1)})
