import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pointcept_dos import sinkhorn_log_plan, zipf_prior, zipf_sinkhorn


def scene_column_sums(target, offset):
    bounds = zip([0] + offset.tolist()[:-1], offset.tolist())
    return torch.stack([target[s:e].sum(0) for s, e in bounds])


def plain_uniform_softmaps(logits, offset, num_iters):
    """Uniform Sinkhorn as DINOv2 / Sonata write it (exp domain, prototypes x points), then
    DOS's per-scene column normalisation. Independent of the implementation under test."""
    q = torch.exp(logits.double()).t()
    q /= q.sum()
    k, n = q.shape
    for _ in range(num_iters):
        q /= q.sum(dim=0, keepdim=True)
        q /= n
        q /= q.sum(dim=1, keepdim=True)
        q /= k
    q = q.t()
    bounds = zip([0] + offset.tolist()[:-1], offset.tolist())
    return torch.cat([q[s:e] / q[s:e].sum(0) for s, e in bounds])


def test_scene_columns_sum_to_one():
    torch.manual_seed(0)
    logits = torch.randn(600, 32) * 5
    offset = torch.tensor([100, 350, 600])
    target = zipf_sinkhorn(logits, offset, zipf_prior(32, 1.3))
    assert target.shape == logits.shape and target.dtype == torch.float32
    assert (target >= 0).all()
    assert torch.allclose(scene_column_sums(target, offset), torch.ones(3, 32), atol=1e-5)


def test_marginals_converge_to_rows_uniform_columns_prior():
    torch.manual_seed(1)
    n, k = 400, 50
    logits = torch.randn(n, k) * 3
    prior = zipf_prior(k, 1.3)
    plan = sinkhorn_log_plan(logits, prior, num_iters=300).exp()
    assert torch.allclose(plan.sum(0), prior, atol=1e-10)
    assert torch.allclose(plan.sum(1), torch.full((n,), 1 / n, dtype=torch.float64), rtol=1e-6)


def test_few_iterations_give_exact_columns_only():
    torch.manual_seed(2)
    logits = torch.randn(300, 20) * 4
    prior = zipf_prior(20, 1.3)
    plan = sinkhorn_log_plan(logits, prior, num_iters=1).exp()
    assert torch.allclose(plan.sum(0), prior, atol=1e-12)
    assert not torch.allclose(plan.sum(1), torch.full((300,), 1 / 300, dtype=torch.float64), rtol=1e-3)


def test_prior_shapes_the_target():
    """Under a Zipf prior the head prototype takes more of the plan than under a uniform one."""
    torch.manual_seed(3)
    logits = torch.randn(500, 16)
    head_mass = []
    for alpha in (0.0, 1.3):
        plan = sinkhorn_log_plan(logits, zipf_prior(16, alpha), num_iters=50).exp()
        head_mass.append(float(plan[:, 0].sum()))
    assert head_mass[0] == pytest.approx(1 / 16, rel=1e-6)
    assert head_mass[1] == pytest.approx(float(zipf_prior(16, 1.3)[0]), rel=1e-6)


@pytest.mark.parametrize("num_iters", [1, 3, 10])
def test_alpha_zero_matches_plain_uniform_sinkhorn(num_iters):
    torch.manual_seed(4)
    logits = torch.randn(700, 64) * 4
    offset = torch.tensor([300, 700])
    ours = zipf_sinkhorn(logits, offset, zipf_prior(64, 0.0), num_iters=num_iters)
    reference = plain_uniform_softmaps(logits, offset, num_iters)
    assert torch.allclose(ours.double(), reference, atol=1e-6)


def test_scene_scope_is_per_scene():
    torch.manual_seed(5)
    a, b = torch.randn(200, 24) * 3, torch.randn(150, 24) * 3 + 2
    prior = zipf_prior(24, 1.3)
    both = zipf_sinkhorn(torch.cat([a, b]), torch.tensor([200, 350]), prior, scope="scene")
    alone_a = zipf_sinkhorn(a, torch.tensor([200]), prior)
    alone_b = zipf_sinkhorn(b, torch.tensor([150]), prior)
    assert torch.allclose(both, torch.cat([alone_a, alone_b]), atol=1e-6)
    # batch scope couples the scenes, so it must differ
    coupled = zipf_sinkhorn(torch.cat([a, b]), torch.tensor([200, 350]), prior, scope="batch")
    assert not torch.allclose(coupled[:200], alone_a, atol=1e-4)


@pytest.mark.parametrize(
    "logits, offset",
    [
        (torch.randn(64, 16) * 1e4, torch.tensor([1, 30, 64])),
        (torch.linspace(-1e4, 1e4, 64 * 16).reshape(64, 16), torch.tensor([64])),
        (torch.randn(1, 16), torch.tensor([1])),
        (torch.zeros(10, 16), torch.tensor([0, 10, 10])),
    ],
)
@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_extreme_inputs_stay_finite(logits, offset, scope):
    target = zipf_sinkhorn(logits, offset, zipf_prior(16, 1.3), scope=scope)
    assert torch.isfinite(target).all()
    nonempty = torch.diff(offset, prepend=torch.zeros(1, dtype=offset.dtype)) > 0
    sums = scene_column_sums(target, offset)[nonempty]
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4)


def test_extreme_logits_match_float64_log_domain_reference():
    """Where the fp32 kernel underflows, the exact log-domain repair must agree with a naive
    float64 log-domain Sinkhorn."""
    torch.manual_seed(6)
    logits = torch.randn(40, 8, dtype=torch.float64) * 300
    prior = zipf_prior(8, 1.3)
    a = torch.zeros(40, dtype=torch.float64)
    b = torch.zeros(8, dtype=torch.float64)
    for _ in range(3):
        a = -torch.log(torch.tensor(40.0, dtype=torch.float64)) - torch.logsumexp(logits + b, 1)
        b = prior.log() - torch.logsumexp(logits + a[:, None], 0)
    reference = torch.softmax(logits + a[:, None], dim=0)
    ours = zipf_sinkhorn(logits.float(), torch.tensor([40]), prior)
    assert torch.allclose(ours.double(), reference, atol=1e-4)


def test_tiny_tail_masses():
    prior = zipf_prior(4096, 2.0)  # tail mass ~ 3.6e-8
    assert float(prior[-1]) < 1e-7
    torch.manual_seed(7)
    target = zipf_sinkhorn(torch.randn(2000, 4096) * 10, torch.tensor([2000]), prior)
    assert torch.isfinite(target).all()
    assert torch.allclose(target.sum(0), torch.ones(4096), atol=1e-4)


def test_autocast_and_half_inputs_match_float32():
    torch.manual_seed(8)
    logits = torch.randn(256, 32) * 10
    offset = torch.tensor([100, 256])
    prior = zipf_prior(32, 1.3)
    ref = zipf_sinkhorn(logits, offset, prior)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = zipf_sinkhorn(logits, offset, prior)
    assert under_autocast.dtype == torch.float32
    assert torch.allclose(under_autocast, ref, atol=1e-6)
    from_bf16 = zipf_sinkhorn(logits.bfloat16(), offset, prior)
    assert torch.allclose(from_bf16, zipf_sinkhorn(logits.bfloat16().float(), offset, prior))


def test_no_gradient_flows_to_teacher():
    logits = torch.randn(30, 8, requires_grad=True)
    target = zipf_sinkhorn(logits, torch.tensor([30]), zipf_prior(8, 1.3))
    assert not target.requires_grad


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(logits=torch.randn(10)), "logits"),
        (dict(logits=torch.randint(0, 3, (10, 8))), "logits"),
        (dict(offset=torch.tensor([5, 9])), "offset"),
        (dict(offset=torch.tensor([6, 4, 10])), "offset"),
        (dict(offset=torch.tensor([5.0, 10.0])), "offset"),
        (dict(prior=torch.ones(7) / 7), "prior"),
        (dict(prior=torch.ones(8)), "prior"),
        (dict(num_iters=0), "num_iters"),
        (dict(scope="global"), "scope"),
        (dict(logits=torch.full((10, 8), float("nan"))), "NaN"),
    ],
)
def test_rejects_bad_arguments(kwargs, word):
    args = dict(logits=torch.randn(10, 8), offset=torch.tensor([5, 10]), prior=zipf_prior(8, 1.3))
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=word):
        zipf_sinkhorn(**args)


def _distributed_worker(rank, world_size, port, logits, offsets, prior, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        torch.set_num_threads(1)
        result = zipf_sinkhorn(logits[rank], offsets[rank], prior, group=dist.group.WORLD)
        plan = sinkhorn_log_plan(logits[rank], prior, num_iters=50, group=dist.group.WORLD)
        torch.save((result, plan), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_single_process(tmp_path):
    torch.manual_seed(9)
    parts = [torch.randn(300, 48) * 4, torch.randn(200, 48) * 4 + 1]
    offsets = [torch.tensor([120, 300]), torch.tensor([200])]
    prior = zipf_prior(48, 1.3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_distributed_worker, args=(2, port, parts, offsets, prior, str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    single = zipf_sinkhorn(torch.cat(parts), torch.tensor([120, 300, 500]), prior)
    assert torch.allclose(torch.cat([results[0][0], results[1][0]]), single, atol=1e-6)
    single_plan = sinkhorn_log_plan(torch.cat(parts), prior, num_iters=50)
    assert torch.allclose(torch.cat([results[0][1], results[1][1]]), single_plan, atol=1e-8)
    # and the distributed plan's columns carry the prior over both processes together
    assert torch.allclose(single_plan.exp().sum(0), prior, atol=1e-10)
