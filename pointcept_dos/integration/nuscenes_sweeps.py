"""nuScenes keyframes stacked with their previous sweeps and a time channel, for detection
pretraining (configs/dos/nuscenes-pretrain-det.py).

Pointcept v1.7 cannot supply sweeps to a point pipeline: its NuScenesDataset reads only each
keyframe's `lidar_path`, although the info files of its preprocessing
(preprocess_nuscenes_info.py --max_sweeps 10) list every keyframe's previous sweeps
(`sweeps`: `lidar_path`, `transform_matrix` into the keyframe's LiDAR frame, `time_lag` in
seconds); its NuScenesImagePointDataset can stack sweeps but needs the camera images, estimates
normals and gives no time channel. NuScenesSweepsDataset is the adapter: NuScenesDataset's
keyframe (coord, strength = intensity / 255, labels) plus its `sweeps - 1` previous sweeps,
merged as LiDAR detectors do (`pointcept_dos.data.lidar_sweeps`), giving per-point

    coord [N, 3] metres (keyframe LiDAR frame), strength [N, 1] in [0, 1], time [N, 1] seconds,
    segment [N] (keyframe labels; sweep points ignore_index).

Importing this module registers DATASETS "NuScenesSweepsDataset" (and DOS, through
`registration`); a config names the type with `registered_dataset(...)` so that multi-GPU
workers, which unpickle the config, import this module too.
"""

import os

import numpy as np
from pointcept.datasets.builder import DATASETS
from pointcept.datasets.nuscenes import NuScenesDataset

from ..data.lidar_sweeps import crop_to_range, merge_sweeps, sweep_in_keyframe
from .registration import registered_type

# nuScenes .bin files: float32 x, y, z, intensity (0-255), ring index per point
NUSCENES_POINT_WIDTH = 5
NUSCENES_INTENSITY_MAX = 255.0  # Pointcept's NuScenesDataset scales strength by it


class registered_dataset(registered_type):  # noqa: N801  (used like the str it is, in configs)
    """A DATASETS type name whose unpickling imports this module, and so registers the dataset."""

    __slots__ = ()


@DATASETS.register_module()
class NuScenesSweepsDataset(NuScenesDataset):
    """NuScenesDataset with each keyframe's previous sweeps and a `time` channel.

    Args:
        sweeps: frames per sample, the keyframe included (10: the keyframe and 9 sweeps, as
            CenterPoint); the info files must list at least `sweeps - 1` (Pointcept reads
            info/nuscenes_infos_{sweeps}sweeps_{split}.pkl).
        ego_radius: metres; sweep points within it of their sensor in x and y are dropped.
        point_cloud_range: (x_min, y_min, z_min, x_max, y_max, z_max) metres: points outside are
            dropped as detectors do, or None to keep all.
        **kwargs: NuScenesDataset's (split, data_root, transform, ignore_index, loop, ...).
    """

    def __init__(self, sweeps=10, ego_radius=1.0, point_cloud_range=None, **kwargs):
        if not isinstance(sweeps, int) or sweeps < 1:
            raise ValueError(f"sweeps must be an int >= 1 (frames per sample, keyframe included), got {sweeps!r}")
        self.ego_radius = ego_radius
        self.point_cloud_range = None if point_cloud_range is None else tuple(point_cloud_range)
        super().__init__(sweeps=sweeps, **kwargs)

    def read_sweep(self, sweep):
        """One `sweeps` entry of the info file as `sweep_in_keyframe` points."""
        path = os.path.join(self.data_root, "raw", sweep["lidar_path"])
        points = np.fromfile(path, dtype=np.float32).reshape(-1, NUSCENES_POINT_WIDTH)
        return sweep_in_keyframe(
            points[:, :3],
            points[:, 3:4] / NUSCENES_INTENSITY_MAX,
            transform=sweep["transform_matrix"],
            time_lag=sweep["time_lag"],
            ego_radius=self.ego_radius,
        )

    def get_data(self, idx):
        keyframe = super().get_data(idx)
        info = self.data_list[idx % len(self.data_list)]
        listed = info.get("sweeps", [])
        if len(listed) < self.sweeps - 1:
            raise ValueError(
                f"{keyframe['name']}: the info file lists {len(listed)} sweeps, sweeps={self.sweeps} needs "
                f"{self.sweeps - 1}: preprocess with preprocess_nuscenes_info.py --max_sweeps {self.sweeps}"
            )
        points = merge_sweeps(
            keyframe, [self.read_sweep(s) for s in listed[: self.sweeps - 1]], ignore_index=self.ignore_index
        )
        if self.point_cloud_range is not None:
            points = crop_to_range(points, self.point_cloud_range)
        # Pointcept's index_operator (GridSample, crops) indexes only the keys listed here
        return dict(points, name=keyframe["name"], index_valid_keys=["coord", "strength", "time", "segment"])
