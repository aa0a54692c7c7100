"""The points where DOS computes its loss, read off a backbone's output.

DOS, like Sonata, up-casts PTv3's encoder `up_cast_level` levels by
concatenating each level's features onto its parent's, and computes its loss on the points of
that level (stride 4 = 0.08 m for 0.02 m input voxels with the default 2). Backbones that
answer at input resolution are average-pooled onto voxels `pool_stride` times the input grid
for the loss, which keeps the two families at one loss resolution (and bounds the Sinkhorn).
"""

import torch

from ..backbones.outputs import up_cast_once
from ..backbones.sparse import VoxelLevel
from ..core.segments import batch_to_offset, offset_to_batch


def _pool(feat, backbone_input, stride):
    """Mean of features and original coordinates over voxels of `stride` input voxels."""
    batch = offset_to_batch(backbone_input["offset"])
    cells = torch.div(backbone_input["grid_coord"].long(), stride, rounding_mode="floor")
    # voxels keyed (segment, cell) as one int64, sorted segment first, so pooled segments stay
    # contiguous (torch.unique over [N, 4] rows is far slower on CPU: bench/README.md, "Loss
    # pooling"); the shift makes cells >= 0 without changing which points share a voxel
    if len(cells):
        cells = cells - cells.min(0).values
    voxels, inverse = VoxelLevel.from_coords(batch, cells)
    counts = torch.bincount(inverse, minlength=len(voxels)).clamp_min(1)[:, None]

    def mean(values):
        out = values.new_zeros(len(voxels), values.shape[1]).index_add_(0, inverse, values)
        return out / counts.to(values.dtype)

    return dict(
        feat=mean(feat),
        origin_coord=mean(backbone_input["origin_coord"].float()),
        offset=batch_to_offset(voxels.batch, len(backbone_input["offset"])),
    )


def loss_points(output, backbone_input, up_cast_level, pool_stride=1):
    """-> dict(feat [M, C], origin_coord [M, 3] metres, offset [S]) at the loss resolution.

    `backbone_input` holds the input's `origin_coord`, `grid_coord` and `offset`, used when
    the backbone answers at input resolution (a tensor, or a Point without a pooling chain);
    such features are pooled by `pool_stride` (1 keeps them as they are)."""
    point = output
    if not isinstance(output, torch.Tensor):
        for _ in range(up_cast_level):
            if "pooling_parent" not in point.keys():
                break
            point = up_cast_once(point)
        if "pooling_parent" in point.keys():
            return dict(feat=point.feat, origin_coord=point.origin_coord, offset=point.offset)
        point = point.feat
    if pool_stride > 1:
        return _pool(point, backbone_input, pool_stride)
    return dict(
        feat=point,
        origin_coord=backbone_input["origin_coord"],
        offset=backbone_input["offset"],
    )

