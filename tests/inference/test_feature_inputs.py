"""Feature API inputs: NaN / Inf, colours outside 0..255 (0..1 floats get a hint), millimetre
coordinates and bad grid sizes are named; a frame 1e6 m from the origin gives the features of
the same cloud at the origin."""

import math

import numpy as np
import pytest
import torch

from pointcept_dos.backbones import build_backbone
from pointcept_dos.data import IN_CHANNELS
from pointcept_dos.inference import extract_features



@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return build_backbone(dict(type="DOS-SpUNet-lite", in_channels=IN_CHANNELS, channels=(8, 16),
                               enc_depths=(1, 1), dec_depths=(1,))).eval()


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(0)
    coord = rng.uniform(0, 4, (3000, 3))
    color = rng.uniform(0, 255, (3000, 3)).astype(np.float32)
    normal = rng.normal(size=(3000, 3)).astype(np.float32)
    return coord, color, normal / np.linalg.norm(normal, axis=1, keepdims=True)


def _bad(value, row, v):
    """A float64 copy of `value` with `v` at [row, 1]."""
    value = np.array(value, dtype=np.float64)
    value[row, 1] = v
    return value


@pytest.mark.parametrize("case, words", [
    ("coord nan", r"coord holds NaN or Inf in 1 of 3000 points \(first at row 7\)"),
    ("coord inf", r"coord holds NaN or Inf"),
    ("color nan", r"color holds NaN or Inf in 1 of 3000 points"),
    ("normal nan", r"normal holds NaN or Inf"),
    ("normal -inf", r"normal holds NaN or Inf"),
    ("color 300", r"color must be RGB in 0..255, got values in \[.*, 300\]"),
    ("color -1", r"color must be RGB in 0..255, got values in \[-1,"),
    ("color 16 bit", r"color must be RGB in 0..255"),
    ("color 0..1", r"looks like 0..1 colours; multiply them by 255"),
    ("millimetres", r"coord spans .* expected metres \(millimetres\? divide coord by 1000\)"),
    ("grid 0", r"grid_size must be a positive number of metres, got 0"),
    ("grid -0.02", r"grid_size must be a positive number of metres, got -0.02"),
    ("grid nan", r"grid_size must be a positive number of metres, got nan"),
    ("grid inf", r"grid_size must be a positive number of metres, got inf"),
    ("grid text", r"grid_size must be a positive number of metres, got '0.02'"),
])
def test_feature_inputs_are_checked_where_they_enter(backbone, cloud, case, words):
    coord, color, normal = cloud
    grid = 0.05
    if case == "coord nan":
        coord = _bad(coord, 7, np.nan)
    elif case == "coord inf":
        coord = _bad(coord, 0, np.inf)
    elif case == "color nan":
        color = _bad(color, 5, np.nan)
    elif case == "normal nan":
        normal = _bad(normal, 9, np.nan)
    elif case == "normal -inf":
        normal = _bad(normal, 9, -np.inf)
    elif case == "color 300":
        color = _bad(color, 3, 300.0)
    elif case == "color -1":
        color = _bad(color, 3, -1.0)
    elif case == "color 16 bit":
        color = (color * 257).astype(np.uint16)
    elif case == "color 0..1":
        color = color / 255.0
    elif case == "millimetres":
        coord = coord * 1000.0
    else:
        grid = {"grid 0": 0, "grid -0.02": -0.02, "grid nan": float("nan"), "grid inf": math.inf,
                "grid text": "0.02"}[case]
    with pytest.raises(ValueError, match=words):
        extract_features(backbone, coord, color, normal, grid_size=grid)


def test_valid_colour_encodings_give_the_same_features(backbone, cloud):
    coord, color, normal = cloud
    as_float = extract_features(backbone, coord, np.round(color), normal, grid_size=0.05)
    as_uint8 = extract_features(backbone, coord, np.round(color).astype(np.uint8), normal, grid_size=0.05)
    np.testing.assert_array_equal(as_float, as_uint8)


def test_a_frame_1e6_m_away_gives_the_same_features(backbone, cloud):
    coord, color, normal = cloud
    near = extract_features(backbone, coord, color, normal, grid_size=0.05)
    far = coord + np.array([1e6, -1e6, 1e6])  # float64, as UTM coordinates come
    np.testing.assert_allclose(extract_features(backbone, far, color, normal, grid_size=0.05), near,
                               atol=1e-4, rtol=0)
    # control: cast to float32 before centring, the same frame loses its centimetres
    lossy = extract_features(backbone, far.astype(np.float32), color, normal, grid_size=0.05)
    assert np.abs(lossy - near).max() > 1e-2


