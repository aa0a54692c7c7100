import pytest
import torch

from pointcept_dos.core.neighbours import knn


def brute_force(query, q_bounds, ref, r_bounds, pairs, k):
    index = torch.full((len(query), k), -1)
    for (qs, qe), r in zip(q_bounds, pairs):
        rs, re = r_bounds[r]
        for i in range(qs, qe):
            d = ((ref[rs:re] - query[i]) ** 2).sum(1)
            order = torch.argsort(d)[:k]
            index[i, : len(order)] = order + rs
    return index


@pytest.mark.parametrize("k", [1, 3])
def test_matches_brute_force_with_segment_pairs(k):
    torch.manual_seed(0)
    query, ref = torch.rand(70, 3), torch.rand(90, 3)
    q_off, r_off = torch.tensor([30, 30, 70]), torch.tensor([40, 50, 90])
    pairs = [2, 1, 0]
    index, dist = knn(query, q_off, ref, r_off, k=k, segment_pairs=pairs, chunk=7)
    expected = brute_force(query, [(0, 30), (30, 30), (30, 70)], ref, [(0, 40), (40, 50), (50, 90)], pairs, k)
    assert torch.equal(index, expected)
    valid = index >= 0
    assert torch.allclose(dist[valid], (query[:, None] - ref[index.clamp_min(0)]).norm(dim=-1)[valid], atol=1e-5)


def test_short_segments_are_padded():
    index, dist = knn(torch.rand(4, 3), torch.tensor([4]), torch.rand(2, 3), torch.tensor([2]), k=3)
    assert (index[:, 2] == -1).all() and torch.isinf(dist[:, 2]).all()
    assert (index[:, :2] >= 0).all()


def test_rejects_bad_pairs():
    with pytest.raises(ValueError, match="segment_pairs"):
        knn(torch.rand(4, 3), torch.tensor([4]), torch.rand(2, 3), torch.tensor([2]), segment_pairs=[0, 0])
