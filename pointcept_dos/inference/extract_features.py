"""``extract_features``: per-point features of a DOS backbone for any point cloud.

Inputs are checked where they enter: every array real and finite, colours 0-255, coordinates
in metres and precise enough for the grid, a positive grid size, the grid the model was trained
at; each error names the argument, the value and what was expected. The cloud is centred in
float64 before the float32 cast, so a frame far from the origin (UTM) gives the features of the
same cloud near it.
"""

import math
import os

import numpy as np
import torch
import torch.nn as nn

from ..backbones import input_point_features, probe_features
from ..core.voxel_grid import grid_coord
from ..data.grid_sampling import grid_sample
from ..data.model_input import center_shift, model_input
from .load_backbone import load_dos_backbone

# voxels along one axis above which coordinates are taken for millimetres: 1 km at 0.02 m,
# 2.5 km at 0.05 m (outdoor sweeps span ~150 m), while a 4 m room in millimetres is 80,000
# voxels of 0.05 m
_MAX_VOXELS_PER_AXIS = 50_000
# coordinates must resolve a quarter of a voxel: coarser, the cloud sits on a lattice about the
# size of the voxels and points merge (float32 at 1e7 m resolves 1 m: 2000 points became 125)
_STEPS_PER_VOXEL = 4


def _finite_array(name, value, shape):
    value = np.asarray(value)
    if value.shape != shape:
        raise ValueError(f"{name} must be an array of shape {shape}, got shape {value.shape}")
    if not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        raise TypeError(f"{name} must be real numbers (an integer or float array), got dtype {value.dtype}")
    bad = ~np.isfinite(value).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} holds NaN or Inf in {int(bad.sum())} of {len(value)} points (first at row "
            f"{int(np.flatnonzero(bad)[0])}): expected finite values"
        )
    return value


def check_cloud(coord, color, normal, grid_size):
    """Validate one cloud for `extract_features`; returns (coord, color, normal, grid_size)."""
    coord = np.asarray(coord)
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"coord must be an [N, 3] array of metres, got shape {coord.shape}")
    if len(coord) == 0:
        raise ValueError("coord is empty: expected at least one point")
    coord = _finite_array("coord", coord, coord.shape)
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, float, np.number)) or not (
        math.isfinite(grid_size) and grid_size > 0
    ):
        raise ValueError(f"grid_size must be a positive number of metres, got {grid_size!r}")
    extent = float((coord.max(0).astype(np.float64) - coord.min(0)).max())
    if extent / grid_size > _MAX_VOXELS_PER_AXIS:
        raise ValueError(
            f"coord spans {extent:.6g} units along one axis, {extent / grid_size:.3g} voxels of "
            f"grid_size={grid_size} m: expected metres (millimetres? divide coord by 1000)"
        )
    _check_resolution(coord, grid_size)
    if color is not None:
        color = _finite_array("color", color, coord.shape)
        low, high = float(color.min()), float(color.max())
        if low < 0 or high > 255:
            raise ValueError(f"color must be RGB in 0..255, got values in [{low:g}, {high:g}]")
        # 0..1 colours, even with a stray value above 1: in 0..255 a median of 1 is black
        median = float(np.median(color)) if np.issubdtype(color.dtype, np.floating) else math.inf
        if high > 0 and median <= 1.0:
            raise ValueError(
                f"color must be RGB in 0..255, got a float array in [{low:g}, {high:g}] with "
                f"median {median:g}: looks like 0..1 colours; multiply them by 255 (a nearly "
                "black scene in 0..255: pass it as uint8)"
            )
    if normal is not None:
        normal = _finite_array("normal", normal, coord.shape)
    return coord, color, normal, float(grid_size)


def _check_resolution(coord, grid_size):
    """ValueError when coord's dtype cannot resolve a fraction of a voxel at its magnitude."""
    if np.issubdtype(coord.dtype, np.integer):
        step = 1.0
    else:
        step = float(np.spacing(np.abs(coord).max()))  # the dtype's step at the largest value
    if step * _STEPS_PER_VOXEL > grid_size:
        magnitude = float(np.abs(coord).max())
        raise ValueError(
            f"coord is {coord.dtype} with values up to {magnitude:.6g} m, where {coord.dtype} "
            f"resolves only {step:.3g} m: grid_size={grid_size} m needs {grid_size / _STEPS_PER_VOXEL:.3g} m, "
            "or points merge. Pass float64 coordinates (as read from the file), or subtract a "
            "nearby origin in float64 before casting"
        )


def _backbone_of(model_or_path):
    """-> (backbone module, grid size it was trained at or None, what it is, for messages)."""
    if isinstance(model_or_path, (str, os.PathLike)):
        backbone = load_dos_backbone(os.fspath(model_or_path))
        return backbone, backbone.dos_grid_size, f"checkpoint {os.fspath(model_or_path)!r}"
    if isinstance(model_or_path, nn.Module):
        if hasattr(model_or_path, "teacher") and "backbone" in getattr(model_or_path, "teacher"):
            # a DOS model: its teacher; the grid came with its training batches, it keeps none
            return model_or_path.teacher["backbone"], None, f"a {type(model_or_path).__name__} model"
        grid = getattr(model_or_path, "dos_grid_size", None)
        return model_or_path, grid, f"a {type(model_or_path).__name__} backbone"
    raise TypeError(
        f"model_or_path must be a checkpoint path, a DOS model or a backbone, "
        f"got {type(model_or_path).__name__}"
    )


@torch.no_grad()
def backbone_point_features(backbone, coord, feat, grid_size, probe=True):
    """Run ``backbone`` (its train / eval mode kept) on one cloud of grid-sampled points.

    coord [M, 3] metres (centred in float64 here), feat [M, Cin] numpy -> [M, C] float32
    tensor: every level of the backbone brought back to the points (`probe_features`), or with
    ``probe=False`` the backbone's own output at the points (what DOS's prototype head reads).
    The tensors go to the backbone's device (a GPU model during training: OnlineProbeHook)."""
    device = next(backbone.parameters()).device
    coord_t = torch.from_numpy(center_shift(coord))
    point = dict(
        coord=coord_t,
        feat=torch.from_numpy(np.ascontiguousarray(feat, np.float32)),
        offset=torch.tensor([len(coord)], dtype=torch.long),
        grid_size=float(grid_size),
        grid_coord=grid_coord(coord_t, grid_size),
    )
    point = {k: v.to(device) if torch.is_tensor(v) else v for k, v in point.items()}
    if probe:
        return probe_features(backbone, point).float()
    return input_point_features(backbone(point)).float()


def extract_features(model_or_path, coord, color=None, normal=None, grid_size=None):
    """[N, C] numpy float32 features, one row for every input point.

    Args:
        model_or_path: checkpoint path, a backbone from :func:`load_dos_backbone`, or a
            ``DOSv1m1`` model (its teacher backbone is used).
        coord: [N, 3] point coordinates in metres (any frame; z up as in ScanNet).
        color: [N, 3] RGB 0-255, or None (mid grey).
        normal: [N, 3] unit normals, or None (zeros).
        grid_size: voxel side (metres) of the grid sampling; None takes the pretraining grid
            the checkpoint records (`load_dos_backbone`'s ``dos_grid_size``). Required when
            none is recorded: for a ``DOSv1m1`` model, a backbone built by hand, a checkpoint
            without ``cfg["grid_size"]`` (Pointcept's). Use the pretraining value.
    Returns:
        C = the backbone's levels concatenated at the points, the features of Sonata's linear
        probe (PT-v3m2 base: 1232; DOS-SpUNet-lite: ``backbone.probe_channels``, 512 for the
        demo's; a backbone that answers at its input points otherwise: its output width).
    The cloud is grid-sampled (first point per voxel), run through the backbone in eval
    mode, and every input point receives the features of its voxel's point.
    """
    backbone, trained_grid, what = _backbone_of(model_or_path)
    if grid_size is None:
        if trained_grid is None:
            raise ValueError(
                f"grid_size is required: {what} records no pretraining grid; pass "
                "grid_size=<the grid it was pretrained at, in metres> (Pointcept's indoor "
                "configs 0.02, outdoor 0.05; the CPU demo 0.05)"
            )
        grid_size = trained_grid
    coord, color, normal, grid_size = check_cloud(coord, color, normal, grid_size)
    coord = center_shift(coord).astype(np.float64)  # float64 -> float32 after centring
    keep, inverse = grid_sample(coord, grid_size)
    feat = model_input(
        coord[keep],
        None if color is None else color[keep],
        None if normal is None else normal[keep],
    )
    in_channels = getattr(backbone, "in_channels", feat.shape[1])
    if in_channels != feat.shape[1]:
        raise ValueError(
            f"backbone expects {in_channels} input channels; extract_features builds "
            f"{feat.shape[1]} (coord + colour + normal)"
        )
    was_training = backbone.training
    backbone.eval()
    try:
        out = backbone_point_features(backbone, coord[keep], feat, grid_size)
    finally:
        backbone.train(was_training)
    return out.numpy()[inverse]
