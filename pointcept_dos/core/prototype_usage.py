"""How the teacher spreads points over prototypes: the numbers that tell a plateau from a
collapse (a collapse concentrates usage on a few prototypes, far from the prior)."""

import math

import torch


def prototype_counts(scores):
    """[N, K] teacher scores (cosines or logits) -> [K] int64 number of points whose strongest
    prototype is k. The one usage count of the package: summed over steps by the model, over
    scenes by the demo report, normalised by `usage_statistics`'s callers."""
    return torch.bincount(scores.argmax(dim=1), minlength=scores.shape[1])


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
