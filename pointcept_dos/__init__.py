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


def _register_with_pointcept():
    """Import the registration layer when Pointcept is on the path; returns the ImportError
    that stopped it (e.g. a CUDA-only extension on a CPU machine) or None."""
    import importlib.util

    if importlib.util.find_spec("pointcept") is None:
        return None
    try:
        from . import integration  # noqa: F401  registers MODELS / LOSSES / HOOKS entries
    except ImportError as err:
        return err
    return None


#: why Pointcept was found but DOS could not register into it (None when registered or absent)
POINTCEPT_IMPORT_ERROR = _register_with_pointcept()

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
