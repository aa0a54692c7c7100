"""Data pipeline of the CPU demo: grid sampling, two augmented global views, collation.

Plain numpy, written for this package, equivalent in spirit to Pointcept's transforms
(GridSample, MultiViewGenerator with two global views, CenterShift, RandomRotate,
RandomScale, RandomFlip, RandomJitter, ChromaticJitter, NormalizeColor). Everything is a
function of an explicit ``numpy.random.Generator``, so a seed fixes the whole batch.

Per point the model sees ``feat`` = ``pointcept_dos.data.model_input`` (9 channels).
``origin_coord`` is the coordinate before any view
augmentation (the scene frame), which DOS uses to match points across views.
"""

import numpy as np
import torch

from ..data.grid_sampling import grid_sample
from ..data.model_input import model_input

# global-view defaults (Sonata-like, scaled to the demo's small scenes)
VIEW_DEFAULTS = dict(
    view_scale=(0.4, 1.0),   # share of the scene's points in a crop
    max_points=4000,         # cap per view (CPU budget)
    rotate=(-np.pi, np.pi),  # about z
    scale=(0.9, 1.1),
    flip_p=0.5,
    jitter_sigma=0.005,
    jitter_clip=0.02,
    color_jitter_std=0.05,   # in [0, 1] colour units
    brightness=0.1,          # +- shift in [0, 1] colour units
    contrast=(0.8, 1.2),
)


# A user's real scans (`demo --data`): views vary brightness, contrast and per-point colour more
# than the synthetic rooms' (closer to Pointcept's indoor pipelines); on the tune fold of
# bench/real_scans.py this beat VIEW_DEFAULTS' colour on both tuning seeds (bench/README.md,
# "Real scans"). The synthetic demo keeps its own, with which its table was tuned and measured.
SCAN_VIEW_OPTIONS = dict(brightness=0.3, contrast=(0.6, 1.4), color_jitter_std=0.1)


def colour_augmentation(options):
    """The views' colour augmentation with ``options`` (overrides of :data:`VIEW_DEFAULTS`),
    for a report: "brightness +-0.1, contrast 0.8-1.2, noise std 0.05" (0-1 colour units)."""
    cfg = dict(VIEW_DEFAULTS, **options)
    low, high = cfg["contrast"]
    return (f"brightness +-{cfg['brightness']:g}, contrast {low:g}-{high:g}, noise std "
            f"{cfg['color_jitter_std']:g}")


def _crop(coord, centre, num):
    """Indices of the ``num`` points nearest ``centre`` (a crop of a scan around a point)."""
    d2 = ((coord - centre) ** 2).sum(1)
    if num >= len(coord):
        return np.arange(len(coord))
    return np.sort(np.argpartition(d2, num - 1)[:num])


def augment_view(coord, color, normal, rng, cfg):
    """One view's augmentation -> (coord, color 0-255 float, normal), all [N, 3] float32."""
    coord = coord.astype(np.float64)
    normal = normal.astype(np.float64)
    color = color.astype(np.float64) / 255.0
    coord = coord - coord.mean(0)
    theta = rng.uniform(*cfg["rotate"])
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    coord, normal = coord @ rot.T, normal @ rot.T
    coord = coord * rng.uniform(*cfg["scale"])
    for axis in (0, 1):
        if rng.random() < cfg["flip_p"]:
            coord[:, axis] *= -1
            normal[:, axis] *= -1
    jitter = np.clip(rng.normal(0, cfg["jitter_sigma"], coord.shape), -cfg["jitter_clip"],
                     cfg["jitter_clip"])
    coord = coord + jitter
    contrast = rng.uniform(*cfg["contrast"])
    mean = color.mean(0)
    color = (color - mean) * contrast + mean + rng.uniform(-cfg["brightness"], cfg["brightness"])
    color = color + rng.normal(0, cfg["color_jitter_std"], color.shape)
    color = np.clip(color, 0.0, 1.0) * 255.0
    return coord.astype(np.float32), color.astype(np.float32), normal.astype(np.float32)


def make_views(scene, grid_size, rng, **options):
    """Two global views of one scene, with overlap.

    Args:
        scene: dict with ``coord`` [N, 3] metres, ``color`` [N, 3] 0-255, ``normal`` [N, 3].
        grid_size: metres; the scene is grid-sampled first (random point per voxel).
        rng: ``numpy.random.Generator``.
        **options: override :data:`VIEW_DEFAULTS`.
    Returns:
        list of two dicts with ``coord`` (augmented), ``origin_coord`` (scene frame, before
        augmentation), ``feat`` [M, 9], all float32.
    """
    unknown = set(options) - set(VIEW_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown view options: {sorted(unknown)}")
    cfg = dict(VIEW_DEFAULTS, **options)
    keep, _ = grid_sample(scene["coord"], grid_size, rng)
    coord = np.asarray(scene["coord"], np.float32)[keep]
    color = np.asarray(scene["color"], np.float32)[keep]
    normal = np.asarray(scene["normal"], np.float32)[keep]
    views = []
    centre = coord[rng.integers(len(coord))]
    first = None
    for v in range(2):
        if v == 1:  # second crop centred inside the first: the views overlap
            centre = coord[first[rng.integers(len(first))]]
        num = int(min(cfg["max_points"], max(1, round(rng.uniform(*cfg["view_scale"]) * len(coord)))))
        idx = _crop(coord, centre, num)
        first = idx if first is None else first
        c, col, nrm = augment_view(coord[idx], color[idx], normal[idx], rng, cfg)
        views.append(dict(coord=c, origin_coord=coord[idx].copy(), feat=model_input(c, col, nrm)))
    return views


def collate_views(view_pairs, grid_size):
    """DOS-v1m1 batch from per-scene view pairs [[v0, v1], [v0, v1], ...].

    Segments are ordered scene0-view0, scene0-view1, scene1-view0, ...; ``global_offset``
    holds cumulative point counts (Pointcept's offset).
    """
    views = [v for pair in view_pairs for v in pair]
    if not views or len(views) % 2:
        raise ValueError("need two views per scene")
    counts = [len(v["coord"]) for v in views]
    return dict(
        global_coord=torch.from_numpy(np.concatenate([v["coord"] for v in views])),
        global_origin_coord=torch.from_numpy(np.concatenate([v["origin_coord"] for v in views])),
        global_feat=torch.from_numpy(np.concatenate([v["feat"] for v in views])),
        global_offset=torch.tensor(np.cumsum(counts), dtype=torch.long),
        grid_size=float(grid_size),
    )


def pretrain_batch(scenes, grid_size, seed, step, scenes_per_batch=2, **options):
    """The training batch of ``step``: ``scenes_per_batch`` scenes, two views each.

    Deterministic in (seed, step): scenes are drawn by a per-step generator.
    """
    rng = np.random.default_rng([int(seed), int(step)])
    picks = rng.choice(len(scenes), size=min(scenes_per_batch, len(scenes)), replace=False)
    return collate_views([make_views(scenes[i], grid_size, rng, **options) for i in picks], grid_size)
