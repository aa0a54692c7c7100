"""Synthetic ScanNet-like indoor scenes for users without a dataset (the CPU demo, the tests,
the benchmarks): rooms, furniture and a scanner's sampling, in numpy, written in Pointcept's
ScanNet layout. Modules: `scenes` (generate_scene, write_scannet_layout), `room_layout`,
`furniture`, `primitives`."""

from .scenes import (
    ASSETS,
    ROOM_TYPES,
    generate_scene,
    scannet_layout_names,
    scannet_layout_scenes,
    write_scannet_layout,
)

__all__ = ["ASSETS", "ROOM_TYPES", "generate_scene", "scannet_layout_names", "scannet_layout_scenes",
           "write_scannet_layout"]
