"""DOS pretraining of Point Transformer V3 (PT-v3m2) on nuScenes LiDAR sweeps (segmentation
setting). The reference outdoor config: waymo-, semantickitti- and outdoor-multidataset-pretrain
inherit it and change only the data.

Outdoor settings of the paper: LiDAR features coord + strength (in_channels=4, no colour or
normal), Pointcept's outdoor grid 0.05 m (the loss runs 4x coarser, 0.2 m, after the two-level
up-cast), 1.0 m mask patches, mask ratio 0.7 (0.6 for detection: nuscenes-pretrain-det.py).
The encoder is Sonata's base PT-v3m2 (pointcept_dos.config_presets.LIDAR_PTV3M2), the one the
nuscenes-lin / -dec / -ft configs build, so the checkpoint loads there with only heads new.
The schedule (epochs) is our choice, sized to about 35k iterations; the paper does not state it.
Sized for 2 GPUs of 80 GB (batch 8 per GPU); see configs/dos/README.md to halve it.

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain.py -n dos-ptv3
"""

from pointcept_dos.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.config_presets import lidar_ptv3m2 as __lidar_ptv3m2
from pointcept_dos.config_presets import outdoor_multiview_transform as __outdoor_multiview_transform

_base_ = [__pointcept_config("_base_/default_runtime.py")]

# misc custom setting
batch_size = 16  # total over all GPUs
num_worker = 16
mix_prob = 0
clip_grad = 3.0
empty_cache = False
enable_amp = True
amp_dtype = "bfloat16"
evaluate = False
find_unused_parameters = False
enable_wandb = False

# model settings
model = dict(
    type="DOS-v1m1",
    backbone=__lidar_ptv3m2("pretrain"),  # PT-v3m2 base encoder, in_channels=4, traceable
    teacher_custom=dict(attn_drop=0.0, proj_drop=0.0, drop_path=0.0),
    head_in_channels=1088,  # 512 + 384 + 192: the encoder up-cast two levels
    head_hidden_channels=2048,
    head_embed_channels=256,
    num_prototypes=1024,
    mask_size=1.0,  # metres: outdoor patches
    mask_ratio=0.7,  # segmentation setting (detection: 0.6)
    zipf_alpha=1.3,
    sinkhorn_iters=3,
    sinkhorn_scope="batch",
    teacher_temp_start=0.04,
    teacher_temp_base=0.07,
    teacher_temp_warmup_ratio=0.05,
    student_temp=0.1,
    momentum_base=0.994,
    momentum_final=1.0,
    same_view_weight=0.5,
    cross_view_weight=0.5,
    match_radius=0.8,  # 4 loss-resolution voxels of 0.2 m (indoor: 4 x 0.08 = 0.32)
    up_cast_level=2,
    loss_pool_stride=4,
)

# scheduler settings
epoch = 20  # nuScenes train: 28130 sweeps, 1758 iterations per epoch at batch 16
eval_epoch = 20  # pretraining has no evaluation; one data loop per trainer epoch
base_lr = 0.002
lr_decay = 0.9  # layer-wise decay over the encoder blocks, deepest block at base_lr
base_wd = 0.04
final_wd = 0.2

_depths = model["backbone"]["enc_depths"]
param_dicts = [
    dict(keyword=f"enc{e}.block{b}.", lr=base_lr * lr_decay ** (sum(_depths) - sum(_depths[:e]) - b - 1))
    for e in range(len(_depths))
    for b in range(_depths[e])
]
del _depths

optimizer = dict(type="AdamW", lr=base_lr, weight_decay=base_wd)
scheduler = dict(
    type="OneCycleLR",
    max_lr=[base_lr] + [g["lr"] for g in param_dicts],
    pct_start=0.05,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=1000.0,
)

# dataset settings: two global views per sweep, coord + strength features
data = dict(
    train=dict(
        type="NuScenesDataset",
        split="train",
        data_root="data/nuscenes",
        transform=__outdoor_multiview_transform(grid_size=0.05),
        test_mode=False,
        ignore_index=-1,
        loop=1,
    )
)

hooks = [
    dict(type="CheckpointLoader"),
    dict(type="ModelHook"),
    dict(type="ZipfSinkhornHook", log_interval=50),
    dict(type="WeightDecaySchedular", base_value=base_wd, final_value=final_wd),
    dict(type="IterationTimer", warmup_iter=2),
    dict(type="InformationWriter"),
    dict(type="CheckpointSaver", save_freq=5),
]
