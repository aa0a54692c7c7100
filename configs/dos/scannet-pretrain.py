"""DOS pretraining of Point Transformer V3 (PT-v3m2) on ScanNet v2.

Paper defaults: K=1024 prototypes, Zipf alpha=1.3, 0.4 m mask patches, mask ratio 0.7, two
global views, same-view + cross-view softmap terms, loss on the encoder up-cast two levels
(0.08 m). Sized for 2 GPUs of 40-80 GB (batch 12 per GPU); see configs/dos/README.md to halve
batch size and learning rate. Checkpoints keep the student backbone at `student.backbone`,
as Sonata, so Pointcept's Sonata probe / fine-tune configs load them unchanged.

The DOS model (every method setting spelled out), optimizer and hooks are in
_base_/pretrain-dos-ptv3.py, shared with nuscenes-pretrain.py; this file sets the ScanNet parts,
the learning rate for its batch size included.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-pretrain.py -n dos-ptv3
"""

from pointcept_dos.integration.config_presets import layerwise_lr_groups as __layerwise_lr_groups

_base_ = ["_base_/pretrain-dos-ptv3.py"]

# misc custom setting
batch_size = 24  # total over all GPUs
num_worker = 24

# model settings: indoor input and mask patches
model = dict(
    backbone=dict(in_channels=9),  # coord + color + normal
    mask_size=0.4,  # metres
    match_radius=0.32,  # 4 loss-resolution voxels of 0.08 m
)

# scheduler settings
epoch = 200  # data loops over ScanNet train (1201 scenes: 50 iterations each at batch 24)
eval_epoch = 100  # trainer epochs (two data loops each): a checkpoint every 10 (the base's hooks)
# Sonata's rate, 0.004 at a total batch of 96, scaled linearly to this batch: 0.001
base_lr = 0.004 * batch_size / 96
# layer-wise decay over the 24 encoder blocks, as Sonata: the deepest block at base_lr, each
# block before it 0.9x the next; embedding and heads at base_lr
param_dicts, __max_lr = __layerwise_lr_groups(base_lr, lr_decay=0.9)
optimizer = dict(lr=base_lr)
scheduler = dict(max_lr=__max_lr)

# dataset settings: two augmented global views of every scene, with the coordinates before
# augmentation kept as `origin_coord` (DOS matches points across views by them)
transform = [
    dict(type="GridSample", grid_size=0.02, hash_type="fnv", mode="train"),
    dict(type="Copy", keys_dict={"coord": "origin_coord"}),
    dict(
        type="MultiViewGenerator",
        view_keys=("coord", "origin_coord", "color", "normal"),
        global_view_num=2,
        global_view_scale=(0.4, 1.0),  # a view keeps 40-100% of the scene's points
        # DOS uses no local view; Pointcept v1.7's MultiViewGenerator needs at least one
        # (KeyError 'local_coord' otherwise), so one small view is made and Collect drops it
        local_view_num=1,
        local_view_scale=(0.1, 0.4),
        # once per scene, before the views are cut: colour augmentation
        global_shared_transform=[
            dict(type="RandomColorJitter", brightness=0.4, contrast=0.4, saturation=0.2, hue=0.02, p=0.8),
            dict(type="ChromaticTranslation", p=0.95, ratio=0.05),
            dict(type="NormalizeColor"),
        ],
        # each global view on its own: geometry augmentation
        global_transform=[
            dict(type="CenterShift", apply_z=True),
            dict(type="RandomScale", scale=[0.9, 1.1]),
            dict(type="RandomRotate", angle=[-1, 1], axis="z", center=[0, 0, 0], p=0.8),
            dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="x", p=0.8),
            dict(type="RandomRotate", angle=[-1 / 64, 1 / 64], axis="y", p=0.8),
            dict(type="RandomFlip", p=0.5),
            dict(type="RandomJitter", sigma=0.005, clip=0.02),
            dict(type="ElasticDistortion", distortion_params=[[0.2, 0.4], [0.8, 1.6]]),
        ],
        max_size=65536,  # points per view at most
    ),
    dict(type="ToTensor"),
    dict(type="Update", keys_dict={"grid_size": 0.02}),
    dict(
        type="Collect",
        keys=("global_origin_coord", "global_coord", "global_offset", "grid_size", "name"),
        offset_keys_dict=dict(),
        # the backbone's input: 9 channels, in this order
        global_feat_keys=("global_coord", "global_color", "global_normal"),
    ),
]

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
