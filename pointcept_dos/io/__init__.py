"""Files: checkpoints (one reader, one writer) and atomic writes. Depends on torch only."""

from .atomic import atomic_write
from .checkpoints import (
    BRANCHES,
    backbone_state_dict,
    read_checkpoint,
    strip_module,
    write_checkpoint,
)

__all__ = [
    "BRANCHES",
    "atomic_write",
    "backbone_state_dict",
    "read_checkpoint",
    "strip_module",
    "write_checkpoint",
]
