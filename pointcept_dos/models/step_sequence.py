"""The order of one DOS pretraining step, written once for every trainer.

    steps = StepSequence(model)
    for step in range(total_steps):
        steps.begin(step, total_steps)   # the step's tau_T, momentum and alpha
        out = model(batch)               # the trainer's forward ...
        out["loss"].backward()           # ... backward and optimizer step
        optimizer.step()
        steps.end()                      # monitor, collapse guard, EMA teacher

The demo's trainer (`demo/pretrain.py`) calls it as above; Pointcept's trainer calls the same
two through `ModelHook` -> `DOSPointModel.before_step` / `after_step` (`integration/model.py`).
"""

import torch.distributed as dist

from .monitor import TrainingMonitor


def _world():
    """The default process group when several processes train, else None."""
    return dist.group.WORLD if dist.is_initialized() and dist.get_world_size() > 1 else None


class StepSequence:
    """The per-step calls around a DOS-v1m1 model's forward, and its `TrainingMonitor`.

    Args:
        model: a `DOSv1m1` (its `params` and `last_record` are read, `update_teacher` called).
    """

    def __init__(self, model):
        self.model = model
        self.monitor = TrainingMonitor(model.params)

    def begin(self, step, total_steps):
        """Before the forward: the values of global `step` of `total_steps`."""
        self.model.params.set_step(step, total_steps)

    def end(self, update_teacher=True):
        """After the optimizer step: the forward's record to the monitor, its collapse signals
        to the guard (it acts from the next step on), then the EMA teacher update.

        update_teacher: False for a step after which the optimizer did not step (gradient
            accumulation). Returns the step's {target_entropy, teacher_spread}."""
        record = self.model.last_record
        if record is None:
            raise RuntimeError("StepSequence.end() before a forward pass of the model")
        # the guard decides on the signals of the whole distributed batch: one decision on
        # every process; without a guard nothing is communicated per step
        guarded = self.model.params.guard is not None
        signals = self.monitor.observe(record, _world() if guarded else None)
        if None not in signals.values():
            self.model.params.observe(signals["target_entropy"], signals["teacher_spread"])
        self.model.last_record = None
        if update_teacher:
            self.model.update_teacher()
        return signals
