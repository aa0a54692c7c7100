import pytest
import torch
import torch.nn as nn

from pointcept_dos.core import (
    prototype_counts,
    PrototypeHead,
    ema_update_,
    usage_statistics,
    zipf_prior,
)


def test_head_gives_cosines_and_fixed_prototype_norm():
    torch.manual_seed(0)
    head = PrototypeHead(16, hidden_channels=32, embed_channels=8, num_prototypes=10)
    with torch.no_grad():
        head.prototypes.mul_(7.0)  # the raw norm must not matter
    feat = torch.randn(20, 16)
    cos = head(feat)
    assert cos.shape == (20, 10)
    assert cos.abs().max() <= 1 + 1e-5
    emb = head.embed(feat)
    protos = head.prototypes / head.prototypes.norm(dim=1, keepdim=True)
    assert torch.allclose(cos, emb @ protos.t(), atol=1e-6)
    assert torch.allclose(emb.norm(dim=1), torch.ones(20), atol=1e-5)
    # a prototype equal to a point's embedding scores 1 for it
    with torch.no_grad():
        head.prototypes[3] = emb[5] * 2.5
    assert float(head(feat)[5, 3].detach()) == pytest.approx(1.0, abs=1e-5)


def test_head_gradient_reaches_prototypes_and_mlp():
    head = PrototypeHead(4, 8, 4, 6)
    head(torch.randn(5, 4)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


@pytest.mark.parametrize("name", ["in_channels", "num_prototypes", "num_layers"])
def test_head_rejects_bad_arguments(name):
    kwargs = dict(in_channels=4, hidden_channels=8, embed_channels=4, num_prototypes=6, num_layers=2)
    kwargs[name] = 0
    with pytest.raises(ValueError, match=name):
        PrototypeHead(**kwargs)


def test_ema_update_math_and_buffers():
    torch.manual_seed(1)
    student = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    teacher = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    student[1].running_mean.fill_(2.0)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    ema_update_(teacher, student, 0.9)
    for k, v in teacher.state_dict().items():
        if k.endswith("num_batches_tracked"):
            assert torch.equal(v, before[k])
        else:
            assert torch.allclose(v, 0.9 * before[k] + 0.1 * student.state_dict()[k])


def test_ema_momentum_extremes():
    student, teacher = nn.Linear(3, 3), nn.Linear(3, 3)
    frozen = teacher.weight.clone()
    ema_update_(teacher, student, 1.0)
    assert torch.equal(teacher.weight, frozen)
    ema_update_(teacher, student, 0.0)
    assert torch.equal(teacher.weight, student.weight)


def test_ema_rejects_structure_mismatch_and_bad_momentum():
    with pytest.raises(ValueError, match="shapes"):
        ema_update_(nn.Linear(3, 4), nn.Linear(3, 5), 0.9)
    with pytest.raises(ValueError, match="mismatched"):
        ema_update_(nn.Linear(3, 4), nn.Linear(3, 4, bias=False), 0.9)
    with pytest.raises(ValueError, match="momentum"):
        ema_update_(nn.Linear(3, 4), nn.Linear(3, 4), 1.5)


def test_usage_statistics():
    prior = zipf_prior(64, 1.3)
    stats = usage_statistics(prior, prior)
    assert stats["kl_to_prior"] == pytest.approx(0.0, abs=1e-12)
    assert stats["effective_prototypes"] == pytest.approx(stats["prior_effective"])
    collapsed = torch.zeros(64, dtype=torch.float64)
    collapsed[5] = 1.0
    stats = usage_statistics(collapsed, prior)
    assert stats["effective_prototypes"] == pytest.approx(1.0)
    assert stats["top_mass"] == pytest.approx(1.0)
    assert stats["kl_to_prior"] == pytest.approx(-float(prior[5].log()))


def test_prototype_counts_counts_argmax():
    logits = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.5]])
    assert prototype_counts(logits).tolist() == [1, 2, 1]
