"""Step schedules for DOS's hyper-parameters.

They are pure functions of the step (no internal counter), so a run resumed from a checkpoint
at step s continues exactly where it stopped by evaluating them at s. `warmup_schedule` and
`cosine_schedule` give them as functions of (step, total_steps), the form DOS-v1m1 and
ZipfSinkhornHook keep, so that the total is known only when training starts.
"""

import math

from .validation import check_non_negative_int, check_real


def _check_step(step):
    check_real("step", step, low=0.0)
    return step


class CosineSchedule:
    """Cosine from `start` at step 0 to `end` at `total_steps`, constant afterwards.

    Used for the EMA momentum (0.994 -> 1)."""

    def __init__(self, start, end, total_steps):
        check_real("start", start)
        check_real("end", end)
        check_non_negative_int("total_steps", total_steps)
        self.start, self.end, self.total_steps = start, end, int(total_steps)

    def __call__(self, step):
        _check_step(step)
        if step >= self.total_steps:
            return self.end
        progress = step / self.total_steps
        return self.end + 0.5 * (self.start - self.end) * (1 + math.cos(math.pi * progress))


class WarmupConstantSchedule:
    """Linear from `start` to `end` over `warmup_steps`, then constant at `end`.

    Used for the teacher temperature (0.04 -> 0.07 over the first 5% of steps)."""

    def __init__(self, start, end, warmup_steps):
        check_real("start", start)
        check_real("end", end)
        check_non_negative_int("warmup_steps", warmup_steps)
        self.start, self.end, self.warmup_steps = start, end, int(warmup_steps)

    def __call__(self, step):
        _check_step(step)
        if step >= self.warmup_steps:
            return self.end
        return self.start + (self.end - self.start) * step / self.warmup_steps


def warmup_schedule(start, end, warmup_ratio):
    """f(step, total_steps): `WarmupConstantSchedule` warming up over `warmup_ratio` of the run."""
    check_real("start", start)
    check_real("end", end)
    check_real("warmup_ratio", warmup_ratio, low=0.0, high=1.0)
    return lambda step, total: WarmupConstantSchedule(start, end, int(total * warmup_ratio))(step)


def cosine_schedule(start, end):
    """f(step, total_steps): `CosineSchedule` from `start` to `end` over the whole run."""
    check_real("start", start)
    check_real("end", end)
    return lambda step, total: CosineSchedule(start, end, total)(step)
