"""Linear probe of a DOS-pretrained PTv3 on SemanticKITTI semantic segmentation (19 classes).

Pointcept has no Sonata probe config for outdoor data, so this is built on Pointcept's SemanticKITTI semseg config (it has no PTv3 one; its SpUNet config is taken for the data)
(configs/semantic_kitti/semseg-spunet-v1m1-0-base.py: its data, augmentation, schedule and evaluation, unchanged), with the
model replaced by Sonata's linear-probe layout: DefaultSegmentorV2 over the frozen PT-v3m2
encoder of semantickitti-pretrain.py in enc_mode (every level up-cast: 1232 channels) and one linear
layer. The CheckpointLoader maps `student.backbone` to `backbone`, so only `seg_head` is new.

    sh tools/train.sh -g 2 -d semantic_kitti -c configs/dos/semantickitti-lin.py -n dos-lin \
        -w exp/semantic_kitti/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.config_presets import lidar_ptv3m2 as __lidar_ptv3m2

_base_ = [__pointcept_config("semantic_kitti/semseg-spunet-v1m1-0-base.py")]

model = dict(
    _delete_=True,
    type="DefaultSegmentorV2",
    num_classes=19,
    backbone_out_channels=1232,  # 48 + 96 + 192 + 384 + 512
    backbone=__lidar_ptv3m2("lin"),  # PT-v3m2 base encoder, in_channels=4 (coord + strength)
    criteria=[
        dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1),
        dict(type="LovaszLoss", mode="multiclass", loss_weight=1.0, ignore_index=-1),
    ],
    freeze_backbone=True,
)

# the SpUNet base config has one learning rate; PTv3's blocks get 0.1x, as the other probes
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.005)
scheduler = dict(
    type="OneCycleLR",
    max_lr=[0.002, 0.0002],
    pct_start=0.04,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=100.0,
)
param_dicts = [dict(keyword="block", lr=0.0002)]

hooks = [
    dict(type="CheckpointLoader", keywords="module.student.backbone", replacement="module.backbone"),
    dict(type="IterationTimer", warmup_iter=2),
    dict(type="InformationWriter"),
    dict(type="SemSegEvaluator"),
    dict(type="CheckpointSaver", save_freq=None),
    dict(type="PreciseEvaluator", test_last=False),
]
