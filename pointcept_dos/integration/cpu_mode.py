"""CPU mode: run Pointcept's own trainer and tester on a machine without CUDA.

Pointcept assumes a CUDA GPU everywhere. ``enable_cpu_mode()`` applies, at run time and only when
called, the smallest set of patches with which Pointcept's stock ``DefaultTrainer``, hooks and
``SemSegTester`` train and test for real on CPU tensors (single process, float32). Nothing in this
module is applied on import, and ``tools/train.py`` / ``tools/test.py`` call it only for ``-g 0``.

What it changes (each patch is a small named function below; ``enable_cpu_mode`` logs the list):

``torchvision_nms_schema``
    Only when ``import torchvision`` fails with "operator torchvision::nms does not exist" (a CUDA
    torchvision wheel beside a CPU torch). Declares the ``torchvision::nms`` / ``qnms`` schemas so
    that torchvision, and with it timm, imports. ``torchvision.ops.nms`` itself still has no kernel.
``pointops_knn_query``
    Pointcept imports the CUDA-only ``pointops`` at module level (evaluator, Sonata, ...). When it is
    not importable, a stand-in module is installed whose ``knn_query`` is exact plain torch, per
    batch segment; every other ``pointops`` function raises ``NotImplementedError`` when called.
    When the real ``pointops`` is importable, its ``knn_query`` is wrapped to use the torch version
    for CPU tensors.
``cuda_calls_to_cpu``
    ``Tensor.cuda()``, ``Module.cuda()`` and ``UntypedStorage.cuda()`` return the object unchanged
    (the trainer's ``model.cuda()`` and ``input_dict[key].cuda()``, the evaluator's and tester's
    ``.cuda()``, and ``CheckpointLoader``'s ``map_location=lambda storage, loc: storage.cuda()``).
    ``torch.zeros(..., device="cuda")`` (part-segmentation evaluators) is not covered.
``spconv_cpu_stream``
    spconv 2.3.8's CPU backward calls ``torch.cuda.current_stream()`` (spconv issue 366); the
    stream is meaningless on CPU, so it is 0 while CUDA is unavailable.
``spconv_eval_bias``
    spconv in eval mode fuses the conv bias into the kernel, which its CPU path rejects ("cpu don't
    support act and bias"); on CPU the convolution runs without bias and the bias is added after,
    which is the same arithmetic spconv uses in training mode.
``spconv_cpu_one_thread``
    spconv 2.3.8's CPU gather-GEMM-scatter (``indice_conv``, its backward, and max pooling) gives
    a wrong output row now and then when torch runs more than one thread (measured on a 500-voxel
    SubMConv3d: 9 of 200 calls off by up to 0.1, never with one thread). Those calls run with one
    thread; the GEMM inside is the same size, and a 58k-voxel 64-channel conv took the same time.
``histc_int64``
    Pointcept's ``intersection_and_union_gpu`` calls ``torch.histc`` on int64 labels, which has no
    CPU kernel; on CPU the labels are cast to float first (exact for class indices).
``no_flash_attention``
    flash-attn is CUDA only: every model built through a Pointcept registry whose constructor takes
    ``enable_flash`` is built with ``enable_flash=False`` (PTv3 then uses plain attention).

``cpu_config(cfg)`` adjusts a parsed Pointcept config for such a run: ``enable_amp=False`` (no
autocast, no GradScaler), ``sync_bn=False``, few data workers, ``enable_wandb=False``. With one
process Pointcept's ``launch`` runs the worker in-process and ``create_ddp_model`` returns the bare
model, so DDP/NCCL is never touched.

Several processes: ``DOS_CPU_PROCESSES=2 tools/train.sh -g 0 ...`` runs Pointcept's trainer in
2 processes on one machine, as ``-g 2`` would on GPUs, with the gloo backend instead of NCCL
(``launch_cpu_processes``). Each process gets ``batch_size / processes`` scenes and one data
worker; DDP averages the gradients (``ddp_cpu_device_ids``: DDP takes no device ids for a CPU
model); DOS's batch-scope Zipf-Sinkhorn and the hook's usage counts are reduced over all of them.

This is for smoke runs, tests and debugging on small data: it is slow (spconv's CPU path and
PTv3's plain attention), float32, and not meant for training at scale.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import logging
import os
import socket
import sys
import types
from datetime import timedelta

import torch

from . import standins
from .pointops_knn import knn_query

__all__ = [
    "enable_cpu_mode", "cpu_config", "applied_patches", "is_enabled",
    "cpu_process_count", "launch_cpu_processes",
]

logger = logging.getLogger(__name__)

# name -> one-line reason; filled by enable_cpu_mode, in order of application
_APPLIED: dict = {}


def applied_patches() -> dict:
    """The patches applied so far (name -> what it fixes); empty if CPU mode was never enabled."""
    return dict(_APPLIED)


_ENABLED = [False]


def is_enabled() -> bool:
    """Whether enable_cpu_mode() has been called in this process."""
    return _ENABLED[0]


# ---------------------------------------------------------------------------------------------
# the patches
# ---------------------------------------------------------------------------------------------


def _patch_torchvision_nms_schema():
    """A CUDA torchvision wheel beside a CPU torch fails on import ("operator torchvision::nms
    does not exist"), and timm (PTv3's DropPath) imports torchvision. Declaring the two op schemas
    lets torchvision import; nms itself stays unusable, which Pointcept does not need."""
    if importlib.util.find_spec("torchvision") is None:
        return None
    try:
        importlib.import_module("torchvision")
        return None  # imports fine: nothing to patch
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]  # drop the half-imported package before retrying
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _KEEP_ALIVE.append(lib)  # a Library deregisters its definitions when garbage collected
    importlib.import_module("torchvision")
    return "declared torchvision::nms/qnms schemas so a CUDA torchvision wheel imports beside CPU torch"


_KEEP_ALIVE: list = []


def _patch_pointops_knn_query():
    """Pointcept imports the CUDA extension pointops at module level (evaluator, Sonata, ...) and
    uses knn_query for cross-view matching and test-time label transfer."""
    try:
        real = importlib.import_module("pointops")
    except ImportError:
        real = None
    if real is None:
        sys.modules["pointops"] = standins.STANDINS["pointops"]()
        return "installed a stand-in 'pointops' module (CUDA extension absent): knn_query in plain torch"
    if getattr(real, "POINTCEPT_DOS_STANDIN", False):
        return None
    original = real.knn_query

    @functools.wraps(original)
    def knn_query_cpu_or_cuda(nsample, xyz, offset, new_xyz=None, new_offset=None):
        if xyz.is_cuda:
            return original(nsample, xyz, offset, new_xyz, new_offset)
        return knn_query(nsample, xyz, offset, new_xyz, new_offset)

    real.knn_query = knn_query_cpu_or_cuda
    return "wrapped pointops.knn_query: CPU tensors use the plain torch version"


def _identity_cuda(self, *args, **kwargs):
    return self


def _patch_cuda_calls_to_cpu():
    """The trainer, hooks and testers call .cuda() unconditionally (model, every input tensor,
    CheckpointLoader's map_location storage.cuda()); in CPU mode these stay on the CPU."""
    torch.Tensor.cuda = _identity_cuda
    torch.nn.Module.cuda = _identity_cuda
    torch.UntypedStorage.cuda = _identity_cuda
    if hasattr(torch.storage, "TypedStorage"):
        torch.storage.TypedStorage.cuda = _identity_cuda
    return "Tensor/Module/UntypedStorage .cuda() return self (trainer, tester, CheckpointLoader)"


def _cpu_stream():
    return 0


def _patch_spconv_cpu_stream():
    """spconv 2.3.8 calls torch.cuda.current_stream() in its CPU backward (spconv issue 366)."""
    try:
        importlib.import_module("spconv.pytorch.ops")
    except ImportError:
        return None
    patched = []
    for name in ("spconv.pytorch.cppcore", "spconv.pytorch.ops", "spconv.pytorch.hash"):
        module = sys.modules.get(name) or importlib.import_module(name)
        current = getattr(module, "get_current_stream", None)
        if current is None or getattr(current, "_pointcept_dos_cpu", False):
            continue
        original = current

        def get_current_stream(_original=original):
            if not torch.cuda.is_available():
                return 0
            return _original()

        get_current_stream._pointcept_dos_cpu = True
        module.get_current_stream = get_current_stream
        patched.append(name.rsplit(".", 1)[-1])
    return "spconv get_current_stream() -> 0 without CUDA (spconv issue 366) in " + ",".join(patched)


def _replace_once(module_name, owner, attr, make_replacement):
    """Replace ``<module_name>.<owner>.<attr>`` (owner None: an attribute of the module itself)
    with ``make_replacement(original)``, marked so that a second call leaves it alone. Returns
    the original, or None when the module does not import or the replacement is in place."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    target = getattr(module, owner) if owner else module
    original = getattr(target, attr)
    if getattr(original, "_pointcept_dos_cpu", False):
        return None
    replacement = functools.wraps(original)(make_replacement(original))
    replacement._pointcept_dos_cpu = True
    setattr(target, attr, replacement)
    return original


def _patch_spconv_eval_bias():
    """spconv's eval forward fuses the bias into the kernel; its CPU path asserts "cpu don't
    support act and bias". Run the conv without bias and add it after (as spconv's training
    path does)."""

    def make_forward(original):
        def forward(self, input, add_input=None):
            bias = self.bias
            if self.training or bias is None or input.features.is_cuda:
                return original(self, input, add_input)
            self.bias = None  # a Parameter attribute: set back below, even on error
            try:
                out = original(self, input, add_input)
            finally:
                self.bias = bias
            return out.replace_feature(out.features + bias)

        return forward

    if _replace_once("spconv.pytorch.conv", "SparseConvolution", "forward", make_forward) is None:
        return None
    return "spconv SparseConvolution eval on CPU: bias added after the conv (no fused bias on CPU)"


def _one_thread_on_cpu(original):
    """`original(features, ...)` run with one torch thread when `features` is on the CPU."""

    def run(features, *args, **kwargs):
        if features.is_cuda:
            return original(features, *args, **kwargs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return original(features, *args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return run


_SPCONV_CPU_KERNELS = ("indice_conv", "indice_conv_backward", "indice_maxpool", "indice_maxpool_backward")


def _patch_spconv_cpu_one_thread():
    """spconv's CPU kernels race with several threads: run them with one (spconv.pytorch.functional
    calls them through the ``ops`` module, so replacing the module attribute reaches them)."""
    patched = [
        name for name in _SPCONV_CPU_KERNELS
        if _replace_once("spconv.pytorch.ops", None, name, _one_thread_on_cpu) is not None
    ]
    if not patched:
        return None
    return "spconv CPU " + ",".join(patched) + " run with one thread (they race with more)"


def _patch_histc_int64():
    """Pointcept's evaluator computes IoU with torch.histc on int64 labels: no CPU kernel."""

    def make_intersection_and_union(original):
        def intersection_and_union_gpu(output, target, k, ignore_index=-1):
            if output.is_cuda or output.is_floating_point():
                return original(output, target, k, ignore_index)
            return original(output.float(), target.float(), k, ignore_index)

        return intersection_and_union_gpu

    name = "intersection_and_union_gpu"
    original = _replace_once("pointcept.utils.misc", None, name, make_intersection_and_union)
    if original is None:
        return None
    # modules that did `from pointcept.utils.misc import intersection_and_union_gpu` already
    # hold the original: rebind it there too (modules imported later get the patched one)
    patched = getattr(sys.modules["pointcept.utils.misc"], name)
    rebound = []
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("pointcept.") and getattr(module, name, None) is original:
            setattr(module, name, patched)
            rebound.append(module_name)
    where = f" (rebound in {', '.join(rebound)})" if rebound else ""
    return "intersection_and_union_gpu casts int labels to float on CPU (torch.histc int64)" + where


def _takes_enable_flash(obj) -> bool:
    try:
        return "enable_flash" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def _patch_no_flash_attention():
    """flash-attn is CUDA only; PTv3 asserts it is installed when enable_flash=True (its
    default). Every registry build of a model that takes enable_flash gets enable_flash=False."""

    def make_build(original):
        def build(self, cfg, *args, **kwargs):
            if isinstance(cfg, dict) and "type" in cfg:
                obj_type = cfg["type"]
                obj_cls = self.get(obj_type) if isinstance(obj_type, str) else obj_type
                if obj_cls is not None and _takes_enable_flash(obj_cls) and cfg.get("enable_flash", True):
                    cfg = type(cfg)(cfg) if not hasattr(cfg, "copy") else cfg.copy()
                    cfg["enable_flash"] = False
                    logger.info("CPU mode: building %s with enable_flash=False", obj_type)
            return original(self, cfg, *args, **kwargs)

        return build

    if _replace_once("pointcept.utils.registry", "Registry", "build", make_build) is None:
        return None
    return "Registry.build forces enable_flash=False on models that take it (no flash-attn on CPU)"


# order matters: torchvision and pointops must be importable before pointcept is imported
_PATCHES = (
    ("torchvision_nms_schema", _patch_torchvision_nms_schema),
    ("pointops_knn_query", _patch_pointops_knn_query),
    ("cuda_calls_to_cpu", _patch_cuda_calls_to_cpu),
    ("spconv_cpu_stream", _patch_spconv_cpu_stream),
    ("spconv_eval_bias", _patch_spconv_eval_bias),
    ("spconv_cpu_one_thread", _patch_spconv_cpu_one_thread),
    ("histc_int64", _patch_histc_int64),
    ("no_flash_attention", _patch_no_flash_attention),
)


def enable_cpu_mode(allow_cuda: bool = False) -> dict:
    """Apply the CPU-mode patches (idempotent) and return ``{name: what it fixes}``.

    Refuses on a machine where CUDA is available unless ``allow_cuda=True`` (an explicit request
    for a CPU debug run on a GPU machine): it must never slip into a GPU run.
    """
    if torch.cuda.is_available() and not allow_cuda:
        raise RuntimeError(
            "enable_cpu_mode() called on a machine with CUDA; pass allow_cuda=True to force a CPU run"
        )
    _ENABLED[0] = True
    newly = []
    for name, patch in _PATCHES:
        if name in _APPLIED:
            continue
        reason = patch()
        if reason:
            _APPLIED[name] = reason
            newly.append(name)
    if newly:
        message = "pointcept-dos CPU mode: patched " + ", ".join(newly)
        logger.info(message)
        print(message, file=sys.stderr, flush=True)
        for name in newly:
            print(f"  {name}: {_APPLIED[name]}", file=sys.stderr, flush=True)
    return applied_patches()


def cpu_config(cfg, num_worker: int = 1, processes: int = 1):
    """Adjust a parsed Pointcept config (addict/Config) in place for a CPU run of `processes`
    processes (one data worker each, at most `num_worker` in all when there is one process)."""
    if processes > 1 and int(cfg.get("batch_size") or 0) % processes:
        raise ValueError(
            f"batch_size={cfg.get('batch_size')} must be a multiple of DOS_CPU_PROCESSES="
            f"{processes} (each process takes batch_size / processes scenes)"
        )
    changes = {
        "enable_amp": False,  # autocast/GradScaler are CUDA here; float32 on CPU
        "sync_bn": False,  # SyncBatchNorm is CUDA only
        "enable_wandb": False,  # a smoke run reports nowhere
        # the trainer's DataLoader sets persistent_workers=True, which needs at least one worker
        # per process (Pointcept gives each num_worker // processes)
        "num_worker": processes * max(1, min(int(cfg.get("num_worker") or num_worker), num_worker)),
    }
    for key, value in changes.items():
        cfg[key] = value
    print(
        "pointcept-dos CPU mode config: " + ", ".join(f"{k}={v}" for k, v in changes.items()),
        file=sys.stderr,
        flush=True,
    )
    return cfg


# ---------------------------------------------------------------------------------------------
# several CPU processes (gloo)
# ---------------------------------------------------------------------------------------------

PROCESSES_ENV = "DOS_CPU_PROCESSES"


def cpu_process_count(environ=None) -> int:
    """Processes of a ``-g 0`` run: ``DOS_CPU_PROCESSES`` (a positive integer), default 1."""
    environ = os.environ if environ is None else environ
    value = environ.get(PROCESSES_ENV, "1").strip() or "1"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{PROCESSES_ENV} must be a positive integer (processes of a -g 0 run), got {value!r}")
    return int(value)


def _patch_ddp_cpu_device_ids():
    """Pointcept's create_ddp_model passes device_ids=[local rank], which DDP rejects for a
    model on the CPU: there it passes none."""

    def make_create_ddp_model(original):
        def create_ddp_model(model, *, fp16_compression=False, **kwargs):
            if all(not p.is_cuda for p in model.parameters()):
                kwargs.update(device_ids=None, output_device=None)
            return original(model, fp16_compression=fp16_compression, **kwargs)

        return create_ddp_model

    original = _replace_once("pointcept.engines.defaults", None, "create_ddp_model", make_create_ddp_model)
    if original is None:
        return None
    train = importlib.import_module("pointcept.engines.train")  # imported it by name
    if getattr(train, "create_ddp_model", None) is original:
        train.create_ddp_model = sys.modules["pointcept.engines.defaults"].create_ddp_model
    return "create_ddp_model passes no device ids for a CPU model (DDP over gloo)"


def _free_local_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def _cpu_worker(rank, main_func, world_size, dist_url, args, timeout):
    import torch.distributed as dist

    enable_cpu_mode(allow_cuda=True)  # a spawned child: the parent's patches are not here
    reason = _patch_ddp_cpu_device_ids()
    if reason:
        _APPLIED["ddp_cpu_device_ids"] = reason
    dist.init_process_group(
        backend="gloo", init_method=dist_url, world_size=world_size, rank=rank, timeout=timeout
    )
    from pointcept.utils import comm

    # Pointcept's local group (one machine: every process); get_local_rank() asserts on it
    comm._LOCAL_PROCESS_GROUP = dist.new_group(list(range(world_size)))
    comm.synchronize()
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()


def launch_cpu_processes(main_func, processes, dist_url="auto", args=(), timeout_minutes=60):
    """Pointcept's ``launch`` for CPU mode: `processes` processes on this machine, gloo.

    Each runs ``main_func(*args)`` with torch.distributed initialised (rank 0..processes-1) and
    Pointcept's local process group set, as Pointcept's GPU workers are."""
    import torch.multiprocessing as mp

    if processes < 2:
        raise ValueError(f"launch_cpu_processes needs 2 or more processes, got {processes}")
    url = _free_local_url() if dist_url in (None, "auto") else dist_url
    print(f"pointcept-dos CPU mode: {processes} processes, gloo at {url}", file=sys.stderr, flush=True)
    mp.spawn(
        _cpu_worker,
        nprocs=processes,
        args=(main_func, processes, url, tuple(args), timedelta(minutes=timeout_minutes)),
        daemon=False,
    )
