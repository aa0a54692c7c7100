"""Collapse signals of DOS pretraining, their thresholds, and the opt-in automatic response.

A DOS collapse (measured on the CPU demo, bench/README.md "Collapse guard") makes the teacher's
embeddings the same at every point: its cosines stop varying over the points and the target
softmaps flatten towards uniform over the points, while the loss falls towards 0. Argmax usage
sees it late; two per-step signals see it early:

- `target_entropy`: entropy / log N of the target softmaps (mean over prototypes and views);
  healthy runs sit well below 1 (about 0.5-0.8), a collapse drives it to 1.
- `teacher_spread`: the std over a view's points of the teacher's cosine to each prototype,
  mean over prototypes and views; a collapse drives it to 0.

The thresholds below are the one source of their defaults (model guard and ZipfSinkhornHook).
The rule that avoids the collapse: keep student_temp / teacher_temp >= 2.5.
"""

import math

from ..core.validation import check_real

# target_entropy above this warns (the demo's collapsing run crosses it within ~60 steps of
# tau_T reaching 0.07, its healthy runs never reach it); see bench/README.md
ENTROPY_THRESHOLD = 0.9
# teacher_spread below this warns (cosine units; healthy demo runs stay above ~0.1)
SPREAD_THRESHOLD = 0.05
# the student / teacher temperature ratio from which the demo does not collapse
SAFE_TEMP_RATIO = 2.5

GUARD_DEFAULTS = dict(
    entropy_threshold=ENTROPY_THRESHOLD,
    spread_threshold=SPREAD_THRESHOLD,
    decay=0.9,
    min_teacher_temp=None,  # None: student_temp / SAFE_TEMP_RATIO / 2
)


def collapse_signals_say_collapse(entropy, spread, entropy_threshold, spread_threshold):
    """True when either signal has crossed its threshold."""
    return entropy > entropy_threshold or spread < spread_threshold


def remedy(student_temp, teacher_temp):
    """The advice a collapse warning gives, with the current temperatures."""
    return (
        f"lower the teacher temperature so that student_temp / teacher_temp >= "
        f"{SAFE_TEMP_RATIO} (now {student_temp:g} / {teacher_temp:g} = "
        f"{student_temp / teacher_temp:.2f}), e.g. model.teacher_temp_base="
        f"{student_temp / SAFE_TEMP_RATIO:g}, or enable model.collapse_guard=dict()"
    )


class CollapseGuard:
    """Opt-in response of DOS-v1m1 to the collapse signals (config key `collapse_guard`).

    While a step's signals say collapse (`target_entropy > entropy_threshold` or
    `teacher_spread < spread_threshold`), the teacher temperature is capped at `decay` times
    its current value, down to `min_teacher_temp`; once the signals are healthy again the cap is
    held (tau_T does not climb back into the collapsing range). Until the first collapsing step
    there is no cap at all, so a healthy run is exactly the run without the guard.

    Args:
        entropy_threshold: target_entropy (entropy / log N) above which a step is collapsing.
        spread_threshold: teacher_spread (std of cosines over points) below which it is.
        decay: factor in (0, 1) applied to the cap at every collapsing step.
        min_teacher_temp: floor of the cap; None: student_temp / SAFE_TEMP_RATIO / 2 (the
            rule with a margin: 0.02 for tau_S = 0.1).
    """

    def __init__(self, student_temp, entropy_threshold=ENTROPY_THRESHOLD,
                 spread_threshold=SPREAD_THRESHOLD, decay=0.9, min_teacher_temp=None):
        check_real("collapse_guard.entropy_threshold", entropy_threshold, low=0.0, high=1.0,
                   low_open=True, high_open=True)
        check_real("collapse_guard.spread_threshold", spread_threshold, low=0.0)
        check_real("collapse_guard.decay", decay, low=0.0, high=1.0, low_open=True,
                   high_open=True)
        if min_teacher_temp is None:
            min_teacher_temp = student_temp / SAFE_TEMP_RATIO / 2
        check_real("collapse_guard.min_teacher_temp", min_teacher_temp, low=0.0, low_open=True)
        self.entropy_threshold = entropy_threshold
        self.spread_threshold = spread_threshold
        self.decay = decay
        self.min_teacher_temp = min_teacher_temp
        self.temp_cap = math.inf

    @classmethod
    def from_config(cls, config, student_temp):
        """None -> None (off); a dict of the Args above (dict() for the defaults) -> guard."""
        if config is None:
            return None
        if not isinstance(config, dict):
            raise ValueError(
                f"collapse_guard must be None (off) or a dict with keys {sorted(GUARD_DEFAULTS)}, "
                f"got {config!r}"
            )
        unknown = set(config) - set(GUARD_DEFAULTS)
        if unknown:
            raise ValueError(
                f"collapse_guard has unknown keys {sorted(unknown)}; known: {sorted(GUARD_DEFAULTS)}"
            )
        return cls(student_temp, **config)

    def apply(self, teacher_temp):
        """The teacher temperature to use: the schedule's, capped."""
        return min(teacher_temp, self.temp_cap)

    def update(self, entropy, spread, teacher_temp):
        """Take one step's signals; returns True when they say collapse (the cap then drops)."""
        collapsing = collapse_signals_say_collapse(
            entropy, spread, self.entropy_threshold, self.spread_threshold
        )
        if collapsing:
            self.temp_cap = max(self.min_teacher_temp, min(self.temp_cap, teacher_temp) * self.decay)
        return collapsing

    def state_dict(self):
        return dict(temp_cap=self.temp_cap)

    def load_state_dict(self, state):
        self.temp_cap = float(state["temp_cap"])
