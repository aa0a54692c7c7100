"""Checks of the backbone weights in a checkpoint, done before the backbone is built for real.

A checkpoint may come from elsewhere. Its config can describe a backbone far larger than the
weights it holds (a 1 KB file asking for 26 GB), a stored tensor can claim more values than
the file holds (a view with stride 0), and a BatchNorm statistic can be NaN or negative (every
feature NaN, no error). Each is found here from the tensors' metadata and values and the
config's backbone built on the meta device, which allocates nothing.
"""

import torch
from torch.overrides import TorchFunctionMode

from ..backbones import BACKBONES, build_backbone

# factories a constructor may read back with .item() (PT-v3m2's drop-path rates): meta tensors
# hold no values, so these stay on the CPU; they are as small as the config's depths
_READ_BACK_HELPERS = (torch.linspace, torch.arange, torch.logspace)


class _HelpersOnCpu(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in _READ_BACK_HELPERS and kwargs.get("device") is None:
            kwargs["device"] = "cpu"
        return func(*args, **kwargs)


def backbone_shapes(backbone_cfg):
    """{state-dict key: shape} of the backbone ``backbone_cfg`` describes, without allocating
    it (built on the meta device). None when its constructor cannot run there: such a backbone
    is built directly, with only the checks of `check_stored_tensors`."""
    if backbone_cfg.get("type") not in BACKBONES:
        # Pointcept's model modules are imported here, not under the meta device, where any
        # module-level tensor they make would be left without values
        try:
            import pointcept.models  # noqa: F401
        except Exception:  # no Pointcept: build_backbone names the unknown type
            pass
    try:
        with torch.device("meta"), _HelpersOnCpu():
            module = build_backbone(dict(backbone_cfg))
    except Exception:  # a bad config fails the same way in the real build, with its message
        return None
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def check_stored_tensors(state, where):
    """ValueError naming the tensor when one of a backbone's stored weights cannot be used.

    Args:
        state: {key: value} the backbone's weights as loaded from the file.
        where: how the error names the file, e.g. "checkpoint 'model_last.pth'".
    Refused: values that are not tensors; tensors that describe more values than their stored
    data holds (views that would make a small file load as a large model); NaN or Inf in a
    floating tensor; a negative ``running_var`` (a variance is >= 0).
    """
    described, held, seen = 0, {}, set()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{where}: backbone entry {key!r} is a {type(value).__name__}, expected a tensor")
        storage = value.untyped_storage()
        view = (storage.data_ptr(), value.storage_offset(), tuple(value.shape), value.stride(), value.dtype)
        if view not in seen:  # one tensor saved under two keys (tied weights) counts once
            seen.add(view)
            described += value.numel() * value.element_size()
            held[storage.data_ptr()] = storage.nbytes()
        if value.numel() * value.element_size() > storage.nbytes():
            raise ValueError(
                f"{where}: backbone tensor {key!r} has shape {list(value.shape)} but only "
                f"{storage.nbytes()} bytes of data: expected a tensor saved with its values"
            )
    if described > sum(held.values()):
        raise ValueError(
            f"{where}: the backbone tensors describe {described} bytes but the file holds "
            f"{sum(held.values())}: expected tensors saved with their values, not overlapping views"
        )
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        bad = int((~torch.isfinite(value)).sum())
        if bad:
            raise ValueError(
                f"{where}: backbone tensor {key!r} holds {bad} NaN or Inf of {value.numel()} values: "
                "expected finite weights (the run diverged, or the file is damaged)"
            )
        if key.endswith("running_var") and bool((value < 0).any()):
            raise ValueError(
                f"{where}: backbone tensor {key!r} (a BatchNorm running variance) holds "
                f"{int((value < 0).sum())} negative values (min {float(value.min()):g}): expected "
                "variances >= 0 (the file is damaged)"
            )


def check_shapes(state, expected, where):
    """ValueError when the stored weights are not those of the configured backbone.

    Args:
        state: {key: tensor} as stored; expected: {key: shape} from `backbone_shapes`.
    A missing ``num_batches_tracked`` is allowed (older BatchNorm state dicts omit it)."""
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [(k, list(state[k].shape), list(expected[k])) for k in state
             if k in expected and tuple(state[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        shapes = "; ".join(f"{k!r} is stored as {s}, the config builds {e}" for k, s, e in wrong[:3])
        raise ValueError(
            f"{where}: its backbone weights do not match its config (nothing was built): "
            f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)})"
            + (f", {len(wrong)} of other shape: {shapes}" if wrong else "")
            + "; expected the weights of the backbone the config describes"
        )
