"""The core at its edges: -inf scores mean "never assigned" and never give NaN; a point no
prototype may take is an error; the loss, the schedules and the prior check their inputs; numpy
integers pass where Python ones do."""

import re

import numpy as np
import pytest
import torch

from pointcept_dos import (
    CosineSchedule,
    PrototypeHead,
    WarmupConstantSchedule,
    patch_visibility,
    sinkhorn_log_plan,
    softmap_distillation_loss,
    zipf_prior,
    zipf_sinkhorn,
)
from pointcept_dos.core.validation import check_non_negative_int, check_positive_int
from reference_kl import reference_softmap_kl



def _column_sums(target, offset):
    bounds = zip([0] + offset.tolist()[:-1], offset.tolist())
    return torch.stack([target[s:e].sum(0) for s, e in bounds])


@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_minus_inf_column_is_never_assigned_and_the_rest_stays_exact(scope):
    torch.manual_seed(0)
    logits = torch.randn(60, 8) * 3
    logits[:, 2] = -torch.inf  # prototype 2: no point may take it
    logits[:20, 5] = -torch.inf  # prototype 5: not in scene 0
    offset = torch.tensor([20, 45, 60])
    target = zipf_sinkhorn(logits, offset, zipf_prior(8, 1.3), scope=scope)
    assert torch.isfinite(target).all() and (target >= 0).all()
    assert (target[logits == -torch.inf] == 0).all()
    sums = _column_sums(target, offset)
    expected = torch.ones(3, 8)
    expected[:, 2] = 0
    expected[0, 5] = 0
    torch.testing.assert_close(sums, expected, atol=1e-5, rtol=0)
    plan = sinkhorn_log_plan(logits, zipf_prior(8, 1.3)).exp()
    assert torch.isfinite(plan).all() and float(plan[:, 2].sum()) == 0


@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_minus_inf_in_a_one_point_scene(scope):
    logits = torch.tensor([[0.5, -torch.inf, 2.0], [0.1, 0.2, 0.3], [1.0, -1.0, -torch.inf]])
    target = zipf_sinkhorn(logits, torch.tensor([1, 3]), zipf_prior(3, 1.3), scope=scope)
    assert torch.isfinite(target).all()
    torch.testing.assert_close(target[0], torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(target[1:].sum(0), torch.ones(3))
    assert target[2, 2] == 0 and target[1, 2] == 1


@pytest.mark.parametrize("bad, words", [
    ("row", r"logits row 1 is -inf for every prototype .* every point must carry 1/N"),
    ("nan", r"logits contain NaN or \+inf \(1 of 4 rows, first row 2\)"),
    ("+inf", r"logits contain NaN or \+inf"),
])
def test_no_valid_assignment_is_a_clear_error(bad, words):
    logits = torch.randn(4, 3)
    if bad == "row":
        logits[1] = -torch.inf
    else:
        logits[2, 0] = torch.nan if bad == "nan" else torch.inf
    with pytest.raises(ValueError, match=words):
        zipf_sinkhorn(logits, torch.tensor([4]), zipf_prior(3, 1.3))


def _scene_target(n=30, k=6):
    return zipf_sinkhorn(torch.randn(n, k) * 2, torch.tensor([n]), zipf_prior(k, 1.3))


@pytest.mark.parametrize("case, words", [
    ("student nan", r"student_logits hold 1 NaN or Inf entries"),
    ("student inf", r"student_logits hold 1 NaN or Inf entries"),
    ("target nan", r"target holds 1 NaN or Inf and 0 negative entries"),
    ("target negative", r"target holds 0 NaN or Inf and 1 negative entries"),
    ("target not a softmap",
     r"target column \d of scene 0 sums to .*: expected each scene's column to sum to 1"),
])
def test_loss_validates_its_inputs(case, words):
    torch.manual_seed(1)
    student, target = torch.randn(30, 6), _scene_target()
    if case.startswith("student"):
        student[4, 2] = torch.nan if case == "student nan" else -torch.inf
    elif case == "target nan":
        target[3, 1] = torch.nan
    elif case == "target negative":
        target[3, 1] = -1e-3
    else:
        target = torch.rand(30, 6)
    with pytest.raises(ValueError, match=words):
        softmap_distillation_loss(student, target, torch.tensor([30]))


def test_loss_accepts_a_prototype_no_point_may_take():
    logits = torch.randn(30, 6)
    logits[:, 4] = -torch.inf
    target = zipf_sinkhorn(logits, torch.tensor([30]), zipf_prior(6, 1.3))
    student = torch.randn(30, 6, requires_grad=True)
    loss = softmap_distillation_loss(student, target, torch.tensor([30]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert (student.grad[:, 4] == 0).all()  # nothing to distil for prototype 4


def _alpha_limit(message):
    return float(re.search(r"expected alpha <= ([\d.]+)", message).group(1))


@pytest.mark.parametrize("dtype, k", [(torch.float32, 256), (torch.float32, 4096), (torch.float64, 256),
                                      (torch.float16, 64)])
def test_zipf_prior_never_returns_zeros_and_names_the_alpha_limit(dtype, k):
    with pytest.raises(ValueError, match=rf"underflows {dtype}.*expected alpha <= [\d.]+ for K={k}") as info:
        zipf_prior(k, 200.0, dtype=dtype)
    limit = _alpha_limit(str(info.value))
    below = zipf_prior(k, limit * 0.999, dtype=dtype)
    assert below.dtype == dtype and (below >= torch.finfo(dtype).tiny).all()
    assert float(below.double().sum()) == pytest.approx(1.0, abs=1e-2 if dtype == torch.float16 else 1e-6)
    with pytest.raises(ValueError, match="underflows"):
        zipf_prior(k, limit * 1.001, dtype=dtype)
    # what the issue met: float32 K=256 alpha=50 gave exact zeros; float64 holds it
    if dtype == torch.float32 and k == 256:
        assert 15 < limit < 16
        assert (zipf_prior(256, 50.0) > 0).all()


def test_numpy_scalars_pass_where_python_numbers_do():
    for value in (np.int8(3), np.int32(3), np.int64(3), np.uint16(3)):
        check_positive_int("n", value)
        check_non_negative_int("n", value)
    for value in (True, 3.0, np.float64(3.0), "3"):
        with pytest.raises(ValueError, match="n must be a"):
            check_positive_int("n", value)
    prior = zipf_prior(np.int64(8), np.float32(1.3))
    torch.testing.assert_close(prior, zipf_prior(8, 1.3), rtol=1e-6, atol=0)
    logits, offset = torch.randn(20, 8), torch.tensor([20])
    torch.testing.assert_close(zipf_sinkhorn(logits, offset, prior, num_iters=np.int32(3)),
                               zipf_sinkhorn(logits, offset, prior, num_iters=3))
    assert CosineSchedule(np.float32(0.5), 1.0)(np.int64(10), np.int64(10)) == 1.0
    assert WarmupConstantSchedule(0.04, 0.07, np.float32(0.5))(np.int64(5), np.int16(20)) == pytest.approx(0.055)
    coord = torch.rand(500, 3) * 3
    visible = patch_visibility(coord, torch.tensor([500]), np.float64(0.4), np.float32(0.5),
                               torch.Generator().manual_seed(0))
    assert 0 < int(visible.sum()) < 500
    head = PrototypeHead(in_channels=np.int64(4), hidden_channels=np.int64(8), embed_channels=np.int64(4),
                         num_prototypes=np.int64(6), num_layers=np.int64(2))
    assert head(torch.randn(3, 4)).shape == (3, 6)


@pytest.mark.parametrize("dtype, spread, loss_dtype", [
    (torch.float32, 3e38, torch.float64),  # float32 overflows: computed again in float64
    (torch.float32, 1e36, torch.float32),
    (torch.float64, 1e300, torch.float64),  # was cast to float32 (inf) before the loss
])
def test_loss_is_a_number_for_extreme_finite_scores(dtype, spread, loss_dtype):
    # the issue: finite scores ~1e38 apart raised FloatingPointError (float32 overflow, 0 * -inf)
    torch.manual_seed(2)
    target = _scene_target(30, 6)
    student = (torch.rand(30, 6, dtype=torch.float64) * 2 - 1).mul(spread).to(dtype).requires_grad_()
    loss = softmap_distillation_loss(student, target, torch.tensor([30]))
    assert loss.dtype == loss_dtype and torch.isfinite(loss)
    reference = reference_softmap_kl(student.detach(), target, torch.tensor([30]))
    assert loss.item() == pytest.approx(reference, rel=1e-9 if loss_dtype == torch.float64 else 1e-5)
    assert loss.item() > spread * 1e-3  # the student's softmaps are one-hot far from the target
    loss.backward()
    # d KL / d score = (student softmap - target) / (scenes * K): bounded whatever the scores
    expected = (torch.softmax(student.detach().double(), 0) - target.double()) / 6
    torch.testing.assert_close(student.grad.double(), expected, atol=1e-6, rtol=0)


def test_loss_keeps_float32_for_ordinary_scores():
    torch.manual_seed(3)
    target = _scene_target(30, 6)
    loss = softmap_distillation_loss(torch.randn(30, 6) / 0.1, target, torch.tensor([30]))
    assert loss.dtype == torch.float32
    assert softmap_distillation_loss(torch.randn(30, 6, dtype=torch.float16), target,
                                     torch.tensor([30])).dtype == torch.float32


def test_loss_beyond_float64_is_named():
    student = torch.zeros(4, 2, dtype=torch.float64)
    student[0], student[1] = 1.7e308, -1.7e308
    target = torch.full((4, 2), 0.25, dtype=torch.float64)
    with pytest.raises(FloatingPointError, match=r"softmap loss is inf for finite inputs: student_logits "
                                                 r"span \[-1.7e\+308, 1.7e\+308\], beyond what torch.float64 can hold"):
        softmap_distillation_loss(student, target, torch.tensor([4]))


@pytest.mark.parametrize("case, words", [
    ("nan", r"coord holds NaN or Inf in 1 of 200 points \(first at row 7\): expected finite coordinates"),
    ("inf", r"coord holds NaN or Inf in 1 of 200 points \(first at row 7\)"),
    ("-inf", r"coord holds NaN or Inf in 1 of 200 points \(first at row 7\)"),
    ("1e25", r"patch_size=0.4 m cuts a scene into more than 65536 patches per axis .*: is coord in metres\?"),
    ("float32 extremes", r"cuts a scene into more than 65536 patches per axis"),
])
def test_patch_visibility_names_coordinates_it_cannot_cut(case, words):
    # the issue: NaN / Inf went through, huge finite values raised bincount's RuntimeError
    coord = torch.rand(200, 3) * 3
    if case in ("nan", "inf", "-inf"):
        coord[7, 1] = float(case)
    elif case == "1e25":
        coord = coord.double() * 1e25
    else:
        coord[::2, 0], coord[1::2, 0] = -3e38, 3e38  # finite, but their difference is not
    with pytest.raises(ValueError, match=words):
        patch_visibility(coord, torch.tensor([200]), 0.4, 0.5, torch.Generator().manual_seed(0))
