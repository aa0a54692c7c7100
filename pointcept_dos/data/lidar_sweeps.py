"""LiDAR sweeps stacked into one point cloud with a time channel, as LiDAR detectors feed it.

A nuScenes keyframe (2 Hz) comes with the sweeps recorded between keyframes (20 Hz). Detectors
(CenterPoint, OpenPCDet, MMDetection3D) stack a keyframe with its previous sweeps: each sweep
moved into the keyframe's LiDAR frame by its 4 x 4 transform, its points near the sensor (the
ego vehicle's own returns) dropped, and the sweep's time lag (seconds before the keyframe) kept
as a per-point feature, so that x, y, z, intensity, time make 5 input channels. The functions
here do that on plain numpy arrays; `pointcept_dos.integration.nuscenes_sweeps` reads
Pointcept's nuScenes info files with them.
"""

import numpy as np


def _points(name, coord, strength):
    coord = np.asarray(coord, dtype=np.float32)
    strength = np.asarray(strength, dtype=np.float32)
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"{name} coord must be [N, 3] (metres), got shape {coord.shape}")
    if strength.shape != (len(coord), 1):
        raise ValueError(f"{name} strength must be [N, 1] with N = {len(coord)}, got shape {strength.shape}")
    return coord, strength


def sweep_in_keyframe(coord, strength, transform=None, time_lag=0.0, ego_radius=1.0):
    """One sweep moved into the keyframe's LiDAR frame, with its time channel.

    Args:
        coord: [M, 3] metres in the sweep's own LiDAR frame.
        strength: [M, 1] intensity (scaled as the keyframe's).
        transform: [4, 4] rigid transform from the sweep's LiDAR frame to the keyframe's, or
            None when the sweep is already in it (nuScenes' info files use None for a keyframe
            that has no previous sweep and stands in for one).
        time_lag: seconds between the sweep and the keyframe (>= 0).
        ego_radius: metres; points with |x| and |y| both below it (in the sweep's frame: the
            ego vehicle's returns) are dropped, as OpenPCDet / MMDetection3D do; 0 keeps all.
    Returns:
        dict(coord [M', 3] float32, strength [M', 1] float32, time [M', 1] float32 = time_lag).
    """
    coord, strength = _points("sweep", coord, strength)
    time_lag = float(time_lag)
    if not np.isfinite(time_lag) or time_lag < 0:
        raise ValueError(f"time_lag must be a finite number of seconds >= 0, got {time_lag}")
    if not ego_radius >= 0:
        raise ValueError(f"ego_radius must be >= 0 metres, got {ego_radius}")
    keep = ~((np.abs(coord[:, 0]) < ego_radius) & (np.abs(coord[:, 1]) < ego_radius))
    coord, strength = coord[keep], strength[keep]
    if transform is not None:
        transform = np.asarray(transform, dtype=np.float64)
        if transform.shape != (4, 4) or not np.allclose(transform[3], (0, 0, 0, 1)):
            raise ValueError(
                f"transform must be a 4 x 4 homogeneous matrix (last row 0 0 0 1), got {transform.tolist()}"
            )
        coord = (coord @ transform[:3, :3].T + transform[:3, 3]).astype(np.float32)
    return dict(coord=coord, strength=strength, time=np.full((len(coord), 1), time_lag, dtype=np.float32))


def merge_sweeps(keyframe, sweeps, ignore_index=-1):
    """The keyframe and its sweeps (already in the keyframe's frame, `sweep_in_keyframe`) as one
    point cloud: keyframe points first, at time 0.

    Args:
        keyframe: dict with coord [N, 3] metres and strength [N, 1], optionally segment [N]
            (labels: only keyframes are labelled).
        sweeps: sequence of dicts from `sweep_in_keyframe`.
        ignore_index: the label of sweep points when the keyframe has `segment`.
    Returns:
        dict(coord [N + sum M, 3], strength [., 1], time [., 1] seconds, and segment [.] when
        the keyframe has one), float32 arrays (segment keeps its dtype).
    """
    coord, strength = _points("keyframe", keyframe["coord"], keyframe["strength"])
    frames = [dict(coord=coord, strength=strength, time=np.zeros((len(coord), 1), np.float32))]
    frames += list(sweeps)
    merged = {key: np.concatenate([f[key] for f in frames]) for key in ("coord", "strength", "time")}
    if "segment" in keyframe:
        segment = np.asarray(keyframe["segment"])
        if segment.shape != (len(coord),):
            raise ValueError(f"keyframe segment must be [N] with N = {len(coord)}, got shape {segment.shape}")
        unlabelled = np.full(len(merged["coord"]) - len(coord), ignore_index, dtype=segment.dtype)
        merged["segment"] = np.concatenate([segment, unlabelled])
    return merged


def crop_to_range(points, point_cloud_range):
    """Drop the points outside a detector's range, as detectors do (Pointcept's PointClip clamps
    them onto the box's faces instead).

    Args:
        points: dict of per-point arrays, coord [N, 3] metres among them; every array whose
            first dimension is N is cropped.
        point_cloud_range: (x_min, y_min, z_min, x_max, y_max, z_max) metres; a point is kept
            when min <= coordinate < max on every axis.
    Returns:
        a new dict with the kept points.
    """
    if len(point_cloud_range) != 6:
        raise ValueError(f"point_cloud_range needs 6 numbers (x_min y_min z_min x_max y_max z_max), got {point_cloud_range}")
    low, high = np.asarray(point_cloud_range[:3]), np.asarray(point_cloud_range[3:])
    if not np.all(low < high):
        raise ValueError(f"point_cloud_range must have min < max on every axis, got {point_cloud_range}")
    coord = points["coord"]
    keep = np.all((coord >= low) & (coord < high), axis=1)
    return {k: v[keep] if isinstance(v, np.ndarray) and v.shape[:1] == coord.shape[:1] else v for k, v in points.items()}
