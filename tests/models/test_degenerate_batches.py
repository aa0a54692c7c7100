"""DOS-v1m1 on degenerate and bad batches (issue: nothing silently wrong). The cases:

1. a term with no matched point (crops that do not overlap) contributes 0, stays in the graph,
   is counted in `empty_terms`;
2. a step whose every term is empty (views of one point) returns a loss of 0 marked by
   `empty_step`, with a warning, and still gives every student parameter a (zero) gradient;
3. a degenerate extra scene does not change the other scenes' loss (both Sinkhorn scopes); a
   small but valid one joins the mean ("scene" scope) or the balance ("batch" scope);
4. NaN / Inf in coord, origin_coord or feat, bad grid sizes and inconsistent offsets are
   errors that name the batch key;
5. a mask that starves the student (mask_ratio 0.999, small patches) is an error that names
   mask_ratio, not a silent loss of 0.
"""

import math
import warnings

import pytest
import torch

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.models.monitor import TrainingMonitor

LN_BACKBONE = dict(type="DOS-SpUNet-lite", in_channels=6, channels=(8, 16), enc_depths=(1, 1), dec_depths=(1,),
                   norm="ln")


def batch_of(views, grid_size=0.05):
    """A batch from a list of (origin_coord [n, 3]) per view, two views per scene."""
    origin = torch.cat(views)
    coord = origin + 0.01
    return dict(
        global_coord=coord,
        global_origin_coord=origin,
        global_feat=torch.cat([coord, torch.rand(len(coord), 3, generator=torch.Generator().manual_seed(1))], 1),
        global_offset=torch.cumsum(torch.tensor([len(v) for v in views]), 0),
        grid_size=torch.tensor([grid_size]),
    )


def cube(n, low, seed, size=1.0):
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) * size + torch.tensor(low)


def test_term_without_matched_points_is_zero_in_the_graph_and_counted():
    # each scene's two crops lie 3 m apart: the cross-view term has nothing to match
    batch = batch_of([cube(300, [0, 0, 0], 0), cube(300, [3, 0, 0], 1), cube(300, [0, 0, 0], 2), cube(300, [3, 0, 0], 3)])
    model = tiny_model()
    model.params.set_step(0, 10)
    out = model(batch)
    assert float(out["cross_view_loss"].detach()) == 0.0 and out["cross_view_loss"].requires_grad
    assert float(out["same_view_loss"].detach()) > 0 and float(out["empty_terms"]) == 4 and float(out["empty_step"]) == 0
    assert torch.allclose(out["loss"], 0.5 * out["same_view_loss"])
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.student.parameters())


def test_step_with_every_term_empty_is_zero_marked_and_warned():
    batch = batch_of([cube(1, [0, 0, 0], s) for s in range(4)])  # views of one point
    model = tiny_model()
    model.params.set_step(0, 10)
    with pytest.warns(RuntimeWarning, match="the step's loss is 0"):
        out = model(batch)
    assert float(out["loss"].detach()) == 0.0 and float(out["empty_step"]) == 1 and float(out["empty_terms"]) == 8
    out["loss"].backward()
    # DDP needs every parameter to take part: zero gradients, not missing ones
    grads = [p.grad for p in model.student.parameters()]
    assert all(g is not None and (g == 0).all() for g in grads)
    monitor = TrainingMonitor(model.params)
    monitor.observe(model.last_record)
    report = monitor.report()
    assert report["empty_steps"] == 1 and report["empty_terms"] == report["terms"] == 8
    # no view measured the collapse signals: none are returned, and the report says NaN
    assert "target_entropy" not in out and math.isnan(report["target_entropy"])


@pytest.mark.parametrize("points", [1, 2, 3])
def test_tiny_views_train_without_error(points):
    # 1-3 points per view, within one loss voxel or spread over several
    views = [cube(points, [0, 0, 0], s, size=0.5) for s in range(4)]
    model = tiny_model(loss_pool_stride=1)
    model.params.set_step(0, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = model(batch_of(views))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and 0 <= float(out["empty_terms"]) <= 8
    assert float(out["empty_step"]) == (1.0 if points == 1 else 0.0)


@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_degenerate_scene_does_not_change_the_others_loss(scope):
    """A scene of one-point views adds no row to any term: the other scenes' targets (the
    batch-scope Sinkhorn balances over the rows of every scene) and the mean over views are
    those of the batch without it. LayerNorm backbone: BatchNorm statistics would couple the
    scenes' features. The extra scene lies below the others (each view has its own voxel grid,
    so that does not move theirs); it goes last so that the others' masks are drawn first."""
    batch = two_view_batch()
    extra = batch_of([cube(1, [-5, -5, -1], 7), cube(1, [-4, -5, -1], 8)])
    joined = {k: torch.cat([batch[k], extra[k]]) for k in ("global_coord", "global_origin_coord", "global_feat")}
    joined["global_offset"] = torch.cat([batch["global_offset"], batch["global_offset"][-1] + extra["global_offset"]])
    joined["grid_size"] = batch["grid_size"]
    losses = []
    for b in (batch, joined):
        torch.manual_seed(0)
        model = tiny_model(backbone=LN_BACKBONE, sinkhorn_scope=scope)
        model.params.set_step(0, 10)
        out = model(b)
        losses.append({k: float(v.detach()) for k, v in out.items()})
    assert losses[1]["empty_terms"] == 4 and losses[0]["empty_terms"] == 0
    for key in ("loss", "same_view_loss", "cross_view_loss"):
        assert losses[1][key] == pytest.approx(losses[0][key], rel=1e-6, abs=1e-7), key


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda b: b["global_coord"].__setitem__((5, 1), float("nan")), "'global_coord' holds NaN or Inf in 1 of"),
        (lambda b: b["global_origin_coord"].__setitem__((9, 0), float("inf")), "'global_origin_coord' holds NaN"),
        (lambda b: b["global_feat"].__setitem__((3, 4), float("nan")), "'global_feat' holds NaN"),
        (lambda b: b.update(global_feat=b["global_feat"][:-1]), "'global_feat' must have one row per point"),
        (lambda b: b.update(global_coord=b["global_coord"][:, :2]), r"'global_coord' must be \[N, 3\]"),
        (lambda b: b.update(grid_size=torch.tensor([0.0])), "'grid_size' must be a finite voxel size > 0"),
        (lambda b: b.update(grid_size=torch.tensor([-0.05])), "'grid_size' must be a finite voxel size > 0"),
        (lambda b: b.update(grid_size=torch.tensor([float("nan")])), "'grid_size' must be a finite voxel size"),
        (lambda b: b.update(grid_size=torch.tensor([0.05, 0.02])), "'grid_size' must hold one voxel size"),
        (lambda b: b.pop("grid_size"), "grid_size"),
        (lambda b: b.update(global_offset=torch.tensor([480, 400, 1440, 1920])), "'global_offset' must be strictly increasing"),
        (lambda b: b.update(global_offset=torch.tensor([480, 480, 1440, 1920])), "every view has a point"),
        (lambda b: b.update(global_offset=torch.tensor([480, 960, 1440, 1900])), "must end at the number of points 1920"),
        (lambda b: b.update(global_offset=torch.tensor([480, 960, 1920])), "two views per scene"),
        (lambda b: b.update(global_offset=torch.tensor([480.0, 960, 1440, 1920])), "1-D integer tensor"),
    ],
)
def test_bad_batches_are_errors_that_name_the_key(change, words):
    batch = two_view_batch()
    change(batch)
    model = tiny_model()
    with pytest.raises((ValueError, KeyError), match=words):
        model(batch)


def test_a_mask_that_starves_the_student_names_mask_ratio():
    model = tiny_model(mask_ratio=0.999, mask_size=0.01)
    model.params.set_step(0, 10)
    with pytest.raises(ValueError, match=r"mask_ratio=0.999 with mask_size=0.01 m leaves the student"):
        model(two_view_batch())


def test_small_scene_under_scene_scope_joins_the_mean_and_under_batch_scope_the_balance():
    """A scene with a few matched points is not degenerate: it contributes. With
    sinkhorn_scope="scene" the others' targets stay their own, so the batch loss is the
    view-weighted mean of the two parts' losses; with "batch" the balance spans every scene's
    points, so the small scene also shifts the others' targets (by a little) and the mean is not
    exact. No masking, so that each part draws no masks of its own."""
    big = two_view_batch()
    small = batch_of([cube(3, [0.2, 0.2, 0.2], 5, size=0.1), cube(3, [0.2, 0.2, 0.2], 5, size=0.1)])
    joined = {k: torch.cat([big[k], small[k]]) for k in ("global_coord", "global_origin_coord", "global_feat")}
    joined["global_offset"] = torch.cat([big["global_offset"], big["global_offset"][-1] + small["global_offset"]])
    joined["grid_size"] = big["grid_size"]
    gaps = {}
    for scope in ("scene", "batch"):
        losses = []
        for b in (big, small, joined):
            torch.manual_seed(0)
            model = tiny_model(backbone=LN_BACKBONE, sinkhorn_scope=scope, mask_ratio=0.0, loss_pool_stride=1)
            model.params.set_step(0, 10)
            losses.append(float(model(b)["same_view_loss"].detach()))
        weighted = (4 * losses[0] + 2 * losses[1]) / 6
        gaps[scope] = abs(losses[2] - weighted) / weighted
    assert gaps["scene"] < 1e-6 and gaps["batch"] > 1e-4, gaps
