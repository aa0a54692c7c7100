"""Settings shared by several configs in configs/dos (Pointcept transform lists, the PT-v3m2
encoder, the learning-rate groups, the hook lists).

A DOS batch needs two global views per scene with their original coordinates, collected as
`global_*` keys. Datasets differ only in grid size, input features and augmentation, so the
derived configs call `multiview_transform` instead of each restating a 40-line list (the
reference config scannet-pretrain.py spells its list out). Every helper returns plain dicts
and lists; print them from a parsed config to see them whole. Import a helper in a config
under a dunder name (see config_paths) so it is not kept as a key.
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

# LiDAR sweeps: the indoor view augmentation without the centring, the x / y tilts and the elastic
# distortion (a sweep is upright, in the sensor's frame); the same z rotation, scale, flip and jitter
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
            # DOS uses no local views, but Pointcept's MultiViewGenerator (v1.7) reads
            # view_dict["local_coord"] unconditionally and raises KeyError with 0 local views:
            # one small local view is generated and dropped (Collect keeps global_* only)
            local_view_num=1,
            local_view_scale=(0.1, 0.4),
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


# ----- outdoor (LiDAR) -------------------------------------------------------------------------
# Pointcept's LiDAR datasets (NuScenesDataset, WaymoDataset, SemanticKITTIDataset) give `coord`
# and a 1-channel `strength` (intensity, scaled to [0, 1]); no colour, no normal.
OUTDOOR_FEAT_KEYS = ("coord", "strength")
OUTDOOR_GRID_SIZE = 0.05  # Pointcept's outdoor semseg grid; the DOS loss runs at 4x (0.2 m)

# Pointcept's PointClip ranges of its outdoor semseg configs (nuScenes clips nothing)
WAYMO_POINT_CLOUD_RANGE = (-75.2, -75.2, -4, 75.2, 75.2, 2)
SEMANTIC_KITTI_POINT_CLOUD_RANGE = (-35.2, -35.2, -4, 35.2, 35.2, 2)


def outdoor_multiview_transform(
    grid_size=OUTDOOR_GRID_SIZE,
    point_cloud_range=None,
    feat_keys=OUTDOOR_FEAT_KEYS,
    view_augmentation=OUTDOOR_VIEW_AUGMENTATION,
    view_scale=(0.4, 1.0),
    max_size=65536,
):
    """`multiview_transform` for a LiDAR sweep: features coord + strength (4 channels) unless
    `feat_keys` says otherwise, no colour augmentation, OUTDOOR_VIEW_AUGMENTATION per view,
    optionally a PointClip first.

    Args:
        grid_size: input voxel side in metres (Pointcept's outdoor 0.05).
        point_cloud_range: (x_min, y_min, z_min, x_max, y_max, z_max) in metres for Pointcept's
            PointClip (which clamps coordinates into the box), or None.
        feat_keys: per-point arrays of the backbone input, in order; each is also cut into the
            views (e.g. ("coord", "strength", "time"): 5 channels, nuscenes-pretrain-det.py).
        view_augmentation, view_scale, max_size: as `multiview_transform`.
    Returns:
        list of transform dicts for `data.train.transform`.
    """
    transform = multiview_transform(
        grid_size,
        feat_keys=tuple(feat_keys),
        view_keys=("coord", "origin_coord") + tuple(k for k in feat_keys if k != "coord"),
        shared_augmentation=(),
        view_augmentation=view_augmentation,
        view_scale=view_scale,
        max_size=max_size,
    )
    if point_cloud_range is not None:
        if len(point_cloud_range) != 6:
            raise ValueError(f"point_cloud_range needs 6 numbers, got {point_cloud_range}")
        transform.insert(0, dict(type="PointClip", point_cloud_range=tuple(point_cloud_range)))
    return transform


# PT-v3m2: Sonata's base encoder (5 stages, depths 3-3-3-12-3, channels 48-512), the one every
# PTv3 config of configs/dos builds; only in_channels depends on the data. One definition for the
# pretrain, probe and fine-tune configs, so that a DOS checkpoint's `student.backbone` loads into
# every probe with only the head (and decoder) new.
PTV3M2 = dict(
    type="PT-v3m2",
    in_channels=None,  # set by ptv3m2(): 9 indoor (coord + color + normal), 4 LiDAR
    order=("z", "z-trans", "hilbert", "hilbert-trans"),
    stride=(2, 2, 2, 2),
    enc_depths=(3, 3, 3, 12, 3),
    enc_channels=(48, 96, 192, 384, 512),
    enc_num_head=(3, 6, 12, 24, 32),
    enc_patch_size=(1024, 1024, 1024, 1024, 1024),
    mlp_ratio=4,
    qkv_bias=True,
    qk_scale=None,
    attn_drop=0.0,
    proj_drop=0.0,
    drop_path=0.3,
    shuffle_orders=True,
    pre_norm=True,
    enable_rpe=False,
    enable_flash=True,
    upcast_attention=False,
    upcast_softmax=False,
    traceable=False,
    mask_token=False,  # DOS removes masked points; there is no mask token
    enc_mode=True,
    freeze_encoder=False,
)
# PT-v3m2 for LiDAR: coord + strength
LIDAR_PTV3M2 = dict(PTV3M2, in_channels=4)
# the decoder of Sonata's decoder-probe / fine-tune configs (new weights, 64 output channels)
PTV3M2_DECODER = dict(
    dec_depths=(2, 2, 2, 2),
    dec_channels=(64, 96, 192, 384),
    dec_num_head=(4, 6, 12, 24),
    dec_patch_size=(1024, 1024, 1024, 1024),
)
PTV3M2_STAGES = ("pretrain", "lin", "dec", "ft")
LIDAR_PTV3M2_STAGES = PTV3M2_STAGES


def ptv3m2(stage, in_channels):
    """PT-v3m2 backbone dict for one stage of the configs.

    stage: "pretrain" (encoder only, traceable for DOS's up-cast), "lin" (encoder only; the
    segmentor freezes it), "dec" (frozen encoder + new decoder), "ft" (encoder + new decoder,
    all trained). The encoder parameters are the same in every stage.
    in_channels: width of the input features (None leaves it to a child config).
    Output widths: encoder only, every level up-cast: 1232 (48+96+192+384+512); decoder: 64.
    """
    if stage not in PTV3M2_STAGES:
        raise ValueError(f"stage must be one of {PTV3M2_STAGES}, got {stage!r}")
    backbone = dict(PTV3M2, in_channels=in_channels)
    if stage == "pretrain":
        backbone.update(traceable=True)  # keeps the pooling chain DOS up-casts
        backbone.pop("freeze_encoder")
    elif stage in ("dec", "ft"):
        backbone.update(PTV3M2_DECODER, enc_mode=False, freeze_encoder=stage == "dec")
    return backbone


def lidar_ptv3m2(stage):
    """`ptv3m2(stage)` for the outdoor configs: coord + strength, 4 input channels."""
    return ptv3m2(stage, in_channels=LIDAR_PTV3M2["in_channels"])


def lidar_linear_probe(num_classes, class_weight=None):
    """Sonata's linear-probe model for a LiDAR benchmark: DefaultSegmentorV2 over the frozen
    PT-v3m2 encoder of the outdoor pretrain configs in enc_mode (every level up-cast: 1232
    channels) and one linear layer; cross-entropy + Lovasz as Pointcept's outdoor configs.
    The dec / ft configs replace the backbone with `lidar_ptv3m2("dec" / "ft")`.

    class_weight: None (plain cross-entropy, as Pointcept's nuScenes / Waymo recipes) or
    `num_classes` per-class weights of the cross-entropy (Pointcept's SemanticKITTI recipes)."""
    cross_entropy = dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)
    if class_weight is not None:
        if len(class_weight) != num_classes or min(class_weight) <= 0:
            raise ValueError(
                f"class_weight needs {num_classes} positive numbers (one per class), got {class_weight}"
            )
        cross_entropy["weight"] = list(class_weight)
    return dict(
        type="DefaultSegmentorV2",
        num_classes=num_classes,
        backbone_out_channels=1232,  # 48 + 96 + 192 + 384 + 512
        backbone=lidar_ptv3m2("lin"),
        criteria=[
            cross_entropy,
            dict(type="LovaszLoss", mode="multiclass", loss_weight=1.0, ignore_index=-1),
        ],
        freeze_backbone=True,
    )


# ----- learning rate ---------------------------------------------------------------------------

def layerwise_lr_groups(base_lr, lr_decay=0.9, enc_depths=PTV3M2["enc_depths"]):
    """Layer-wise learning-rate decay over PT-v3m2's encoder blocks, as Sonata's pretraining:
    block b of stage e (parameter names containing "enc{e}.block{b}.") trains at
    base_lr * lr_decay ** (number of blocks after it), so the deepest block trains at base_lr
    and the first at base_lr * 0.9 ** 23; everything else (embedding, heads) at base_lr.

    Returns:
        (param_dicts, max_lr): Pointcept's `param_dicts` (one group per block) and OneCycleLR's
        `max_lr` list, [base_lr] (the default group) followed by each block's rate.
    """
    blocks = [f"enc{e}.block{b}." for e, depth in enumerate(enc_depths) for b in range(depth)]
    param_dicts = [
        dict(keyword=keyword, lr=base_lr * lr_decay ** (len(blocks) - 1 - i)) for i, keyword in enumerate(blocks)
    ]
    return param_dicts, [base_lr] + [group["lr"] for group in param_dicts]


# ----- SparseUNet ------------------------------------------------------------------------------


def spunet_pretrain_model(in_channels):
    """`model` of a DOS pretrain config with the backbone swapped for SpUNet-v1m1 (merged into
    the PTv3 one: the backbone and the teacher's PTv3 overrides are replaced). SpUNet answers
    at the input voxels with [N, 96] features (no classifier); DOS pools them 4x for the loss,
    the loss resolution of the PTv3 configs. in_channels as the SpUNet config that fine-tunes
    it (Pointcept's: ScanNet 6, ScanNet200 9, LiDAR 4)."""
    return dict(
        backbone=dict(
            _delete_=True,
            type="SpUNet-v1m1",
            in_channels=in_channels,
            num_classes=0,  # no classifier: the backbone returns [N, 96] features
            channels=(32, 64, 128, 256, 256, 128, 96, 96),
            layers=(2, 3, 4, 6, 2, 2, 2, 2),
        ),
        teacher_custom=dict(_delete_=True),
        head_in_channels=96,
        loss_pool_stride=4,
    )


# ----- hooks -----------------------------------------------------------------------------------


def pretrain_hooks(base_wd, final_wd, save_freq, online_probe=None):
    """Hooks of a DOS pretrain config: Pointcept's runtime hooks without evaluation, plus DOS's
    ZipfSinkhornHook (logs prototype usage) and the cosine weight decay base_wd -> final_wd;
    a checkpoint every `save_freq` trainer epochs (and model_last); with `online_probe` (a dict
    of OnlineProbeHook's arguments, dict() for its defaults) a linear probe while pretraining
    runs, last in the list (indoor layouts only)."""
    hooks = [
        dict(type="CheckpointLoader"),
        dict(type="ModelHook"),
        dict(type="ZipfSinkhornHook", log_interval=50),
        dict(type="WeightDecaySchedular", base_value=base_wd, final_value=final_wd),
        dict(type="IterationTimer", warmup_iter=2),
        dict(type="InformationWriter"),
        dict(type="CheckpointSaver", save_freq=save_freq),
    ]
    if online_probe is not None:
        hooks.append(dict(type="OnlineProbeHook", **online_probe))
    return hooks


def finetune_hooks(save_freq):
    """Hooks of a probe / fine-tune config that starts from a DOS checkpoint: Pointcept's
    semantic-segmentation hooks, with the CheckpointLoader mapping DOS's `student.backbone`
    (where DOS keeps the student, as Sonata) onto the segmentor's `backbone`; model_last and
    model_best, and a copy every `save_freq` trainer epochs (Pointcept's recipes keep none)."""
    return [
        dict(type="CheckpointLoader", keywords="module.student.backbone", replacement="module.backbone"),
        dict(type="IterationTimer", warmup_iter=2),
        dict(type="InformationWriter"),
        dict(type="SemSegEvaluator"),
        dict(type="CheckpointSaver", save_freq=save_freq),
        dict(type="PreciseEvaluator", test_last=False),
    ]
