"""Reading DOS checkpoints (Pointcept's format: a dict whose `state_dict` holds the model's
keys, with a `module.` prefix when saved from DDP)."""

import torch

BRANCHES = ("student", "teacher")


def strip_module(state_dict):
    """Drop DDP's `module.` prefix when every key has it."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def backbone_state_dict(state_dict, branch="student"):
    """The backbone of one branch, keyed as the backbone module itself (no prefix).

    Args:
        state_dict: a DOS model's state dict (`student.backbone.*`, `teacher.backbone.*`).
        branch: "student" (what Sonata's probe configs load) or "teacher" (the EMA).
    """
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    prefix = f"{branch}.backbone."
    state = strip_module(state_dict)
    backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not backbone:
        roots = sorted({k.split(".")[0] for k in state})
        raise KeyError(f"no '{prefix}*' keys: not a DOS checkpoint? top-level keys: {roots[:8]}")
    return backbone


def load_checkpoint(path):
    """torch.load on the CPU with a clear error for files that are not Pointcept checkpoints."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path!r} is not a Pointcept checkpoint (no 'state_dict')")
    return checkpoint
