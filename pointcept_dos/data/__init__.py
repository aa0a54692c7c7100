"""Point cloud data in numpy: synthetic ScanNet-like indoor scenes, grid sampling, and the
backbone input channels."""

from .grid_sampling import grid_sample
from .model_input import IN_CHANNELS, center_shift, model_input
from .scannet_taxonomy import CATEGORIES, CLASS_NAMES, IGNORE_INDEX
from .synthetic_scenes import (
    ROOM_TYPES,
    class_histogram,
    format_class_table,
    generate_scene,
    write_scannet_layout,
)

__all__ = [
    "IN_CHANNELS",
    "CATEGORIES",
    "CLASS_NAMES",
    "IGNORE_INDEX",
    "ROOM_TYPES",
    "center_shift",
    "class_histogram",
    "format_class_table",
    "generate_scene",
    "grid_sample",
    "model_input",
    "write_scannet_layout",
]
