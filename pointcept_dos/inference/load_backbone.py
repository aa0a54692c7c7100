"""Rebuilding the backbone stored in a DOS checkpoint.

Checkpoints are Pointcept-style dicts with ``state_dict`` (the DOS model's keys, ``student.*`` /
``teacher.*``) and, when written by this package, ``cfg``: the model config (``cfg["model"]``)
and the data settings (``grid_size``, ``in_channels``), so the path alone is enough to rebuild
the backbone. The teacher's backbone (the EMA) is loaded, as Sonata releases it.

The file is checked before the backbone is built (`weight_checks`): its config must describe
exactly the tensors it stores, and those must hold usable values.
"""

import math
import numbers
import os

from ..backbones import build_backbone
from ..io.checkpoints import backbone_state_dict, read_checkpoint
from .weight_checks import backbone_shapes, check_shapes, check_stored_tensors


def _dict_entry(where, mapping, key):
    value = mapping.get(key)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{where}: {key!r} is a {type(value).__name__}, expected a dict")
    return value


def _recorded_grid_size(where, cfg):
    """The pretraining grid the checkpoint records (metres), or None when it records none."""
    grid = cfg.get("grid_size")
    if grid is None:
        return None
    if isinstance(grid, bool) or not isinstance(grid, numbers.Real) or not (math.isfinite(grid) and grid > 0):
        raise ValueError(f"{where}: cfg['grid_size'] is {grid!r}, expected a voxel size > 0 in metres")
    return float(grid)


def load_dos_backbone(checkpoint_path, backbone_cfg=None):
    """Build the backbone stored in a DOS checkpoint and load its (teacher) weights.

    Args:
        checkpoint_path: a ``.pth`` written by ``pointcept-dos demo`` or Pointcept's trainer.
        backbone_cfg: backbone config (``{"type": ..., ...}``); needed only when the
            checkpoint holds no ``cfg`` (e.g. one written by Pointcept's trainer).
    Returns:
        the backbone ``nn.Module`` in eval mode, with attributes ``dos_grid_size`` (metres,
        the pretraining grid; None when the checkpoint does not record it) and
        ``dos_in_channels``.
    Raises:
        ValueError: naming the file and the tensor, before anything large is allocated, when
            the stored weights are not those of the configured backbone (keys, shapes) or
            cannot be used (NaN / Inf, negative BatchNorm variances, tensors without their
            data); see `read_checkpoint` for unreadable files.
    """
    checkpoint_path = os.fspath(checkpoint_path)
    where = f"checkpoint {checkpoint_path!r}"
    ckpt = read_checkpoint(checkpoint_path)
    cfg = _dict_entry(where, ckpt, "cfg") or {}
    if backbone_cfg is None:
        backbone_cfg = _dict_entry(where, _dict_entry(where, cfg, "model") or {}, "backbone")
    if backbone_cfg is None:
        raise ValueError(
            f"{checkpoint_path!r} stores no model config ('cfg'); pass backbone_cfg="
            "{'type': ..., ...} as in the pretraining config"
        )
    if not isinstance(backbone_cfg, dict) or not isinstance(backbone_cfg.get("type"), str):
        raise ValueError(f"{where}: backbone config {backbone_cfg!r} is not a dict with a 'type' name")
    grid_size = _recorded_grid_size(where, cfg)
    state = backbone_state_dict(ckpt["state_dict"], branch="any")
    check_stored_tensors(state, where)
    expected = backbone_shapes(backbone_cfg)
    if expected is not None:
        check_shapes(state, expected, where)
    backbone = build_backbone(dict(backbone_cfg))
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise KeyError(
            f"backbone weights in {checkpoint_path!r} do not match the config: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}"
        )
    backbone.dos_grid_size = grid_size
    backbone.dos_in_channels = int(cfg.get("in_channels", backbone_cfg.get("in_channels", 9)))
    return backbone.eval()
