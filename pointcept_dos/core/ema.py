"""Exponential moving average of a student into a teacher of the same structure."""

import torch


def _float_state(module):
    """Parameters and floating buffers (e.g. BatchNorm running stats) by name."""
    state = dict(module.named_parameters())
    state.update((k, v) for k, v in module.named_buffers() if v.is_floating_point())
    return state


@torch.no_grad()
def ema_update_(teacher, student, momentum):
    """teacher <- momentum * teacher + (1 - momentum) * student, in place.

    Works on any two modules (or nn.ModuleDicts) with the same parameter and floating-buffer
    names and shapes; integer buffers such as BatchNorm's step counter are left alone.
    momentum in [0, 1]: 1 freezes the teacher, 0 copies the student.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
    t_state, s_state = _float_state(teacher), _float_state(student)
    if t_state.keys() != s_state.keys():
        diff = sorted(set(t_state) ^ set(s_state))
        raise ValueError(f"teacher and student differ in structure; mismatched names: {diff[:5]}")
    names = list(t_state)
    for name in names:
        if t_state[name].shape != s_state[name].shape:
            raise ValueError(
                f"teacher and student differ at {name!r}: shapes "
                f"{tuple(t_state[name].shape)} vs {tuple(s_state[name].shape)}"
            )
    t_list = [t_state[n] for n in names]
    s_list = [s_state[n].to(t_state[n].dtype) for n in names]
    torch._foreach_mul_(t_list, momentum)
    torch._foreach_add_(t_list, s_list, alpha=1.0 - momentum)
