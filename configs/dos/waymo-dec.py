"""Decoder probe of a DOS-pretrained PTv3 on Waymo: waymo-lin.py with Sonata's
decoder-probe model: the PT-v3m2 encoder from `student.backbone`, frozen (freeze_encoder), and
a new decoder (64 channels out) and linear head, trained.

    sh tools/train.sh -g 2 -d waymo -c configs/dos/waymo-dec.py -n dos-dec \
        -w exp/waymo/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_presets import lidar_ptv3m2 as __lidar_ptv3m2

_base_ = ["waymo-lin.py"]

model = dict(
    backbone_out_channels=64,
    backbone=dict(_delete_=True, **__lidar_ptv3m2("dec")),
    freeze_backbone=False,
)
