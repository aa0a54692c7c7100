"""DOS models: plain PyTorch, built by registry name with or without Pointcept."""

from .dos_v1m1 import DOSv1m1

__all__ = ["DOSv1m1"]
