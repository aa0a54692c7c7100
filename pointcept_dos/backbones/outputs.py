"""Reading a backbone's output as per-point features.

Backbones disagree on what they return: SpUNet-v1m1 and ours return an [N, C] tensor at the
input points; PT-v3m2 in encoder mode returns its coarsest Point, whose `pooling_parent` chain
leads back to the input. Up-casting one level concatenates a level's features onto its
parent's points, as Sonata and Pointcept's DefaultSegmentorV2 do.
"""

import torch


def up_cast_once(point):
    """Point of level l+1 -> its parent Point of level l, features [M_l, C_l + C_{l+1}]."""
    parent = point.pop("pooling_parent")
    inverse = point.pop("pooling_inverse")
    parent.feat = torch.cat([parent.feat, point.feat[inverse]], dim=-1)
    return parent


def input_point_features(output):
    """Backbone output -> [N, C] features at the input points, every encoder level concatenated
    (the features of Pointcept's Sonata linear probe: 1232 channels for the base PT-v3m2;
    SpUNet-style backbones return their [N, C] output unchanged)."""
    if isinstance(output, torch.Tensor):
        return output
    point = output
    while "pooling_parent" in point.keys():
        point = up_cast_once(point)
    return point.feat


def probe_features(backbone, input_dict):
    """[N, C] features of a linear probe, Sonata's protocol: the backbone's levels brought back
    to the input points and concatenated. Backbones that define `probe_features` (ours) are
    asked for it; any other is run and its output read by `input_point_features`."""
    if hasattr(backbone, "probe_features"):
        return backbone.probe_features(input_dict)
    return input_point_features(backbone(input_dict))
