"""ZipfSinkhornHook: every `log_interval` steps, the DOS model's monitor report (teacher
prototype usage against the Zipf prior, the collapse signals, empty terms, the values in force)
as a log line, TensorBoard scalars and, when they call for it, warnings. By prototype index (the
prior's order) it also writes histograms of the prior and of the usage from the teacher's
cosines and from the balanced targets, so what the prior does is visible beside it. It reads and logs; it
schedules nothing (the schedules are the model's: `pointcept_dos/models/step_params.py`)."""

import torch
import torch.distributed as dist
from pointcept.engines.hooks.builder import HOOKS
from pointcept.engines.hooks.default import HookBase

from ..core.validation import check_positive_int, check_real
from ..models.collapse_guard import ENTROPY_THRESHOLD, SPREAD_THRESHOLD
from ..models.monitor import (
    COLLAPSE_RATIO,
    COLLAPSE_TOP_MASS,
    report_line,
    report_warnings,
    scalars,
)
from ..models.step_params import SCHEDULED
from ..models.step_sequence import StepSequence

IN_FORCE = (*SCHEDULED, "student_temp")

# keys this hook took before the schedules moved to the model
_MOVED = dict(zipf_alpha="model.zipf_alpha", teacher_temp="model.teacher_temp")


def _index_histogram(writer, tag, shares, step):
    """A [K] distribution over prototype indices as a TensorBoard histogram whose buckets are the
    indices (so usage lines up with the prior, prototype by prototype)."""
    shares = shares.double()
    index = torch.arange(len(shares), dtype=torch.float64)
    writer.add_histogram_raw(tag, min=0.0, max=float(len(shares) - 1), num=1.0, sum=float((shares * index).sum()),
                             sum_squares=float((shares * index ** 2).sum()),
                             bucket_limits=(index + 0.5).tolist(), bucket_counts=shares.tolist(),
                             global_step=step)


@HOOKS.register_module()
class ZipfSinkhornHook(HookBase):
    """Args:
        log_interval: steps between reports (log line + TensorBoard `prototypes/`).
        collapse_ratio: warn when the effective number of prototypes falls below this share
            of the prior's effective number.
        collapse_top_mass: warn when the 10 most used prototypes hold more than this share.
        entropy_threshold, spread_threshold: warn (with the remedy) when, averaged since the
            last report, the target-softmap entropy / log N is above the first and the
            teacher's cosine spread over points (units of 1/sqrt(D)) below the second; see
            pointcept_dos/models/collapse_guard.py.
    Counts and signals are summed over all processes (every process reports; rank 0 logs).
    """

    def __init__(self, log_interval=50, collapse_ratio=COLLAPSE_RATIO,
                 collapse_top_mass=COLLAPSE_TOP_MASS, entropy_threshold=ENTROPY_THRESHOLD,
                 spread_threshold=SPREAD_THRESHOLD, **moved):
        if moved:
            raise TypeError("ZipfSinkhornHook schedules nothing: " + "; ".join(
                f"{k}: set {_MOVED[k]} (a number or dict(start=..., end=..., warmup_ratio=...))"
                if k in _MOVED else f"{k}: not an argument" for k in sorted(moved)))
        check_positive_int("log_interval", log_interval)
        check_real("collapse_ratio", collapse_ratio, low=0.0, high=1.0)
        check_real("collapse_top_mass", collapse_top_mass, low=0.0, high=1.0)
        check_real("entropy_threshold", entropy_threshold, low=0.0, high=1.0)
        check_real("spread_threshold", spread_threshold, low=0.0)
        self.log_interval = log_interval
        self.thresholds = dict(collapse_ratio=collapse_ratio, collapse_top_mass=collapse_top_mass,
                               entropy_threshold=entropy_threshold, spread_threshold=spread_threshold)
        self.model = None

    def before_train(self):
        model = self.trainer.model
        model = getattr(model, "module", model)
        if not isinstance(getattr(model, "steps", None), StepSequence):
            raise TypeError(
                f"ZipfSinkhornHook needs a DOS model (type='DOS-v1m1'), got {type(model).__name__}"
            )
        self.model = model

    def after_step(self):
        step = self.model.global_step() + 1
        if step % self.log_interval:
            return
        distributed = dist.is_initialized() and dist.get_world_size() > 1
        report = self.model.steps.monitor.report(dist.group.WORLD if distributed else None)
        logger, writer = self.trainer.logger, self.trainer.writer
        logger.info(report_line(step, report))
        if writer is not None:
            for key, value in scalars(report).items():
                if key not in IN_FORCE:  # written every step under params/ by the model
                    writer.add_scalar(f"prototypes/{key}", value, step)
            if hasattr(writer, "add_histogram_raw"):  # by prototype index, against the prior
                for key in ("prior", "usage", "target_usage"):
                    _index_histogram(writer, f"prototypes/{key}_by_index", report[key], step)
        for line in report_warnings(step, report, **self.thresholds):
            logger.warning(line)
