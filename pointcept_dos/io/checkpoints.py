"""Reading and writing DOS checkpoints (Pointcept's format: a dict whose `state_dict` holds the
model's keys, with a `module.` prefix when saved from DDP).

Checkpoints are read with `torch.load(weights_only=True)`: ours and Pointcept's hold only
tensors and plain containers, and a pickle that needs anything else (code to run) is refused.
"""

import os
import pickle
import re

import numpy as np
import torch

from .atomic import atomic_write

# Pointcept's WeightDecaySchedular (every DOS pretrain config) writes the weight decay into the
# optimizer state as a numpy float64: numpy scalars are data, not code, so they are allowed too
_NUMPY_SCALAR_GLOBALS = [np.dtype, (getattr(np, "_core", None) or np.core).multiarray.scalar] + [
    type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.bool_)
]

# the kinds of numpy scalar a checkpoint may hold: booleans and numbers. The allowlist above
# lets a crafted pickle build a scalar of any dtype (void, datetime64, str_, ...): they run no
# code, but they are not what a checkpoint holds, so they are refused after loading
_NUMERIC_KINDS = "biufc"

BRANCHES = ("student", "teacher")
# where a backbone may sit in a checkpoint, for `branch="any"`: the EMA teacher first (what
# Sonata releases), then the student, then a segmentor's `backbone` (probe / fine-tune runs)
_ANY_PREFIXES = ("teacher.backbone.", "student.backbone.", "backbone.")


def _refusal(path, err):
    """ValueError for an UnpicklingError of weights_only=True: code it would run, or not a
    torch file at all."""
    text = str(err)
    code = re.search(r"GLOBAL ([\w.]+)", text)
    if code:
        return ValueError(
            f"checkpoint {path!r} refused: loading it would import and run {code.group(1)} (a "
            "pickle that executes code); expected only tensors and plain containers, which is "
            "all weights_only=True loads"
        )
    detail = re.search(r"Unsupported operand [^\n]*", text)
    detail = detail.group(0) if detail else text.strip().splitlines()[-1]
    return ValueError(
        f"checkpoint {path!r} is not a torch checkpoint of tensors and plain containers "
        f"(foreign, corrupted or truncated file?): {detail}; expected a .pth written by torch.save"
    )


def _first_non_numeric_numpy(checkpoint):
    """(where, value) of the first numpy scalar or dtype in `checkpoint` that is not a boolean
    or a number, or None. Walks dicts, lists, tuples and sets, each container once."""
    stack, seen = [("checkpoint", checkpoint)], set()
    while stack:
        where, value = stack.pop()
        if isinstance(value, (np.generic, np.dtype)):
            kind = value.kind if isinstance(value, np.dtype) else value.dtype.kind
            if kind not in _NUMERIC_KINDS:
                return where, value
        elif isinstance(value, (dict, list, tuple, set, frozenset)) and id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, dict):
                stack.extend((f"{where}[{k!r}]", v) for k, v in value.items())
                stack.extend((f"a key of {where}", k) for k in value)
            else:
                stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return None


def read_checkpoint(path):
    """The checkpoint dict at `path`, loaded on the CPU, weights only (nothing in it can run).

    Returns:
        dict with `state_dict` (a dict) and whatever else was saved (plain values only).
    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: naming `path` and what was expected, when `path` is a folder, the file is
            empty, truncated, not a torch file, holds objects other than tensors, plain
            containers and numeric numpy scalars (a crafted pickle: refused without running
            it), or is not a dict with a `state_dict` dict.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path!r} is a folder: expected a .pth file written by torch.save")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"checkpoint {path!r} is empty (0 bytes): expected a .pth written by torch.save")
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _refusal(path, err) from err
    except Exception as err:  # torch's readers raise RuntimeError, KeyError, EOFError, ...
        first = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(
            f"checkpoint {path!r} is not a readable torch file (truncated or foreign?): "
            f"{type(err).__name__}: {first}; expected a .pth written by torch.save"
        ) from err
    odd = _first_non_numeric_numpy(checkpoint)
    if odd is not None:
        where, value = odd
        raise ValueError(
            f"checkpoint {path!r} refused: {where} is a numpy {type(value).__name__} "
            f"({value!r}); expected tensors, plain containers and numeric scalars only"
        )
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        found = (sorted(map(str, checkpoint))[:8] if isinstance(checkpoint, dict)
                 else type(checkpoint).__name__)
        raise ValueError(
            f"checkpoint {path!r} is not a Pointcept checkpoint: expected a dict with 'state_dict', "
            f"got {found}"
        )
    if not isinstance(checkpoint["state_dict"], dict):
        raise ValueError(
            f"checkpoint {path!r}: expected 'state_dict' to be a dict of tensors, got "
            f"{type(checkpoint['state_dict']).__name__}"
        )
    return checkpoint


def write_checkpoint(path, state_dict, opener=atomic_write, **extra):
    """Write dict(state_dict=state_dict, **extra) to `path` atomically (Pointcept's format).
    `extra` must hold only tensors and plain containers, so `read_checkpoint` can load it.
    `opener(path, "wb")`: the context manager that opens the file (an owner's guarded writer)."""
    with opener(path, "wb") as f:
        torch.save(dict(state_dict=state_dict, **extra), f)


def strip_module(state_dict):
    """Drop DDP's `module.` prefix when every key has it."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def backbone_state_dict(state_dict, branch="student"):
    """The backbone of one branch, keyed as the backbone module itself (no prefix).

    Args:
        state_dict: a DOS model's state dict (`student.backbone.*`, `teacher.backbone.*`).
        branch: "student" (what Sonata's probe configs load), "teacher" (the EMA), or "any":
            the teacher, else the student, else a segmentor's `backbone.*`.
    """
    if branch not in BRANCHES + ("any",):
        raise ValueError(f"branch must be one of {BRANCHES + ('any',)}, got {branch!r}")
    prefixes = _ANY_PREFIXES if branch == "any" else (f"{branch}.backbone.",)
    state = strip_module(state_dict)
    for prefix in prefixes:
        backbone = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if backbone:
            return backbone
    roots = sorted({k.split(".")[0] for k in state})
    raise KeyError(
        f"no {' / '.join(p + '*' for p in prefixes)} keys: not a DOS checkpoint? "
        f"top-level keys: {roots[:8]}"
    )
