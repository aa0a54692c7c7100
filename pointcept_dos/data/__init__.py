"""Point cloud data in numpy: grid sampling, the backbone input channels, ScanNet's label
taxonomy, LiDAR sweeps. The synthetic scenes are their own layer (`pointcept_dos.synthetic`)."""

from .grid_sampling import grid_sample
from .model_input import IN_CHANNELS, center_shift, model_input
from .scannet_taxonomy import CATEGORIES, CLASS_NAMES, IGNORE_INDEX, class_histogram

__all__ = [
    "IN_CHANNELS",
    "CATEGORIES",
    "CLASS_NAMES",
    "IGNORE_INDEX",
    "center_shift",
    "class_histogram",
    "grid_sample",
    "model_input",
]
