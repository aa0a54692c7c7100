"""Patch masking: which points the student observes.

Each scene is cut into cubic patches of side `patch_size` (metres) anchored at the scene's
minimum corner; floor(mask_ratio * patches) patches of every scene are masked, chosen by a
torch.Generator so a run is reproducible. DOS removes masked points from the student's input
altogether (no mask token), so this returns a visibility mask, not a token mask.
"""

import torch

from .segments import offset_to_batch
from .validation import check_matrix, check_offset, check_real


_CELL_BITS = 16  # per axis: 65536 patches of 0.4 m span 26 km, far beyond any scene
_SCENE_BITS = 63 - 3 * _CELL_BITS


def patch_ids(coord, offset, patch_size):
    """[N, 3] coordinates (metres) -> ([N] patch id, [P] scene of each patch).

    Patch ids are dense, 0..P-1, sorted by scene; every point in a cube shares one id."""
    batch = offset_to_batch(offset)
    num_scenes = len(offset)
    scene_min = torch.full((num_scenes, 3), torch.inf, dtype=coord.dtype, device=coord.device)
    scene_min = scene_min.scatter_reduce(
        0, batch[:, None].expand(-1, 3), coord, reduce="amin", include_self=True
    )
    cell = torch.div(coord - scene_min[batch], patch_size, rounding_mode="floor")
    # checked before the cast to int64: a float beyond its range casts to a negative number
    # (then a bincount error), and NaN / Inf fail the comparison
    if not bool((cell < (1 << _CELL_BITS)).all()) or num_scenes >= 1 << _SCENE_BITS:
        bad = ~torch.isfinite(coord).all(1)
        if bool(bad.any()):
            raise ValueError(
                f"coord holds NaN or Inf in {int(bad.sum())} of {len(coord)} points (first at row "
                f"{int(torch.nonzero(bad)[0, 0])}): expected finite coordinates in metres"
            )
        raise ValueError(
            f"patch_size={patch_size} m cuts a scene into more than {1 << _CELL_BITS} patches "
            f"per axis (or the batch has over {1 << _SCENE_BITS} scenes): is coord in metres?"
        )
    cell = cell.long()
    # one int64 key per point, scene in the high bits, so a 1-D unique sorts by scene; a
    # unique over [N, 4] rows costs several times more
    keys = batch << (3 * _CELL_BITS)
    for axis in range(3):
        keys = keys | (cell[:, axis] << (axis * _CELL_BITS))
    unique, inverse = torch.unique(keys, return_inverse=True)
    return inverse, unique >> (3 * _CELL_BITS)


def patch_visibility(coord, offset, patch_size, mask_ratio, generator=None):
    """Visible-point mask for DOS's student view.

    Args:
        coord: [N, 3] float point coordinates in metres.
        offset: [B] int cumulative point counts per scene.
        patch_size: cube side in metres (> 0); 0.4 indoor, 1.0 outdoor in the paper.
        mask_ratio: fraction of each scene's patches to hide, in [0, 1); 0.7 (segmentation)
            or 0.6 (detection) in the paper. floor(ratio * P) patches are hidden, so at least
            one patch of every non-empty scene stays visible.
        generator: torch.Generator (CPU) for a reproducible choice; None uses the global RNG.
    Returns:
        [N] bool, True where the point is visible to the student.
    """
    check_matrix("coord", coord, num_cols=3)
    check_offset(offset, coord.shape[0])
    check_real("patch_size", patch_size, low=0.0, low_open=True)
    check_real("mask_ratio", mask_ratio, low=0.0, high=1.0, high_open=True)
    if coord.shape[0] == 0:
        return torch.ones(0, dtype=torch.bool, device=coord.device)
    point_patch, patch_scene = patch_ids(coord, offset, patch_size)
    num_patches = patch_scene.shape[0]
    score = torch.rand(num_patches, generator=generator, dtype=torch.float64)
    # rank patches inside their scene by a random score: sorting scene + score keeps scenes
    # apart (score < 1) and orders patches randomly within each
    order = torch.argsort(patch_scene.cpu().double() + score)
    patches_per_scene = torch.bincount(patch_scene.cpu(), minlength=len(offset))
    first = torch.cumsum(patches_per_scene, 0) - patches_per_scene
    rank = torch.empty(num_patches, dtype=torch.long)
    rank[order] = torch.arange(num_patches) - first[patch_scene.cpu()[order]]
    hidden_per_scene = torch.floor(patches_per_scene.double() * mask_ratio).long()
    patch_hidden = rank < hidden_per_scene[patch_scene.cpu()]
    return ~patch_hidden.to(coord.device)[point_patch]
