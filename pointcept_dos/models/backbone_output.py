"""Reading a backbone's output at the points where DOS computes its loss.

Backbones disagree on what they return: SpUNet-v1m1 and ours return an [N, C] tensor at the
input points; PT-v3m2 in encoder mode returns its coarsest Point, whose `pooling_parent` chain
leads back to the input. DOS, like Sonata, up-casts PTv3's encoder `up_cast_level` levels by
concatenating each level's features onto its parent's, and computes its loss on the points of
that level (stride 4 = 0.08 m for 0.02 m input voxels with the default 2).
"""

import torch


def _up_cast_once(point):
    parent = point.pop("pooling_parent")
    inverse = point.pop("pooling_inverse")
    parent.feat = torch.cat([parent.feat, point.feat[inverse]], dim=-1)
    return parent


def loss_points(output, backbone_input, up_cast_level):
    """-> dict(feat [M, C], origin_coord [M, 3] metres, offset [S]) of the loss resolution.

    `backbone_input` holds the input's `origin_coord` and `offset`, used when the backbone
    answers at input resolution (a tensor, or a Point without a pooling chain)."""
    if isinstance(output, torch.Tensor):
        return dict(
            feat=output,
            origin_coord=backbone_input["origin_coord"],
            offset=backbone_input["offset"],
        )
    point = output
    for _ in range(up_cast_level):
        if "pooling_parent" not in point.keys():
            break
        point = _up_cast_once(point)
    if "pooling_parent" not in point.keys():
        # back at the input resolution: the input's bookkeeping applies
        return dict(
            feat=point.feat,
            origin_coord=backbone_input["origin_coord"],
            offset=backbone_input["offset"],
        )
    return dict(feat=point.feat, origin_coord=point.origin_coord, offset=point.offset)


def input_features(output):
    """-> [N, C] features at the input points, every encoder level concatenated (as
    Pointcept's DefaultSegmentorV2 does for a PT-v3m2 encoder: 1232 channels by default)."""
    if isinstance(output, torch.Tensor):
        return output
    point = output
    while "pooling_parent" in point.keys():
        point = _up_cast_once(point)
    return point.feat
