"""Rebuilding the backbone stored in a DOS checkpoint.

Checkpoints are Pointcept-style dicts with ``state_dict`` (the DOS model's keys, ``student.*`` /
``teacher.*``) and, when written by this package, ``cfg``: the model config (``cfg["model"]``)
and the data settings (``grid_size``, ``in_channels``), so the path alone is enough to rebuild
the backbone. The teacher's backbone (the EMA) is loaded, as Sonata releases it.
"""

import os

from ..backbones import build_backbone
from ..io.checkpoints import backbone_state_dict, read_checkpoint

DEFAULT_GRID_SIZE = 0.02  # metres: Pointcept's indoor grid, when a checkpoint does not say


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
    checkpoint_path = os.fspath(checkpoint_path)
    ckpt = read_checkpoint(checkpoint_path)
    cfg = ckpt.get("cfg") or {}
    if backbone_cfg is None:
        backbone_cfg = (cfg.get("model") or {}).get("backbone")
    if backbone_cfg is None:
        raise ValueError(
            f"{checkpoint_path!r} stores no model config ('cfg'); pass backbone_cfg="
            "{'type': ..., ...} as in the pretraining config"
        )
    backbone = build_backbone(dict(backbone_cfg))
    state = backbone_state_dict(ckpt["state_dict"], branch="any")
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise KeyError(
            f"backbone weights in {checkpoint_path!r} do not match the config: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}"
        )
    backbone.dos_grid_size = float(cfg.get("grid_size", DEFAULT_GRID_SIZE))
    backbone.dos_in_channels = int(cfg.get("in_channels", backbone_cfg.get("in_channels", 9)))
    return backbone.eval()
