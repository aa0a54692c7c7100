"""DOS-v1m1's forward: what it returns, what it trains, the EMA teacher, the loss points."""

import pytest
import torch

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.core.schedules import WarmupConstantSchedule


def test_forward_returns_scalar_terms_and_trains_only_the_student():
    torch.manual_seed(0)
    model = tiny_model()
    model.params.set_step(0, 100)
    out = model(two_view_batch())
    assert set(out) == {"loss", "same_view_loss", "cross_view_loss", "target_entropy", "teacher_spread",
                        "empty_terms", "empty_step"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out.values())
    # what Pointcept's logger reads with .item(): detached scalars besides the losses
    assert not any(out[k].requires_grad for k in ("target_entropy", "teacher_spread", "empty_terms", "empty_step"))
    assert 0 < float(out["target_entropy"]) < 1 and float(out["teacher_spread"]) > 0
    assert float(out["empty_terms"]) == 0 and float(out["empty_step"]) == 0
    terms = {k: float(v.detach()) for k, v in out.items()}
    assert terms["same_view_loss"] > 0 and terms["cross_view_loss"] > 0
    assert terms["loss"] == pytest.approx(0.5 * terms["same_view_loss"] + 0.5 * terms["cross_view_loss"], rel=1e-5)
    out["loss"].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.student.backbone.parameters())
    assert model.student.head.prototypes.grad.abs().sum() > 0


def test_masked_points_get_no_gradient_and_visible_ones_do():
    torch.manual_seed(1)
    model = tiny_model(mask_ratio=0.5, mask_size=0.5, loss_pool_stride=1)
    batch = two_view_batch()
    batch["global_feat"].requires_grad_(True)
    model(batch)["loss"].backward()
    from pointcept_dos import patch_visibility

    generator = torch.Generator().manual_seed(0)  # the model's mask_seed
    visible = patch_visibility(batch["global_coord"], batch["global_offset"], 0.5, 0.5, generator)
    grad = batch["global_feat"].grad.abs().sum(1)
    assert (~visible).any() and (grad[~visible] == 0).all()
    assert (grad[visible] > 0).float().mean() > 0.5


def test_teacher_is_ema_of_student():
    torch.manual_seed(2)
    model = tiny_model()
    model.params.set_step(0, 10)
    opt = torch.optim.SGD(model.student.parameters(), lr=0.5)
    model(two_view_batch())["loss"].backward()
    opt.step()
    before = model.teacher.head.prototypes.detach().clone()
    student = model.student.head.prototypes.detach().clone()
    model.update_teacher()
    m = model.params.momentum
    assert m == pytest.approx(0.994)
    assert torch.allclose(model.teacher.head.prototypes, m * before + (1 - m) * student)


def test_the_forward_uses_the_values_in_force():
    """A forward reads tau_T from `params`: what set_step wrote is what the loss used."""
    torch.manual_seed(3)
    model = tiny_model()
    seen = []
    model._term = lambda *args, _term=model._term: (seen.append(model.params.teacher_temp), _term(*args))[1]
    for temp in (0.05, 0.02):
        model.params.schedules["teacher_temp"] = WarmupConstantSchedule(temp, temp)
        model.params.set_step(0, 10)
        with torch.no_grad():
            model(two_view_batch())
    assert seen == [0.05, 0.05, 0.02, 0.02]  # two terms per step


def test_the_record_holds_the_teachers_usage_and_the_state_none_of_it():
    model = tiny_model()
    with torch.no_grad():
        out = model(two_view_batch())
    record = model.last_record
    assert record.usage_counts.shape == (16,)
    # one count per teacher loss point: the loss points of both views of both scenes
    assert int(record.usage_counts.sum()) > 0 and record.terms == 8 and record.empty_terms == 0
    assert record.signals()["target_entropy"] == pytest.approx(float(out["target_entropy"]), rel=1e-6)
    assert set(model.state_dict()) == set(tiny_model().state_dict())
    assert not any("usage" in k or "monitor" in k for k in model.state_dict())


def test_single_term_weights():
    model = tiny_model(cross_view_weight=0.0)
    model.params.set_step(0, 10)
    out = model(two_view_batch())
    assert "cross_view_loss" not in out
    assert torch.equal(out["loss"], 0.5 * out["same_view_loss"])


def test_pooling_bounds_the_loss_points():
    from pointcept_dos.models.loss_points import loss_points

    batch = two_view_batch(points=2000)
    grid = torch.div(batch["global_coord"] - batch["global_coord"].min(0).values, 0.05, rounding_mode="floor").int()
    view = dict(origin_coord=batch["global_origin_coord"], grid_coord=grid, offset=batch["global_offset"])
    feat = torch.arange(len(grid), dtype=torch.float32)[:, None]
    pooled = loss_points(feat, view, up_cast_level=0, pool_stride=4)
    assert len(pooled["offset"]) == 4 and int(pooled["offset"][-1]) == len(pooled["feat"])
    expected = sum(
        len(torch.unique(grid[s:e] // 4, dim=0))
        for s, e in zip([0] + batch["global_offset"].tolist()[:-1], batch["global_offset"].tolist())
    )
    assert len(pooled["feat"]) == expected < len(feat)
    # every pooled point lies inside its own segment's range of original indices
    assert float(pooled["feat"][: int(pooled["offset"][0])].max()) < int(batch["global_offset"][0])


def test_pooled_loss_points_are_voxel_means_in_segment_then_cell_order():
    """Pooling against a per-point reference: one row per (segment, cell), sorted by segment
    then cell, holding the mean of its points; negative grid coordinates pool the same."""
    from pointcept_dos.models.loss_points import loss_points

    gen = torch.Generator().manual_seed(3)
    grid = torch.randint(-7, 9, (300, 3), generator=gen)
    offset = torch.tensor([120, 120, 300])  # the middle segment is empty
    feat = torch.randn(300, 5, generator=gen)
    origin = torch.randn(300, 3, generator=gen).double()
    pooled = loss_points(feat, dict(origin_coord=origin, grid_coord=grid, offset=offset),
                         up_cast_level=0, pool_stride=2)
    groups = {}
    for i, seg in enumerate(torch.bucketize(torch.arange(300), offset, right=True).tolist()):
        groups.setdefault((seg, *torch.div(grid[i], 2, rounding_mode="floor").tolist()), []).append(i)
    keys = sorted(groups)
    assert torch.allclose(pooled["feat"], torch.stack([feat[groups[k]].mean(0) for k in keys]), atol=1e-6)
    assert torch.allclose(pooled["origin_coord"], torch.stack([origin[groups[k]].float().mean(0) for k in keys]),
                          atol=1e-6)
    first, last = sum(k[0] == 0 for k in keys), len(keys)
    assert pooled["offset"].tolist() == [first, first, last]


@pytest.mark.parametrize(
    "overrides, word",
    [
        (dict(mask_ratio=1.0), "mask_ratio"),
        (dict(zipf_alpha=-1.0), "zipf_alpha"),
        (dict(sinkhorn_scope="world"), "sinkhorn_scope"),
        (dict(student_temp=0.0), "student_temp"),
        (dict(same_view_weight=0.0, cross_view_weight=0.0), "weight"),
        (dict(backbone=dict(type="NoSuchNet")), "NoSuchNet"),
    ],
)
def test_rejects_bad_config(overrides, word):
    with pytest.raises((ValueError, KeyError), match=word):
        tiny_model(**overrides)


def test_missing_batch_keys_are_named():
    model = tiny_model()
    batch = two_view_batch()
    del batch["global_origin_coord"]
    with pytest.raises(KeyError, match="global_origin_coord"):
        model(batch)


class _OnAnotherDevice(torch.Tensor):
    """A ByteTensor that reports a CUDA device, as the masking state does after Pointcept's
    CheckpointLoader maps every storage to the GPU (a CPU-only machine has no CUDA tensor)."""

    @staticmethod
    def __new__(cls, inner):
        return torch.Tensor._make_wrapper_subclass(cls, inner.shape, dtype=inner.dtype,
                                                   device=torch.device("cuda", 0))

    def __init__(self, inner):
        self.inner = inner

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._to_copy.default:  # .to("cpu"): the data, on the CPU
            return args[0].inner.to(dtype=(kwargs or {}).get("dtype"))
        raise NotImplementedError(func)


def test_the_masking_state_loads_from_a_gpu_mapped_checkpoint():
    model = tiny_model()
    with torch.no_grad():
        model(two_view_batch())  # the generator has moved on
    state = model.state_dict()
    extra = dict(state["_extra_state"])
    extra["mask_generator"] = _OnAnotherDevice(extra["mask_generator"])
    with pytest.raises(TypeError, match="RNG state must be a torch.ByteTensor"):  # what set_state needs
        torch.Generator().set_state(extra["mask_generator"])
    resumed = tiny_model()
    resumed.load_state_dict(dict(state, _extra_state=extra))
    assert torch.equal(resumed.mask_generator.get_state(), model.mask_generator.get_state())
