"""A user's dataset in Pointcept's preprocessed layout (ScanNet, S3DIS): splits, checks that name
the file, normals estimated when absent; and the demo on such a dataset (`--data`), which reads
it without writing a byte there."""

import json

import numpy as np
import pytest

from demo_folders import snapshot
from pointcept_dos.data.normals import estimate_normals
from pointcept_dos.data.pointcept_layout import LAYOUTS, DatasetError, detect_layout, list_scenes
from pointcept_dos.demo.scene_source import dataset_source, load_split
from pointcept_dos.demo.views import SCAN_VIEW_OPTIONS, colour_augmentation
from pointcept_dos.io.checkpoints import read_checkpoint
from pointcept_dos.synthetic import generate_scene


def write_scene(folder, seed, label_key="segment20", classes=20, normals=True, points=None):
    """A synthetic room saved as Pointcept does (labels remapped into `classes`)."""
    scene = generate_scene(seed, density=60)
    folder.mkdir(parents=True)
    n = len(scene["coord"]) if points is None else points
    np.save(folder / "coord.npy", scene["coord"][:n])
    np.save(folder / "color.npy", scene["color"][:n])
    if normals:
        np.save(folder / "normal.npy", scene["normal"][:n])
    label = scene["segment20"][:n].astype(np.int64)
    label[label >= classes] = -1
    np.save(folder / f"{label_key}.npy", label.astype(np.int32))
    return scene


def scannet_dir(root, train=2, val=1, **kw):
    for i in range(train + val):
        split = "train" if i < train else "val"
        write_scene(root / split / f"scene{i:04d}_00", i, **kw)
    return root


def s3dis_dir(root, rooms=((1, 2), (2, 1), (5, 1)), **kw):
    seed = 0
    for area, count in rooms:
        for r in range(count):
            write_scene(root / f"Area_{area}" / f"office_{r + 1}", seed, label_key="segment", classes=13, **kw)
            seed += 1
    return root


def test_scannet_and_s3dis_splits(tmp_path):
    scannet = scannet_dir(tmp_path / "scannet")
    s3dis = s3dis_dir(tmp_path / "s3dis")
    assert detect_layout(scannet) == "scannet" and detect_layout(s3dis) == "s3dis"
    assert list_scenes(scannet, LAYOUTS["scannet"], "val") == ["val/scene0002_00"]
    # Area 5 is held out, as Pointcept's S3DIS configs do
    assert list_scenes(s3dis, LAYOUTS["s3dis"], "train") == ["Area_1/office_1", "Area_1/office_2", "Area_2/office_1"]
    assert list_scenes(s3dis, LAYOUTS["s3dis"], "val") == ["Area_5/office_1"]
    source = dataset_source(str(s3dis), max_scenes=2)
    assert source["scenes"]["train"] == ["Area_1/office_1", "Area_1/office_2"]
    scene = load_split(source, "val", labels=True)[0]
    assert scene["label"].max() < 13 and len(LAYOUTS["s3dis"].class_names) == 13


def test_normals_are_estimated_when_absent_and_the_point_cap_is_stable(tmp_path):
    truth = write_scene(tmp_path / "d" / "train" / "scene0000_00", 3, normals=False)
    write_scene(tmp_path / "d" / "val" / "scene0001_00", 4, normals=False)
    source = dataset_source(str(tmp_path / "d"), max_points=3000, seed=7)
    first = load_split(source, "train")[0]
    assert len(first["coord"]) == 3000 and first["normal"].shape == (3000, 3)
    again = load_split(source, "train")[0]
    assert all(np.array_equal(first[k], again[k]) for k in ("coord", "normal"))  # the same subset
    full = estimate_normals(truth["coord"])
    dots = (full * truth["normal"]).sum(1)
    assert np.median(np.abs(dots)) > 0.95 and (dots > 0).mean() > 0.9  # planes, facing the room


def test_estimated_normals_of_a_plane_and_bad_input():
    rng = np.random.default_rng(0)
    floor = np.c_[rng.uniform(0, 2, (500, 2)), np.zeros(500)]
    ceiling = floor + [0, 0, 2.5]
    normals = estimate_normals(np.r_[floor, ceiling])
    np.testing.assert_allclose(normals[:500], np.tile([0, 0, 1], (500, 1)), atol=1e-6)
    np.testing.assert_allclose(normals[500:], np.tile([0, 0, -1], (500, 1)), atol=1e-6)
    with pytest.raises(ValueError, match="coord must be"):
        estimate_normals(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="coordinates not in metres"):
        estimate_normals(np.array([[0.0, 0, 0], [1e6, 0, 0]]))


@pytest.mark.parametrize("case, words", [
    ("not a dataset", "expected Pointcept's preprocessed ScanNet"),
    ("empty split", r"the val split \(val\) holds no scene folder"),
    ("missing color", "color.npy: missing; a scannet scene needs coord, color, segment20.npy"),
    ("missing labels", "segment20.npy: missing"),
    ("coord shape", r"coord.npy: shape \(\d+, 2\), expected \[N, 3\]"),
    ("color rows", r"color.npy: shape \(5, 3\), expected \[N, 3\] with N = \d+"),
    ("coord NaN", "coord.npy: holds NaN or Inf in 1 points"),
    ("colour range", r"color.npy: values in \[0.0, 300.0\], expected colours in 0..255"),
    ("label dtype", "segment20.npy: dtype float32, expected integer class ids"),
    ("label range", r"segment20.npy: \d+ labels outside \[-1, 19\] \(e.g. 20\)"),
    ("pickled", "coord.npy: not a .npy file of plain numbers"),
])
def test_bad_datasets_name_the_file(tmp_path, case, words):
    root = scannet_dir(tmp_path / "d")
    scene = root / "train" / "scene0000_00"
    n = len(np.load(scene / "coord.npy"))
    if case == "not a dataset":
        root = tmp_path / "d" / "train"
    elif case == "empty split":
        for f in (root / "val" / "scene0002_00").iterdir():
            f.unlink()
        (root / "val" / "scene0002_00").rmdir()
    elif case == "missing color":
        (scene / "color.npy").unlink()
    elif case == "missing labels":
        (scene / "segment20.npy").unlink()
    elif case == "coord shape":
        np.save(scene / "coord.npy", np.zeros((n, 2), np.float32))
    elif case == "color rows":
        np.save(scene / "color.npy", np.zeros((5, 3), np.uint8))
    elif case == "coord NaN":
        coord = np.load(scene / "coord.npy")
        coord[3, 1] = np.nan
        np.save(scene / "coord.npy", coord)
    elif case == "colour range":
        np.save(scene / "color.npy", np.full((n, 3), 300.0, np.float32) * (np.arange(n) % 2)[:, None])
    elif case == "label dtype":
        np.save(scene / "segment20.npy", np.zeros(n, np.float32))
    elif case == "label range":
        np.save(scene / "segment20.npy", np.full(n, 20, np.int32))
    elif case == "pickled":
        np.save(scene / "coord.npy", np.array([object()] * 3), allow_pickle=True)
    with pytest.raises((DatasetError, ValueError), match=words):
        dataset_source(str(root))


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["scannet", "s3dis"])
def test_the_demo_on_a_users_dataset_reads_it_and_never_writes_there(tmp_path, capsys, layout):
    from pointcept_dos.cli import main

    data = (scannet_dir if layout == "scannet" else s3dis_dir)(tmp_path / "data", normals=False)
    before = snapshot(tmp_path / "data")
    out = tmp_path / "out"
    command = ["demo", "--quick", "--steps", "2", "--threads", "1", "--runs", "dos", "--data", str(data),
               "--out", str(out), "--max-points", "4000"]
    assert main(command) == 0
    assert snapshot(tmp_path / "data") == before
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert list(metrics["results"]) == ["raw input (9 channels)", "random init", "DOS alpha=1.3"]
    assert set(metrics["results"]["DOS alpha=1.3"]["iou"]) == set(LAYOUTS[layout].class_names)
    assert not (out / "data").exists() and sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "demo_manifest.json", "dos", "report"]
    manifest = json.loads((out / "demo_manifest.json").read_text())
    assert manifest["settings"]["data"]["layout"] == layout and manifest["data"]["files"]
    # a user's scans get the real scans' colour augmentation, in the run and in the report
    scan_views = json.loads(json.dumps(SCAN_VIEW_OPTIONS))
    assert manifest["settings"]["views"] == scan_views
    assert read_checkpoint(str(out / "dos" / "model_last.pth"))["cfg"]["train"]["views"] == scan_views
    assert metrics["settings"]["colour_augmentation"] == colour_augmentation(SCAN_VIEW_OPTIONS) == (
        "brightness +-0.3, contrast 0.6-1.4, noise std 0.1")
    # the same command resumes (the finished run is reused); a changed data file is refused
    assert main(command) == 0 and "reusing the finished run" in capsys.readouterr().out
    color = data / sorted(manifest["data"]["files"])[0].replace("coord", "color")
    np.save(color, 255 - np.load(color))  # still a valid scene, another one
    assert main(command) == 2
    assert "other settings: data" in capsys.readouterr().err
