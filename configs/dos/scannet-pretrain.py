"""DOS pretraining of Point Transformer V3 (PT-v3m2) on ScanNet v2.

Paper defaults: K=1024 prototypes, Zipf alpha=1.3, 0.4 m mask patches, mask ratio 0.7, two
global views, same-view + cross-view softmap terms, loss on the encoder up-cast two levels
(0.08 m). Sized for 2 GPUs of 40-80 GB (batch 12 per GPU); see configs/dos/README.md to halve
batch size and learning rate. Checkpoints keep the student backbone at `student.backbone`,
as Sonata, so Pointcept's Sonata probe / fine-tune configs load them unchanged.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-pretrain.py -n dos-ptv3
"""

from pointcept_dos.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.config_presets import multiview_transform as __multiview_transform

_base_ = [__pointcept_config("_base_/default_runtime.py")]

# misc custom setting
batch_size = 24  # total over all GPUs
num_worker = 24
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
    backbone=dict(
        type="PT-v3m2",
        in_channels=9,  # coord + color + normal
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
        traceable=True,  # keeps the pooling chain DOS up-casts
        enc_mode=True,
        mask_token=False,  # DOS removes masked points; there is no mask token
    ),
    teacher_custom=dict(attn_drop=0.0, proj_drop=0.0, drop_path=0.0),
    head_in_channels=1088,  # 512 + 384 + 192: the encoder up-cast two levels
    head_hidden_channels=2048,
    head_embed_channels=256,
    num_prototypes=1024,
    mask_size=0.4,
    mask_ratio=0.7,
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
    match_radius=0.32,
    up_cast_level=2,
    loss_pool_stride=4,
)

# scheduler settings
epoch = 200
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

# dataset settings: two global views per scene (no local views); the list is built by
# pointcept_dos.config_presets.multiview_transform with indoor augmentation
transform = __multiview_transform(grid_size=0.02, feat_keys=("coord", "color", "normal"))

data = dict(
    train=dict(
        type="ScanNetDataset",
        split="train",
        data_root="data/scannet",
        transform=transform,
        test_mode=False,
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
    dict(type="CheckpointSaver", save_freq=10),
]
