"""What a DOS pretraining run tells about itself, kept out of the model.

A forward pass of DOS-v1m1 leaves one `StepRecord` (what it measured, detached). The
`TrainingMonitor` sums the records between two reports; its interface is all that a trainer's
logging needs, in Pointcept (`ZipfSinkhornHook`) and in the demo alike:

    monitor.observe(record, group)   # after each step: that step's collapse signals
    monitor.report(group)            # every log interval: one dict (below), then it resets
    report_line(step, report)        # the log line
    report_warnings(step, report)    # collapse warnings, each with its remedy

With a process group, counts and sums are summed over its processes first (every process
must call; only the caller's values are summed, nothing else is communicated).
"""

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.prototype_usage import usage_statistics
from .collapse_guard import (
    ENTROPY_THRESHOLD,
    SPREAD_THRESHOLD,
    collapse_signals_say_collapse,
    remedy,
)

# usage warnings of the report: effective prototypes below this share of the prior's, or the
# 10 most used prototypes holding more than this share of the teacher's points
COLLAPSE_RATIO = 0.1
COLLAPSE_TOP_MASS = 0.9

# running sums between two reports, in this order
_FIELDS = ("steps", "entropy_sum", "entropy_steps", "entropy_views", "spread_sum", "spread_steps",
           "empty_terms", "terms", "empty_steps")
# the prior's head in the report: its first HEAD prototypes (by index: the prior is ordered)
HEAD = 10


@dataclass
class StepRecord:
    """What one forward pass measured, on this process (detached; see `collapse_guard` for the
    two signals). Prototypes are in index order, the order of the Zipf prior.

    usage_counts: [K] teacher loss points whose strongest prototype (raw cosine) is k.
    target_counts: [K] matched points the balanced plan gives most to prototype k (argmax over
        k of target softmap x prior mass: the plan's row before the final normalisation).
    prototype_entropy: ([K] sum over views of each target softmap's entropy / log N, views).
    spread: (sum over views of the teacher's cosine spread, views measured).
    empty_terms, terms: (term, view) pairs without enough matched points, and all pairs.
    """

    usage_counts: torch.Tensor
    target_counts: torch.Tensor
    prototype_entropy: tuple
    spread: tuple
    empty_terms: int
    terms: int

    @property
    def entropy(self):
        """(sum over views of the mean over prototypes of entropy / log N, views)."""
        return float(self.prototype_entropy[0].mean()), self.prototype_entropy[1]

    def signals(self):
        """{target_entropy, teacher_spread}: this step's means, None where no view measured."""
        return dict(target_entropy=self.entropy[0] / self.entropy[1] if self.entropy[1] else None,
                    teacher_spread=self.spread[0] / self.spread[1] if self.spread[1] else None)


class TrainingMonitor:
    """Sums of the step records between reports, and the report.

    Args:
        params: the model's `StepParams` (the prior and the values in force in each report).
    """

    def __init__(self, params):
        self.params = params
        self._reset()

    def _reset(self):
        self._vectors = None  # teacher counts, target counts, prototype entropy sums: [3, K]
        self._sums = dict.fromkeys(_FIELDS, 0.0)

    def observe(self, record, group=None):
        """Add one step's record; -> that step's {target_entropy, teacher_spread} (None where
        not measured), over the processes of `group` when given (the collapse guard decides
        on the whole batch)."""
        entropy, spread = record.entropy, record.spread
        if group is not None:
            both = torch.tensor([*entropy, *spread], dtype=torch.float64,
                                device=record.usage_counts.device)
            dist.all_reduce(both, group=group)
            entropy, spread = tuple(both.tolist()[:2]), tuple(both.tolist()[2:])
        signals = dict(target_entropy=entropy[0] / entropy[1] if entropy[1] else None,
                       teacher_spread=spread[0] / spread[1] if spread[1] else None)
        vectors = torch.stack([record.usage_counts.double(), record.target_counts.double(),
                               record.prototype_entropy[0].double()])
        self._vectors = vectors if self._vectors is None else self._vectors + vectors
        sums = self._sums
        sums["steps"] += 1
        for name, key in (("target_entropy", "entropy"), ("teacher_spread", "spread")):
            if signals[name] is not None:
                sums[f"{key}_sum"] += signals[name]
                sums[f"{key}_steps"] += 1
        sums["entropy_views"] += record.prototype_entropy[1]
        sums["empty_terms"] += record.empty_terms
        sums["terms"] += record.terms
        sums["empty_steps"] += record.empty_terms == record.terms
        return signals

    def report(self, group=None):
        """Everything since the last report (summed over `group`'s processes), then reset.

        -> dict: [K] float64 vectors, by prototype index (the prior's order): `usage` (share
        of the teacher's points by raw-cosine argmax), `target_usage` (share of matched points
        by the balanced plan's argmax), `prototype_entropy` (each target softmap's mean entropy
        / log N), `prior`; the usage statistics (`effective_prototypes`, `prior_effective`,
        `kl_to_prior`, `top_mass`); the prior's head in numbers (`prior_head_mass`, the prior's
        mass on prototypes 0-9, and the shares of `teacher_head_share` and
        `target_head_share` there; `head_entropy` / `tail_entropy`: mean entropy / log N of
        prototypes 0-9 and of the second half); `steps`; `target_entropy` and
        `teacher_spread` (means over the steps that measured them, NaN if none did);
        `empty_terms`, `terms`, `empty_steps`; and the values in force (`teacher_temp`,
        `momentum`, `zipf_alpha`, `student_temp`).
        """
        prior = self.params.prior
        k = len(prior)
        vectors = self._vectors if self._vectors is not None else torch.zeros(3, k, dtype=torch.float64)
        sums = torch.tensor([self._sums[f] for f in _FIELDS], dtype=torch.float64, device=vectors.device)
        self._reset()
        if group is not None:
            dist.all_reduce(vectors, group=group)
            dist.all_reduce(sums, group=group)
        s = dict(zip(_FIELDS, sums.tolist()))
        vectors = vectors.cpu()
        usage = vectors[0] / vectors[0].sum().clamp_min(1.0)
        target_usage = vectors[1] / vectors[1].sum().clamp_min(1.0)
        entropy = vectors[2] / max(s["entropy_views"], 1.0) if s["entropy_views"] else torch.full((k,), math.nan)
        head = slice(0, min(HEAD, k))
        return dict(
            usage=usage,
            target_usage=target_usage,
            prototype_entropy=entropy,
            prior=prior,
            **usage_statistics(usage, prior),
            prior_head_mass=float(prior[head].sum()),
            teacher_head_share=float(usage[head].sum()),
            target_head_share=float(target_usage[head].sum()),
            head_entropy=float(entropy[head].mean()),
            tail_entropy=float(entropy[k // 2:].mean()),
            steps=s["steps"],
            target_entropy=s["entropy_sum"] / s["entropy_steps"] if s["entropy_steps"] else math.nan,
            teacher_spread=s["spread_sum"] / s["spread_steps"] if s["spread_steps"] else math.nan,
            empty_terms=s["empty_terms"],
            terms=s["terms"],
            empty_steps=s["empty_steps"],
            student_temp=self.params.student_temp,
            **self.params.values(),
        )


def scalars(report):
    """The report's scalar entries (for a log record or TensorBoard)."""
    return {k: v for k, v in report.items() if not torch.is_tensor(v)}


def report_line(step, report):
    """One log line of a report."""
    r = report
    return (
        f"Prototype usage @ step {step}: effective {r['effective_prototypes']:.1f} (prior "
        f"{r['prior_effective']:.1f}), KL(usage||prior) {r['kl_to_prior']:.3f}, top-10 mass "
        f"{r['top_mass']:.3f}; target entropy/logN {r['target_entropy']:.3f}, teacher spread "
        f"{r['teacher_spread']:.4f}; empty terms {r['empty_terms']:.0f} of {r['terms']:.0f}, "
        f"empty steps {r['empty_steps']:.0f} of {r['steps']:.0f}; prior head-{HEAD} mass "
        f"{r['prior_head_mass']:.3f}: teacher {r['teacher_head_share']:.3f}, targets "
        f"{r['target_head_share']:.3f}; softmap entropy/logN head-{HEAD} {r['head_entropy']:.3f}, "
        f"tail {r['tail_entropy']:.3f}; teacher_temp {r['teacher_temp']:.5f}, momentum "
        f"{r['momentum']:.6f}, zipf_alpha {r['zipf_alpha']:.3f}"
    )


def report_warnings(step, report, collapse_ratio=COLLAPSE_RATIO, collapse_top_mass=COLLAPSE_TOP_MASS,
                    entropy_threshold=ENTROPY_THRESHOLD, spread_threshold=SPREAD_THRESHOLD):
    """The warnings a report calls for (a list of lines, empty for a healthy run); a collapse
    of the signals comes with the remedy at the temperatures in force."""
    r, lines = report, []
    if (r["effective_prototypes"] < collapse_ratio * r["prior_effective"]
            or r["top_mass"] > collapse_top_mass):
        lines.append(
            f"Prototype usage is collapsing onto a few prototypes (effective "
            f"{r['effective_prototypes']:.1f}, top-10 mass {r['top_mass']:.3f}): check the "
            "learning rate, teacher_temp and zipf_alpha; a plateau keeps usage near the prior, "
            "a collapse does not."
        )
    if collapse_signals_say_collapse(r["target_entropy"], r["teacher_spread"], entropy_threshold,
                                     spread_threshold):
        lines.append(
            f"Collapse signals @ step {step}: target entropy/logN {r['target_entropy']:.3f} "
            f"(warns above {entropy_threshold}), teacher spread {r['teacher_spread']:.4f} (warns "
            f"below {spread_threshold}): the teacher is making every point alike. "
            + remedy(r["student_temp"], r["teacher_temp"])
        )
    if r["empty_steps"]:
        lines.append(
            f"{r['empty_steps']:.0f} of the last {r['steps']:.0f} steps had no matched point in "
            "any term (loss 0): check match_radius, the views' overlap (global_view_scale), "
            "mask_ratio / mask_size and the scenes' sizes."
        )
    return lines
