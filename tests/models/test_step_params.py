"""The per-step values: one config key each, one writer (`StepParams.set_step`), old keys named."""

import inspect

import pytest

from dos_batches import tiny_model
from pointcept_dos.models import DOSv1m1
from pointcept_dos.models.dos_v1m1 import resolved_config, upgrade_model_config
from pointcept_dos.models.step_params import RENAMED_KEYS, SCHEDULED, StepParams, build_schedule


def params(**overrides):
    cfg = dict(num_prototypes=8, student_temp=0.1, teacher_temp=dict(start=0.04, end=0.07, warmup_ratio=0.1),
               momentum=dict(start=0.994, end=1.0), zipf_alpha=1.3)
    return StepParams(**dict(cfg, **overrides))


def test_schedules_follow_the_global_step():
    p = params()
    assert p.values() == dict(teacher_temp=0.04, momentum=0.994, zipf_alpha=1.3)  # before any step
    p.set_step(50, 1000)
    assert p.teacher_temp == pytest.approx(0.055) and 0.994 < p.momentum < 0.995
    p.set_step(1000, 1000)
    assert p.values() == dict(teacher_temp=0.07, momentum=1.0, zipf_alpha=1.3)
    assert list(p.values()) == list(SCHEDULED)


def test_numbers_are_constants_and_dicts_schedules():
    p = params(teacher_temp=0.02, momentum=0.9, zipf_alpha=dict(start=0.5, end=1.5, warmup_ratio=0.5))
    p.set_step(25, 100)
    assert (p.teacher_temp, p.momentum, p.zipf_alpha) == (0.02, 0.9, pytest.approx(1.0))
    assert p.describe() == dict(teacher_temp="0.02", momentum="0.9",
                                zipf_alpha="0.5 -> 1.5 over the first 50% of steps", student_temp="0.1")


def test_set_step_is_the_only_writer():
    p = params()
    for name in SCHEDULED:
        with pytest.raises(AttributeError):
            setattr(p, name, 0.5)


def test_the_prior_follows_the_alpha_in_force_and_is_computed_once_per_alpha():
    p = params(zipf_alpha=dict(start=0.0, end=1.0, warmup_ratio=1.0))
    p.set_step(0, 10)
    uniform = p.prior
    assert float(uniform.max() - uniform.min()) == 0.0 and p.prior is uniform  # cached
    p.set_step(10, 10)
    assert float(p.prior[0]) > float(p.prior[-1])


@pytest.mark.parametrize("name, spec, words", [
    ("teacher_temp", 0.0, r"teacher_temp must be a finite number in \(0.0, inf\]"),
    ("teacher_temp", dict(start=0.04, end=-1.0), r"teacher_temp\.end must be"),
    ("teacher_temp", dict(start=0.04, end=0.07, warmup_ratio=2.0), r"teacher_temp\.warmup_ratio must be"),
    ("teacher_temp", dict(start=0.04, stop=0.07), r"unknown keys \['stop'\]"),
    ("teacher_temp", dict(start=0.04), r"missing \['end'\]"),
    ("momentum", dict(start=0.994, end=1.5), r"momentum\.end must be a finite number in \[0.0, 1.0\]"),
    ("momentum", dict(start=0.9, end=1.0, warmup_ratio=0.1), r"momentum must be a number or dict\(start=..., end=...\)"),
    ("zipf_alpha", -1.0, r"zipf_alpha must be"),
    ("zipf_alpha", float("nan"), r"zipf_alpha must be"),
])
def test_bad_values_name_the_key(name, spec, words):
    with pytest.raises(ValueError, match=words):
        build_schedule(name, spec)


@pytest.mark.parametrize("old, new", [(k, f"model.{v[0]}=dict({v[1]}=...)") for k, v in RENAMED_KEYS.items()])
def test_an_old_key_names_the_new_one(old, new):
    with pytest.raises(TypeError, match=f"model.{old} is now {new}".replace("(", r"\(").replace(")", r"\)")):
        tiny_model(**{old: 0.05})


def test_an_unknown_key_is_named():
    with pytest.raises(TypeError, match=r"unknown model keys: \['teacher_tmp'\]"):
        tiny_model(teacher_tmp=0.05)


def test_an_old_stored_config_upgrades_to_the_same_model():
    old = dict(teacher_temp_start=0.02, teacher_temp_base=0.02, momentum_base=0.95, zipf_alpha=0.0)
    new = upgrade_model_config(old)
    defaults = inspect.signature(DOSv1m1).parameters
    assert new == dict(zipf_alpha=0.0,
                       teacher_temp=dict(defaults["teacher_temp"].default, start=0.02, end=0.02),
                       momentum=dict(defaults["momentum"].default, start=0.95))
    assert upgrade_model_config(new) is new  # already new: unchanged
    assert defaults["teacher_temp"].default == dict(start=0.04, end=0.07, warmup_ratio=0.05)  # not mutated
    model = tiny_model(**new)
    model.params.set_step(0, 300)
    assert model.params.values() == dict(teacher_temp=0.02, momentum=0.95, zipf_alpha=0.0)


def test_resolved_config_fills_the_defaults():
    cfg = resolved_config(dict(zipf_alpha=0.0))
    assert cfg["zipf_alpha"] == 0.0 and cfg["student_temp"] == 0.1 and cfg["objective"] == "softmap"
