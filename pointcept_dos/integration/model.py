"""DOS-v1m1 as a Pointcept model: the plain model plus the hook methods that Pointcept's
`ModelHook` forwards (schedules before each step, EMA teacher update after it)."""

from pointcept.engines.hooks.default import HookBase
from pointcept.models.builder import MODELS

from ..backbones import SpUNetLite
from ..models import DOSv1m1

MODELS.register_module("DOS-SpUNet-lite", module=SpUNetLite)


@MODELS.register_module("DOS-v1m1")
class DOSPointModel(DOSv1m1, HookBase):
    """See `pointcept_dos.models.DOSv1m1`. Needs `ModelHook` in the config's hooks, after
    `CheckpointLoader`, as Sonata does."""

    def global_step(self):
        """Step of the whole run: resumed runs start at start_epoch * iterations per epoch."""
        return self.trainer.epoch * len(self.trainer.train_loader) + self.trainer.comm_info["iter"]

    def before_step(self):
        step = self.global_step()
        self.set_step(step, self.trainer.cfg.scheduler.total_steps)
        writer = self.trainer.writer
        if writer is not None:
            for name in ("teacher_temp", "momentum", "zipf_alpha"):
                writer.add_scalar(f"params/{name}", getattr(self, name), step)

    def after_step(self):
        # with gradient accumulation the optimizer steps only when the counter wraps to 0
        if getattr(self.trainer, "_gradient_accumulation_counter", 0) == 0:
            self.update_teacher()
