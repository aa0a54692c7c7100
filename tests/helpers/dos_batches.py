"""Small DOS-v1m1 batches (two views per scene) for tests, built without Pointcept."""

import torch

from pointcept_dos.models import DOSv1m1


def tiny_model(**overrides):
    cfg = dict(
        backbone=dict(type="DOS-SpUNet-lite", in_channels=6, channels=(8, 16), enc_depths=(1, 1), dec_depths=(1,)),
        head_in_channels=8,
        head_hidden_channels=16,
        head_embed_channels=8,
        num_prototypes=16,
        mask_seed=0,
    )
    cfg.update(overrides)
    return DOSv1m1(**cfg)


def two_view_batch(num_scenes=2, points=600, seed=0):
    """Scenes of `points` points on a 2 m cube; each view a random 80% subset, shifted."""
    g = torch.Generator().manual_seed(seed)
    coords, origins, offsets, total = [], [], [], 0
    for _ in range(num_scenes):
        scene = torch.rand(points, 3, generator=g) * 2.0
        for view in range(2):
            keep = torch.randperm(points, generator=g)[: int(points * 0.8)]
            origins.append(scene[keep])
            coords.append(scene[keep] + 0.05 * view)
            total += len(keep)
            offsets.append(total)
    coord = torch.cat(coords)
    return dict(
        global_coord=coord,
        global_origin_coord=torch.cat(origins),
        global_feat=torch.cat([coord, torch.rand(len(coord), 3, generator=g)], 1),
        global_offset=torch.tensor(offsets),
        grid_size=torch.tensor([0.05]),
    )
