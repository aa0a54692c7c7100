"""The per-point input channels of the demo's backbones and of the feature API.

``model_input`` = centred coordinates (3) + colour in [-1, 1] (3) + normal (3): ``IN_CHANNELS``
= 9, the ``feat`` of Pointcept's ScanNet configs (coord, color, normal; colour as its
NormalizeColor).
"""

import numpy as np

IN_CHANNELS = 9


def center_shift(coord):
    """Shift to x, y mean 0 and z minimum 0 (Pointcept's CenterShift(apply_z=True)), computed in
    float64 so that kilometre-scale frames keep their millimetres; returns float32."""
    coord = np.asarray(coord, np.float64)
    shift = np.array([coord[:, 0].mean(), coord[:, 1].mean(), coord[:, 2].min()])
    return (coord - shift).astype(np.float32)


def model_input(coord, color=None, normal=None):
    """[N, 9] float32 backbone input: centred coord, colour in [-1, 1], normal.

    ``color`` is 0-255 (mid grey when missing), ``normal`` unit vectors (zeros when missing).
    """
    n = len(coord)
    color = np.full((n, 3), 127.5, np.float32) if color is None else np.asarray(color, np.float32)
    normal = np.zeros((n, 3), np.float32) if normal is None else np.asarray(normal, np.float32)
    return np.concatenate([center_shift(coord), color / 127.5 - 1.0, normal], axis=1).astype(
        np.float32
    )


# the columns of each input in `model_input`'s output, in order
INPUT_KEYS = ("coord", "color", "normal")


def select_inputs(feat, keys):
    """[N, 9] `model_input` -> [N, 3 x len(keys)] the channels of `keys` (a subset of
    INPUT_KEYS, in the order given: a config's feat keys, e.g. ("color", "normal"))."""
    unknown = [k for k in keys if k not in INPUT_KEYS]
    if unknown:
        raise ValueError(f"input keys must be among {INPUT_KEYS}, got {list(keys)}")
    if tuple(keys) == INPUT_KEYS:
        return feat
    return np.concatenate([feat[:, 3 * INPUT_KEYS.index(k): 3 * INPUT_KEYS.index(k) + 3] for k in keys], axis=1)
