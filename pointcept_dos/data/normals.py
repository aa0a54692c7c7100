"""Surface normals of a point cloud that has none (numpy only).

Each point takes the normal of its voxel's neighbourhood: the points of the 3 x 3 x 3 voxels of
side `radius` around it, whose covariance's eigenvector of the smallest eigenvalue is the
normal of the local plane. Sums per voxel and a lookup of the 27 neighbours keep it linear in
the number of points (no kNN). A PCA normal has no sign; it is turned towards the cloud's
centre, which for an indoor scan is inside the room (walls and floor face the room).
"""

import numpy as np

# voxels are keyed as one int64: 21 bits per axis (2 million voxels of `radius` per axis)
_BITS = 21
_OFFSETS = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])


def _keys(cells):
    return (cells[:, 0] << (2 * _BITS)) | (cells[:, 1] << _BITS) | cells[:, 2]


def estimate_normals(coord, radius=0.1):
    """[N, 3] unit normals of `coord` [N, 3] (metres), float32.

    Args:
        coord: [N, 3] point coordinates in metres.
        radius: voxel side in metres; a point's neighbourhood spans 3 voxels per axis.
    A neighbourhood of fewer than 3 points (no plane) gets the normal (0, 0, 1).
    """
    coord = np.asarray(coord, np.float64)
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"coord must be [N, 3], got shape {coord.shape}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0 metres, got {radius}")
    if len(coord) == 0:
        return np.zeros((0, 3), np.float32)
    origin = coord.min(0)
    cells = np.floor((coord - origin) / radius).astype(np.int64) + 1  # +1: neighbours stay >= 0
    if cells.max() >= (1 << _BITS) - 1:
        raise ValueError(f"the cloud spans over {(1 << _BITS) - 2} voxels of {radius} m along an "
                         "axis: coordinates not in metres?")
    voxels, inverse = np.unique(_keys(cells), return_inverse=True)
    inverse = inverse.reshape(-1)
    local = coord - origin  # moments of centred coordinates keep float64 exact enough
    count = np.bincount(inverse, minlength=len(voxels)).astype(np.float64)
    first = np.stack([np.bincount(inverse, local[:, a], len(voxels)) for a in range(3)], 1)
    second = np.stack([np.bincount(inverse, local[:, a] * local[:, b], len(voxels))
                       for a in range(3) for b in range(3)], 1)
    # sums over each voxel's 27 neighbours (absent neighbours add nothing)
    voxel_cells = np.stack([(voxels >> (2 * _BITS)) & ((1 << _BITS) - 1),
                            (voxels >> _BITS) & ((1 << _BITS) - 1),
                            voxels & ((1 << _BITS) - 1)], 1)
    n, s1, s2 = np.zeros_like(count), np.zeros_like(first), np.zeros_like(second)
    for offset in _OFFSETS:
        where = np.searchsorted(voxels, _keys(voxel_cells + offset))
        where = np.minimum(where, len(voxels) - 1)
        found = voxels[where] == _keys(voxel_cells + offset)
        n[found] += count[where[found]]
        s1[found] += first[where[found]]
        s2[found] += second[where[found]]
    mean = s1 / n[:, None]
    cov = s2.reshape(-1, 3, 3) / n[:, None, None] - mean[:, :, None] * mean[:, None, :]
    _, vectors = np.linalg.eigh(cov)
    normal = vectors[:, :, 0]  # eigh sorts eigenvalues ascending
    normal[n < 3] = (0.0, 0.0, 1.0)
    normal = normal[inverse]
    towards_centre = (local.mean(0) - local) * normal
    normal[towards_centre.sum(1) < 0] *= -1
    return normal.astype(np.float32)
