"""Pointcept transform lists for DOS pretraining, shared by the configs in configs/dos.

A DOS batch needs two global views per scene with their original coordinates, collected as
`global_*` keys. Datasets differ only in grid size, input features and augmentation, so the
configs call `multiview_transform` instead of each restating a 40-line list. The result is
a plain list of Pointcept transform dicts; print it from a parsed config to see it whole.
Import it in a config under a dunder name (see config_paths) so it is not kept as a key.
"""

INDOOR_COLOR_AUGMENTATION = (
    dict(type="RandomColorJitter", brightness=0.4, contrast=0.4, saturation=0.2, hue=0.02, p=0.8),
    dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
    dict(type="NormalizeColor"),
)

INDOOR_VIEW_AUGMENTATION = (
    dict(type="CenterShift", apply_z=True),
    dict(type="RandomScale", scale=[0.9, 1.1]),
    dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.8),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="x", p=0.8),
    dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="y", p=0.8),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
    dict(type="ElasticDistortion", distortion_params=[[0.2, 0.4], [0.8, 1.6]]),
)

# LiDAR sweeps: no colour, no elastic distortion, larger jitter
OUTDOOR_VIEW_AUGMENTATION = (
    dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.8),
    dict(type="RandomScale", scale=[0.9, 1.1]),
    dict(type="RandomFlip", p=0.5),
    dict(type="RandomJitter", sigma=0.005, clip=0.02),
)


def multiview_transform(
    grid_size,
    feat_keys=("coord", "color", "normal"),
    view_keys=("coord", "origin_coord", "color", "normal"),
    shared_augmentation=INDOOR_COLOR_AUGMENTATION,
    view_augmentation=INDOOR_VIEW_AUGMENTATION,
    view_scale=(0.4, 1.0),
    max_size=65536,
):
    """Pointcept transforms: grid sample, keep original coordinates, two global views.

    Args:
        grid_size: input voxel side in metres (0.02 indoor, 0.05 outdoor).
        feat_keys: per-point arrays concatenated into `global_feat`, in order; their widths
            set the backbone's in_channels (coord 3, color 3, normal 3, strength 1).
        view_keys: arrays cropped into each view (must include coord and origin_coord).
        shared_augmentation: applied once per scene before cropping (e.g. colour jitter).
        view_augmentation: applied to each view on its own.
        view_scale: a view keeps this fraction range of the scene's points (nearest to a
            random centre), at most `max_size` points.
    Returns:
        list of transform dicts for `data.train.transform`.
    """
    missing = [k for k in feat_keys if k not in view_keys]
    if missing:
        raise ValueError(f"feat_keys {missing} must also be in view_keys {list(view_keys)}")
    return [
        dict(type="GridSample", grid_size=grid_size, hash_type="fnv", mode="train"),
        dict(type="Copy", keys_dict={"coord": "origin_coord"}),
        dict(
            type="MultiViewGenerator",
            view_keys=tuple(view_keys),
            global_view_num=2,
            global_view_scale=tuple(view_scale),
            local_view_num=0,
            global_shared_transform=[dict(t) for t in shared_augmentation],
            global_transform=[dict(t) for t in view_augmentation],
            max_size=max_size,
        ),
        dict(type="ToTensor"),
        dict(type="Update", keys_dict={"grid_size": grid_size}),
        dict(
            type="Collect",
            keys=("global_origin_coord", "global_coord", "global_offset", "grid_size", "name"),
            offset_keys_dict=dict(),
            global_feat_keys=tuple(f"global_{k}" for k in feat_keys),
        ),
    ]
