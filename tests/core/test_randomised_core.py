"""Randomised: zipf_sinkhorn + loss calls with adversarial scales, -inf, empty scenes."""



import numpy as np
import pytest
import torch

from pointcept_dos import (
    softmap_distillation_loss,
    zipf_prior,
    zipf_sinkhorn,
)



def test_randomised_sinkhorn_and_loss_never_return_nan():
    """1,200 seeded zipf_sinkhorn + loss calls: scales 1e-6..1e4, -inf entries, empty scenes,
    one-point scenes, K from 1 to 17. No NaN ever; every scene's column sums to 1 where any of
    its scores is finite, to 0 where all are -inf; a -inf score gets exactly 0; a point with
    only -inf scores is refused, never turned into NaN."""
    rng = np.random.default_rng(2024)
    generator = torch.Generator().manual_seed(2024)
    calls = refused = 0
    for _ in range(1200):
        k = int(rng.integers(1, 18))
        sizes = rng.choice([0, 1, 2, 3, 7, 20, 41], size=int(rng.integers(1, 5)))
        n = int(sizes.sum())
        offset = torch.tensor(np.cumsum(sizes), dtype=torch.long)
        scale = float(10 ** rng.uniform(-6, 4))
        dtype = torch.float64 if rng.random() < 0.2 else torch.float32
        logits = (torch.randn(n, k, generator=generator, dtype=torch.float64) * scale).to(dtype)
        if rng.random() < 0.5:
            logits[torch.rand(n, k, generator=generator) < rng.choice([0.1, 0.5, 0.9])] = -torch.inf
        if rng.random() < 0.2 and k > 1:
            logits[:, int(rng.integers(k))] = -torch.inf
        prior = zipf_prior(k, float(rng.uniform(0, 3)))
        scope = "scene" if rng.random() < 0.5 else "batch"
        iters = int(rng.integers(1, 6))
        calls += 1
        if n and (logits == -torch.inf).all(1).any():
            with pytest.raises(ValueError, match="-inf for every prototype"):
                zipf_sinkhorn(logits, offset, prior, num_iters=iters, scope=scope)
            refused += 1
            continue
        target = zipf_sinkhorn(logits, offset, prior, num_iters=iters, scope=scope)
        assert target.shape == (n, k) and not torch.isnan(target).any() and (target >= 0).all()
        assert (target[logits == -torch.inf] == 0).all()
        for s, e in zip([0] + offset.tolist()[:-1], offset.tolist()):
            if e > s:
                live = (logits[s:e] > -torch.inf).any(0).float()
                torch.testing.assert_close(target[s:e].sum(0), live, atol=1e-4, rtol=0)
        student = (torch.randn(n, k, generator=generator) * float(10 ** rng.uniform(-6, 4))).requires_grad_()
        if n == 0:
            with pytest.raises(ValueError, match="nothing to distil"):
                softmap_distillation_loss(student, target, offset)
            continue
        loss = softmap_distillation_loss(student, target, offset)
        loss.backward()
        assert torch.isfinite(loss) and float(loss.detach()) > -1e-5
        assert torch.isfinite(student.grad).all()
    assert calls == 1200 and 0 < refused < 400
