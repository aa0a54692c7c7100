"""DOS pretraining of Point Transformer V3 (PT-v3m2) on ScanNet v2.

Paper defaults: K=1024 prototypes, Zipf alpha=1.3, 0.4 m mask patches, mask ratio 0.7, two
global views, same-view + cross-view softmap terms, loss on the encoder up-cast two levels
(0.08 m). Sized for 2 GPUs of 40-80 GB (batch 12 per GPU); see configs/dos/README.md to halve
batch size and learning rate. Checkpoints keep the student backbone at `student.backbone`,
as Sonata, so Pointcept's Sonata probe / fine-tune configs load them unchanged.

The DOS model, optimizer (layer-wise decay) and hooks are in _base_/pretrain-dos-ptv3.py,
shared with nuscenes-pretrain.py; this file sets the ScanNet parts.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-pretrain.py -n dos-ptv3
"""

from pointcept_dos.config_presets import multiview_transform as __multiview_transform

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
epoch = 200

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
