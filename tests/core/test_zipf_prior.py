import math

import pytest
import torch

from pointcept_dos import zipf_prior


def test_sums_to_one_and_decreases():
    w = zipf_prior(4096, 1.3)
    assert w.shape == (4096,)
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    assert (w[1:] < w[:-1]).all()


def test_ratio_follows_power_law():
    w = zipf_prior(100, 1.6)
    # w_k / w_1 = k^-alpha
    assert float(w[9] / w[0]) == pytest.approx(10 ** -1.6, rel=1e-9)


def test_paper_figures_at_k1024_alpha13():
    w = zipf_prior(1024, 1.3)
    entropy = -float((w * w.log()).sum())
    assert math.exp(entropy) == pytest.approx(42.9, abs=0.1)
    assert float(w[0]) == pytest.approx(0.285, abs=0.001)


def test_alpha_zero_is_uniform():
    w = zipf_prior(7, 0.0)
    assert torch.allclose(w, torch.full((7,), 1 / 7, dtype=torch.float64))


def test_large_alpha_and_k_stay_finite():
    w = zipf_prior(100000, 8.0)
    assert torch.isfinite(w).all() and (w > 0).all()
    assert float(w.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(num_prototypes=0, alpha=1.0), "num_prototypes"),
        (dict(num_prototypes=2.5, alpha=1.0), "num_prototypes"),
        (dict(num_prototypes=8, alpha=-0.1), "alpha"),
        (dict(num_prototypes=8, alpha=float("nan")), "alpha"),
    ],
)
def test_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        zipf_prior(**kwargs)
