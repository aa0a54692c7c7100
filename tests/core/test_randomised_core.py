"""Randomised: zipf_sinkhorn + loss calls with adversarial scales, -inf, empty scenes; the loss on
finite scores up to the float limits; patch_visibility on coordinates of any scale, NaN and Inf."""

import math

import numpy as np
import pytest
import torch

from pointcept_dos import (
    patch_visibility,
    softmap_distillation_loss,
    zipf_prior,
    zipf_sinkhorn,
)
from pointcept_dos.core.masking import patch_ids
from reference_kl import reference_softmap_kl


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


def test_randomised_loss_is_a_number_for_any_finite_scores():
    """500 loss calls on finite student scores of every scale up to the float limits (float16,
    bfloat16, float32 up to 3e38, float64 up to 1e300). Every loss is finite, equals a float64
    max-shifted KL, and its gradient is finite; the issue met FloatingPointError in 108 of 2,500."""
    rng = np.random.default_rng(17)
    generator = torch.Generator().manual_seed(17)
    dtypes = {torch.float16: 4, torch.bfloat16: 38, torch.float32: 38, torch.float64: 300}
    extreme = 0
    for _ in range(500):
        k = int(rng.integers(1, 12))
        sizes = rng.choice([0, 1, 2, 5, 13, 30], size=int(rng.integers(1, 4)))
        if sizes.sum() == 0:
            sizes[0] = 3
        offset = torch.tensor(np.cumsum(sizes), dtype=torch.long)
        target = zipf_sinkhorn(torch.randn(int(sizes.sum()), k, generator=generator) * 3, offset,
                               zipf_prior(k, 1.3), scope="scene")
        dtype = list(dtypes)[int(rng.integers(len(dtypes)))]
        scale = 10 ** rng.uniform(-6, dtypes[dtype])
        limit = torch.finfo(dtype).max
        raw = torch.randn(int(sizes.sum()), k, generator=generator, dtype=torch.float64) * scale
        student = raw.clamp(-limit, limit).to(dtype).requires_grad_()
        extreme += scale > 1e30
        loss = softmap_distillation_loss(student, target, offset)
        loss.backward()
        reference = reference_softmap_kl(student.detach(), target, offset)
        assert math.isfinite(loss.item()) and loss.item() >= -1e-5
        assert loss.item() == pytest.approx(reference, rel=1e-4, abs=1e-5)
        assert torch.isfinite(student.grad).all()
    assert extreme > 150  # a fair share of the calls were at the float32 limit or beyond


def test_randomised_patch_visibility_on_coordinates_of_any_scale():
    """400 patch_visibility calls: coordinates 1e-3 to 1e300 m (float16 / float32 / float64),
    some NaN or +-Inf. Finite scenes under 60,000 patches per axis give a mask that hides
    floor(ratio * patches) of each scene's patches, never all; above 70,000 patches, or with
    NaN / Inf, a ValueError names the reason; nothing else is ever raised (the issue met a
    bincount RuntimeError)."""
    rng = np.random.default_rng(5)
    generator = torch.Generator().manual_seed(5)
    outcomes = {"mask": 0, "non-finite": 0, "too many patches": 0}
    for _ in range(400):
        sizes = rng.choice([0, 1, 4, 40, 150], size=int(rng.integers(1, 4)))
        n = int(sizes.sum())
        offset = torch.tensor(np.cumsum(sizes), dtype=torch.long)
        dtype = [torch.float16, torch.float32, torch.float64][int(rng.integers(3))]
        top = {torch.float16: 4.5, torch.float32: 38, torch.float64: 300}[dtype]
        scale = 10 ** rng.uniform(-3, top)
        coord = ((torch.rand(n, 3, generator=generator, dtype=torch.float64) - 0.5) * scale
                 + float(rng.choice([0.0, scale, -scale]))).clamp(-torch.finfo(dtype).max, torch.finfo(dtype).max)
        coord = coord.to(dtype)
        if n and rng.random() < 0.15:
            coord[int(rng.integers(n)), int(rng.integers(3))] = float(rng.choice([np.nan, np.inf, -np.inf]))
        patch, ratio = float(10 ** rng.uniform(-1, 0.5)), float(rng.uniform(0, 0.95))
        finite = bool(torch.isfinite(coord).all())
        spans = [float(((coord[s:e].double().max(0).values - coord[s:e].double().min(0).values) / patch).max())
                 for s, e in zip([0] + offset.tolist()[:-1], offset.tolist()) if e > s] if finite else []
        try:
            visible = patch_visibility(coord, offset, patch, ratio, generator)
        except ValueError as err:
            if not finite:
                assert "coord holds NaN or Inf" in str(err)
                outcomes["non-finite"] += 1
            else:
                assert "patches per axis" in str(err) and max(spans) > 60_000, (str(err), max(spans))
                outcomes["too many patches"] += 1
            continue
        assert finite and (not spans or max(spans) < 70_000)
        outcomes["mask"] += 1
        pid, patch_scene = patch_ids(coord, offset, patch)
        for scene, (s, e) in enumerate(zip([0] + offset.tolist()[:-1], offset.tolist())):
            if e > s:
                patches = int((patch_scene == scene).sum())
                shown = len(pid[s:e][visible[s:e]].unique())
                assert patches - shown == math.floor(patches * ratio) and shown >= 1
    assert min(outcomes.values()) > 40, outcomes
