"""Public features API: checkpoint round trip, one feature row per input point."""

import numpy as np
import pytest
import torch

from pointcept_dos.synthetic import generate_scene
from pointcept_dos.demo.pretrain import build_model, model_config
from pointcept_dos.inference import extract_features, load_dos_backbone
from pointcept_dos.io import read_checkpoint, write_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = model_config(num_prototypes=16)
    model = build_model(cfg, seed=0)
    with torch.no_grad():  # teacher != student, so loading the wrong branch is caught
        for p in model.teacher["backbone"].parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = str(tmp_path_factory.mktemp("ckpt") / "model_last.pth")
    write_checkpoint(path, model.state_dict(), cfg=dict(model=cfg, grid_size=0.05, in_channels=9))
    return path, model


@pytest.fixture(scope="module")
def scene():
    s = generate_scene(5)
    return {k: s[k][:6000] for k in ("coord", "color", "normal")}


def test_checkpoint_format(checkpoint):
    path, model = checkpoint
    ckpt = read_checkpoint(path)
    assert any(k.startswith("student.backbone.") for k in ckpt["state_dict"])
    assert set(ckpt["state_dict"]) == set(model.state_dict())
    assert ckpt["cfg"]["model"]["backbone"]["type"] == "DOS-SpUNet-lite"


def test_load_matches_teacher(checkpoint):
    path, model = checkpoint
    backbone = load_dos_backbone(path)
    assert not backbone.training and backbone.dos_grid_size == 0.05
    for k, v in model.teacher["backbone"].state_dict().items():
        assert torch.equal(backbone.state_dict()[k], v), k


def test_features_round_trip(checkpoint, scene):
    path, model = checkpoint
    n = len(scene["coord"])
    feat = extract_features(path, scene["coord"], scene["color"], scene["normal"])
    width = model.teacher["backbone"].probe_channels  # every level at the points: 512
    assert width == 512
    assert feat.shape == (n, width) and feat.dtype == np.float32 and np.isfinite(feat).all()
    again = extract_features(load_dos_backbone(path), scene["coord"], scene["color"], scene["normal"])
    np.testing.assert_array_equal(feat, again)
    from_model = extract_features(model, scene["coord"], scene["color"], scene["normal"],
                                  grid_size=0.05)
    np.testing.assert_allclose(from_model, feat, rtol=1e-4, atol=1e-5)
    # the checkpoint's recorded 0.05 m grid is the one used; the 0.02 m one gives other features
    at_002 = extract_features(path, scene["coord"], scene["color"], scene["normal"], grid_size=0.02)
    assert np.abs(at_002 - feat).max() > 0.1 * (feat.max() - feat.min())
    # points sharing a voxel share features; colour and normals are optional
    bare = extract_features(path, scene["coord"])
    assert bare.shape == (n, width)


def test_clear_errors(checkpoint, tmp_path):
    path, _ = checkpoint
    coord = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        extract_features(path, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="color"):
        extract_features(path, coord, color=np.zeros((9, 3)))
    with pytest.raises(ValueError, match="empty"):
        extract_features(path, np.zeros((0, 3)))
    with pytest.raises(FileNotFoundError):
        load_dos_backbone(str(tmp_path / "missing.pth"))
    bare = tmp_path / "nocfg.pth"
    torch.save(dict(state_dict=read_checkpoint(path)["state_dict"]), bare)
    with pytest.raises(ValueError, match="backbone_cfg"):
        load_dos_backbone(str(bare))
    backbone = load_dos_backbone(str(bare), backbone_cfg=model_config()["backbone"])
    assert backbone.dos_grid_size is None  # not recorded: extract_features asks for it
    with pytest.raises(ValueError, match=r"grid_size is required: a SpUNetLite backbone records no pretraining grid"):
        extract_features(backbone, np.random.default_rng(0).uniform(0, 2, (50, 3)))


def test_a_dos_model_needs_the_grid_it_was_trained_at(checkpoint, scene):
    # the issue: extract_features(dos_model, ...) took 0.02 m for a model trained at 0.05 m,
    # features off by up to 99% of their range; the model keeps no grid, so one must be given
    _, model = checkpoint
    with pytest.raises(ValueError, match=r"grid_size is required: a DOSv1m1 model records no pretraining "
                                         r"grid; pass grid_size=<the grid it was pretrained at, in metres>"):
        extract_features(model, scene["coord"], scene["color"], scene["normal"])
