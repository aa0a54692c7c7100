"""Evaluating learned features: the linear probe (frozen per-point features, one linear layer,
mIoU), shared by the CPU demo and Pointcept's OnlineProbeHook. It never changes its caller's
state: the backbone is copied, every random stream forked."""

from .linear_probe import PROBE_DEFAULTS, linear_probe, recalibrate_batchnorm, scene_features

__all__ = ["PROBE_DEFAULTS", "linear_probe", "recalibrate_batchnorm", "scene_features"]
