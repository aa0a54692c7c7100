"""Registers DOS into Pointcept's registries; importing this module is the registration.

    import pointcept_dos.integration.registration  # noqa: F401

Registered names (none taken by Pointcept): MODELS "DOS-v1m1" and "DOS-SpUNet-lite", LOSSES
"SoftmapDistillationLoss", HOOKS "ZipfSinkhornHook" and "OnlineProbeHook". Our launch scripts (tools/train.py,
tools/test.py) import it, and so does every DOS pretrain config, so that Pointcept's own
tools/train.py works too.

Multi-GPU runs start their workers with `mp.spawn`, which re-imports only the launching
script; a config's imports ran in the parent alone. `registered_type(name)` gives the model
type as a `str` whose class lives in this module: unpickling the config in a worker imports
this module, so the worker registers before it builds the model.
"""

from pointcept.models.losses.builder import LOSSES

from ..core.softmap_loss import SoftmapDistillationLoss
from .hooks import ZipfSinkhornHook
from .model import DOSPointModel
from .probe_hook import OnlineProbeHook

LOSSES.register_module("SoftmapDistillationLoss", module=SoftmapDistillationLoss)


class registered_type(str):  # noqa: N801  (used like the str it is, in configs)
    """A registry type name that re-registers DOS wherever it is unpickled (see above)."""

    __slots__ = ()


__all__ = ["DOSPointModel", "OnlineProbeHook", "SoftmapDistillationLoss", "ZipfSinkhornHook",
           "registered_type"]
