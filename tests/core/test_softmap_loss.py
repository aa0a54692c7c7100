import pytest
import torch

from pointcept_dos import softmap_distillation_loss, zipf_prior, zipf_sinkhorn
from pointcept_dos.core.softmap_loss import scene_log_softmaps


def test_zero_when_student_equals_target():
    torch.manual_seed(0)
    logits = torch.randn(90, 12)
    offset = torch.tensor([40, 90])
    target = scene_log_softmaps(logits, offset).exp()
    loss = softmap_distillation_loss(logits, target, offset)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    # a constant shift per scene and prototype does not change a softmap
    shifted = logits + torch.randn(1, 12)
    assert float(softmap_distillation_loss(shifted, target, offset)) == pytest.approx(0, abs=1e-6)


def test_positive_otherwise_and_matches_explicit_kl():
    torch.manual_seed(1)
    offset = torch.tensor([30, 80])
    student = torch.randn(80, 6)
    target = zipf_sinkhorn(torch.randn(80, 6) * 3, offset, zipf_prior(6, 1.3))
    loss = float(softmap_distillation_loss(student, target, offset))
    assert loss > 0
    explicit = []
    for s, e in [(0, 30), (30, 80)]:
        for k in range(6):
            t = target[s:e, k].double()
            q = torch.softmax(student[s:e, k].double(), 0)
            explicit.append(float((t * (t.log() - q.log())).sum()))
    assert loss == pytest.approx(sum(explicit) / len(explicit), rel=1e-5)


def test_gradcheck_float64():
    torch.manual_seed(2)
    offset = torch.tensor([5, 5, 12])  # includes an empty scene
    target = scene_log_softmaps(torch.randn(12, 4, dtype=torch.float64), offset).exp()
    student = torch.randn(12, 4, dtype=torch.float64, requires_grad=True)

    def f(x):
        # the loss runs in fp32 by design; gradcheck its float64 reference form
        return (torch.xlogy(target, target) - target * scene_log_softmaps(x, offset)).sum() / (2 * 4)

    assert torch.autograd.gradcheck(f, (student,))
    ours = softmap_distillation_loss(student, target, offset)
    ours.backward()
    reference = student.detach().clone().requires_grad_(True)
    f(reference).backward()
    assert torch.allclose(student.grad, reference.grad, atol=1e-6)


def test_gradient_is_student_minus_target_per_scene():
    torch.manual_seed(3)
    offset = torch.tensor([7, 20])
    student = torch.randn(20, 5, requires_grad=True)
    target = scene_log_softmaps(torch.randn(20, 5), offset).exp()
    softmap_distillation_loss(student, target, offset).backward()
    expected = (scene_log_softmaps(student.detach(), offset).exp() - target) / (2 * 5)
    assert torch.allclose(student.grad, expected, atol=1e-6)


def test_masked_points_get_no_gradient():
    """The model passes only visible rows; gradients reach exactly those rows of the full
    student output."""
    torch.manual_seed(4)
    full = torch.randn(50, 8, requires_grad=True)
    visible = torch.rand(50) > 0.6
    visible[0] = visible[30] = True
    counts = torch.stack([visible[:25].sum(), visible[25:].sum()])
    offset = torch.cumsum(counts, 0)
    target = zipf_sinkhorn(torch.randn(int(offset[-1]), 8), offset, zipf_prior(8, 1.3))
    softmap_distillation_loss(full[visible], target, offset).backward()
    assert (full.grad[~visible] == 0).all()
    assert (full.grad[visible].abs().sum(1) > 0).all()


@pytest.mark.parametrize(
    "args, word",
    [
        ((torch.randn(10, 4), torch.rand(10, 5), torch.tensor([10])), "target"),
        ((torch.randn(10, 4), torch.rand(9, 4), torch.tensor([10])), "target"),
        ((torch.randn(10, 4), torch.rand(10, 4), torch.tensor([9])), "offset"),
        ((torch.randn(0, 4), torch.rand(0, 4), torch.tensor([0])), "no non-empty scene"),
    ],
)
def test_rejects_bad_arguments(args, word):
    with pytest.raises((ValueError, TypeError), match=word):
        softmap_distillation_loss(*args)
