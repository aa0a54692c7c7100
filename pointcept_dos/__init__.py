"""pointcept-dos: DOS (Distilling Observable Softmaps of Zipfian Prototypes) for Pointcept.

Importing this package has no side effects and never imports Pointcept: it exposes the DOS
core (`pointcept_dos.core`, plain PyTorch). Registration into Pointcept's registries is an
explicit import, done by our launch scripts and by the DOS configs:

    import pointcept_dos.integration.registration  # MODELS "DOS-v1m1", HOOKS, LOSSES

Layers, each a folder: `core` (the method's maths), `backbones` (plain-PyTorch networks and
the backbone registry), `models` (DOS-v1m1), `io` (checkpoints and atomic files), `data`
(synthetic scenes, grid sampling, model input), `inference` (features from a checkpoint),
`integration` (everything that touches Pointcept), `demo` (the CPU demo).
"""

from .core import (
    CosineSchedule,
    PrototypeHead,
    WarmupConstantSchedule,
    ema_update_,
    patch_visibility,
    sinkhorn_log_plan,
    softmap_distillation_loss,
    usage_statistics,
    zipf_prior,
    zipf_sinkhorn,
)

__version__ = "0.1.0"

__all__ = [
    "CosineSchedule",
    "PrototypeHead",
    "WarmupConstantSchedule",
    "__version__",
    "ema_update_",
    "patch_visibility",
    "sinkhorn_log_plan",
    "softmap_distillation_loss",
    "usage_statistics",
    "zipf_prior",
    "zipf_sinkhorn",
]
