"""pointcept-dos: DOS (Distilling Observable Softmaps of Zipfian Prototypes) for Pointcept.

The DOS core below is plain PyTorch and never imports Pointcept. When Pointcept is importable,
importing this package also registers the DOS model, loss and hook in Pointcept's registries.
"""

from .ema import ema_update_
from .masking import patch_visibility
from .prototype_head import PrototypeHead
from .prototype_usage import prototype_usage, usage_statistics
from .schedules import CosineSchedule, WarmupConstantSchedule
from .softmap_loss import softmap_distillation_loss
from .zipf_prior import zipf_prior
from .zipf_sinkhorn import sinkhorn_log_plan, zipf_sinkhorn

__version__ = "0.1.0"

__all__ = [
    "CosineSchedule",
    "PrototypeHead",
    "WarmupConstantSchedule",
    "ema_update_",
    "patch_visibility",
    "prototype_usage",
    "sinkhorn_log_plan",
    "softmap_distillation_loss",
    "usage_statistics",
    "zipf_prior",
    "zipf_sinkhorn",
]
