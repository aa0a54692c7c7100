"""Step schedules for DOS's hyper-parameters.

A schedule is built once (its arguments checked once) and evaluated at every step as a pure
function of (step, total_steps): it has no counter, so a run resumed at step s continues exactly
where it stopped, and the run's length is known only when training starts.

Values between two endpoints are interpolated at half scale (`_lerp`), so any two finite
endpoints give a finite value between them.
"""

import math

from .validation import check_non_negative_int, check_real


def _lerp(a, b, t):
    """a + (b - a) x t for t in [0, 1]. Halving first keeps b - a finite for endpoints near the
    float limit (1e308 and -1e308); scaling by 2 is exact, so the result has the same bits as
    the plain formula wherever that one does not overflow."""
    return 2.0 * (0.5 * a + (0.5 * b - 0.5 * a) * t)


def _check_step(step, total_steps):
    check_real("step", step, low=0.0)
    check_non_negative_int("total_steps", total_steps)


class WarmupConstantSchedule:
    """Linear from `start` to `end` over the first `warmup_ratio` of the run, then `end`.

    The teacher temperature (0.04 -> 0.07 over the first 5% of steps); with start == end, a
    constant (the Zipf exponent's default)."""

    def __init__(self, start, end, warmup_ratio=0.0):
        check_real("start", start)
        check_real("end", end)
        check_real("warmup_ratio", warmup_ratio, low=0.0, high=1.0)
        self.start, self.end, self.warmup_ratio = float(start), float(end), float(warmup_ratio)

    def __call__(self, step, total_steps):
        _check_step(step, total_steps)
        warmup_steps = int(total_steps * self.warmup_ratio)
        if step >= warmup_steps:
            return self.end
        return _lerp(self.start, self.end, step / warmup_steps)

    def __repr__(self):
        if self.start == self.end:
            return f"{self.end:g}"
        return f"{self.start:g} -> {self.end:g} over the first {self.warmup_ratio:.0%} of steps"


class CosineSchedule:
    """Cosine from `start` at step 0 to `end` at `total_steps`, `end` afterwards.

    The EMA momentum (0.994 -> 1)."""

    def __init__(self, start, end):
        check_real("start", start)
        check_real("end", end)
        self.start, self.end = float(start), float(end)

    def __call__(self, step, total_steps):
        _check_step(step, total_steps)
        if step >= total_steps:
            return self.end
        return _lerp(self.end, self.start, 0.5 * (1 + math.cos(math.pi * step / total_steps)))

    def __repr__(self):
        if self.start == self.end:
            return f"{self.end:g}"
        return f"{self.start:g} -> {self.end:g} (cosine over the run)"
