"""Collapse signals of DOS pretraining, their thresholds, and the opt-in automatic response.

A DOS collapse (measured on the CPU demo: bench/collapse.py, bench/README.md "Collapse") makes
the teacher's embeddings alike at every point: its cosines stop varying over the points, the
target softmaps flatten towards uniform over the points, and the loss falls towards 0 (a flat
softmap is a zero-loss solution). Argmax usage sees it late; two per-step signals see it early:

- `target_entropy`: entropy / log N of the target softmaps (N a view's matched points), mean
  over prototypes and views. Sharp targets give small values; a collapse drives it to 1. It
  also rises with tau_T alone (flatter targets of the same scores), so on its own it is no proof.
- `teacher_spread`: the std over a view's points of the teacher's cosine to each prototype, mean
  over prototypes and views, in units of 1/sqrt(D) (D the embedding width: about 1 for
  embeddings as varied as random directions, whatever D). A collapse drives it to 0.

A step is collapsing when both have crossed their thresholds (flat targets *and* alike points).
The rule that avoids the collapse at the demo's scale: student_temp / teacher_temp >= 2.5.
The constants below are the one source of the thresholds (model guard and ZipfSinkhornHook).
"""

import math

import torch

from ..core.segments import offset_to_bounds
from ..core.validation import check_real

# chosen between the healthy and the collapsing runs of the demo: bench/README.md, "Collapse"
ENTROPY_THRESHOLD = 0.92
SPREAD_THRESHOLD = 0.55
# the student / teacher temperature ratio from which the demo does not collapse
SAFE_TEMP_RATIO = 2.5


def softmap_entropy(target, offset):
    """Per prototype, entropy / log N of the target softmaps, summed over views with N >= 2.

    target: [N, K] softmaps, each view's column summing to 1. Returns ([K] float64 sum over
    views, number of views counted); the signal `target_entropy` is its mean over prototypes
    divided by the views, and by prototype index it shows the sharpness the Zipf prior gives
    each prototype (head prototypes flatter, tail ones sharper)."""
    total, count = target.new_zeros(target.shape[1], dtype=torch.float64), 0
    for start, end in offset_to_bounds(offset):
        if end - start < 2:
            continue
        block = target[start:end].double()
        total += -torch.xlogy(block, block).sum(0) / math.log(end - start)
        count += 1
    return total, count


def teacher_spread(cos, offset, embed_channels):
    """Sum and count of the teacher's cosine spread over views with >= 2 points.

    cos: [M, K] teacher cosines at its loss points; embed_channels: D. Per view: the std over
    the view's points of each prototype's cosine, mean over prototypes, times sqrt(D).
    Returns (float sum over views, number of views counted)."""
    total, count = 0.0, 0
    for start, end in offset_to_bounds(offset):
        if end - start >= 2:
            total += float(cos[start:end].double().std(0, unbiased=False).mean())
            count += 1
    return total * math.sqrt(embed_channels), count


def collapse_signals_say_collapse(entropy, spread, entropy_threshold, spread_threshold):
    """True when both signals have crossed their thresholds."""
    return entropy > entropy_threshold and spread < spread_threshold


def remedy(student_temp, teacher_temp):
    """The advice a collapse warning gives, with the current temperatures."""
    return (
        f"lower the teacher temperature so that student_temp / teacher_temp >= "
        f"{SAFE_TEMP_RATIO} (now {student_temp:g} / {teacher_temp:g} = "
        f"{student_temp / teacher_temp:.2f}), e.g. model.teacher_temp="
        f"{student_temp / SAFE_TEMP_RATIO:g}, or enable model.collapse_guard=dict()"
    )


GUARD_KEYS = ("entropy_threshold", "spread_threshold", "decay", "min_teacher_temp")


class CollapseGuard:
    """Opt-in response of DOS-v1m1 to the collapse signals (config key `collapse_guard`).

    When a step's signals say collapse (`target_entropy > entropy_threshold` and
    `teacher_spread < spread_threshold`), the guard engages: at every step, until the spread
    has recovered to `spread_threshold`, the teacher temperature is capped at `decay` times its
    current value, down to `min_teacher_temp`. Then the cap is held (tau_T does not climb back
    into the range that collapsed). Before the first collapsing step there is no cap at all, so
    a run whose signals stay healthy is exactly the run without the guard.

    Args:
        entropy_threshold, spread_threshold: as ENTROPY_THRESHOLD, SPREAD_THRESHOLD.
        decay: factor in (0, 1) applied to the cap at every step while engaged.
        min_teacher_temp: floor of the cap; None: student_temp / (2 x SAFE_TEMP_RATIO) (the
            rule with a margin of 2: 0.02 for tau_S = 0.1, the demo's tau_T).
    """

    def __init__(self, student_temp, entropy_threshold=ENTROPY_THRESHOLD,
                 spread_threshold=SPREAD_THRESHOLD, decay=0.9, min_teacher_temp=None):
        check_real("collapse_guard.entropy_threshold", entropy_threshold, low=0.0, high=1.0,
                   low_open=True, high_open=True)
        check_real("collapse_guard.spread_threshold", spread_threshold, low=0.0)
        check_real("collapse_guard.decay", decay, low=0.0, high=1.0, low_open=True,
                   high_open=True)
        if min_teacher_temp is None:
            min_teacher_temp = student_temp / (2 * SAFE_TEMP_RATIO)
        check_real("collapse_guard.min_teacher_temp", min_teacher_temp, low=0.0, low_open=True)
        self.entropy_threshold = entropy_threshold
        self.spread_threshold = spread_threshold
        self.decay = decay
        self.min_teacher_temp = min_teacher_temp
        self.temp_cap = math.inf
        self.engaged = False

    @classmethod
    def from_config(cls, config, student_temp):
        """None -> None (off); a dict of the Args above (dict() for the defaults) -> guard."""
        if config is None:
            return None
        if not isinstance(config, dict):
            raise ValueError(
                f"collapse_guard must be None (off) or a dict with keys {list(GUARD_KEYS)}, "
                f"got {config!r}"
            )
        unknown = set(config) - set(GUARD_KEYS)
        if unknown:
            raise ValueError(
                f"collapse_guard has unknown keys {sorted(unknown)}; known: {list(GUARD_KEYS)}"
            )
        return cls(student_temp, **config)

    def apply(self, teacher_temp):
        """The teacher temperature to use: the schedule's, capped."""
        return min(teacher_temp, self.temp_cap)

    def update(self, entropy, spread, teacher_temp):
        """Take one step's signals and the tau_T it used; returns whether the guard is engaged
        (then the cap has just been lowered)."""
        if not self.engaged:
            self.engaged = collapse_signals_say_collapse(
                entropy, spread, self.entropy_threshold, self.spread_threshold
            )
        elif spread >= self.spread_threshold:
            self.engaged = False  # recovered: hold the cap where it is
        if self.engaged:
            self.temp_cap = max(self.min_teacher_temp, min(self.temp_cap, teacher_temp) * self.decay)
        return self.engaged

    def state_dict(self):
        return dict(temp_cap=self.temp_cap, engaged=self.engaged)

    def load_state_dict(self, state):
        self.temp_cap = float(state["temp_cap"])
        self.engaged = bool(state.get("engaged", False))
