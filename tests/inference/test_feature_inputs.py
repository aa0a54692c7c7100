"""Feature API inputs: NaN / Inf, complex arrays, colours outside 0..255 (0..1 floats get a hint),
millimetre coordinates, coordinates too coarse for the grid (float32 at UTM scale) and bad or
missing grid sizes are named; a float64 frame 1e6 or 1e7 m from the origin gives the features of
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
    utm = coord + np.array([5e5, 1e7, 0.0])  # easting, northing at the equator's far side
    np.testing.assert_allclose(extract_features(backbone, utm, color, normal, grid_size=0.05), near,
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype, offset, grid, resolves", [
    (np.float32, 1e7, 0.02, "1 m"),        # the issue: 2000 points became 125 distinct ones
    (np.float32, 1e6, 0.05, "0.0625 m"),
    (np.float32, 1e5, 0.02, "0.00781 m"),  # 2.6 steps per voxel: 27% of the points move
    (np.float16, 100.0, 0.05, "0.0625 m"),
    (np.int64, 0.0, 0.02, "1 m"),          # whole metres
])
def test_coordinates_too_coarse_for_the_grid_are_refused(backbone, cloud, dtype, offset, grid, resolves):
    coord, color, normal = cloud
    coarse = (coord + offset).astype(dtype)
    moved = (np.floor((coarse.astype(np.float64) - offset) / grid) != np.floor(coord / grid)).any(1)
    assert moved.mean() > 0.25  # a quarter of the points or more land in another voxel
    words = rf"coord is {np.dtype(dtype)} with values up to .* m, where {np.dtype(dtype)} resolves only {resolves}: grid_size={grid} m needs"
    with pytest.raises(ValueError, match=words + r".*Pass float64 coordinates"):
        extract_features(backbone, coarse, color, normal, grid_size=grid)


@pytest.mark.parametrize("dtype, offset, grid", [
    (np.float32, 1e4, 0.02),   # a local frame: 1 mm steps, 20 per voxel; 4% of the points move
    (np.float32, 1e5, 0.05),   # 7.8 mm steps, 6.4 per voxel; 12% move, by less than sensor noise
    (np.float16, 0.0, 0.05),   # a 4 m room in float16: 3.9 mm steps; 2% move
])
def test_coordinates_fine_enough_for_the_grid_are_taken(backbone, cloud, dtype, offset, grid):
    coord, color, normal = cloud
    feat = extract_features(backbone, (coord + offset).astype(dtype), color, normal, grid_size=grid)
    assert feat.shape[0] == len(coord) and np.isfinite(feat).all()


@pytest.mark.parametrize("name", ["coord", "color", "normal"])
def test_complex_arrays_are_refused(backbone, cloud, name):
    # the issue: complex input went through with a ComplexWarning, its imaginary part dropped
    arrays = dict(zip(("coord", "color", "normal"), cloud))
    arrays[name] = arrays[name].astype(np.complex128)
    with pytest.raises(TypeError, match=rf"{name} must be real numbers \(an integer or float array\), got dtype complex128"):
        extract_features(backbone, arrays["coord"], arrays["color"], arrays["normal"], grid_size=0.05)


def test_unit_colours_with_a_stray_value_above_one_are_refused(backbone, cloud):
    coord, color, normal = cloud
    unit = color / 255.0
    unit[10, 0] = 2.0  # the issue: one value of 2.0 let 0..1 colours through as near-black 0..255
    with pytest.raises(ValueError, match=r"got a float array in \[.*, 2\] with median 0.\d+: looks like 0..1 "
                                         r"colours; multiply them by 255"):
        extract_features(backbone, coord, unit, normal, grid_size=0.05)
    dark = np.full_like(color, 1.0)
    dark[:5] = 200.0  # a nearly black scene in 0..255 goes through as uint8
    extract_features(backbone, coord, dark.astype(np.uint8), normal, grid_size=0.05)


def test_a_backbone_that_records_no_grid_needs_grid_size(backbone, cloud):
    coord, color, normal = cloud
    with pytest.raises(ValueError, match=r"grid_size is required: a SpUNetLite backbone records no "
                                         r"pretraining grid; pass grid_size="):
        extract_features(backbone, coord, color, normal)


