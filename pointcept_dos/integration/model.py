"""DOS-v1m1 as a Pointcept model: the plain model plus the hook methods that Pointcept's
`ModelHook` forwards, each one call of the shared step order (`models.step_sequence`)."""

from pointcept.engines.hooks.default import HookBase
from pointcept.models.builder import MODELS

from ..backbones import SpUNetLite
from ..models import DOSv1m1
from ..models.step_params import SCHEDULED
from ..models.step_sequence import StepSequence

MODELS.register_module("DOS-SpUNet-lite", module=SpUNetLite)


@MODELS.register_module("DOS-v1m1")
class DOSPointModel(DOSv1m1, HookBase):
    """See `pointcept_dos.models.DOSv1m1`. Needs `ModelHook` in the config's hooks, after
    `CheckpointLoader`, as Sonata does. `steps.monitor` is what `ZipfSinkhornHook` reports."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = StepSequence(self)

    def global_step(self):
        """Step of the whole run: resumed runs start at start_epoch * iterations per epoch."""
        return self.trainer.epoch * len(self.trainer.train_loader) + self.trainer.comm_info["iter"]

    def before_step(self):
        step = self.global_step()
        self.steps.begin(step, self.trainer.cfg.scheduler.total_steps)
        writer = self.trainer.writer
        if writer is not None:
            values = self.params.values()
            for name in SCHEDULED:
                writer.add_scalar(f"params/{name}", values[name], step)

    def after_step(self):
        # with gradient accumulation the optimizer steps only when the counter wraps to 0
        self.steps.end(update_teacher=getattr(self.trainer, "_gradient_accumulation_counter", 0) == 0)
