"""CPU demo: views pipeline, probe metrics, and `pointcept-dos demo --quick` end to end."""

import json
import os
import re

import numpy as np
import pytest
import torch

from pointcept_dos.data import IN_CHANNELS, grid_sample
from pointcept_dos.synthetic import generate_scene
from pointcept_dos.demo.pretrain import model_config
from pointcept_dos.demo.run import RUNS, run_label
from pointcept_dos.evaluation.linear_probe import confusion_matrix, frequency_groups, group_iou, iou_from_confusion
from pointcept_dos.demo.views import collate_views, make_views, pretrain_batch


@pytest.fixture(scope="module")
def scenes():
    return [generate_scene(s) for s in (1, 2, 3)]


# ----- views ---------------------------------------------------------------------------------
def test_grid_sample_one_point_per_voxel():
    rng = np.random.default_rng(0)
    coord = rng.uniform(0, 1, (5000, 3)).astype(np.float32)
    for sampler in (None, np.random.default_rng(1)):
        keep, inverse = grid_sample(coord, 0.1, sampler)
        cells = np.floor((coord - coord.min(0)) / 0.1).astype(int)
        assert len(np.unique(cells[keep], axis=0)) == len(keep) == len(np.unique(cells, axis=0))
        # every point maps to the kept point of its own voxel
        np.testing.assert_array_equal(cells[keep][inverse], cells)


def test_views_shapes_offsets_and_origin(scenes):
    rng = np.random.default_rng(0)
    views = make_views(scenes[0], 0.05, rng, max_points=1500)
    assert len(views) == 2
    for v in views:
        n = len(v["coord"])
        assert 0 < n <= 1500
        assert v["feat"].shape == (n, IN_CHANNELS) and v["feat"].dtype == np.float32
        assert v["origin_coord"].shape == (n, 3)
        assert np.all(v["feat"][:, 3:6] >= -1) and np.all(v["feat"][:, 3:6] <= 1)
        # origin_coord are scene points (before augmentation), one per 5 cm voxel
        cells = np.floor(v["origin_coord"] / 0.05).astype(int)
        assert len(np.unique(cells, axis=0)) >= 0.5 * n
        # augmentation is rigid up to scale and jitter: pairwise distances scale uniformly
        d_aug = np.linalg.norm(v["coord"][1:50] - v["coord"][0], axis=1)
        d_ori = np.linalg.norm(v["origin_coord"][1:50] - v["origin_coord"][0], axis=1)
        ratio = d_aug[d_ori > 0.5] / d_ori[d_ori > 0.5]
        assert np.all((ratio > 0.85) & (ratio < 1.15))
    # the two views overlap in the scene frame
    a = {tuple(c) for c in np.round(views[0]["origin_coord"], 4).tolist()}
    b = {tuple(c) for c in np.round(views[1]["origin_coord"], 4).tolist()}
    assert len(a & b) > 0


def test_collate_offsets_and_determinism(scenes):
    batch = pretrain_batch(scenes, 0.05, seed=3, step=7, scenes_per_batch=2, max_points=1000)
    assert set(batch) == {"global_coord", "global_origin_coord", "global_feat", "global_offset",
                          "grid_size"}
    offset = batch["global_offset"]
    assert offset.dtype == torch.long and len(offset) == 4
    assert int(offset[-1]) == len(batch["global_coord"]) == len(batch["global_feat"])
    assert torch.all(torch.diff(offset, prepend=offset.new_zeros(1)) > 0)
    again = pretrain_batch(scenes, 0.05, seed=3, step=7, scenes_per_batch=2, max_points=1000)
    for k in ("global_coord", "global_origin_coord", "global_feat", "global_offset"):
        assert torch.equal(batch[k], again[k])
    other = pretrain_batch(scenes, 0.05, seed=3, step=8, scenes_per_batch=2, max_points=1000)
    assert not torch.equal(batch["global_coord"][:100], other["global_coord"][:100])
    # cumulative offsets in scene0-view0, scene0-view1, ... order
    views = [make_views(s, 0.05, np.random.default_rng(0), max_points=300) for s in scenes[:2]]
    collated = collate_views(views, 0.05)
    sizes = [len(v["coord"]) for pair in views for v in pair]
    assert collated["global_offset"].tolist() == np.cumsum(sizes).tolist()
    assert torch.equal(collated["global_coord"][: sizes[0]], torch.from_numpy(views[0][0]["coord"]))
    with pytest.raises(ValueError):
        collate_views([], 0.05)


# ----- probe metrics ----------------------------------------------------------------------------
def test_miou_against_hand_computed_confusion():
    # 3 classes; ground truth rows, predictions columns
    target = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, -1, -1])
    pred = np.array([0, 0, 0, 1, 1, 1, 0, 2, 1, 2, 0])
    conf = confusion_matrix(pred, target, num_classes=3)
    expected = np.array([[3, 1, 0], [1, 2, 0], [0, 1, 1]])
    np.testing.assert_array_equal(conf, expected)
    iou, miou = iou_from_confusion(conf)
    # class 0: TP 3, FP 1, FN 1 -> 3/5; class 1: TP 2, FP 2, FN 1 -> 2/5; class 2: 1 / (1+0+1)
    np.testing.assert_allclose(iou, [3 / 5, 2 / 5, 1 / 2])
    assert miou == pytest.approx((3 / 5 + 2 / 5 + 1 / 2) / 3)


def test_absent_class_not_evaluated_and_groups():
    conf = np.array([[5, 0, 1], [0, 0, 0], [0, 2, 2]])  # class 1 never in ground truth
    iou, miou = iou_from_confusion(conf)
    assert np.isnan(iou[1])
    assert miou == pytest.approx((5 / 6 + 2 / 5) / 2)
    groups = frequency_groups([10, 0, 500, 3, 70, 1000, 2])
    assert groups == dict(head=[5, 2], common=[4, 0], tail=[3, 6])
    g = group_iou(np.array([0.1, np.nan, 0.5, 0.2, np.nan, 0.9, np.nan]), groups)
    assert g["head"] == pytest.approx(0.7) and g["common"] == pytest.approx(0.1)
    assert g["tail"] == pytest.approx(0.2)


def test_good_classes_leave_out_the_structure_and_unevaluated_classes():
    from pointcept_dos.demo.report import good_classes

    from pointcept_dos.data.pointcept_layout import LAYOUTS

    structure = LAYOUTS["scannet"].structure
    iou = dict(wall=0.9, floor=0.95, chair=0.2, table=0.199, bed=None, sink=0.5)
    assert good_classes(iou, structure) == ["chair", "sink"]  # 0.2 counts, 0.199 does not
    assert good_classes(iou, structure, threshold=0.6) == []


# ----- jobs -----------------------------------------------------------------------------------
def test_one_process_runs_every_probe_after_its_run_in_order(monkeypatch):
    """With one job the tasks run here: pretraining first, then the baseline probes, then each
    run's probe, built from that run's result; results come back in task order."""
    from pointcept_dos.demo import run

    calls = []

    def fake_task(name, kw):
        calls.append((name, kw["label"]))
        return dict(checkpoint=f"{kw['label']}.pth") if name == "pretrain" else f"probe of {kw['label']}"

    monkeypatch.setattr(run, "_task", fake_task)
    runs, probes = run._run_tasks(
        [("pretrain", dict(label=label)) for label in ("a", "b")],
        [("probe", dict(label="raw"))],
        lambda i, result: ("probe", dict(label=result["checkpoint"])), jobs=1)
    assert runs == [dict(checkpoint="a.pth"), dict(checkpoint="b.pth")]
    assert probes == ["probe of raw", "probe of a.pth", "probe of b.pth"]
    assert calls == [("pretrain", "a"), ("pretrain", "b"), ("probe", "raw"), ("probe", "a.pth"),
                     ("probe", "b.pth")]


def test_every_job_runs_on_one_thread_in_as_many_processes_as_threads(monkeypatch, tmp_path):
    """--threads N gives up to N one-thread worker processes (never more than the jobs that can
    run at once): a run's numbers do not depend on --threads, as the order of a multi-threaded
    reduction would make them."""
    from pointcept_dos.cli import build_parser
    from pointcept_dos.demo import run

    class Stop(Exception):
        pass

    seen = {}

    def fake_run_tasks(pretrain_tasks, probe_tasks, probe_of, jobs):
        seen.update(jobs=jobs, runs=len(pretrain_tasks), threads=torch.get_num_threads())
        raise Stop

    monkeypatch.setattr(run.os, "cpu_count", lambda: 16)
    monkeypatch.setattr(run, "_run_tasks", fake_run_tasks)
    threads = torch.get_num_threads()
    try:
        for n, runs, jobs in ((4, ["dos"], 3), (16, list(RUNS), len(RUNS) + 2), (2, list(RUNS), 2)):
            args = build_parser().parse_args(["demo", "--quick", "--threads", str(n), "--out",
                                              str(tmp_path / f"out{n}"), "--runs", *runs])
            with pytest.raises(Stop):
                run.run_demo(args)
            assert seen == dict(jobs=jobs, runs=len(runs), threads=1)
        with pytest.raises(ValueError):
            run._task("no such job", {})  # a worker's first act: one thread
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


# ----- end to end ---------------------------------------------------------------------------------
def _png_size(path):
    """(width, height) from a PNG's IHDR; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _read_ply(path):
    """-> (vertex count in the header, [N, 3] coord, [N, 3] uint8 colour)."""
    lines = path.read_text().splitlines()
    end = lines.index("end_header")
    header = lines[:end]
    assert header[:2] == ["ply", "format ascii 1.0"]
    count = int(next(line for line in header if line.startswith("element vertex")).split()[-1])
    body = np.array([line.split() for line in lines[end + 1:]], dtype=np.float64).reshape(-1, 6)
    return count, body[:, :3], body[:, 3:].astype(np.uint8)


@pytest.mark.slow
def test_demo_quick_end_to_end(quick_demo):
    """The report of `pointcept-dos demo --quick --steps 6` says what the run did (the run was
    killed once mid-pretraining and rerun: test_reliability checks that changes nothing)."""
    from pointcept_dos.data import CLASS_NAMES
    from pointcept_dos.demo.report import prototype_palette

    out = quick_demo["out"]
    report = out / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    labels = [run_label(model_config(**overrides), model_config()) for overrides in RUNS.values()]
    assert labels[:2] == ["DOS alpha=1.3", "DOS alpha=0"]  # named by what ran
    assert labels[3] == "DOS + per-point objective alpha=0 tau_T=0.04"
    methods = ("raw input (9 channels)", "random init", *labels)
    assert list(metrics["results"]) == list(methods)  # baselines first, then DOS and its ablations
    text = (report / "report.md").read_text()
    for method in methods:  # one table row per method, with the numbers of metrics.json
        r = metrics["results"][method]
        assert 0.0 <= r["miou"] <= 1.0
        row = f"| {method} | {100 * r['miou']:.1f} | " + " | ".join(
            "-" if np.isnan(r["groups"][g]) else f"{100 * r['groups'][g]:.1f}"
            for g in ("head", "common", "tail")) + " |"
        assert row in text.splitlines(), row
    # class names: the groups line and the per-class table name ScanNet classes only, and
    # every class evaluated in the metrics has its row
    groups = next(line for line in text.splitlines() if line.startswith("Class groups:"))
    named = re.findall(r"\*\*\w+\*\*: ([^;]+)", groups)
    assert named and all(c in CLASS_NAMES for part in named for c in part.split(", "))
    per_class = text.split("## Per-class IoU (%)")[1].split("##")[0]
    rows = [line.split(" | ")[0].lstrip("| ") for line in per_class.splitlines()
            if line.startswith("| ") and not line.startswith("| class")]
    evaluated = {c for c, v in metrics["results"]["DOS alpha=1.3"]["iou"].items() if v is not None}
    assert evaluated and set(rows) == evaluated and set(rows) <= set(CLASS_NAMES)
    assert "| steps | 6 |" in text
    # the values in force as they ran (first -> last step), under their config names
    assert "| teacher_temp | 0.02 -> 0.02 |" in text and "| student_temp | 0.1 |" in text
    assert "| zipf_alpha | 1.3 -> 1.3 |" in text
    # synthetic rooms: the views' own colour augmentation, not the real scans'
    assert "| colour_augmentation | brightness +-0.1, contrast 0.8-1.2, noise std 0.05 |" in text
    momentum = re.search(r"\| momentum \| 0\.9 -> (0\.9\d+) \|", text)
    assert momentum and 0.9 < float(momentum.group(1)) < 1.0, momentum
    # images: real PNGs of a plausible size
    for name in ("prototype_usage.png", "training_curves.png"):
        width, height = _png_size(report / name)
        assert 400 <= width <= 3000 and 300 <= height <= 2000, (name, width, height)
        assert (report / name).stat().st_size > 10_000
    # PLY: the first val scene, every point coloured by a prototype of the palette
    val_scenes = sorted((out / "data" / "scannet" / "val").iterdir())
    coord = np.load(val_scenes[0] / "coord.npy")
    count, ply_coord, ply_color = _read_ply(report / "scene_prototypes.ply")
    assert count == len(coord) == len(ply_coord)
    np.testing.assert_allclose(ply_coord, coord, atol=1e-4)
    palette = prototype_palette(metrics["settings"]["num_prototypes"])
    palette_rows = {tuple(c) for c in palette.tolist()}
    assert {tuple(c) for c in ply_color.tolist()} <= palette_rows
    # the runs and the data are where the README says, and nothing else was written next to them
    assert os.path.isfile(out / "dos" / "model_last.pth")
    assert not os.path.exists(out / "dos" / "resume.pth")  # removed once finished
    assert sorted(os.listdir(out)) == sorted([".demo_manifest.lock", "data", "demo_manifest.json",
                                              "report", *RUNS])
    # the comparisons DOS exists for, one line each, from this run's numbers
    main = metrics["results"]["DOS alpha=1.3"]["miou"]
    for method in methods[:2] + methods[3:]:
        delta = 100 * (main - metrics["results"][method]["miou"])
        kind = "baseline" if method in methods[:2] else "ablation"
        assert f"- DOS alpha=1.3 vs {method} ({kind}): {delta:+.1f} mIoU" in text.splitlines(), method
    assert sorted(os.listdir(out.parent)) == ["out"]  # the working directory stayed clean
