"""A hook for tests of multi-process Pointcept runs: after training, every process saves its
model's state to <save_path>/rank<r>.pth (Pointcept's CheckpointSaver saves rank 0's only).

Used in a test config as `hooks = [..., dict(type=RANK_DUMP_HOOK)]`: the type is a str whose
class lives here, so unpickling the config in a spawned worker imports (and registers) this
module there too, as pointcept_dos.integration.registration does for DOS."""

import os

import torch
from pointcept.engines.hooks.builder import HOOKS
from pointcept.engines.hooks.default import HookBase
from pointcept.utils import comm


class RankStateDump(HookBase):
    def after_train(self):
        model = getattr(self.trainer.model, "module", self.trainer.model)
        path = os.path.join(self.trainer.cfg.save_path, f"rank{comm.get_rank()}.pth")
        torch.save(dict(state_dict=model.state_dict(), world_size=comm.get_world_size()), path)


HOOKS.register_module("DOSTestRankStateDump", module=RankStateDump, force=True)


class _registered(str):
    __slots__ = ()


RANK_DUMP_HOOK = _registered("DOSTestRankStateDump")
