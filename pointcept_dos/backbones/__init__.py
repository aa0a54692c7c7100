"""Backbones of pointcept-dos and a registry that falls back to Pointcept's models.

``build_backbone({"type": "DOS-SpUNet-lite", ...})`` builds our plain-PyTorch sparse
U-Net; any other type is built by Pointcept when it is importable (imported only then).
"""

from .outputs import input_point_features, probe_features, up_cast_once
from .registry import BACKBONES, build_backbone, register_backbone
from .sparse import SubMConv3d, VoxelLevel
from .spunet_lite import SpUNetLite

__all__ = [
    "BACKBONES",
    "SpUNetLite",
    "SubMConv3d",
    "VoxelLevel",
    "build_backbone",
    "input_point_features",
    "probe_features",
    "register_backbone",
    "up_cast_once",
]
