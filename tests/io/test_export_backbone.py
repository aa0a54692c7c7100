import os
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


def _full_checkpoint(path):
    model = tiny_model()
    torch.save(dict(state_dict=model.state_dict(), optimizer={"lr": 0.1}, epoch=3), path)
    return path


@pytest.mark.parametrize("how", ["same path", "relative path", "symlink", "hard link"])
def test_export_refuses_to_replace_its_input(tmp_path, how):
    # the issue: `export_backbone.py same.pth -o same.pth` replaced the full checkpoint
    ckpt = _full_checkpoint(tmp_path / "same.pth")
    before = ckpt.read_bytes()
    source, output, cwd = str(ckpt), str(ckpt), None
    if how == "relative path":
        source, output, cwd = "same.pth", "./same.pth", tmp_path
    elif how == "symlink":
        output = str(tmp_path / "link.pth")
        os.symlink(ckpt, output)
    elif how == "hard link":
        output = str(tmp_path / "hard.pth")
        os.link(ckpt, output)
    run = subprocess.run([sys.executable, str(TOOL), source, "-o", output], capture_output=True,
                         text=True, cwd=cwd)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (f"error: -o {output!r} is the input checkpoint {source!r}: the export would replace the "
            "full checkpoint") in run.stderr
    assert ckpt.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == sorted({"same.pth", os.path.basename(output)})


def test_export_checks_the_output_before_reading_the_checkpoint(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    missing = str(tmp_path / "missing.pth")  # never read: the output is refused first
    for output, words in [(str(folder), f"-o {str(folder)!r} is a folder: expected the path of the "
                                        f"backbone file to write, e.g. {str(folder / 'backbone.pth')!r}"),
                          (str(blocker / "b.pth"), f"-o {str(blocker / 'b.pth')!r}: {str(blocker)!r} is a "
                                                   "file, so no folder can be made there")]:
        run = subprocess.run([sys.executable, str(TOOL), missing, "-o", output], capture_output=True, text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert words in run.stderr and "no checkpoint at" not in run.stderr
    assert os.listdir(folder) == [] and blocker.read_text() == "a file"


def test_export_makes_a_missing_output_folder(tmp_path):
    ckpt = _full_checkpoint(tmp_path / "model_last.pth")
    out = tmp_path / "new" / "deeper" / "backbone.pth"
    run = subprocess.run([sys.executable, str(TOOL), str(ckpt), "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert set(read_checkpoint(out)["state_dict"]) == set(tiny_model().student.backbone.state_dict())
