"""The training monitor: step records summed between reports, the report, its log line and its
warnings (what ZipfSinkhornHook and the demo log), without Pointcept."""

import math

import pytest
import torch

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.models.monitor import (
    StepRecord,
    TrainingMonitor,
    report_line,
    report_warnings,
    scalars,
)


def record(usage, entropy=(1.2, 2), spread=(1.6, 2), empty_terms=0, terms=8, target=None, per_prototype=None):
    """A step record; `entropy` (sum over views of the mean over prototypes, views)."""
    usage = torch.tensor(usage, dtype=torch.float64)
    per_prototype = torch.full_like(usage, entropy[0]) if per_prototype is None else torch.tensor(per_prototype)
    target = usage if target is None else torch.tensor(target, dtype=torch.float64)
    return StepRecord(usage, target, (per_prototype.double(), entropy[1]), spread, empty_terms, terms)


def test_report_averages_the_steps_by_prototype_index_and_resets():
    model = tiny_model(num_prototypes=4)
    monitor = TrainingMonitor(model.params)
    assert monitor.observe(record([3, 1, 0, 0])) == dict(target_entropy=0.6, teacher_spread=0.8)
    monitor.observe(record([0, 0, 0, 4], entropy=(0.8, 2), spread=(0.0, 0), empty_terms=8))
    r = monitor.report()
    assert r["usage"].tolist() == [3 / 8, 1 / 8, 0, 4 / 8]  # in the prior's order, not sorted
    assert torch.equal(r["prior"], model.params.prior)
    assert r["steps"] == 2 and r["target_entropy"] == pytest.approx(0.5)
    assert r["teacher_spread"] == pytest.approx(0.8)  # over the one step that measured it
    assert (r["empty_terms"], r["terms"], r["empty_steps"]) == (8, 16, 1)
    assert r["teacher_temp"] == model.params.teacher_temp and r["zipf_alpha"] == 1.3
    assert r["effective_prototypes"] == pytest.approx(math.exp(-sum(p * math.log(p) for p in (3 / 8, 1 / 8, 1 / 2))))
    again = monitor.report()
    assert again["steps"] == 0 and math.isnan(again["target_entropy"]) and float(again["usage"].sum()) == 0


def test_report_of_a_real_forward():
    model = tiny_model()
    monitor = TrainingMonitor(model.params)
    with torch.no_grad():
        out = model(two_view_batch())
    signals = monitor.observe(model.last_record)
    r = monitor.report()
    assert signals["target_entropy"] == pytest.approx(float(out["target_entropy"]), rel=1e-6)
    assert r["target_entropy"] == pytest.approx(signals["target_entropy"])
    assert float(r["usage"].sum()) == pytest.approx(1.0) and r["terms"] == 8


def test_the_values_in_force_are_reported_as_used():
    model = tiny_model(teacher_temp=dict(start=0.04, end=0.07, warmup_ratio=1.0))
    monitor = TrainingMonitor(model.params)
    model.params.set_step(5, 10)
    monitor.observe(record([1] * 16))
    line = report_line(10, monitor.report())
    assert "teacher_temp 0.05500, momentum 0.99" in line and "zipf_alpha 1.300" in line
    assert line.startswith("Prototype usage @ step 10: effective 16.0 (prior ")


def test_scalars_leave_out_the_vectors():
    model = tiny_model()
    monitor = TrainingMonitor(model.params)
    monitor.observe(record([1] * 16))
    values = scalars(monitor.report())
    assert "usage" not in values and "prior" not in values and all(isinstance(v, float) for v in values.values())


def _report(**values):
    healthy = dict(effective_prototypes=40.0, prior_effective=28.0, top_mass=0.3, target_entropy=0.4,
                   teacher_spread=0.9, empty_steps=0.0, steps=50.0, student_temp=0.1, teacher_temp=0.07)
    return dict(healthy, **values)


def test_a_healthy_report_warns_nothing():
    assert report_warnings(50, _report()) == []


def test_each_warning_says_what_to_change():
    usage = report_warnings(50, _report(effective_prototypes=2.0))
    assert len(usage) == 1 and "collapsing onto a few prototypes" in usage[0] and "teacher_temp" in usage[0]
    signals = report_warnings(50, _report(target_entropy=0.95, teacher_spread=0.4))
    assert len(signals) == 1 and "Collapse signals @ step 50" in signals[0]
    assert "student_temp / teacher_temp >= 2.5 (now 0.1 / 0.07 = 1.43), e.g. model.teacher_temp=0.04" in signals[0]
    empty = report_warnings(50, _report(empty_steps=3.0))
    assert len(empty) == 1 and "3 of the last 50 steps had no matched point" in empty[0]
    assert report_warnings(50, _report(target_entropy=0.95)) == []  # one signal is no proof


def test_the_prior_by_prototype_index_in_the_report():
    """Usage from the teacher's cosines and from the balanced targets, and each prototype's
    softmap sharpness, aligned by index against the prior; summarised on its 10 head prototypes."""
    model = tiny_model(num_prototypes=20)
    prior = model.params.prior
    monitor = TrainingMonitor(model.params)
    teacher = [0] * 10 + [1] * 10  # the teacher ignores the prior's head
    target = [3] * 10 + [1] * 10
    flat_head = [0.8] * 10 + [0.2] * 10  # entropy / log N summed over 2 views
    monitor.observe(record(teacher, entropy=(1.0, 2), target=target, per_prototype=flat_head))
    r = monitor.report()
    assert r["usage"].tolist()[:10] == [0.0] * 10 and r["teacher_head_share"] == 0.0
    assert r["target_head_share"] == pytest.approx(30 / 40) and r["target_usage"][0] == pytest.approx(3 / 40)
    assert r["prior_head_mass"] == pytest.approx(float(prior[:10].sum()))
    assert r["head_entropy"] == pytest.approx(0.4) and r["tail_entropy"] == pytest.approx(0.1)
    assert r["prototype_entropy"].tolist() == pytest.approx([0.4] * 10 + [0.1] * 10)
    line = report_line(5, r)
    assert f"prior head-10 mass {r['prior_head_mass']:.3f}: teacher 0.000, targets 0.750" in line
    assert "softmap entropy/logN head-10 0.400, tail 0.100" in line


def test_a_forward_counts_the_plan_argmax_with_the_prior():
    """The target usage of a real forward: each matched point's largest softmap x prior mass;
    with the prior's strong head the plan gives the head prototypes more than raw argmax does."""
    torch.manual_seed(0)
    model = tiny_model(zipf_alpha=2.0)
    with torch.no_grad():
        model(two_view_batch())
    record = model.last_record
    assert int(record.target_counts.sum()) > 0
    views = record.prototype_entropy[1]
    assert views == 8 and record.prototype_entropy[0].shape == (16,)
    assert float(record.target_counts[:3].sum()) / float(record.target_counts.sum()) > \
        float(record.usage_counts[:3].sum()) / float(record.usage_counts.sum())
