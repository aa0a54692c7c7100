"""Tests of the synthetic ScanNet-like scenes (pointcept_dos.synthetic)."""

import os

import numpy as np
import pytest

from pointcept_dos.data import CATEGORIES, CLASS_NAMES, class_histogram
from pointcept_dos.synthetic import ROOM_TYPES, generate_scene, write_scannet_layout

ASSETS = ("coord", "color", "normal", "segment20", "segment200", "instance")
DTYPES = dict(coord=np.float32, color=np.uint8, normal=np.float32, segment20=np.int32,
              segment200=np.int32, instance=np.int32)


def _local(p, center, yaw):
    d = p - center
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], 1)


def _inside_any(p, solids, margin):
    """Points strictly inside some solid shrunk by ``margin`` (negative margin: grown)."""
    out = np.zeros(len(p), bool)
    for kind, c, h, yaw in zip(solids["kind"], solids["center"], solids["half"], solids["yaw"]):
        hh = h - margin
        if np.any(hh <= 0):
            continue
        q = _local(p, c, yaw)
        if kind == 0:
            out |= np.all(np.abs(q) < hh, axis=1)
        else:
            out |= (q[:, 0] ** 2 + q[:, 1] ** 2 < hh[0] ** 2) & (np.abs(q[:, 2]) < hh[2])
    return out


def _in_room(xy, meta):
    W, L, _ = meta["size"]
    m = (xy[:, 0] > 0) & (xy[:, 0] < W) & (xy[:, 1] > 0) & (xy[:, 1] < L)
    n = meta["notch"]
    if n is not None:
        m &= ~((xy[:, 0] > n[0]) & (xy[:, 0] < n[2]) & (xy[:, 1] > n[1]) & (xy[:, 1] < n[3]))
    return m


@pytest.fixture(scope="module")
def scenes():
    return {s: generate_scene(s, return_meta=True) for s in (1, 2, 3, 4, 5)}


def test_arrays_shapes_dtypes(scenes):
    for d in scenes.values():
        n = len(d["coord"])
        assert 8_000 < n < 120_000
        for k in ASSETS:
            assert d[k].dtype == DTYPES[k], k
            assert d[k].shape == ((n, 3) if k in ("coord", "color", "normal") else (n,)), k
        assert np.isfinite(d["coord"]).all() and np.isfinite(d["normal"]).all()
        assert d["segment20"].min() >= -1 and d["segment20"].max() < 20


def test_deterministic_by_seed():
    a, b, c = generate_scene(7), generate_scene(7), generate_scene(8)
    for k in ASSETS:
        np.testing.assert_array_equal(a[k], b[k])
    assert len(a["coord"]) != len(c["coord"]) or not np.array_equal(a["coord"], c["coord"])


def test_options_change_output_and_unknown_option_raises():
    lo = generate_scene(3, density=150)
    hi = generate_scene(3, density=450)
    assert 2.0 < len(hi["coord"]) / len(lo["coord"]) < 4.0
    with pytest.raises(TypeError):
        generate_scene(0, densty=100)
    for rt in ROOM_TYPES:
        assert generate_scene(11, room_type=rt, return_meta=True)["meta"]["room_type"] == rt


def test_normals_unit_and_consistent_with_surfaces(scenes):
    for d in scenes.values():
        meta, c, n, s20 = d["meta"], d["coord"], d["normal"], d["segment20"]
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=1e-5)
        floor = s20 == 1
        assert floor.sum() > 1000
        assert (n[floor, 2] > 0.999).all() and (np.abs(c[floor, 2]) < 0.02).all()
        ceil = d["segment200"] == CATEGORIES["ceiling"][2]
        assert (s20[ceil] == -1).all() and (n[ceil, 2] < -0.999).all()
        assert (np.abs(c[ceil, 2] - meta["size"][2]) < 0.02).all()
        wall = s20 == 0
        assert wall.sum() > 1000 and (np.abs(n[wall, 2]) < 1e-6).all()
        # wall normals point into the room: a step along the normal is inside, against it outside
        p = c[wall, :2].astype(np.float64)
        assert _in_room(p + 0.05 * n[wall, :2], meta).mean() > 0.99
        assert _in_room(p - 0.05 * n[wall, :2], meta).mean() < 0.01


def test_furniture_normals_point_out_of_solids(scenes):
    for d in scenes.values():
        solids = d["meta"]["solids"]
        obj = (d["instance"] >= 0) & ~np.isin(d["segment20"], [7, 8, 13, 15])  # no doors/windows/curtains
        p, n = d["coord"][obj].astype(np.float64), d["normal"][obj].astype(np.float64)
        assert len(p) > 500
        outward = _inside_any(p + 0.02 * n, solids, 0.0).mean()
        inward = _inside_any(p - 0.02 * n, solids, -0.001).mean()
        assert outward < 0.02, outward
        assert inward > 0.6, inward


def test_no_points_inside_solids(scenes):
    for d in scenes.values():
        solids = d["meta"]["solids"]
        assert len(solids["kind"]) > 5
        # interior = solid shrunk by 1.5 cm (position noise is 3 mm)
        assert not _inside_any(d["coord"].astype(np.float64), solids, 0.015).any()


def test_no_furniture_below_floor_or_behind_walls(scenes):
    for d in scenes.values():
        meta = d["meta"]
        furn = (d["instance"] >= 0) & ~np.isin(d["segment20"], [7, 8])  # doors/windows sit in walls
        p = d["coord"][furn]
        assert (p[:, 2] > -0.02).all() and (p[:, 2] < meta["size"][2] + 0.02).all()
        assert _in_room(p[:, :2], meta).mean() > 0.995


def test_labels_consistent(scenes):
    for d in scenes.values():
        s20, s200, inst = d["segment20"], d["segment200"], d["instance"]
        # segment200 determines segment20 (ScanNet's many-to-one mapping)
        pairs = np.unique(np.stack([s200, s20], 1), axis=0)
        assert len(np.unique(pairs[:, 0])) == len(pairs)
        to20 = {v[2]: v[0] for v in CATEGORIES.values()}
        assert all(to20[a] == b for a, b in pairs)
        # stuff has no instance, every object point has one; one class per instance
        stuff = np.isin(s200, [CATEGORIES[k][2] for k in ("wall", "floor", "ceiling")])
        assert (inst[stuff] == -1).all() and (inst[~stuff] >= 0).all()
        for i in np.unique(inst[inst >= 0]):
            assert len(np.unique(s200[inst == i])) == 1


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_scannet")
    summary = write_scannet_layout(str(root), num_scenes={"train": 9, "val": 3}, seed=0)
    return root, summary


def test_layout_files(layout):
    root, summary = layout
    assert sorted(os.listdir(root)) == ["train", "val"]
    assert summary["splits"]["train"] == ["scene%04d_00" % i for i in range(9)]
    assert summary["splits"]["val"] == ["scene%04d_00" % i for i in range(9, 12)]
    total = np.zeros(20, np.int64)
    for split, names in summary["splits"].items():
        assert sorted(os.listdir(root / split)) == names
        for name in names:
            path = root / split / name
            assert sorted(os.listdir(path)) == sorted(k + ".npy" for k in ASSETS)
            arrs = {k: np.load(path / (k + ".npy")) for k in ASSETS}
            n = len(arrs["coord"])
            assert summary["points_per_scene"][name] == n
            for k, a in arrs.items():
                assert a.dtype == DTYPES[k] and len(a) == n, k
            assert arrs["coord"].shape == arrs["color"].shape == arrs["normal"].shape == (n, 3)
            total += class_histogram(arrs["segment20"])
    assert [summary["class_counts"][c] for c in CLASS_NAMES] == total.tolist()


def test_class_frequencies_long_tailed(layout):
    _, summary = layout
    counts = np.array([summary["class_counts"][c] for c in CLASS_NAMES])
    assert (counts > 0).sum() >= 15
    s = np.sort(counts[counts > 0])[::-1]
    assert s[0] / s[-1] > 100  # more than two orders of magnitude
    assert s[:2].sum() / s.sum() > 0.4
    assert {CLASS_NAMES[i] for i in np.argsort(-counts)[:2]} == {"wall", "floor"}
    # a long tail: most classes each hold under 5% of the points
    assert (s / s.sum() < 0.05).sum() >= 12


def test_scenes_differ_and_are_rooms(layout):
    root, summary = layout
    pts = list(summary["points_per_scene"].values())
    assert len(set(pts)) == len(pts)
    c = np.load(root / "train" / "scene0000_00" / "coord.npy")
    ext = c.max(0) - c.min(0)
    assert (ext[:2] > 2.5).all() and (ext[:2] < 8.5).all() and 2.3 < ext[2] < 3.1
