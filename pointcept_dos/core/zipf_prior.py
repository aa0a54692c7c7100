"""The Zipf (power-law) prior over prototypes used as the column marginal of Zipf-Sinkhorn."""

import math

import torch

from .validation import check_positive_int, check_real


def _log_weights(num_prototypes, alpha, device=None):
    """[K] float64 log w_k, normalised in the log domain (k^-alpha underflows for large K and alpha)."""
    ranks = torch.arange(1, num_prototypes + 1, dtype=torch.float64, device=device)
    return torch.log_softmax(-alpha * torch.log(ranks), dim=0)


def _largest_alpha(num_prototypes, log_tiny):
    """The largest alpha whose smallest weight w_K stays >= exp(log_tiny), by bisection
    (log w_K falls monotonically with alpha)."""
    low, high = 0.0, -log_tiny / math.log(num_prototypes)  # w_K <= K^-alpha bounds it above
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if float(_log_weights(num_prototypes, mid)[-1]) >= log_tiny else (low, mid)
    return low


def zipf_prior(num_prototypes, alpha, dtype=torch.float64, device=None):
    """Zipf prior w_k = k^-alpha / sum_j j^-alpha for k = 1..K.

    Args:
        num_prototypes: K >= 1 (a Python or numpy integer).
        alpha: exponent >= 0; 0 gives the uniform prior 1/K. The paper's default is 1.3;
            values of 2 and above were reported unstable.
        dtype: floating dtype of the result; computed in float64 and cast.
    Returns:
        [K] tensor summing to 1, non-increasing in k (prototype 0 carries the most mass).
        Every weight is a normal number of `dtype`, never 0.
    Raises:
        ValueError: when the smallest weight w_K would underflow `dtype` (below its smallest
            normal number): the message gives the largest alpha `dtype` can hold for this K
            (float32, K=256: about 15.7; float64: about 127). Zeros in a prior would make
            Sinkhorn refuse it, or silently drop prototypes.
    """
    check_positive_int("num_prototypes", num_prototypes)
    check_real("alpha", alpha, low=0.0)
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    log_w = _log_weights(int(num_prototypes), float(alpha), device)
    log_tiny = math.log(torch.finfo(dtype).tiny)
    if float(log_w[-1]) < log_tiny:
        raise ValueError(
            f"zipf_prior(num_prototypes={num_prototypes}, alpha={alpha}) in {dtype}: the smallest "
            f"weight, exp({float(log_w[-1]):.4g}), underflows {dtype} (smallest normal "
            f"{torch.finfo(dtype).tiny:.3g}); expected alpha <= "
            f"{_largest_alpha(int(num_prototypes), log_tiny):.4g} for K={num_prototypes} in "
            f"{dtype}, or a wider dtype"
        )
    return log_w.exp().to(dtype)
