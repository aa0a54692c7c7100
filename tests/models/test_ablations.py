"""The paper's ablations as DOS-v1m1 config keys: student input (drop / mask token), objective
(softmaps / per-point assignment), prior (zipf_alpha)."""


import pytest
import torch

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.core.zipf_prior import zipf_prior
from pointcept_dos.core.zipf_sinkhorn import sinkhorn_log_plan, zipf_sinkhorn
from pointcept_dos.models.objectives import per_point_objective, softmap_objective

VARIANTS = [
    dict(student_input="drop", objective="softmap"),  # DOS
    dict(student_input="mask_token", objective="softmap"),
    dict(student_input="drop", objective="per_point"),
    dict(student_input="mask_token", objective="per_point"),  # Sonata-like
    dict(zipf_alpha=0.0),  # uniform Sinkhorn
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
def test_every_variant_trains_the_student(variant):
    torch.manual_seed(0)
    model = tiny_model(**variant)
    model.params.set_step(0, 10)
    out = model(two_view_batch())
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out.values())
    assert float(out["same_view_loss"].detach()) > 0 and float(out["cross_view_loss"].detach()) > 0
    out["loss"].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    backbone_grads = [p.grad for p in model.student.backbone.parameters()]
    assert all(g is not None for g in backbone_grads) and any(g.abs().sum() > 0 for g in backbone_grads)
    assert model.student.head.prototypes.grad.abs().sum() > 0
    if variant.get("student_input") == "mask_token":
        assert model.student.mask_token.token.grad.abs().sum() > 0
    else:
        assert "mask_token" not in model.student


def _backbone_inputs(model):
    seen = []
    model.student.backbone.register_forward_pre_hook(lambda module, args: seen.append(dict(args[0])))
    return seen


def test_mask_token_keeps_every_point_and_replaces_masked_features():
    model = tiny_model(student_input="mask_token", mask_ratio=0.5, mask_size=0.5, loss_pool_stride=1)
    model.params.set_step(0, 10)
    seen = _backbone_inputs(model)
    batch = two_view_batch()
    model(batch)
    from pointcept_dos import patch_visibility

    visible = patch_visibility(batch["global_coord"], batch["global_offset"], 0.5, 0.5,
                               torch.Generator().manual_seed(0))  # the model's mask_seed
    feat = seen[0]["feat"]
    assert feat.shape == batch["global_feat"].shape and torch.equal(seen[0]["offset"], batch["global_offset"])
    assert (~visible).sum() > 100 and visible.sum() > 100
    assert torch.equal(feat[visible], batch["global_feat"][visible])
    token = model.student.mask_token.token.detach()
    assert torch.equal(feat[~visible], token.expand(int((~visible).sum()), -1))


def test_drop_removes_masked_points_from_the_student():
    model = tiny_model(mask_ratio=0.5, mask_size=0.5)
    model.params.set_step(0, 10)
    seen = _backbone_inputs(model)
    batch = two_view_batch()
    model(batch)
    kept = len(seen[0]["feat"])
    assert 0.2 * len(batch["global_feat"]) < kept < 0.8 * len(batch["global_feat"])


@pytest.mark.parametrize("student_input", ["drop", "mask_token"])
def test_loss_points_are_the_visible_ones_or_all(student_input, monkeypatch):
    """drop: the same-view loss is taken at the visible points; mask_token: at every point,
    masked and visible (loss_pool_stride 1: every point matches itself in its own view)."""
    from pointcept_dos.models import dos_v1m1, objectives

    rows = []

    def spy(student_logits, *args):
        rows.append(len(student_logits))
        return objectives.softmap_objective(student_logits, *args)

    monkeypatch.setitem(dos_v1m1.OBJECTIVE_FUNCTIONS, "softmap", spy)
    model = tiny_model(student_input=student_input, mask_ratio=0.5, mask_size=0.5, loss_pool_stride=1)
    model.params.set_step(0, 10)
    batch = two_view_batch()
    model(batch)["loss"].backward()
    from pointcept_dos import patch_visibility

    visible = patch_visibility(batch["global_coord"], batch["global_offset"], 0.5, 0.5,
                               torch.Generator().manual_seed(0))
    expected = len(visible) if student_input == "mask_token" else int(visible.sum())
    assert rows[0] == expected and int(visible.sum()) < len(visible)


def test_default_checkpoint_has_no_mask_token_and_mask_token_lives_in_the_student():
    assert not any("mask_token" in k for k in tiny_model().state_dict())
    model = tiny_model(student_input="mask_token")
    keys = [k for k in model.state_dict() if "mask_token" in k]
    assert keys == ["student.mask_token.token"] and model.student.mask_token.token.shape == (1, 6)
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    model.update_teacher()  # the teacher has no token: the EMA covers backbone and head
    assert before.keys() == model.teacher.state_dict().keys()


def _scores(seed, rows=60, cols=12, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, cols, generator=g) * scale


def test_softmap_objective_is_zero_at_the_target_and_positive_elsewhere():
    teacher, offset, prior = _scores(0), torch.tensor([25, 60]), zipf_prior(12, 1.3)
    target = zipf_sinkhorn(teacher, offset, prior)
    loss, same = softmap_objective(target.log(), teacher, offset, prior, 3, "batch", None)
    assert torch.equal(same, target) and abs(float(loss)) < 1e-5
    loss, _ = softmap_objective(_scores(1), teacher, offset, prior, 3, "batch", None)
    assert float(loss) > 0.1


@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_per_point_objective_against_the_sinkhorn_assignment(scope):
    teacher, offset, prior = _scores(0), torch.tensor([25, 60]), zipf_prior(12, 1.3)
    if scope == "batch":
        log_plan = sinkhorn_log_plan(teacher, prior, 3)
    else:
        log_plan = torch.cat([sinkhorn_log_plan(teacher[:25], prior, 3), sinkhorn_log_plan(teacher[25:], prior, 3)])
    assignment = torch.softmax(log_plan, dim=1).float()
    # 0 when the student's distribution over prototypes is the assignment
    loss, softmaps = per_point_objective(assignment.log(), teacher, offset, prior, 3, scope, None)
    assert abs(float(loss)) < 1e-5
    # elsewhere: cross-entropy minus the target's entropy, mean per view then over views
    student = _scores(1)
    loss, _ = per_point_objective(student, teacher, offset, prior, 3, scope, None)
    ce = -(assignment * torch.log_softmax(student, 1)).sum(1)
    entropy = -torch.xlogy(assignment, assignment).sum(1)
    expected = ((ce - entropy)[:25].mean() + (ce - entropy)[25:].mean()) / 2
    assert float(loss) == pytest.approx(float(expected), rel=1e-5) and float(loss) > 0.1
    # its softmaps (for the entropy signal) are DOS's targets of the same plan
    assert torch.allclose(softmaps, zipf_sinkhorn(teacher, offset, prior, scope=scope), atol=1e-5)


def test_per_point_gradient_flows_to_the_student_only():
    teacher, offset, prior = _scores(0).requires_grad_(True), torch.tensor([60]), zipf_prior(12, 0.0)
    student = _scores(1).requires_grad_(True)
    loss, _ = per_point_objective(student, teacher, offset, prior, 3, "batch", None)
    loss.backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(student_input="token"), "student_input"),
        (dict(objective="dino"), "objective"),
        (dict(student_input="mask_token", backbone=dict(type="DOS-SpUNet-lite", channels=(8, 16),
                                                        enc_depths=(1, 1), dec_depths=(1,))), "in_channels"),
        (dict(collapse_guard=dict(entropy=0.9)), "unknown keys"),
        (dict(collapse_guard=dict(entropy_threshold=1.5)), "entropy_threshold"),
        (dict(collapse_guard=dict(decay=1.0)), "decay"),
        (dict(collapse_guard=dict(min_teacher_temp=0.0)), "min_teacher_temp"),
        (dict(collapse_guard=True), "collapse_guard"),
    ],
)
def test_ablation_keys_are_validated(overrides, words):
    with pytest.raises(ValueError, match=words):
        tiny_model(**overrides)
