"""What a launch does when a config asks for flash attention that the machine lacks.

PT-v3 (Pointcept's PT-v3m1 / PT-v3m2) builds with `enable_flash=True` in every PTv3 config of
configs/dos and of Sonata, and then asserts that `flash_attn` is importable. Decision
(configs/dos/README.md): on a CUDA machine without an importable flash_attn, `tools/train.sh`
and `tools/test.sh` stop before anything is built and name the one option that turns it off.
They do not fall back on their own: plain attention is slower and holds a dense
[patch, patch] attention matrix per head and patch (1024 x 1024 here), so a run sized for flash
attention could run out of memory hours later, and a silently slower run is easy to mistake.
CPU mode (-g 0) needs no check: it builds every model without flash attention.
"""

import importlib

PTV3_TYPES = ("PT-v3m1", "PT-v3m2")  # PT-v3 models whose enable_flash defaults to True


def flash_attention_options(cfg):
    """Pointcept --options keys that turn flash attention on in `cfg.model`.

    Every `enable_flash=True` below `model`, and every PT-v3 dict that leaves it at Pointcept's
    default (True), as a dotted key, e.g. ["model.backbone.enable_flash"].
    """
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("enable_flash", node.get("type") in PTV3_TYPES) is True:
                found.append(f"{path}.enable_flash")
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}")

    walk(cfg.get("model", {}), "model")
    return found


def flash_attention_action(cuda_available, flash_importable, cfg):
    """("run", None) when the launch may go on, ("stop", message) when it must not.

    Args:
        cuda_available: whether the run uses CUDA GPUs (False: CPU mode, no flash attention).
        flash_importable: whether `import flash_attn` works here.
        cfg: the parsed config (a dict-like with `model`).
    """
    options = flash_attention_options(cfg)
    if not options or flash_importable or not cuda_available:
        return "run", None
    turn_off = " ".join(f"{key}=False" for key in options)
    return "stop", (
        f"flash-attn is not importable on this CUDA machine, and the config builds PT-v3 with "
        f"flash attention ({', '.join(options)} is True). Either install flash-attn for your torch "
        f"and CUDA (pip install flash-attn), or run with plain attention (slower, more memory; "
        f"the same weights, checkpoints load either way) by adding after the flags:\n"
        f"    -- {turn_off}\n"
        f"e.g. sh tools/train.sh -g 2 -d scannet -c CONFIG -n NAME -- {turn_off}"
    )


def flash_attn_importable():
    """Whether `import flash_attn` works (Pointcept's PT-v3 asserts the same at build time)."""
    try:
        importlib.import_module("flash_attn")
    except ImportError:
        return False
    return True


def stop_without_flash_attention(cfg):
    """Raise SystemExit with the message of `flash_attention_action` when the launch must stop."""
    import torch

    action, message = flash_attention_action(torch.cuda.is_available(), flash_attn_importable(), cfg)
    if action == "stop":
        raise SystemExit(f"error: {message}")
