"""The distillation objectives of DOS-v1m1: softmaps (DOS) or per-point assignment (ablation).

Both turn the teacher's scores at the matched points into balanced targets with Zipf-Sinkhorn
and compare the student to them; they differ in the direction of the normalisation:

- "softmap" (DOS): for every prototype k, a distribution over one view's points: the target is
  column k of the balanced plan normalised over the view (`zipf_sinkhorn`), the student's is the
  softmax over the view's points of its scores for k. Loss: KL(target || student), mean over
  prototypes and views.
- "per_point" (Sonata / DINO / SwAV): for every point, a distribution over the K prototypes: the
  target is the point's row of the balanced plan normalised over prototypes (the Sinkhorn
  assignment), the student's is the softmax over prototypes of its scores. Loss: the
  cross-entropy minus the target's entropy, i.e. KL(assignment || student); same gradients as
  the cross-entropy, 0 when the student equals the target. Mean over a view's points, then over
  views (each view weighs the same, as for softmaps).

Every objective also returns the target softmaps, from which the model measures the collapse
signal `target_entropy` (`collapse_guard.softmap_entropy`).

All scores here are logits (cosines already divided by a temperature); `offset` delimits the
views. A view with fewer points than `MIN_POINTS[objective]` must be dropped by the caller.
"""

import torch

from ..core.segments import offset_to_bounds
from ..core.softmap_loss import scene_log_softmaps, softmap_distillation_loss
from ..core.zipf_sinkhorn import sinkhorn_log_plan, zipf_sinkhorn

OBJECTIVES = ("softmap", "per_point")

# fewest matched points with which a view carries a signal: a softmap over one point is
# identically 1 (zero loss, zero gradient, it would only dilute the mean); an assignment of one
# point over prototypes is informative
MIN_POINTS = dict(softmap=2, per_point=1)


def _sinkhorn_rows(teacher_logits, offset, prior, num_iters, scope, group):
    """[N, K] float64 log of the balanced plan (rows and columns not yet normalised), for the
    batch ("batch" scope, across `group`) or each view on its own ("scene")."""
    if scope == "batch":
        return sinkhorn_log_plan(teacher_logits, prior, num_iters, group)
    log_plan = teacher_logits.new_empty(teacher_logits.shape, dtype=torch.float64)
    for start, end in offset_to_bounds(offset):
        if end > start:
            log_plan[start:end] = sinkhorn_log_plan(teacher_logits[start:end], prior, num_iters)
    return log_plan


def softmap_objective(student_logits, teacher_logits, offset, prior, num_iters, scope, group):
    """DOS: softmap KL, a mean over prototypes. -> (loss or None when no view has points,
    target [N, K] softmaps)."""
    target = zipf_sinkhorn(teacher_logits, offset, prior, num_iters, scope, group)
    if int(offset[-1]) == 0:
        return None, target
    return softmap_distillation_loss(student_logits, target, offset), target


def per_point_objective(student_logits, teacher_logits, offset, prior, num_iters, scope, group):
    """Sonata / DINO: per-point KL against the Sinkhorn assignment.
    -> (loss or None when no view has points, target [N, K] softmaps for the entropy signal)."""
    log_plan = _sinkhorn_rows(teacher_logits, offset, prior, num_iters, scope, group)
    softmaps = scene_log_softmaps(log_plan, offset).exp().float() if len(log_plan) else log_plan
    if int(offset[-1]) == 0:
        return None, softmaps
    assignment = torch.softmax(log_plan, dim=1).float()
    log_student = torch.log_softmax(student_logits.float(), dim=1)
    per_point = (torch.xlogy(assignment, assignment) - assignment * log_student).sum(1)
    views = [per_point[s:e].mean() for s, e in offset_to_bounds(offset) if e > s]
    return torch.stack(views).mean(), softmaps


OBJECTIVE_FUNCTIONS = dict(softmap=softmap_objective, per_point=per_point_objective)
