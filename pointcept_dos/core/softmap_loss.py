"""Observable softmap distillation loss.

A softmap of prototype k is a distribution over one scene's points. The student's softmap is
the softmax over the scene's *visible* points of its scores for k; the target comes from
Zipf-Sinkhorn on the teacher. The loss is KL(target || student), averaged over prototypes and
scenes. Only visible points are ever passed in, so masked points can neither be predicted nor
leak gradient.
"""

import torch

from .segments import offset_to_bounds
from .validation import check_matrix, check_offset, check_real

# a target column of one scene must sum to 1 (or 0: no point may take the prototype); loose
# enough for bf16 targets, tight enough to catch a plan (columns w_k) or raw scores
_TARGET_SUM_TOLERANCE = 1e-2


def scene_log_softmaps(logits, offset):
    """[N, K] scores -> [N, K] log softmaps: log-softmax over each scene's points (dim 0)."""
    return torch.cat(
        [torch.log_softmax(logits[s:e], dim=0) for s, e in offset_to_bounds(offset)]
    )


def _kl(student_logits, target, offset, num_scenes, dtype):
    """The loss computed in `dtype` (see softmap_distillation_loss)."""
    target = target.to(dtype)
    log_student = scene_log_softmaps(student_logits.to(dtype), offset)
    kl = torch.xlogy(target, target) - target * log_student
    return kl.sum() / (num_scenes * student_logits.shape[1])


def _check_values(student_logits, target, offset, loss):
    """NaN / Inf scores, NaN / Inf / negative targets (each makes `loss` non-finite), target
    columns not summing to 1 per scene: one pass over the target and one host sync when all is
    well; the inputs are searched only on failure, for the message. Returns True when `loss`
    is finite; False when the inputs are valid and the loss still is not (it overflowed)."""
    # a mat-vec per scene sums columns several times faster than index_add / sum(dim=0) on CPU
    sums = torch.stack([target.new_ones(end - start) @ target[start:end]
                        for start, end in offset_to_bounds(offset)])
    sums_ok = (((sums - 1).abs() <= _TARGET_SUM_TOLERANCE) | (sums == 0)).all()
    if bool(torch.isfinite(loss.detach()) & sums_ok):
        return True
    bad_scores = int((~torch.isfinite(student_logits.detach())).sum())
    if bad_scores:
        raise ValueError(
            f"student_logits hold {bad_scores} NaN or Inf entries: expected finite scores (the "
            "student diverged, or a temperature of 0 divided them)"
        )
    nan, negative = int((~torch.isfinite(target)).sum()), int((target < 0).sum())
    if nan or negative:
        raise ValueError(
            f"target holds {nan} NaN or Inf and {negative} negative entries: expected softmaps "
            "(finite, >= 0) as zipf_sinkhorn returns"
        )
    wrong = ((sums - 1).abs() > _TARGET_SUM_TOLERANCE) & (sums != 0)
    if wrong.any():
        scene, proto = (int(i) for i in torch.nonzero(wrong)[0])
        raise ValueError(
            f"target column {proto} of scene {scene} sums to {float(sums[scene, proto]):.6g}: "
            "expected each scene's column to sum to 1 (a softmap over its points, as "
            "zipf_sinkhorn returns) or to 0"
        )
    return False


def softmap_distillation_loss(student_logits, target, offset):
    """KL(target softmap || student softmap), mean over prototypes and non-empty scenes.

    Args:
        student_logits: [N, K] finite student scores at the visible points, already divided
            by the student temperature (0.1 by default in DOS).
        target: [N, K] target softmaps from `zipf_sinkhorn`: finite, >= 0, each scene's
            column summing to 1 (or to 0 for a prototype no point of the scene may take).
        offset: [B] int cumulative point counts per scene, shared by both.
    Returns:
        scalar loss (nats), differentiable w.r.t. `student_logits`; 0 iff the student's
        softmaps equal the target. float32, or float64 for float64 scores and for finite
        scores so far apart (~1e38) that float32 overflows on them.
    Raises:
        ValueError: naming the argument, for NaN / Inf student scores, NaN / Inf / negative
            targets, target columns that do not sum to 1 (or 0) per scene, a bad offset, or
            an offset with no non-empty scene.
        FloatingPointError: finite scores whose loss overflows float64 too (~1e308 apart).
    """
    check_matrix("student_logits", student_logits)
    check_matrix("target", target, *student_logits.shape)
    check_offset(offset, student_logits.shape[0])
    num_scenes = int((torch.diff(offset, prepend=offset.new_zeros(1)) > 0).sum())
    if num_scenes == 0:
        raise ValueError("offset describes no non-empty scene: nothing to distil")
    dtype = torch.float64 if student_logits.dtype == torch.float64 else torch.float32
    target = target.detach().to(dtype)
    loss = _kl(student_logits, target, offset, num_scenes, dtype)
    if _check_values(student_logits, target, offset, loss):
        return loss
    # finite scores so far apart that log-softmax overflows (or gives 0 * -inf): float64 holds
    # any float32 range; the gradient, softmax - target, is bounded whatever the scores
    if dtype != torch.float64:
        loss = _kl(student_logits, target, offset, num_scenes, torch.float64)
        if bool(torch.isfinite(loss.detach())):
            return loss
    raise FloatingPointError(
        f"softmap loss is {float(loss)} for finite inputs: student_logits span "
        f"[{float(student_logits.min()):.3g}, {float(student_logits.max()):.3g}], beyond what "
        f"{loss.dtype} can hold; expected scores divided by a temperature (|score| <= 1 / tau_S)"
    )


class SoftmapDistillationLoss(torch.nn.Module):
    """Module form of `softmap_distillation_loss`, registered in Pointcept's LOSSES.

    Follows Pointcept's criterion contract, `criterion(pred, target)`, so it can be built by
    `build_criteria([dict(type="SoftmapDistillationLoss", student_temp=0.1)])` and summed with
    other criteria.

    Args:
        student_temp: tau_S; the student's cosine scores are divided by it (0.1 in DOS).
        loss_weight: scale of the returned loss.
    Forward:
        pred: [N, K] student cosine scores at the visible (matched) points.
        target: dict(softmap=[N, K] target softmaps from `zipf_sinkhorn`, offset=[B] the
            scenes of both).
        -> scalar weighted KL (nats).
    """

    def __init__(self, student_temp=0.1, loss_weight=1.0):
        super().__init__()
        check_real("student_temp", student_temp, low=0.0, low_open=True)
        check_real("loss_weight", loss_weight, low=0.0)
        self.student_temp = student_temp
        self.loss_weight = loss_weight

    def forward(self, pred, target):
        if not isinstance(target, dict) or not {"softmap", "offset"} <= set(target):
            raise TypeError(
                "target must be dict(softmap=[N, K] tensor, offset=[B] tensor), got "
                f"{type(target).__name__}"
                + (f" with keys {sorted(target)}" if isinstance(target, dict) else "")
            )
        loss = softmap_distillation_loss(pred / self.student_temp, target["softmap"], target["offset"])
        return loss * self.loss_weight
