"""Data utilities: synthetic ScanNet-like indoor scenes (numpy only)."""

from .scannet_taxonomy import CATEGORIES, CLASS_NAMES, IGNORE_INDEX
from .synthetic_scenes import (
    ROOM_TYPES,
    class_histogram,
    format_class_table,
    generate_scene,
    write_scannet_layout,
)

__all__ = [
    "CATEGORIES",
    "CLASS_NAMES",
    "IGNORE_INDEX",
    "ROOM_TYPES",
    "class_histogram",
    "format_class_table",
    "generate_scene",
    "write_scannet_layout",
]
