"""The collapse signals (target-softmap entropy, teacher cosine spread) and the opt-in collapse
guard: what they measure, and that the guard acts from the step after the signals it reads."""

import math

import pytest
import torch

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.models.collapse_guard import softmap_entropy, teacher_spread
from pointcept_dos.models.step_sequence import StepSequence


def test_softmap_entropy_is_one_when_flat_and_zero_when_sharp():
    flat = torch.full((10, 4), 0.1)
    sharp = torch.zeros(10, 4)
    sharp[3] = 1.0
    offset = torch.tensor([10])
    total, views = softmap_entropy(flat, offset)
    assert views == 1 and total.tolist() == pytest.approx([1.0] * 4)
    assert softmap_entropy(sharp, offset)[0].tolist() == pytest.approx([0.0] * 4)
    mixed = torch.cat([flat[:, :2], sharp[:, 2:]], 1)  # per prototype: two flat, two sharp
    assert softmap_entropy(mixed, offset)[0].tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0])
    # views of fewer than 2 points are not counted (log 1 = 0)
    assert softmap_entropy(torch.ones(11, 4) / 10, torch.tensor([1, 11]))[1] == 1


def test_teacher_spread_is_zero_for_point_constant_cosines_and_one_for_random_directions():
    constant = torch.rand(1, 8).expand(20, 8)
    assert teacher_spread(constant, torch.tensor([20]), 64) == (pytest.approx(0.0, abs=1e-6), 1)
    varied = torch.rand(20, 8)
    total, count = teacher_spread(varied, torch.tensor([10, 20]), 4)
    expected = (varied[:10].std(0, unbiased=False).mean() + varied[10:].std(0, unbiased=False).mean()) * 2
    assert count == 2 and total == pytest.approx(float(expected), rel=1e-5)
    # unit of 1/sqrt(D): random embeddings against random prototypes give about 1 at any D
    for dim in (16, 256):
        g = torch.Generator().manual_seed(dim)
        embed = torch.nn.functional.normalize(torch.randn(4000, dim, generator=g), dim=1)
        protos = torch.nn.functional.normalize(torch.randn(32, dim, generator=g), dim=1)
        total, _ = teacher_spread(embed @ protos.t(), torch.tensor([4000]), dim)
        assert total == pytest.approx(1.0, abs=0.05)


def _train(model, steps, total=20, lr=1e-6):
    """`steps` steps in the order every trainer uses; -> [(tau_T used, loss, target entropy)]."""
    # a small step: the tiny head amplifies SGD steps (normalised 1e-4-size embeddings)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    sequence, record = StepSequence(model), []
    for step in range(steps):
        sequence.begin(step, total)
        out = model(two_view_batch(seed=step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        record.append((model.params.teacher_temp, float(out["loss"].detach()),
                       float(out["target_entropy"])))
        sequence.end()
    return record


def test_collapse_guard_changes_nothing_while_the_signals_are_healthy():
    torch.manual_seed(4)
    plain = tiny_model()
    torch.manual_seed(4)
    guarded = tiny_model(collapse_guard=dict(entropy_threshold=0.999, spread_threshold=1e-6))
    record = _train(plain, 4)
    assert record == _train(guarded, 4) and max(e for _, _, e in record) < 0.999
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), guarded.state_dict().values())
               if torch.is_tensor(a))
    assert guarded.params.guard.temp_cap == math.inf


def test_collapse_guard_lowers_the_teacher_temperature_while_collapsing():
    # thresholds every step crosses: each step lowers the cap by `decay`, down to the floor
    torch.manual_seed(4)
    guard = dict(entropy_threshold=0.01, spread_threshold=100.0, decay=0.5, min_teacher_temp=0.01)
    model = tiny_model(teacher_temp=0.07, collapse_guard=guard)
    temps = [t for t, _, _ in _train(model, 5)]
    # the signals of step s lower tau_T from step s + 1 on: the value recorded for a step is
    # the one its loss used
    assert temps == pytest.approx([0.07, 0.035, 0.0175, 0.01, 0.01]) and model.params.guard.engaged
    # the cap travels in the checkpoint, so a resumed run keeps it
    state = model.state_dict()
    resumed = tiny_model(teacher_temp=0.07, collapse_guard=guard)
    resumed.load_state_dict(state)
    resumed.params.set_step(5, 20)
    assert resumed.params.teacher_temp == pytest.approx(0.01) and resumed.params.guard.engaged
    # and a checkpoint without the guard's state (older, or guard off) still loads
    plain = tiny_model()
    plain_state = plain.state_dict()
    resumed.load_state_dict(plain_state)
    assert resumed.params.guard.temp_cap == pytest.approx(0.01)


def test_collapse_guard_engages_on_both_signals_and_holds_after_recovery():
    from pointcept_dos.models.collapse_guard import CollapseGuard

    guard = CollapseGuard(student_temp=0.1, entropy_threshold=0.9, spread_threshold=0.5, decay=0.5)
    assert guard.min_teacher_temp == pytest.approx(0.02)  # tau_S / (2 x 2.5)
    assert not guard.update(0.95, 0.8, 0.07) and not guard.update(0.5, 0.1, 0.07)  # one signal only
    assert guard.apply(0.07) == 0.07
    assert guard.update(0.95, 0.3, 0.07) and guard.apply(0.07) == pytest.approx(0.035)
    # engaged until the spread recovers, whatever the entropy (lower tau_T lowers it by itself)
    assert guard.update(0.5, 0.3, 0.035) and guard.apply(0.07) == pytest.approx(0.02)
    assert not guard.update(0.5, 0.6, 0.02) and guard.apply(0.07) == pytest.approx(0.02)  # held
