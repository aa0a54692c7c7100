"""The Zipf (power-law) prior over prototypes used as the column marginal of Zipf-Sinkhorn."""

import torch

from .validation import check_positive_int, check_real


def zipf_prior(num_prototypes, alpha, dtype=torch.float64, device=None):
    """Zipf prior w_k = k^-alpha / sum_j j^-alpha for k = 1..K.

    Args:
        num_prototypes: K >= 1.
        alpha: exponent >= 0; 0 gives the uniform prior 1/K. The paper's default is 1.3;
            values of 2 and above were reported unstable.
    Returns:
        [K] tensor summing to 1, non-increasing in k (prototype 0 carries the most mass).
    """
    check_positive_int("num_prototypes", num_prototypes)
    check_real("alpha", alpha, low=0.0)
    ranks = torch.arange(1, num_prototypes + 1, dtype=torch.float64, device=device)
    # normalise in the log domain: k^-alpha underflows for large K and alpha
    log_w = -alpha * torch.log(ranks)
    return torch.softmax(log_w, dim=0).to(dtype)
