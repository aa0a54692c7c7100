"""The DOS core: plain PyTorch, importing neither Pointcept nor the demo.

One module per piece of the method: `zipf_prior`, `zipf_sinkhorn`, `softmap_loss`, `masking`,
`prototype_head`, `ema`, `schedules`, `prototype_usage`; and the helpers they share:
`segments` (Pointcept offsets), `neighbours` (kNN), `voxel_grid`, `validation`.
"""

from .ema import ema_update_
from .masking import patch_visibility
from .prototype_head import PrototypeHead
from .prototype_usage import prototype_counts, usage_statistics
from .schedules import CosineSchedule, WarmupConstantSchedule
from .softmap_loss import softmap_distillation_loss
from .zipf_prior import zipf_prior
from .zipf_sinkhorn import sinkhorn_log_plan, zipf_sinkhorn

__all__ = [
    "CosineSchedule",
    "PrototypeHead",
    "WarmupConstantSchedule",
    "ema_update_",
    "patch_visibility",
    "prototype_counts",
    "sinkhorn_log_plan",
    "softmap_distillation_loss",
    "usage_statistics",
    "zipf_prior",
    "zipf_sinkhorn",
]
