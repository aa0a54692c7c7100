"""The demo's linear probe: the raw-input baseline and the probe protocol (every backbone
level at the points), on tiny scenes."""

import numpy as np

from pointcept_dos.evaluation.linear_probe import linear_probe
from pointcept_dos.demo.pretrain import build_model, model_config


def _coloured_scene(seed, n=3000):
    """Points whose colour says the class (0: red wall, 1: green floor, 4: blue chair)."""
    rng = np.random.default_rng(seed)
    label = rng.choice([0, 1, 4], size=n)
    palette = {0: (200, 30, 30), 1: (30, 200, 30), 4: (30, 30, 200)}
    color = np.array([palette[c] for c in label], np.float64) + rng.normal(0, 10, (n, 3))
    return dict(coord=rng.uniform(0, 3, (n, 3)).astype(np.float32),
                color=np.clip(color, 0, 255).astype(np.uint8),
                normal=np.tile(np.float32([0, 0, 1]), (n, 1)),
                label=label.astype(np.int16))


def test_raw_input_probe_reads_the_input_channels():
    train, val = [_coloured_scene(0), _coloured_scene(1)], [_coloured_scene(2)]
    result = linear_probe(None, train, val, grid_size=0.05, iters=50)
    assert result["feature_dim"] == 9
    assert result["miou"] > 0.95  # colour alone separates the classes, linearly
    assert set(k for k, v in result["iou"].items() if v is not None) == {"wall", "floor", "chair"}


def test_backbone_probe_uses_every_level():
    train, val = [_coloured_scene(0)], [_coloured_scene(2)]
    backbone = build_model(model_config(num_prototypes=8)).teacher["backbone"]
    result = linear_probe(backbone, train, val, grid_size=0.1, iters=20)
    assert result["feature_dim"] == backbone.probe_channels == 512
    assert 0.0 <= result["miou"] <= 1.0


def test_a_probe_leaves_the_backbone_and_every_random_stream_as_they_were():
    """What lets OnlineProbeHook run inside a pretraining run without changing it."""
    import torch

    backbone = build_model(model_config(num_prototypes=8)).teacher["backbone"].train()
    state = {k: v.clone() for k, v in backbone.state_dict().items()}
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = linear_probe(backbone, [_coloured_scene(0)], [_coloured_scene(2)], grid_size=0.1, iters=10, seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    assert backbone.training and all(torch.equal(v, backbone.state_dict()[k]) for k, v in state.items())
    # and the probe itself is reproducible, whatever the caller's stream
    torch.manual_seed(999)
    again = linear_probe(backbone, [_coloured_scene(0)], [_coloured_scene(2)], grid_size=0.1, iters=10, seed=3)
    assert again["miou"] == first["miou"] and again["confusion"] == first["confusion"]
