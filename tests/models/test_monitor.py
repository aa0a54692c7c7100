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


def record(usage, entropy=(1.2, 2), spread=(1.6, 2), empty_terms=0, terms=8):
    return StepRecord(torch.tensor(usage, dtype=torch.float64), entropy, spread, empty_terms, terms)


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
