"""A reference for the softmap loss, written independently of the package: float64 throughout."""

import torch


def reference_softmap_kl(student, target, offset):
    """KL(target || softmax over each scene's points of `student`), mean over prototypes and
    non-empty scenes, in float64 with max-shifted sums (finite for any finite float32 scores).
    student, target: [N, K]; offset: [B] cumulative point counts. -> float (nats)."""
    total, scenes = 0.0, 0
    for s, e in zip([0] + offset.tolist()[:-1], offset.tolist()):
        if e > s:
            x, t = student[s:e].double(), target[s:e].double()
            top = x.max(0).values
            log_q = x - (top + torch.log(torch.exp(x - top).sum(0)))
            total += float((torch.xlogy(t, t) - torch.where(t > 0, t * log_q, 0.0)).sum())
            scenes += 1
    return total / (scenes * student.shape[1])
