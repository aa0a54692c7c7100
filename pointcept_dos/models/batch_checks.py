"""Checks of a DOS-v1m1 batch where it enters the model.

A bad batch fails here with the key, the value and what was expected, instead of an opaque
error from inside the backbone or a silent loss of 0.0 (grid_size 0 or NaN voxelises every
point into one cell).
"""

import math
import numbers

import torch

VIEW_KEYS = ("global_coord", "global_origin_coord", "global_feat", "global_offset")


def _check_points(name, value, num_cols=None, num_rows=None):
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.dim() != 2:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"batch key {name!r} must be a 2-D float tensor, got {got}")
    if num_cols is not None and value.shape[1] != num_cols:
        raise ValueError(f"batch key {name!r} must be [N, {num_cols}], got {tuple(value.shape)}")
    if num_rows is not None and value.shape[0] != num_rows:
        raise ValueError(
            f"batch key {name!r} must have one row per point of global_coord ({num_rows}), "
            f"got {value.shape[0]}"
        )
    bad = ~torch.isfinite(value).all(dim=1)
    if bad.any():
        rows = bad.nonzero()[:, 0]
        raise ValueError(
            f"batch key {name!r} holds NaN or Inf in {len(rows)} of {value.shape[0]} points "
            f"(first at row {int(rows[0])}); drop or repair those points before the model"
        )


def _check_offset(offset, num_points):
    if not isinstance(offset, torch.Tensor) or offset.dim() != 1 or offset.is_floating_point():
        got = tuple(offset.shape) if isinstance(offset, torch.Tensor) else type(offset).__name__
        raise ValueError(f"batch key 'global_offset' must be a 1-D integer tensor, got {got}")
    offset = offset.long()
    if len(offset) == 0 or len(offset) % 2:
        raise ValueError(
            "batch key 'global_offset' must hold two views per scene (an even, non-zero count "
            f"of cumulative point counts), got {len(offset)}"
        )
    if offset[0] < 1 or (offset[1:] <= offset[:-1]).any():
        raise ValueError(
            "batch key 'global_offset' must be strictly increasing cumulative point counts "
            f"(every view has a point), got {offset.tolist()[:8]}"
        )
    if int(offset[-1]) != num_points:
        raise ValueError(
            f"batch key 'global_offset' must end at the number of points {num_points}, "
            f"got {int(offset[-1])}"
        )
    return offset


def _check_grid_size(grid_size):
    if grid_size is None:
        raise KeyError("DOS-v1m1 needs 'grid_size' in the batch (Update keys_dict grid_size)")
    if isinstance(grid_size, torch.Tensor):
        values = grid_size.reshape(-1).double()
        if not torch.isfinite(values).all() or (values <= 0).any():
            raise ValueError(
                f"batch key 'grid_size' must be a finite voxel size > 0 metres, got {values.tolist()[:8]}"
            )
        if values.numel() == 0 or (values != values[0]).any():
            raise ValueError(
                f"batch key 'grid_size' must hold one voxel size for the whole batch, got "
                f"{values.tolist()[:8]}"
            )
        grid_size = float(values[0])
    real = isinstance(grid_size, numbers.Real) and not isinstance(grid_size, bool)
    if not real or not math.isfinite(grid_size) or grid_size <= 0:
        raise ValueError(f"batch key 'grid_size' must be a finite voxel size > 0 metres, got {grid_size!r}")
    return float(grid_size)


def check_views(data_dict):
    """The batch's two-view arrays, checked -> dict(coord, origin_coord, feat, offset [S] int64,
    grid_size float metres)."""
    missing = [k for k in VIEW_KEYS if k not in data_dict]
    if missing:
        raise KeyError(
            f"DOS-v1m1 needs the keys {list(VIEW_KEYS)} (MultiViewGenerator with two "
            f"global views, then Collect with global_feat_keys); missing {missing}"
        )
    coord = data_dict["global_coord"]
    _check_points("global_coord", coord, num_cols=3)
    _check_points("global_origin_coord", data_dict["global_origin_coord"], 3, coord.shape[0])
    _check_points("global_feat", data_dict["global_feat"], num_rows=coord.shape[0])
    return dict(
        coord=coord,
        origin_coord=data_dict["global_origin_coord"],
        feat=data_dict["global_feat"],
        offset=_check_offset(data_dict["global_offset"], coord.shape[0]),
        grid_size=_check_grid_size(data_dict.get("grid_size", None)),
    )
