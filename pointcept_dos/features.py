"""Per-point features from a DOS checkpoint: the public Python API.

    from pointcept_dos.features import load_dos_backbone, extract_features
    backbone = load_dos_backbone("dos-demo/alpha1.3/model_last.pth")
    feat = extract_features(backbone, coord, color, normal)   # [N, C] numpy, one row per point

Checkpoints are Pointcept-style dicts with ``state_dict`` (the DOS model's keys,
``student.*`` / ``teacher.*``) and, when written by this package, ``cfg``: the model config
(``cfg["model"]``) and the data settings (``grid_size``, ``in_channels``), so the path alone
is enough to rebuild the backbone. The teacher's backbone (the EMA) is loaded, as Sonata
releases it.
"""

import os

import numpy as np
import torch
import torch.nn as nn

from .backbones import build_backbone
from .checkpoints import load_checkpoint, strip_module
from .models.backbone_output import input_features

__all__ = ["load_dos_backbone", "extract_features", "save_checkpoint", "DEFAULT_GRID_SIZE"]

DEFAULT_GRID_SIZE = 0.02
_PREFIXES = ("teacher.backbone.", "student.backbone.", "backbone.")


def save_checkpoint(path, model, cfg, **extra):
    """Write ``dict(state_dict=model.state_dict(), cfg=cfg, **extra)`` (Pointcept's format)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(dict(state_dict=model.state_dict(), cfg=cfg, **extra), path)


def load_dos_backbone(checkpoint_path, backbone_cfg=None):
    """Build the backbone stored in a DOS checkpoint and load its (teacher) weights.

    Args:
        checkpoint_path: a ``.pth`` written by ``pointcept-dos demo`` or Pointcept's trainer.
        backbone_cfg: backbone config (``{"type": ..., ...}``); needed only when the
            checkpoint holds no ``cfg`` (e.g. one written by Pointcept's trainer).
    Returns:
        the backbone ``nn.Module`` in eval mode, with attributes ``dos_grid_size`` (metres,
        the pretraining grid) and ``dos_in_channels``.
    """
    if not os.path.isfile(checkpoint_path):
        raise FileNotFoundError(f"no checkpoint at {checkpoint_path!r}")
    ckpt = load_checkpoint(checkpoint_path)
    cfg = ckpt.get("cfg") or {}
    if backbone_cfg is None:
        backbone_cfg = (cfg.get("model") or {}).get("backbone")
    if backbone_cfg is None:
        raise ValueError(
            f"{checkpoint_path!r} stores no model config ('cfg'); pass backbone_cfg="
            "{'type': ..., ...} as in the pretraining config"
        )
    backbone = build_backbone(dict(backbone_cfg))
    state = strip_module(ckpt["state_dict"])
    for prefix in _PREFIXES:
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            break
    else:
        raise KeyError(
            f"{checkpoint_path!r} has no backbone weights (keys starting with one of {_PREFIXES})"
        )
    missing, unexpected = backbone.load_state_dict(sub, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise KeyError(
            f"backbone weights under {prefix!r} do not match the config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    backbone.dos_grid_size = float(cfg.get("grid_size", DEFAULT_GRID_SIZE))
    backbone.dos_in_channels = int(cfg.get("in_channels", backbone_cfg.get("in_channels", 9)))
    return backbone.eval()


def _check_points(coord, color, normal):
    coord = np.asarray(coord)
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"coord must be an [N, 3] array of metres, got shape {coord.shape}")
    if len(coord) == 0:
        raise ValueError("coord is empty: need at least one point")
    if not np.isfinite(coord).all():
        raise ValueError("coord holds NaN or inf")
    for name, value in (("color", color), ("normal", normal)):
        if value is not None and np.asarray(value).shape != coord.shape:
            raise ValueError(
                f"{name} must have the shape of coord {coord.shape}, got {np.asarray(value).shape}"
            )
    return coord


def _backbone_of(model_or_path):
    """-> (backbone module, grid size it was trained at or None)."""
    if isinstance(model_or_path, (str, os.PathLike)):
        backbone = load_dos_backbone(os.fspath(model_or_path))
        return backbone, backbone.dos_grid_size
    if isinstance(model_or_path, nn.Module):
        if hasattr(model_or_path, "teacher") and "backbone" in getattr(model_or_path, "teacher"):
            return model_or_path.teacher["backbone"], None  # a DOS model: its teacher
        return model_or_path, getattr(model_or_path, "dos_grid_size", None)
    raise TypeError(
        f"model_or_path must be a checkpoint path, a DOS model or a backbone, got {type(model_or_path)}"
    )


@torch.no_grad()
def backbone_features(backbone, coord, feat, grid_size):
    """Run ``backbone`` (eval mode kept as is) on one cloud of grid-sampled points.

    coord [M, 3], feat [M, Cin] numpy -> [M, C] torch float32 features."""
    coord_t = torch.from_numpy(np.ascontiguousarray(coord, np.float32))
    point = dict(
        coord=coord_t,
        feat=torch.from_numpy(np.ascontiguousarray(feat, np.float32)),
        offset=torch.tensor([len(coord)], dtype=torch.long),
        grid_size=float(grid_size),
        grid_coord=torch.div(
            coord_t - coord_t.min(0).values, float(grid_size), rounding_mode="floor"
        ).int(),
    )
    return input_features(backbone(point)).float()


def extract_features(model_or_path, coord, color=None, normal=None, grid_size=None):
    """[N, C] numpy float32 features, one row for every input point.

    Args:
        model_or_path: checkpoint path, a backbone from :func:`load_dos_backbone`, or a
            ``DOSv1m1`` model (its teacher backbone is used).
        coord: [N, 3] point coordinates in metres (any frame; z up as in ScanNet).
        color: [N, 3] RGB 0-255, or None (mid grey).
        normal: [N, 3] unit normals, or None (zeros).
        grid_size: voxel side (metres) of the grid sampling; None takes the checkpoint's
            pretraining grid size (0.02 when unknown). Use the pretraining value.
    The cloud is grid-sampled (first point per voxel), run through the backbone in eval
    mode, and every input point receives the features of its voxel's point.
    """
    from .demo.views import grid_sample, point_features  # numpy only, no cycle at import

    coord = _check_points(coord, color, normal)
    backbone, trained_grid = _backbone_of(model_or_path)
    grid_size = grid_size or trained_grid or DEFAULT_GRID_SIZE
    keep, inverse = grid_sample(coord, grid_size)
    color_k = None if color is None else np.asarray(color)[keep]
    normal_k = None if normal is None else np.asarray(normal)[keep]
    feat = point_features(coord[keep], color_k, normal_k)
    in_channels = getattr(backbone, "in_channels", feat.shape[1])
    if in_channels != feat.shape[1]:
        raise ValueError(
            f"backbone expects {in_channels} input channels; extract_features builds "
            f"{feat.shape[1]} (coord + colour + normal)"
        )
    was_training = backbone.training
    backbone.eval()
    try:
        out = backbone_features(backbone, coord[keep], feat, grid_size)
    finally:
        backbone.train(was_training)
    return out.numpy()[inverse]
