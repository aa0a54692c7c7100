"""Step schedules for DOS's hyper-parameters.

They are pure functions of the step (no internal counter), so a run resumed from a checkpoint
at step s continues exactly where it stopped by evaluating them at s.
"""

import math

from .validation import check_non_negative_int, check_real


class CosineSchedule:
    """Cosine from `start` at step 0 to `end` at `total_steps`, constant afterwards.

    Used for the EMA momentum (0.994 -> 1)."""

    def __init__(self, start, end, total_steps):
        check_real("start", start)
        check_real("end", end)
        check_non_negative_int("total_steps", total_steps)
        self.start, self.end, self.total_steps = start, end, total_steps

    def __call__(self, step):
        if self.total_steps == 0 or step >= self.total_steps:
            return self.end
        progress = max(step, 0) / self.total_steps
        return self.end + 0.5 * (self.start - self.end) * (1 + math.cos(math.pi * progress))


class WarmupConstantSchedule:
    """Linear from `start` to `end` over `warmup_steps`, then constant at `end`.

    Used for the teacher temperature (0.04 -> 0.07 over the first 5% of steps)."""

    def __init__(self, start, end, warmup_steps):
        check_real("start", start)
        check_real("end", end)
        check_non_negative_int("warmup_steps", warmup_steps)
        self.start, self.end, self.warmup_steps = start, end, warmup_steps

    def __call__(self, step):
        if step >= self.warmup_steps:
            return self.end
        return self.start + (self.end - self.start) * max(step, 0) / self.warmup_steps
