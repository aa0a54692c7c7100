"""Tests of the plain-PyTorch sparse backbone (DOS-SpUNet-lite) and the backbone registry."""

import pytest
import torch
import torch.nn.functional as F

from pointcept_dos.backbones import SpUNetLite, SubMConv3d, VoxelLevel, build_backbone
from pointcept_dos.backbones.registry import BACKBONES
from pointcept_dos.backbones.sparse import KERNEL_OFFSETS, _SubMConv3dFunction

SMALL = dict(in_channels=4, channels=(8, 16, 24), enc_depths=(1, 1, 1), dec_depths=(1, 1))


def random_voxels(shape, fill, generator):
    """[M, 3] int64 distinct voxel coordinates occupying a fraction ``fill`` of a grid."""
    occupied = torch.rand(shape, generator=generator) < fill
    return occupied.nonzero()


def surface_cloud(n, generator, size=1.0):
    """[n, 3] float points on a bumpy sheet (surface-like neighbourhoods), metres."""
    xy = torch.rand(n, 2, generator=generator) * size
    z = 0.1 * torch.sin(6 * xy[:, :1]) + 0.02 * torch.rand(n, 1, generator=generator)
    return torch.cat([xy, z], dim=1)


def make_input(clouds, in_channels, generator, grid_size=0.05):
    coord = torch.cat(clouds)
    return dict(
        coord=coord,
        feat=torch.randn(len(coord), in_channels, generator=generator),
        offset=torch.cumsum(torch.tensor([len(c) for c in clouds]), 0),
        grid_size=grid_size,
    )


def test_submconv_equals_dense_conv3d_at_occupied_voxels():
    g = torch.Generator().manual_seed(0)
    shape, c_in, c_out = (6, 5, 7), 3, 4
    coord = random_voxels(shape, 0.4, g)
    feat = torch.randn(len(coord), c_in, generator=g, dtype=torch.float64)
    dense_weight = torch.randn(c_out, c_in, 3, 3, 3, generator=g, dtype=torch.float64)

    dense_in = torch.zeros(1, c_in, *shape, dtype=torch.float64)
    dense_in[0, :, coord[:, 0], coord[:, 1], coord[:, 2]] = feat.t()
    dense_out = F.conv3d(dense_in, dense_weight, padding=1)[0]

    level, inverse = VoxelLevel.from_coords(torch.zeros(len(coord), dtype=torch.long), coord)
    conv = SubMConv3d(c_in, c_out).double()
    with torch.no_grad():
        conv.weight.copy_(dense_weight.permute(2, 3, 4, 1, 0).reshape(27, c_in, c_out))
    x = torch.zeros(len(level), c_in, dtype=torch.float64).index_copy_(0, inverse, feat)
    out = conv(x, level)

    expected = dense_out[:, level.coord[:, 0], level.coord[:, 1], level.coord[:, 2]].t()
    torch.testing.assert_close(out, expected)


def test_submconv_backward_matches_numerical_gradient():
    g = torch.Generator().manual_seed(1)
    coord = random_voxels((4, 4, 3), 0.5, g)
    batch = (coord[:, 0] >= 2).long()  # two clouds, so pairs of both are exercised
    level, _ = VoxelLevel.from_coords(batch, coord)
    x = torch.randn(len(level), 2, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(27, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w: _SubMConv3dFunction.apply(x, w, level.kernel_map()), (x, w)
    )


def test_kernel_map_pairs_are_true_neighbours_in_the_same_cloud():
    g = torch.Generator().manual_seed(2)
    coord = random_voxels((5, 5, 5), 0.5, g)
    # Cloud 1 is cloud 0 shifted by one voxel along k: without per-axis margins in the
    # key packing, k = max of cloud 0 would "touch" k = 0 of the next row or cloud.
    batch = torch.cat([torch.zeros(len(coord)), torch.ones(len(coord))]).long()
    level, _ = VoxelLevel.from_coords(batch, torch.cat([coord, coord]))
    kmap = level.kernel_map()
    num_pairs = 0
    for o, start, end in kmap.segments:
        i, j = kmap.in_idx[start:end], kmap.out_idx[start:end]
        assert torch.equal(level.batch[i], level.batch[j])
        assert torch.equal(level.coord[i] - level.coord[j], KERNEL_OFFSETS[o].expand(len(i), 3))
        num_pairs += len(i)
    # Brute force count of neighbour pairs of distinct voxels within each cloud.
    same_cloud = level.batch[:, None] == level.batch[None, :]
    chebyshev = (level.coord[:, None] - level.coord[None, :]).abs().amax(-1)
    assert num_pairs == int((same_cloud & (chebyshev == 1)).sum())


def test_clouds_in_one_batch_do_not_see_each_other():
    g = torch.Generator().manual_seed(3)
    model = SpUNetLite(**SMALL).eval()
    a = surface_cloud(300, g)
    b = surface_cloud(200, g) + 0.01  # overlaps a in space
    both = make_input([a, b], 4, g)
    alone_a = dict(both, coord=a, feat=both["feat"][:300], offset=torch.tensor([300]))
    alone_b = dict(both, coord=b, feat=both["feat"][300:], offset=torch.tensor([200]))
    with torch.no_grad():
        out = model(both)
        torch.testing.assert_close(out[:300], model(alone_a))
        torch.testing.assert_close(out[300:], model(alone_b))


def test_output_shape_and_point_order():
    g = torch.Generator().manual_seed(4)
    model = SpUNetLite(out_channels=5, **SMALL).eval()
    data = make_input([surface_cloud(250, g), surface_cloud(150, g)], 4, g)
    with torch.no_grad():
        out = model(data)
        assert out.shape == (400, 5) and out.dtype == torch.float32
        # Shuffling points within each cloud shuffles the output rows the same way.
        perm = torch.cat([torch.randperm(250, generator=g), 250 + torch.randperm(150, generator=g)])
        shuffled = dict(data, coord=data["coord"][perm], feat=data["feat"][perm])
        torch.testing.assert_close(model(shuffled), out[perm])


def test_points_sharing_a_voxel_share_features():
    g = torch.Generator().manual_seed(5)
    model = SpUNetLite(**SMALL).eval()
    coord = surface_cloud(200, g)
    # Point 200 duplicates point 0; point 201 lies in point 1's voxel (offset < grid).
    voxel_of_1 = torch.floor((coord[1] - coord.min(0).values) / 0.05)
    inside = coord.min(0).values + (voxel_of_1 + torch.tensor([0.5, 0.5, 0.5])) * 0.05
    coord = torch.cat([coord, coord[:1], inside[None]])
    data = make_input([coord], 4, g)
    with torch.no_grad():
        out = model(data)
    torch.testing.assert_close(out[200], out[0])
    torch.testing.assert_close(out[201], out[1])
    assert not torch.allclose(out[0], out[1])


def test_given_grid_coord_matches_computed_one():
    g = torch.Generator().manual_seed(6)
    model = SpUNetLite(**SMALL).eval()
    clouds = [surface_cloud(200, g) + 3.0, surface_cloud(100, g) - 2.0]
    data = make_input(clouds, 4, g)
    # Pointcept's GridSample gives grid coordinates anchored at each cloud's minimum; an
    # extra constant shift per cloud must not matter either.
    grid_coord = torch.cat(
        [torch.floor((c - c.min(0).values) / 0.05).int() + s for c, s in zip(clouds, (0, 7))]
    )
    with torch.no_grad():
        torch.testing.assert_close(model(dict(data, grid_coord=grid_coord)), model(data))


def test_grid_size_tensor_per_axis():
    g = torch.Generator().manual_seed(7)
    model = SpUNetLite(**SMALL).eval()
    data = make_input([surface_cloud(200, g)], 4, g)
    with torch.no_grad():
        out = model(data)
        torch.testing.assert_close(model(dict(data, grid_size=torch.full((3,), 0.05))), out)


@pytest.mark.parametrize("pooling,norm", [("max", "bn"), ("mean", "ln")])
def test_gradient_reaches_every_parameter(pooling, norm):
    g = torch.Generator().manual_seed(8)
    model = SpUNetLite(out_channels=6, pooling=pooling, norm=norm, **SMALL).train()
    data = make_input([surface_cloud(300, g), surface_cloud(300, g)], 4, g)
    model(data).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_runs_under_autocast():
    # Pointcept trains with AMP; the sparse conv must run (in float32) and backpropagate.
    g = torch.Generator().manual_seed(11)
    model = SpUNetLite(**SMALL).train()
    data = make_input([surface_cloud(300, g)], 4, g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(data)
    out.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


def test_forward_is_deterministic():
    g = torch.Generator().manual_seed(9)
    model = SpUNetLite(**SMALL).train()
    data = make_input([surface_cloud(300, g), surface_cloud(200, g)], 4, g)
    first = model(data)
    first.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    second = model(data)
    second.sum().backward()
    assert torch.equal(first, second)
    assert all(torch.equal(a, p.grad) for a, p in zip(grads, model.parameters()))


def test_downsample_pool_unpool_round_trip():
    g = torch.Generator().manual_seed(10)
    coord = random_voxels((9, 8, 7), 0.3, g)
    batch = torch.randint(0, 2, (len(coord),), generator=g)
    fine, _ = VoxelLevel.from_coords(batch, coord)
    coarse = fine.downsample()
    # Each fine voxel maps to the coarse voxel floor(coord / 2) of its own cloud.
    halved = torch.div(fine.coord, 2, rounding_mode="floor")
    assert torch.equal(coarse.coord[coarse.inverse], halved)
    assert torch.equal(coarse.batch[coarse.inverse], fine.batch)
    assert len(coarse) == len(torch.unique(torch.cat([batch[:, None], coord // 2], 1), dim=0))

    x = torch.randn(len(fine), 5, generator=g)
    for mode in ("max", "mean"):
        pooled = coarse.pool(x, mode)
        assert pooled.shape == (len(coarse), 5)
        assert coarse.unpool(pooled).shape == (len(fine), 5)
        for parent in range(len(coarse)):
            children = x[coarse.inverse == parent]
            expected = children.amax(0) if mode == "max" else children.mean(0)
            torch.testing.assert_close(pooled[parent], expected)


def test_build_backbone_ours_and_unknown_type():
    model = build_backbone(dict(type="DOS-SpUNet-lite", **SMALL))
    assert isinstance(model, SpUNetLite) and model.out_channels == 8
    assert BACKBONES["DOS-SpUNet-lite"] is SpUNetLite
    with pytest.raises(KeyError) as err:
        build_backbone(dict(type="No-Such-Net-v0"))
    assert "No-Such-Net-v0" in str(err.value) and "DOS-SpUNet-lite" in str(err.value)


def test_bad_depths_are_rejected():
    with pytest.raises(ValueError, match="enc_depths"):
        SpUNetLite(channels=(8, 16), enc_depths=(1, 1, 1), dec_depths=(1,))


def test_probe_features_are_decoder_output_and_every_encoder_level_at_the_points():
    torch.manual_seed(0)
    net = SpUNetLite(in_channels=6, channels=(8, 16, 32), enc_depths=(1, 1, 1), dec_depths=(1, 1)).eval()
    coord = torch.rand(700, 3) * 2
    batch = dict(coord=coord, feat=torch.randn(700, 6), offset=torch.tensor([300, 700]), grid_size=0.1)
    with torch.no_grad():
        out, probe = net(batch), net.probe_features(batch)
    assert net.probe_channels == 8 + 8 + 16 + 32 and probe.shape == (700, net.probe_channels)
    torch.testing.assert_close(probe[:, :8], out)
    # a level-2 feature (voxels of 0.4 m) is shared by every point of that coarse voxel
    level2 = probe[:, 8 + 8 + 16:]
    cloud = (torch.arange(700) >= 300).long()
    cell = torch.floor((coord - torch.stack([coord[:300].min(0).values, coord[300:].min(0).values])[cloud]) / 0.4)
    keys = cloud * 10_000 + (cell[:, 0] * 100 + cell[:, 1] * 10 + cell[:, 2]).long()
    for key in keys.unique()[:20]:
        rows = level2[keys == key]
        torch.testing.assert_close(rows, rows[:1].expand_as(rows))
    assert not torch.allclose(level2[keys == keys[0]][0], level2[keys != keys[0]][0])
