"""Locating Pointcept's own configs from ours.

Our configs reuse Pointcept's (runtime defaults, dataset and probe settings) instead of
restating them, and Pointcept keeps its configs in the checkout, not in the package. Configs
import this as a dunder name so that Pointcept's Config, which keeps every top-level name not
starting with "__", does not store a function in the parsed config:

    from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
    _base_ = [__pointcept_config("_base_/default_runtime.py")]
"""

import os


def pointcept_root():
    """The Pointcept checkout named by $POINTCEPT_ROOT (absolute path)."""
    root = os.environ.get("POINTCEPT_ROOT", "")
    if not root:
        raise RuntimeError(
            "POINTCEPT_ROOT is not set: configs/dos reuse Pointcept's own configs, so point it "
            "at your Pointcept checkout, e.g. `export POINTCEPT_ROOT=$HOME/Pointcept`"
        )
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(os.path.join(root, "configs")) or not os.path.isdir(
        os.path.join(root, "pointcept")
    ):
        raise RuntimeError(
            f"POINTCEPT_ROOT={root} is not a Pointcept checkout: expected configs/ and "
            "pointcept/ inside it"
        )
    return root


def pointcept_config(relative):
    """Absolute path of `configs/<relative>` in the Pointcept checkout; clear error if absent."""
    path = os.path.join(pointcept_root(), "configs", relative)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Pointcept config configs/{relative} not found under POINTCEPT_ROOT="
            f"{pointcept_root()}: this config needs Pointcept v1.7 or later"
        )
    return path
