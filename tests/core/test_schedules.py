"""Step schedules: pure functions of (step, total_steps), built once, finite between any two
finite endpoints."""

import math

import numpy as np
import pytest

from pointcept_dos import CosineSchedule, WarmupConstantSchedule


def test_cosine_schedule():
    s = CosineSchedule(0.994, 1.0)
    assert s(0, 100) == pytest.approx(0.994)
    assert s(50, 100) == pytest.approx(0.997)
    assert s(100, 100) == 1.0 and s(1000, 100) == 1.0
    assert all(s(i, 100) <= s(i + 1, 100) for i in range(100))


def test_cosine_has_the_bits_of_the_textbook_formula():
    """Resumed and earlier runs see the very same momentum (the demo's tables depend on it)."""
    s = CosineSchedule(0.95, 1.0)
    textbook = [1.0 + 0.5 * (0.95 - 1.0) * (1 + math.cos(math.pi * i / 300)) for i in range(301)]
    assert [s(i, 300) for i in range(301)] == textbook


def test_warmup_constant_schedule():
    s = WarmupConstantSchedule(0.04, 0.07, 0.1)
    assert s(0, 100) == pytest.approx(0.04)
    assert s(5, 100) == pytest.approx(0.055)
    assert s(10, 100) == s(500, 100) == 0.07
    assert WarmupConstantSchedule(0.04, 0.07)(0, 100) == 0.07  # no warm-up: no division by zero
    assert WarmupConstantSchedule(1.3, 1.3, 0.5)(3, 10) == 1.3


def test_schedules_reject_bad_arguments():
    with pytest.raises(ValueError, match="warmup_ratio"):
        WarmupConstantSchedule(0.04, 0.07, 1.5)
    with pytest.raises(ValueError, match="start"):
        CosineSchedule(float("inf"), 1.0)
    with pytest.raises(ValueError, match="total_steps must be a non-negative integer"):
        CosineSchedule(0.9, 1.0)(0, -1)


@pytest.mark.parametrize("call", [
    lambda: CosineSchedule(0.994, 1.0)(-1, 100),
    lambda: CosineSchedule(0.994, 1.0)(float("nan"), 100),
    lambda: WarmupConstantSchedule(0.04, 0.07)(-1, 100),
    lambda: WarmupConstantSchedule(0.04, 0.07, 0.1)(float("nan"), 100),
    lambda: CosineSchedule(0.994, 1.0)(float("-inf"), 100),
])
def test_schedules_reject_negative_or_nan_steps(call):
    with pytest.raises(ValueError, match=r"step must be a finite number in \[0.0, inf\]"):
        call()


def test_schedules_at_the_edges():
    assert CosineSchedule(0.994, 1.0)(0, 0) == 1.0
    assert CosineSchedule(0.5, 1.0)(np.int64(5), np.int64(10)) == pytest.approx(0.75)


@pytest.mark.parametrize("schedule", [CosineSchedule(1e308, -1e308), WarmupConstantSchedule(1e308, -1e308, 1.0),
                                      CosineSchedule(-1.7e308, 1.7e308)])
def test_endpoints_near_the_float_limit_stay_finite_and_between(schedule):
    values = [schedule(i, 10) for i in range(11)]
    assert all(math.isfinite(v) for v in values)
    low, high = sorted((schedule.start, schedule.end))
    assert all(low <= v <= high for v in values)
    assert values[0] == schedule.start and values[-1] == schedule.end
