"""Synthetic ScanNet-like indoor scenes for users without a dataset (the CPU demo, the tests,
the benchmarks): rooms, furniture and a scanner's sampling, in numpy, written in Pointcept's
ScanNet layout. Modules: `scenes` (generate_scene, write_scannet_layout), `room_layout`,
`furniture`, `primitives`."""

from .scenes import ROOM_TYPES, generate_scene, write_scannet_layout

__all__ = ["ROOM_TYPES", "generate_scene", "write_scannet_layout"]
