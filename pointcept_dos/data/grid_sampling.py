"""Grid sampling of point clouds (numpy): one point per occupied voxel."""

import numpy as np


def grid_sample(coord, grid_size, rng=None):
    """One point per occupied voxel of side ``grid_size`` metres.

    Args:
        coord: [N, 3] float coordinates (metres).
        grid_size: voxel side in metres.
        rng: ``numpy.random.Generator`` to pick a random point per voxel (training);
            None keeps the first point of each voxel in input order (deterministic, test).
    Returns:
        (keep [M] int64 indices of the kept points, sorted by voxel;
         inverse [N] int64: for every input point, the position in ``keep`` of its voxel's
         point, so ``values[keep][inverse]`` maps values back to every input point).
    """
    coord = np.asarray(coord)
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"coord must be [N, 3], got shape {coord.shape}")
    if not grid_size > 0:
        raise ValueError(f"grid_size must be > 0, got {grid_size}")
    if len(coord) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cell = np.floor((coord.astype(np.float64) - coord.min(0)) / grid_size).astype(np.int64)
    _, first, inverse = np.unique(cell, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    if rng is None:
        return first.astype(np.int64), inverse.astype(np.int64)
    # random representative: order points by (voxel, random key), take each voxel's first
    order = np.lexsort((rng.random(len(coord)), inverse))
    starts = np.r_[0, np.flatnonzero(np.diff(inverse[order])) + 1]
    return order[starts].astype(np.int64), inverse.astype(np.int64)
