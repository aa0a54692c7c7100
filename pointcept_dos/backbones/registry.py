"""A minimal backbone registry that works with or without Pointcept.

Backbones of this package register themselves here by name. ``build_backbone`` builds
one of ours, or hands any other type over to Pointcept's ``build_model`` when Pointcept
is importable, so a DOS config can name ``"DOS-SpUNet-lite"`` on a bare CPU install and
``"PT-v3m2"`` / ``"SpUNet-v1m1"`` inside a Pointcept checkout.
"""

from typing import Callable, Dict

BACKBONES: Dict[str, type] = {}


def register_backbone(name: str) -> Callable[[type], type]:
    """Class decorator: register a backbone class under ``name``.

    Names follow Pointcept's convention (dashes, no dots): its registry splits keys at
    dots into a scope, so a dotted name could never be looked up there.
    """
    if "." in name:
        raise ValueError(f"backbone name {name!r} must not contain dots")

    def decorator(cls: type) -> type:
        if name in BACKBONES and BACKBONES[name] is not cls:
            raise KeyError(f"backbone {name!r} is already registered to {BACKBONES[name]!r}")
        BACKBONES[name] = cls
        return cls

    return decorator


def build_backbone(cfg: dict):
    """Build a backbone from ``cfg`` = ``{"type": name or class, **kwargs}`` (not modified).

    Our own types are instantiated directly. Any other type goes to Pointcept's
    ``build_model`` when ``pointcept.models.builder`` imports and knows the type.
    Raises ``KeyError`` naming the type and the known types otherwise.
    """
    if "type" not in cfg:
        raise KeyError(f"backbone config has no 'type': {cfg!r}")
    kwargs = dict(cfg)
    name = kwargs.pop("type")
    if isinstance(name, type):  # Pointcept's builders accept a class as type, so do we
        return name(**kwargs)
    if name in BACKBONES:
        return BACKBONES[name](**kwargs)

    # Imported here, not at module level: Pointcept pulls in spconv and friends, which
    # the CPU demo must run without.
    try:
        from pointcept.models.builder import MODELS, build_model
    except ImportError as err:
        pointcept_note = f"Pointcept is not importable ({err})"
    else:
        if MODELS.get(name) is not None:
            return build_model(cfg)
        pointcept_note = "nor in Pointcept's MODELS registry"
    raise KeyError(
        f"unknown backbone type {name!r}: known pointcept-dos backbones are "
        f"{sorted(BACKBONES)}; {pointcept_note}"
    )
