"""Synthetic indoor scenes with ScanNet labels, written in Pointcept's ScanNet layout.

For users without a dataset: rooms (rectangular or L-shaped, 3-8 m) with floor, walls,
ceiling, doors, windows, curtains, pictures and furniture built from boxes, cylinders and
sheets, sampled like a scanner would (uniform surface density, a few mm of noise, points
hidden in contacts and behind furniture, dropout blobs). Labels follow ScanNet: ``segment20``
(ids of :data:`CLASS_NAMES`, ceiling and unlisted categories -1), ``segment200`` (ScanNet200
contiguous ids) and ``instance`` (one id per object, -1 for wall / floor / ceiling).

Plain numpy; deterministic given the seed (``numpy.random.default_rng``).
"""

import os

import numpy as np

from ..data.scannet_taxonomy import CLASS_NAMES, IGNORE_INDEX, class_histogram
from .primitives import SceneBuilder, inside_solids, shade_colors, visible_from
from .scanner import distance_density, surface_bumps, uneven_light
from .room_layout import ROOM_TYPE_WEIGHTS, ROOM_TYPES, Layout, Room, add_openings, \
    add_structure, furnish

__all__ = ["ASSETS", "ROOM_TYPES", "generate_scene", "scannet_layout_names", "scannet_layout_scenes",
           "write_scannet_layout"]

ASSETS = ("coord", "color", "normal", "segment20", "segment200", "instance")

DEFAULTS = dict(
    density=330.0,       # surface samples per m^2 (before occlusion / dropout)
    noise_std=0.003,     # Gaussian position noise (m)
    num_views=6,         # viewpoints for occlusion (0: no occlusion test)
    dropout_blobs=5.0,   # mean number of random dropout blobs per scene
    blob_radius=(0.1, 0.35),
    ceiling=0.5,         # relative sampling density of the ceiling (0: no ceiling)
    room_type=None,      # one of ROOM_TYPES, or None for random
    # what a real scan adds (`scanner`); 0 turns an effect off
    density_falloff=0.0,  # m: points kept with probability (this / distance to the sensor)^2
    density_floor=0.3,    # ... but at least this
    bump_amp=0.0,         # m: rms of smooth bumps along the normals
    light_variation=0.0,  # relative amplitude of a smooth brightness field
    color_cast=0.0,       # std of a per-scene gain per colour channel
)


def _views(room, layout, rng, k):
    views = []
    for _ in range(60 * max(k, 1)):
        if len(views) >= k:
            break
        x, y = rng.uniform(0.3, room.W - 0.3), rng.uniform(0.3, room.L - 0.3)
        if not room.inside(np.array([[x, y]]), 0.3)[0]:
            continue
        if any(r[0] - 0.1 < x < r[2] + 0.1 and r[1] - 0.1 < y < r[3] + 0.1 for r in layout.rects):
            continue
        views.append((x, y, rng.uniform(1.2, 1.8)))
    return np.array(views, dtype=np.float64).reshape(-1, 3)


def generate_scene(seed, return_meta=False, **options):
    """Generate one synthetic indoor scene.

    Args:
        seed: int (or anything ``numpy.random.default_rng`` accepts); the same seed gives
            identical arrays.
        return_meta: also return ``meta`` (room size, room type, solids, viewpoints).
        **options: override :data:`DEFAULTS`: ``density`` (points per m^2), ``noise_std`` (m),
            ``num_views``, ``dropout_blobs``, ``blob_radius`` (m, range), ``ceiling`` (relative
            density, 0 disables), ``room_type`` (one of :data:`ROOM_TYPES`).

    Returns:
        dict with N points (about 20k-60k at default settings):
            ``coord`` [N, 3] float32, metres (floor at z = 0, room in x, y >= 0);
            ``color`` [N, 3] uint8, RGB 0-255 (as Pointcept's ScanNet preprocessing writes);
            ``normal`` [N, 3] float32, unit length, pointing out of the surface into free space;
            ``segment20`` [N] int32, ScanNet20 ids (index in CLASS_NAMES), -1 ignored;
            ``segment200`` [N] int32, ScanNet200 contiguous ids, -1 ignored;
            ``instance`` [N] int32, object id 0..K-1, -1 for wall / floor / ceiling;
            ``meta`` (only with ``return_meta``): dict(room_type, size (W, L, H), notch,
            solids (kind [S] 0 box / 1 cylinder, center [S,3], half [S,3], yaw [S]), views,
            instance_names).
    """
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown options: {sorted(unknown)}")
    opt = dict(DEFAULTS, **options)
    rng = np.random.default_rng(seed)
    room_type = opt["room_type"]
    if room_type is None:
        w = np.array(ROOM_TYPE_WEIGHTS)
        room_type = ROOM_TYPES[int(rng.choice(len(ROOM_TYPES), p=w / w.sum()))]
    if room_type not in ROOM_TYPES:
        raise ValueError(f"room_type must be one of {ROOM_TYPES}")

    room = Room(rng, room_type)
    layout = Layout(room, rng)
    sb = SceneBuilder(rng, opt["density"])
    add_openings(sb, room, layout, rng, room_type)
    furnish(sb, room, layout, rng, room_type)
    add_structure(sb, room, rng, float(opt["ceiling"]))
    views = _views(room, layout, rng, int(opt["num_views"]))

    d = sb.arrays()
    solids = sb.solid_arrays()
    coord, normal = d["coord"], d["normal"]
    # 1. furniture must lie inside the room (drops faces on the floor / against walls)
    eps = 0.004
    c = d["clip"]
    ok = ~c | (room.inside(coord[:, :2], eps) & (coord[:, 2] > eps) & (coord[:, 2] < room.H - eps))
    # 2. nothing inside another solid (contact faces, floor / wall under furniture)
    ok &= ~inside_solids(coord, d["sid"], solids, eps=0.006)
    keep = np.nonzero(ok)[0]
    # 3. occlusion: keep what some viewpoint sees
    if len(views):
        keep = keep[visible_from(coord[keep], normal[keep], views, solids)]
    # 4. random dropout blobs
    n_blobs = int(rng.poisson(opt["dropout_blobs"])) if len(keep) else 0
    if n_blobs:
        centres = coord[keep[rng.integers(0, len(keep), n_blobs)]]
        radii = rng.uniform(*opt["blob_radius"], n_blobs)
        dist2 = ((coord[keep][:, None, :] - centres[None]) ** 2).sum(-1)
        keep = keep[~np.any(dist2 < radii[None] ** 2, axis=1)]

    # 5. what a real scan adds, each effect from its own stream (off: the scene without it)
    scan = [np.random.default_rng(seq) for seq in rng.bit_generator.seed_seq.spawn(3)]
    keep = keep[distance_density(coord[keep], views, opt["density_falloff"], opt["density_floor"], scan[0])]

    coord = coord[keep] + rng.normal(0.0, opt["noise_std"], (len(keep), 3))
    normal = normal[keep]
    coord = surface_bumps(coord, normal, opt["bump_amp"], scan[1])
    light = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), 1.0])
    color = shade_colors(d["base"][keep], d["pstd"][keep], normal, rng, light / np.linalg.norm(light))
    color = uneven_light(color, coord, opt["light_variation"], opt["color_cast"], scan[2])
    out = dict(
        coord=coord.astype(np.float32),
        color=color,
        normal=(normal / np.linalg.norm(normal, axis=1, keepdims=True)).astype(np.float32),
        segment20=d["segment20"][keep].astype(np.int32),
        segment200=d["segment200"][keep].astype(np.int32),
        instance=d["instance"][keep].astype(np.int32),
    )
    if return_meta:
        out["meta"] = dict(room_type=room_type, size=(room.W, room.L, room.H), notch=room.notch,
                           solids=solids, views=views, instance_names=list(sb.instance_names))
    return out


def scannet_layout_scenes(num_scenes=None, seed=0, **options):
    """The scenes of a synthetic ScanNet layout, one at a time: yields (split, name, scene)
    with names ``scene%04d_00`` numbered across splits and scene k generated from the seed
    derived from (seed, k). ``num_scenes`` {split: count}, default ``{"train": 24, "val": 6}``;
    ``options`` go to :func:`generate_scene`."""
    for k, (split, name) in enumerate(scannet_layout_names(num_scenes)):
        scene_seed = int(np.random.SeedSequence([int(seed), k]).generate_state(1)[0])
        yield split, name, generate_scene(scene_seed, **options)


def scannet_layout_names(num_scenes=None):
    """[(split, scene name)] of a synthetic layout of ``num_scenes`` {split: count}, in order."""
    counts = {"train": 24, "val": 6} if num_scenes is None else num_scenes
    splits = [split for split, n in counts.items() for _ in range(int(n))]
    return [(split, "scene%04d_00" % k) for k, split in enumerate(splits)]


def write_scannet_layout(root, num_scenes=None, seed=0, **options):
    """Write synthetic scenes as Pointcept's preprocessed ScanNet.

    Files: ``root/<split>/scene%04d_00/{coord,color,normal,segment20,segment200,instance}.npy``
    (dtypes as :func:`generate_scene`; scenes as :func:`scannet_layout_scenes`). Usable with
    Pointcept's ``ScanNetDataset`` (``data_root=root``, num_classes=20) and ``ScanNet200Dataset``.

    Returns:
        dict(splits={split: [scene names]}, points_per_scene={name: N},
        class_counts={class name: points} over all scenes (segment20),
        class_counts_per_split={split: [20] list}, ignored_points=int, total_points=int).
    """
    summary = dict(splits={}, points_per_scene={}, class_counts_per_split={})
    ignored = 0
    for split, name, scene in scannet_layout_scenes(num_scenes, seed, **options):
        path = os.path.join(root, split, name)
        os.makedirs(path, exist_ok=True)
        for key in ASSETS:
            np.save(os.path.join(path, key + ".npy"), scene[key])
        counts = summary["class_counts_per_split"].setdefault(split, np.zeros(len(CLASS_NAMES), np.int64))
        counts += class_histogram(scene["segment20"])
        ignored += int((scene["segment20"] == IGNORE_INDEX).sum())
        summary["points_per_scene"][name] = int(len(scene["coord"]))
        summary["splits"].setdefault(split, []).append(name)
    total = sum(summary["class_counts_per_split"].values(), np.zeros(len(CLASS_NAMES), np.int64))
    summary["class_counts_per_split"] = {k: v.tolist() for k, v in summary["class_counts_per_split"].items()}
    summary["class_counts"] = {c: int(v) for c, v in zip(CLASS_NAMES, total)}
    summary["ignored_points"] = ignored
    summary["total_points"] = int(total.sum()) + ignored
    return summary
