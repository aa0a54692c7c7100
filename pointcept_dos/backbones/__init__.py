"""Backbones of pointcept-dos and a registry that falls back to Pointcept's models.

``build_backbone({"type": "DOS-SpUNet-lite", ...})`` builds our plain-PyTorch sparse
U-Net; any other type is built by Pointcept when it is importable.
"""

from .registry import BACKBONES, build_backbone, register_backbone
from .sparse import SubMConv3d, VoxelLevel
from .spunet_lite import SpUNetLite

__all__ = [
    "BACKBONES",
    "build_backbone",
    "register_backbone",
    "SubMConv3d",
    "VoxelLevel",
    "SpUNetLite",
]
