"""The detection adapter: LiDAR sweeps stacked with a time channel (plain numpy,
pointcept_dos.data.lidar_sweeps) and, with POINTCEPT_ROOT set, NuScenesSweepsDataset reading
Pointcept's nuScenes layout through the train pipeline of nuscenes-pretrain-det.py.
The export into a detector's encoder is tested end to end in test_benchmark_configs.py."""

import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pointcept_dos.data.lidar_sweeps import crop_to_range, merge_sweeps, sweep_in_keyframe
from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept


def rotation_z(degrees, translation=(0.0, 0.0, 0.0)):
    angle = np.deg2rad(degrees)
    transform = np.eye(4)
    transform[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    transform[:3, 3] = translation
    return transform


def test_sweep_moves_into_the_keyframe_frame_with_its_time_lag():
    coord = np.array([[10.0, 0.0, 1.0], [0.5, -0.5, 0.0], [0.5, 3.0, -1.0], [-2.0, 0.9, 0.5]])
    strength = np.array([[0.1], [0.2], [0.3], [0.4]])
    sweep = sweep_in_keyframe(coord, strength, rotation_z(90, (1.0, 2.0, 0.5)), time_lag=0.15, ego_radius=1.0)
    # (0.5, -0.5) is within 1 m of the sensor in x and y: the ego vehicle; the others are kept
    expected = np.array([[1.0, 12.0, 1.5], [-2.0, 2.5, -0.5], [0.1, 0.0, 1.0]])
    np.testing.assert_allclose(sweep["coord"], expected, atol=1e-5)
    np.testing.assert_allclose(sweep["strength"][:, 0], [0.1, 0.3, 0.4])
    assert sweep["time"].shape == (3, 1) and np.all(sweep["time"] == np.float32(0.15))
    assert all(v.dtype == np.float32 for v in sweep.values())
    # no transform (nuScenes' stand-in for a missing sweep) and no ego filter: unchanged
    same = sweep_in_keyframe(coord, strength, None, time_lag=0, ego_radius=0)
    np.testing.assert_allclose(same["coord"], coord, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(transform=np.eye(3)), "4 x 4 homogeneous"),
    (dict(transform=np.ones((4, 4))), "last row 0 0 0 1"),
    (dict(time_lag=-0.05), "time_lag must be"),
    (dict(time_lag=float("nan")), "time_lag must be"),
    (dict(ego_radius=-1), "ego_radius must be"),
])
def test_sweep_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sweep_in_keyframe(np.zeros((2, 3)), np.zeros((2, 1)), **kwargs)


def test_sweep_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"coord must be \[N, 3\].*\(2, 4\)"):
        sweep_in_keyframe(np.zeros((2, 4)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"strength must be \[N, 1\] with N = 2"):
        sweep_in_keyframe(np.zeros((2, 3)), np.zeros(2))


def test_merge_puts_the_keyframe_first_at_time_zero_with_its_labels():
    keyframe = dict(coord=np.full((3, 3), 5.0), strength=np.full((3, 1), 0.5), segment=np.array([2, 0, 7]))
    sweeps = [sweep_in_keyframe(np.full((2, 3), 8.0), np.zeros((2, 1)), time_lag=0.05),
              sweep_in_keyframe(np.full((4, 3), 9.0), np.ones((4, 1)), time_lag=0.1)]
    merged = merge_sweeps(keyframe, sweeps, ignore_index=-1)
    assert merged["coord"].shape == (9, 3) and merged["strength"].shape == merged["time"].shape == (9, 1)
    np.testing.assert_allclose(merged["time"][:, 0], [0, 0, 0, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1], atol=1e-7)
    assert merged["segment"].tolist() == [2, 0, 7, -1, -1, -1, -1, -1, -1]
    assert merged["coord"][3:5].tolist() == [[8.0] * 3] * 2
    unlabelled = merge_sweeps(dict(coord=np.zeros((1, 3)), strength=np.zeros((1, 1))), sweeps)
    assert "segment" not in unlabelled and len(unlabelled["time"]) == 7
    with pytest.raises(ValueError, match=r"keyframe segment must be \[N\] with N = 3"):
        merge_sweeps(dict(keyframe, segment=np.zeros(2)), sweeps)


def test_crop_to_range_drops_outside_points():
    points = dict(coord=np.array([[0.0, 0.0, 0.0], [54.0, 0.0, 0.0], [-54.0, 0.0, -5.0], [0.0, 0.0, 3.5]]),
                  time=np.arange(4.0)[:, None], name="scene")
    kept = crop_to_range(points, (-54, -54, -5, 54, 54, 3))
    assert kept["coord"].tolist() == [[0.0, 0.0, 0.0], [-54.0, 0.0, -5.0]]  # min kept, max not
    assert kept["time"][:, 0].tolist() == [0.0, 2.0] and kept["name"] == "scene"
    with pytest.raises(ValueError, match="needs 6 numbers"):
        crop_to_range(points, (1, 2, 3))
    with pytest.raises(ValueError, match="min < max"):
        crop_to_range(points, (0, 0, 0, 0, 1, 1))


# ----- NuScenesSweepsDataset in Pointcept --------------------------------------------------------

def write_keyframe_with_sweeps(root, listed=2):
    """One keyframe (x < 0, label 17 'car') and two sweeps (in their own frame at x in [20, 30],
    moved by the info's transform to x in [30, 40] and [40, 50]); the info lists `listed`."""
    rng = np.random.default_rng(0)
    raw = root / "raw"
    for folder in ("samples/LIDAR_TOP", "sweeps/LIDAR_TOP", "lidarseg/v1.0-trainval"):
        (raw / folder).mkdir(parents=True)
    (root / "info").mkdir()
    frame = np.c_[rng.uniform([-30, -5, -1], [-2, 5, 1], (200, 3)), np.full(200, 102.0), np.zeros(200)]
    frame.astype(np.float32).tofile(raw / "samples/LIDAR_TOP/key.bin")
    np.full(200, 17, dtype=np.uint8).tofile(raw / "lidarseg/v1.0-trainval/key_lidarseg.bin")
    sweeps = []
    for k in (1, 2):
        points = np.c_[rng.uniform([20, -5, -1], [30, 5, 1], (100, 3)), np.full(100, 255.0), np.zeros(100)]
        points.astype(np.float32).tofile(raw / f"sweeps/LIDAR_TOP/s{k}.bin")
        sweeps.append(dict(lidar_path=f"sweeps/LIDAR_TOP/s{k}.bin", transform_matrix=rotation_z(0, (10.0 * k, 0, 0)),
                           time_lag=0.05 * k))
    info = [dict(lidar_path="samples/LIDAR_TOP/key.bin", gt_segment_path="lidarseg/v1.0-trainval/key_lidarseg.bin",
                 lidar_token="key", sweeps=sweeps[:listed])]
    with open(root / "info" / "nuscenes_infos_3sweeps_train.pkl", "wb") as f:
        pickle.dump(info, f)


READ_SWEEPS = """
    import json, sys
    sys.path.insert(0, {tools!r})
    from _dos_entry import bootstrap
    bootstrap(["--num-gpus", "0"])
    import numpy as np
    from pointcept.datasets.builder import build_dataset
    from pointcept.utils.config import Config

    def dataset(root):
        cfg = Config.fromfile("configs/dos/nuscenes-pretrain-det.py").data.train
        cfg.update(data_root=root, sweeps=3, point_cloud_range=(-54, -54, -5, 45, 54, 3))
        return build_dataset(cfg)

    full = dataset({root!r})
    raw = full.get_data(0)
    np.random.seed(0)
    sample = full[0]  # the whole train pipeline: grid 0.075 m, two views, 5 input channels
    origin, feat = sample["global_origin_coord"].numpy(), sample["global_feat"].numpy()
    # origin_coord is the point before augmentation: its x tells the frame, so the time column
    # must be 0 for x < 0 (keyframe), 0.05 for x in [30, 40), 0.1 for x in [40, 45)
    expected = np.select([origin[:, 0] < 0, origin[:, 0] < 40], [0.0, 0.05], 0.1)
    try:
        dataset({short_root!r}).get_data(0)
        short_history = ""
    except ValueError as err:
        short_history = str(err)
    print(json.dumps(dict(
        count=len(raw["coord"]), keys=sorted(k for k in raw if k != "index_valid_keys"),
        time=sorted(set(raw["time"][:, 0].tolist())), strength=sorted(set(raw["strength"][:, 0].tolist())),
        x_max=float(raw["coord"][:, 0].max()), sweep_x_min=float(raw["coord"][raw["time"][:, 0] > 0, 0].min()),
        labels=sorted(set(raw["segment"].tolist())), labelled=int((raw["segment"] >= 0).sum()),
        feat=list(feat.shape), time_matches_frame=bool(np.allclose(feat[:, 4], expected, atol=1e-6)),
        strength_matches_frame=bool(np.allclose(feat[:, 3], np.where(origin[:, 0] < 0, 0.4, 1.0), atol=1e-6)),
        short_history=short_history,
    )))
"""


@pytest.fixture(scope="module")
def sweeps_read(tmp_path_factory):
    """What NuScenesSweepsDataset gives for a keyframe with two listed sweeps (one Pointcept
    process), and its error for a keyframe whose info lists one sweep too few."""
    root, short_root = tmp_path_factory.mktemp("nuscenes"), tmp_path_factory.mktemp("nuscenes-short")
    write_keyframe_with_sweeps(root)
    write_keyframe_with_sweeps(short_root, listed=1)
    script = textwrap.dedent(READ_SWEEPS.format(tools=str(REPO_ROOT / "tools"), root=str(root),
                                                short_root=str(short_root)))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env=pointcept_env(), cwd=str(REPO_ROOT))
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@requires_pointcept
def test_nuscenes_sweeps_dataset_stacks_sweeps_with_time(sweeps_read):
    result = sweeps_read
    # the keyframe (200) and two sweeps moved by +10 m and +20 m; the range ends at x = 45 m
    assert result["keys"] == ["coord", "name", "segment", "strength", "time"]
    assert result["time"] == pytest.approx([0.0, 0.05, 0.1])
    assert result["strength"] == pytest.approx([0.4, 1.0])  # intensity / 255: keyframe 102, sweeps 255
    assert 30 <= result["sweep_x_min"] and result["x_max"] < 45
    assert 300 < result["count"] < 400  # 200 + 100 + the part of 100 below x = 45
    assert result["labels"] == [-1, 3] and result["labelled"] == 200  # raw 17 -> 3 'car'; sweeps unlabelled
    assert result["feat"][1] == 5 and result["time_matches_frame"] and result["strength_matches_frame"]


@requires_pointcept
def test_nuscenes_sweeps_dataset_names_a_short_history(sweeps_read):
    assert "the info file lists 1 sweeps, sweeps=3 needs 2" in sweeps_read["short_history"]
    assert "--max_sweeps 3" in sweeps_read["short_history"]


def test_export_reads_a_checkpoint_with_numpy_scalars(tmp_path):
    """Pointcept's WeightDecaySchedular leaves a numpy float64 in the optimizer state of every
    pretraining checkpoint; tools/export_backbone.py must still read it (weights only)."""
    import torch

    state = {"module.student.backbone.embedding.stem.linear.weight": torch.ones(48, 5),
             "module.teacher.backbone.embedding.stem.linear.weight": torch.zeros(48, 5)}
    optimizer = dict(state={}, param_groups=[dict(lr=0.001, weight_decay=np.float64(0.04), params=[0])])
    checkpoint = tmp_path / "model_last.pth"
    torch.save(dict(epoch=20, state_dict=state, optimizer=optimizer, best_metric_value=-float("inf")), checkpoint)
    out = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "export_backbone.py"), str(checkpoint),
                          "-o", str(tmp_path / "backbone.pth")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    exported = torch.load(tmp_path / "backbone.pth", weights_only=True)
    assert list(exported["state_dict"]) == ["embedding.stem.linear.weight"]
    assert torch.equal(exported["state_dict"]["embedding.stem.linear.weight"], torch.ones(48, 5))
