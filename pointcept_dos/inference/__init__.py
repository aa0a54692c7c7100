"""Per-point features from a DOS checkpoint: the public Python API.

    from pointcept_dos.inference import load_dos_backbone, extract_features
    backbone = load_dos_backbone("dos-demo/dos/model_last.pth")
    feat = extract_features(backbone, coord, color, normal)   # [N, C] numpy, one row per point

Depends on the core, the backbones, `data` (grid sampling, input channels) and `io`.
"""

from .extract_features import backbone_point_features, extract_features
from .load_backbone import load_dos_backbone

__all__ = ["backbone_point_features", "extract_features", "load_dos_backbone"]
