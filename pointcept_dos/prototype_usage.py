"""How the teacher spreads points over prototypes: the numbers that tell a plateau from a
collapse (a collapse concentrates usage on a few prototypes, far from the prior)."""

import math

import torch


def prototype_usage(teacher_logits):
    """[N, K] teacher scores -> [K] float64 share of points whose strongest prototype is k."""
    hard = teacher_logits.argmax(dim=1)
    counts = torch.bincount(hard, minlength=teacher_logits.shape[1]).double()
    return counts / counts.sum().clamp_min(1.0)


def usage_statistics(usage, prior, top=10):
    """Summary of a [K] usage distribution against the [K] prior.

    Returns a dict of floats: `effective_prototypes` exp(entropy(usage)), `prior_effective`
    the same for the prior, `kl_to_prior` KL(usage || prior) in nats, `top_mass` the share of
    the `top` most used prototypes.
    """
    usage = usage.double()
    prior = prior.double().to(usage.device)
    entropy = -torch.xlogy(usage, usage).sum()
    prior_entropy = -torch.xlogy(prior, prior).sum()
    kl = (torch.xlogy(usage, usage) - usage * prior.log()).sum()
    top_mass = usage.topk(min(top, usage.numel())).values.sum()
    return dict(
        effective_prototypes=math.exp(float(entropy)),
        prior_effective=math.exp(float(prior_entropy)),
        kl_to_prior=float(kl),
        top_mass=float(top_mass),
    )
