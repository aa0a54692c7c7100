"""ZipfSinkhornHook: schedules of the Zipf exponent and teacher temperature, the prototype
usage log that tells a plateau (usage near the prior) from a collapse (a few prototypes), the
collapse signals that see a collapse earlier (target-softmap entropy, teacher cosine spread; see
pointcept_dos/models/collapse_guard.py), and the count of empty (term, view) pairs."""

import torch.distributed as dist
from pointcept.engines.hooks.builder import HOOKS
from pointcept.engines.hooks.default import HookBase

from ..core.prototype_usage import usage_statistics
from ..core.schedules import warmup_schedule
from ..core.validation import check_positive_int, check_real
from ..models.collapse_guard import (
    ENTROPY_THRESHOLD,
    SPREAD_THRESHOLD,
    collapse_signals_say_collapse,
    remedy,
)


def _ratio_schedule(name, spec):
    """dict(start, end, warmup_ratio) -> f(step, total_steps), linear warm-up then constant."""
    if not isinstance(spec, dict) or not {"start", "end"} <= set(spec):
        raise ValueError(f"{name} must be dict(start=..., end=..., warmup_ratio=...), got {spec!r}")
    unknown = set(spec) - {"start", "end", "warmup_ratio"}
    if unknown:
        raise ValueError(f"{name} has unknown keys {sorted(unknown)}")
    return warmup_schedule(spec["start"], spec["end"], spec.get("warmup_ratio", 0.05))


@HOOKS.register_module()
class ZipfSinkhornHook(HookBase):
    """Args:
        log_interval: steps between prototype-usage reports (log line + TensorBoard).
        zipf_alpha: optional dict(start, end, warmup_ratio) scheduling the Zipf exponent.
        teacher_temp: optional dict(start, end, warmup_ratio) replacing the model's tau_T
            schedule.
        collapse_ratio: warn when the effective number of prototypes falls below this share
            of the prior's effective number.
        collapse_top_mass: warn when the 10 most used prototypes hold more than this share.
        entropy_threshold, spread_threshold: warn (with the remedy) when, averaged since the
            last report, the target-softmap entropy / log N is above the first and the
            teacher's cosine spread over points (units of 1/sqrt(D)) below the second; see
            pointcept_dos/models/collapse_guard.py.
    Every `log_interval` steps it logs (and writes to TensorBoard under `prototypes/`) the
    usage statistics, the collapse signals and the number of (term, view) pairs without
    matched points (`empty_terms` of `terms`) and of steps where all were empty
    (`empty_steps`, loss 0), summed over all processes.
    """

    def __init__(
        self,
        log_interval=50,
        zipf_alpha=None,
        teacher_temp=None,
        collapse_ratio=0.1,
        collapse_top_mass=0.9,
        entropy_threshold=ENTROPY_THRESHOLD,
        spread_threshold=SPREAD_THRESHOLD,
    ):
        check_positive_int("log_interval", log_interval)
        check_real("entropy_threshold", entropy_threshold, low=0.0, high=1.0)
        check_real("spread_threshold", spread_threshold, low=0.0)
        self.entropy_threshold, self.spread_threshold = entropy_threshold, spread_threshold
        check_real("collapse_ratio", collapse_ratio, low=0.0, high=1.0)
        check_real("collapse_top_mass", collapse_top_mass, low=0.0, high=1.0)
        self.log_interval = log_interval
        self.overrides = {
            name: _ratio_schedule(name, spec)
            for name, spec in dict(zipf_alpha=zipf_alpha, teacher_temp=teacher_temp).items()
            if spec is not None
        }
        self.collapse_ratio = collapse_ratio
        self.collapse_top_mass = collapse_top_mass
        self.model = None

    def before_train(self):
        model = self.trainer.model
        model = getattr(model, "module", model)
        if not hasattr(model, "take_usage"):
            raise TypeError(
                f"ZipfSinkhornHook needs a DOS model (type='DOS-v1m1'), got {type(model).__name__}"
            )
        self.model = model
        model.schedules.update(self.overrides)

    def after_step(self):
        step = self.model.global_step() + 1
        if step % self.log_interval:
            return
        distributed = dist.is_initialized() and dist.get_world_size() > 1
        group = dist.group.WORLD if distributed else None
        stats = usage_statistics(self.model.take_usage(group), self.model.prior)
        monitor = self.model.take_monitor(group)
        logger, writer = self.trainer.logger, self.trainer.writer
        logger.info(
            f"Prototype usage @ step {step}: effective {stats['effective_prototypes']:.1f} "
            f"(prior {stats['prior_effective']:.1f}), KL(usage||prior) "
            f"{stats['kl_to_prior']:.3f}, top-10 mass {stats['top_mass']:.3f}; "
            f"target entropy/logN {monitor['target_entropy']:.3f}, teacher spread "
            f"{monitor['teacher_spread']:.4f}; empty terms {monitor['empty_terms']:.0f} of "
            f"{monitor['terms']:.0f}, empty steps {monitor['empty_steps']:.0f} of "
            f"{monitor['steps']:.0f}; "
            f"teacher_temp {self.model.teacher_temp:.5f}, momentum {self.model.momentum:.6f}, "
            f"zipf_alpha {self.model.zipf_alpha:.3f}"
        )
        if writer is not None:
            for key, value in stats.items():
                writer.add_scalar(f"prototypes/{key}", value, step)
            for key in ("target_entropy", "teacher_spread", "empty_terms", "empty_steps"):
                writer.add_scalar(f"prototypes/{key}", monitor[key], step)
        if (
            stats["effective_prototypes"] < self.collapse_ratio * stats["prior_effective"]
            or stats["top_mass"] > self.collapse_top_mass
        ):
            logger.warning(
                f"Prototype usage is collapsing onto a few prototypes (effective "
                f"{stats['effective_prototypes']:.1f}, top-10 mass {stats['top_mass']:.3f}): "
                "check the learning rate, teacher temperature and zipf_alpha; a plateau keeps "
                "usage near the prior, a collapse does not."
            )
        if collapse_signals_say_collapse(
            monitor["target_entropy"], monitor["teacher_spread"], self.entropy_threshold,
            self.spread_threshold,
        ):
            logger.warning(
                f"Collapse signals @ step {step}: target entropy/logN "
                f"{monitor['target_entropy']:.3f} (warns above {self.entropy_threshold}), "
                f"teacher spread {monitor['teacher_spread']:.4f} (warns below "
                f"{self.spread_threshold}): the teacher is making every point alike. "
                + remedy(self.model.student_temp, self.model.teacher_temp)
            )
        if monitor["empty_steps"]:
            logger.warning(
                f"{monitor['empty_steps']:.0f} of the last {monitor['steps']:.0f} steps had no "
                "matched point in any term (loss 0): check match_radius, the views' overlap "
                "(global_view_scale), mask_ratio / mask_size and the scenes' sizes."
            )
