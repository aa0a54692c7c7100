"""Linear probe of a DOS-pretrained PTv3 on Waymo semantic segmentation (22 classes).

Pointcept has no Sonata probe config for outdoor data, so this is built on Pointcept's PTv3 Waymo semseg config
(configs/waymo/semseg-pt-v3m1-0-base.py: its data, augmentation, schedule and evaluation, unchanged), with the
model replaced by Sonata's linear-probe layout: DefaultSegmentorV2 over the frozen PT-v3m2
encoder of waymo-pretrain.py in enc_mode (every level up-cast: 1232 channels) and one linear
layer. The CheckpointLoader maps `student.backbone` to `backbone`, so only `seg_head` is new.

    sh tools/train.sh -g 2 -d waymo -c configs/dos/waymo-lin.py -n dos-lin \
        -w exp/waymo/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.config_presets import lidar_ptv3m2 as __lidar_ptv3m2

_base_ = [__pointcept_config("waymo/semseg-pt-v3m1-0-base.py")]

model = dict(
    _delete_=True,
    type="DefaultSegmentorV2",
    num_classes=22,
    backbone_out_channels=1232,  # 48 + 96 + 192 + 384 + 512
    backbone=__lidar_ptv3m2("lin"),  # PT-v3m2 base encoder, in_channels=4 (coord + strength)
    criteria=[
        dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1),
        dict(type="LovaszLoss", mode="multiclass", loss_weight=1.0, ignore_index=-1),
    ],
    freeze_backbone=True,
)

hooks = [
    dict(type="CheckpointLoader", keywords="module.student.backbone", replacement="module.backbone"),
    dict(type="IterationTimer", warmup_iter=2),
    dict(type="InformationWriter"),
    dict(type="SemSegEvaluator"),
    dict(type="CheckpointSaver", save_freq=None),
    dict(type="PreciseEvaluator", test_last=False),
]
