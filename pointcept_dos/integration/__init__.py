"""The thin layer that registers DOS into Pointcept's registries.

Imported by `pointcept_dos` only when Pointcept is importable; everything here may import
Pointcept at module level. Registered names (dashes or CamelCase, none taken by Pointcept):
MODELS "DOS-v1m1" and "DOS-SpUNet-lite", LOSSES "SoftmapDistillationLoss",
HOOKS "ZipfSinkhornHook".
"""

from .hooks import ZipfSinkhornHook
from .model import DOSPointModel

__all__ = ["DOSPointModel", "ZipfSinkhornHook"]
