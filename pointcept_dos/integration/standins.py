"""Opt-in stand-ins for compiled extensions that Pointcept imports and a machine lacks.

A machine with CUDA but without the time or network to build torch-scatter, torch-cluster and
Pointcept's `pointops` (a borrowed GPU with no package index, say) can still import Pointcept
and train DOS with these in their place. They are off unless asked for by one environment
variable, ``DOS_STANDINS``, and every process that uses them says so (`active_standins`), so
that no timing is taken for one measured with the real extension.

``DOS_STANDINS=1`` (or ``missing``)
    a stand-in for each of the modules below that does not import here;
``DOS_STANDINS=all``
    a stand-in for each of them even where the real one imports (to rehearse, on a machine that
    has them, the code a machine without them runs);
unset, empty or ``0``
    nothing.

The stand-ins (each a module placed in ``sys.modules`` under the extension's name):

``torch_scatter``
    `segment_csr` and `segment_coo` (sum / mean / min / max), on torch's `scatter_reduce`, the
    two functions Pointcept's PT-v3 pooling and Sonata's losses call. Gradients as
    torch_scatter's, ties included: min / max give the whole gradient to the first entry that
    attains the extreme.
``pointops``
    `knn_query`, exact, on `core.neighbours.knn` (any device): the CPU mode's stand-in.
``torch_cluster``, ``wandb``, ``open3d``
    empty: Pointcept imports them at module level in code DOS pretraining never runs.

Every other attribute of a stand-in is a function that raises NotImplementedError naming
itself, so code that needs more than the stand-in offers fails where it calls it.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types

import torch

from .pointops_knn import knn_query

__all__ = [
    "ENV_VAR", "STANDINS", "segment_csr", "segment_coo", "standin_module", "requested_mode",
    "install_standins", "install_requested_standins", "active_standins",
]

ENV_VAR = "DOS_STANDINS"
MODES = {"": None, "0": None, "1": "missing", "missing": "missing", "all": "all"}

# torch_scatter's reduce names -> scatter_reduce's
_REDUCE = {"sum": "sum", "add": "sum", "mean": "mean", "min": "amin", "max": "amax"}


def _reduce_name(reduce):
    if reduce not in _REDUCE:
        raise ValueError(f"reduce must be one of {sorted(_REDUCE)}, got {reduce!r}")
    return _REDUCE[reduce]


def _no_out(out, name):
    if out is not None:
        raise NotImplementedError(f"the pointcept-dos stand-in of torch_scatter.{name} takes no out=")


def _reduce_rows(src, index, size, reduce):
    """Rows of src [M, ...] reduced into `size` rows by index [M] (int64); empty rows are 0."""
    shape = (size,) + tuple(src.shape[1:])
    expanded = index.view(-1, *([1] * (src.dim() - 1))).expand_as(src)
    out = torch.zeros(shape, dtype=src.dtype, device=src.device)
    name = _reduce_name(reduce)
    # include_self=False: a row's value comes from its entries only; rows with none stay 0,
    # as torch_scatter leaves empty segments
    if name not in ("amin", "amax") or src.shape[0] == 0:
        return out.scatter_reduce(0, expanded, src, reduce=name, include_self=False)
    # scatter_reduce's amin / amax share the gradient among tied entries; torch_scatter routes it
    # to the first, so the output is gathered from the first entry that attains each extreme
    with torch.no_grad():
        best = out.scatter_reduce(0, expanded, src, reduce=name, include_self=False).gather(0, expanded)
        attains = (src == best) | (src.isnan() & best.isnan())
        rows = torch.arange(src.shape[0], device=src.device).view(-1, *([1] * (src.dim() - 1)))
        candidate = torch.where(attains, rows.expand_as(src), src.shape[0])
        first = torch.full(shape, src.shape[0], dtype=torch.long, device=src.device)
        first = first.scatter_reduce(0, expanded, candidate, reduce="amin", include_self=True)
    picked = src.gather(0, first.clamp(max=src.shape[0] - 1))
    return torch.where(first < src.shape[0], picked, out)


def segment_csr(src, indptr, out=None, reduce="sum"):
    """torch_scatter.segment_csr along the first dimension.

    src: [N, ...]; indptr: [S + 1] int, non-decreasing, segment s = rows indptr[s]:indptr[s+1].
    -> [S, ...] of src's dtype; an empty segment gives 0 for every reduce.
    """
    _no_out(out, "segment_csr")
    if not torch.is_tensor(indptr) or indptr.dim() != 1 or indptr.numel() < 1:
        raise ValueError(f"indptr must be a 1-D tensor of S + 1 segment bounds, got {getattr(indptr, 'shape', indptr)!r}")
    indptr = indptr.to(device=src.device, dtype=torch.long)
    lengths = indptr[1:] - indptr[:-1]
    if (lengths < 0).any() or int(indptr[-1]) > src.shape[0] or int(indptr[0]) < 0:
        raise ValueError(
            f"indptr must be non-decreasing within [0, {src.shape[0]}] (rows of src), "
            f"got {indptr.tolist()[:8]}..."
        )
    index = torch.repeat_interleave(torch.arange(len(lengths), device=src.device), lengths)
    return _reduce_rows(src[int(indptr[0]):int(indptr[-1])], index, len(lengths), reduce)


def segment_coo(src, index, out=None, dim_size=None, reduce="sum"):
    """torch_scatter.segment_coo along the first dimension.

    src: [N, ...]; index: [N] int, the segment of each row (sorted, as torch_scatter asks;
    not needed here); dim_size: segments in the output (default index.max() + 1).
    -> [dim_size, ...]; a segment without rows gives 0.
    """
    _no_out(out, "segment_coo")
    if not torch.is_tensor(index) or index.dim() != 1 or index.shape[0] != src.shape[0]:
        raise ValueError(
            f"index must be a 1-D tensor with one entry per row of src ({src.shape[0]}), "
            f"got shape {tuple(getattr(index, 'shape', ()))}"
        )
    index = index.to(device=src.device, dtype=torch.long)
    if index.numel() and int(index.min()) < 0:
        raise ValueError(f"index must be >= 0, got a minimum of {int(index.min())}")
    size = dim_size if dim_size is not None else (int(index.max()) + 1 if index.numel() else 0)
    if index.numel() and int(index.max()) >= size:
        raise ValueError(f"dim_size={dim_size} is smaller than index.max() + 1 = {int(index.max()) + 1}")
    return _reduce_rows(src, index, size, reduce)


def standin_module(name, description, functions=None):
    """A module named `name` holding `functions`; any other public attribute is a function
    that raises NotImplementedError when called. `POINTCEPT_DOS_STANDIN` holds `description`."""
    module = types.ModuleType(name)
    module.__doc__ = f"pointcept-dos stand-in for {name}: {description}"
    module.__file__ = __file__
    # importlib.util.find_spec(name) (transformers asks it of wandb) needs a spec to read
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None, origin=__file__)
    module.POINTCEPT_DOS_STANDIN = description
    for key, value in (functions or {}).items():
        setattr(module, key, value)

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def unavailable(*args, **kwargs):
            raise NotImplementedError(
                f"{name}.{attr} is not available: {name} is a pointcept-dos stand-in here "
                f"({description}); install the real {name} for it"
            )

        return unavailable

    module.__getattr__ = __getattr__
    return module


def _pointops():
    return standin_module("pointops", "knn_query only, exact (core.neighbours.knn)", dict(knn_query=knn_query))


def _torch_scatter():
    return standin_module(
        "torch_scatter", "segment_csr / segment_coo on torch.scatter_reduce",
        dict(segment_csr=segment_csr, segment_coo=segment_coo),
    )


def _empty(name):
    return lambda: standin_module(name, "empty (Pointcept imports it; DOS pretraining never calls it)")


# name -> builder, in the order they are installed
STANDINS = {
    "torch_scatter": _torch_scatter,
    "pointops": _pointops,
    "torch_cluster": _empty("torch_cluster"),
    "wandb": _empty("wandb"),
    "open3d": _empty("open3d"),
}


def requested_mode(environ=None):
    """The mode `DOS_STANDINS` asks for: None (off), "missing" or "all"."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_VAR, "").strip().lower()
    if value not in MODES:
        raise ValueError(
            f"{ENV_VAR}={environ.get(ENV_VAR)!r}: expected 1 / missing (stand-ins for the "
            f"extensions that do not import), all (for every one of {sorted(STANDINS)}) or 0 / unset (none)"
        )
    return MODES[value]


def _imports(name):
    if importlib.util.find_spec(name) is None:
        return False
    try:
        importlib.import_module(name)
    except (ImportError, OSError):  # a compiled extension built for another torch / CUDA
        return False
    return True


def install_standins(mode="missing"):
    """Put the stand-ins in `sys.modules` ("missing": only where the real module does not
    import; "all": everywhere) before Pointcept is imported. -> {name: description} installed
    now. A module already replaced is left as it is."""
    if mode not in ("missing", "all"):
        raise ValueError(f"mode must be 'missing' or 'all', got {mode!r}")
    installed = {}
    for name, build in STANDINS.items():
        if _marker(sys.modules.get(name)):
            continue
        if mode == "missing" and _imports(name):
            continue
        module = build()
        sys.modules[name] = module
        installed[name] = module.POINTCEPT_DOS_STANDIN
    return installed


def install_requested_standins(environ=None):
    """`install_standins` in the mode `DOS_STANDINS` asks for; {} when it is off."""
    mode = requested_mode(environ)
    return install_standins(mode) if mode else {}


def _marker(module):
    # read from the module's dict: a module-level __getattr__ (lazy modules, ours) is not asked
    return getattr(module, "__dict__", {}).get("POINTCEPT_DOS_STANDIN")


def active_standins():
    """{module name: description} of every stand-in in this process (ours or CPU mode's)."""
    return {name: _marker(module) for name, module in list(sys.modules.items()) if _marker(module)}
