"""Integer voxel coordinates of points: the one voxelisation rule of the package."""

import torch


def grid_coord(coord, grid_size):
    """[N, 3] float metres -> [N, 3] int32 voxel indices floor((coord - min) / grid_size).

    Anchored at the minimum over all N points, so points batched together share one grid (DOS
    relies on it: the student's visible voxels are exactly the teacher's). Coordinates are
    shifted in float64 before the division so large frames (UTM, kilometres) keep their
    centimetres."""
    shifted = coord.double() - coord.double().min(0).values
    return torch.div(shifted, float(grid_size), rounding_mode="floor").int()
