"""The values of DOS pretraining that change from step to step, and their one writer.

Three values follow a schedule over the run, each under one config key of DOS-v1m1 (the same
name in the configs, the model, the hook's log line and the demo's report):

    teacher_temp=dict(start=0.04, end=0.07, warmup_ratio=0.05)  # tau_T: linear warm-up, then end
    momentum=dict(start=0.994, end=1.0)                          # EMA momentum: cosine over the run
    zipf_alpha=1.3                                               # Zipf exponent: constant

A number is a constant; `teacher_temp` and `zipf_alpha` take dict(start, end, warmup_ratio),
`momentum` dict(start, end). `StepParams.set_step(step, total_steps)` evaluates them once per
step and is the only writer of the values in force. The opt-in collapse guard reads the
signals of step s (`observe`, after its forward) and caps tau_T from step s + 1 on, so the
value reported for a step is the value that step used.
"""

from ..core.schedules import CosineSchedule, WarmupConstantSchedule
from ..core.validation import check_real
from ..core.zipf_prior import zipf_prior
from .collapse_guard import CollapseGuard

# the values in force, in this order (log lines, TensorBoard `params/`, the demo's history)
SCHEDULED = ("teacher_temp", "momentum", "zipf_alpha")

# name -> (schedule class, keys of its dict form, range of every value as check_real's kwargs)
_FORMS = dict(
    teacher_temp=(WarmupConstantSchedule, ("start", "end", "warmup_ratio"), dict(low=0.0, low_open=True)),
    momentum=(CosineSchedule, ("start", "end"), dict(low=0.0, high=1.0)),
    zipf_alpha=(WarmupConstantSchedule, ("start", "end", "warmup_ratio"), dict(low=0.0)),
)


def build_schedule(name, spec):
    """A number (constant) or a dict of the schedule's keys -> schedule, every value checked
    once, each error naming `name` and the key."""
    cls, keys, bounds = _FORMS[name]
    if not isinstance(spec, dict):
        check_real(name, spec, **bounds)
        return cls(spec, spec)
    unknown = set(spec) - set(keys)
    missing = {"start", "end"} - set(spec)
    if unknown or missing:
        raise ValueError(
            f"{name} must be a number or dict({', '.join(k + '=...' for k in keys)}); got "
            f"{spec!r} ({'unknown keys ' + str(sorted(unknown)) if unknown else 'missing ' + str(sorted(missing))})"
        )
    for key in ("start", "end"):
        check_real(f"{name}.{key}", spec[key], **bounds)
    if "warmup_ratio" in spec:
        check_real(f"{name}.warmup_ratio", spec["warmup_ratio"], low=0.0, high=1.0)
    return cls(**spec)


class StepParams:
    """The per-step values of one DOS-v1m1 model.

    Args:
        num_prototypes: K, the length of the Zipf prior.
        student_temp: tau_S (constant; kept here beside tau_T for the collapse rule).
        teacher_temp, momentum, zipf_alpha: a number or a schedule dict (module docstring).
        collapse_guard: None (off) or dict of `CollapseGuard`'s arguments.
    Before the first `set_step` the values are the schedules' starts.
    """

    def __init__(self, num_prototypes, student_temp, teacher_temp, momentum, zipf_alpha,
                 collapse_guard=None):
        check_real("student_temp", student_temp, low=0.0, low_open=True)
        self.num_prototypes = num_prototypes
        self.student_temp = float(student_temp)
        self.schedules = dict(teacher_temp=build_schedule("teacher_temp", teacher_temp),
                              momentum=build_schedule("momentum", momentum),
                              zipf_alpha=build_schedule("zipf_alpha", zipf_alpha))
        self.guard = CollapseGuard.from_config(collapse_guard, self.student_temp)
        self._values = {name: s.start for name, s in self.schedules.items()}
        self._prior = (None, None)

    def set_step(self, step, total_steps):
        """Evaluate every schedule at global `step` of `total_steps`; the guard's cap (from
        the signals of the steps before) applies to tau_T."""
        values = {name: float(s(step, total_steps)) for name, s in self.schedules.items()}
        if self.guard is not None:
            values["teacher_temp"] = self.guard.apply(values["teacher_temp"])
        self._values = values

    def observe(self, target_entropy, teacher_spread):
        """The collapse signals of the step just taken (see `collapse_guard`); the guard, if
        on, decides on them and its cap reaches tau_T at the next `set_step`."""
        if self.guard is not None:
            self.guard.update(target_entropy, teacher_spread, self.teacher_temp)

    @property
    def teacher_temp(self):
        return self._values["teacher_temp"]

    @property
    def momentum(self):
        return self._values["momentum"]

    @property
    def zipf_alpha(self):
        return self._values["zipf_alpha"]

    def values(self):
        """{name: value in force} for SCHEDULED."""
        return dict(self._values)

    def describe(self):
        """{name: how it is scheduled} for SCHEDULED and student_temp (labels, reports)."""
        return dict({name: repr(s) for name, s in self.schedules.items()},
                    student_temp=f"{self.student_temp:g}")

    @property
    def prior(self):
        """[K] Zipf prior at the alpha in force (computed again only when alpha changes)."""
        alpha, prior = self._prior
        if alpha != self.zipf_alpha:
            prior = zipf_prior(self.num_prototypes, self.zipf_alpha)
            self._prior = (self.zipf_alpha, prior)
        return prior

    def state_dict(self):
        """What a resumed run needs beyond the step: the guard's cap ({} without a guard)."""
        return {} if self.guard is None else dict(collapse_guard=self.guard.state_dict())

    def load_state_dict(self, state):
        if self.guard is not None and "collapse_guard" in state:
            self.guard.load_state_dict(state["collapse_guard"])


# keys of configs and checkpoints written before the one-name rename -> (new key, its field)
RENAMED_KEYS = dict(
    teacher_temp_start=("teacher_temp", "start"),
    teacher_temp_base=("teacher_temp", "end"),
    teacher_temp_warmup_ratio=("teacher_temp", "warmup_ratio"),
    momentum_base=("momentum", "start"),
    momentum_final=("momentum", "end"),
)


def refuse_unknown_keys(keys, where="model"):
    """Keys a constructor does not take: an old key fails naming the key that replaced it."""
    old = [k for k in keys if k in RENAMED_KEYS]
    if old:
        hints = "; ".join(f"{where}.{k} is now {where}.{RENAMED_KEYS[k][0]}=dict("
                          f"{RENAMED_KEYS[k][1]}=...)" for k in old)
        raise TypeError(f"renamed config keys: {hints} (see pointcept_dos/models/step_params.py)")
    if keys:
        raise TypeError(f"unknown {where} keys: {sorted(keys)}")

