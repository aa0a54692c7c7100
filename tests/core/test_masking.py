import math

import pytest
import torch

from pointcept_dos import patch_visibility
from pointcept_dos.core.masking import patch_ids


def make_scenes(seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(3000, 3, generator=g) * torch.tensor([5.0, 4.0, 3.0])
    b = torch.rand(1200, 3, generator=g) * 2.0 + 10.0
    return torch.cat([a, b]), torch.tensor([3000, 4200])


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.7, 0.95])
def test_ratio_met_per_scene_within_one_patch(ratio):
    coord, offset = make_scenes()
    visible = patch_visibility(coord, offset, 0.4, ratio, torch.Generator().manual_seed(1))
    pid, _ = patch_ids(coord, offset, 0.4)
    for s, e in [(0, 3000), (3000, 4200)]:
        patches = pid[s:e].unique()
        hidden = len(patches) - len(pid[s:e][visible[s:e]].unique())
        assert abs(hidden - ratio * len(patches)) <= 1
        assert visible[s:e].any()


def test_every_patch_shares_one_state():
    coord, offset = make_scenes()
    visible = patch_visibility(coord, offset, 0.5, 0.6, torch.Generator().manual_seed(2))
    pid, _ = patch_ids(coord, offset, 0.5)
    for p in pid.unique():
        states = visible[pid == p]
        assert states.all() or not states.any()
    # a patch is a cube of the given side in metres: points in one patch are < 0.5 m apart per axis
    for p in pid.unique()[:50]:
        pts = coord[pid == p]
        assert ((pts.max(0).values - pts.min(0).values) < 0.5).all()


def test_deterministic_for_a_generator_and_varies_across_seeds():
    coord, offset = make_scenes()
    v1 = patch_visibility(coord, offset, 0.4, 0.7, torch.Generator().manual_seed(3))
    v2 = patch_visibility(coord, offset, 0.4, 0.7, torch.Generator().manual_seed(3))
    v3 = patch_visibility(coord, offset, 0.4, 0.7, torch.Generator().manual_seed(4))
    assert torch.equal(v1, v2)
    assert not torch.equal(v1, v3)


def test_single_patch_scene_stays_visible():
    coord = torch.rand(20, 3) * 0.1
    visible = patch_visibility(coord, torch.tensor([20]), 0.4, 0.9)
    assert visible.all()


def test_visible_fraction_of_points_near_ratio_for_uniform_scene():
    coord = torch.rand(50000, 3) * 8
    visible = patch_visibility(coord, torch.tensor([50000]), 0.4, 0.7, torch.Generator().manual_seed(0))
    assert float(visible.float().mean()) == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(patch_size=0.0), "patch_size"),
        (dict(patch_size=-1.0), "patch_size"),
        (dict(mask_ratio=1.0), "mask_ratio"),
        (dict(mask_ratio=-0.1), "mask_ratio"),
        (dict(mask_ratio=math.nan), "mask_ratio"),
        (dict(coord=torch.rand(10, 2)), "coord"),
        (dict(offset=torch.tensor([3])), "offset"),
    ],
)
def test_rejects_bad_arguments(kwargs, word):
    args = dict(coord=torch.rand(10, 3), offset=torch.tensor([10]), patch_size=0.4, mask_ratio=0.7)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=word):
        patch_visibility(**args)


def test_coordinates_not_in_metres_are_named():
    coord = torch.rand(10, 3) * 1e5  # millimetres, say
    with pytest.raises(ValueError, match="metres"):
        patch_visibility(coord, torch.tensor([10]), 0.4, 0.7)
