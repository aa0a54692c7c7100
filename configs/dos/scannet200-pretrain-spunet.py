"""DOS pretraining of SparseUNet for ScanNet200: scannet-pretrain-spunet.py read through
ScanNet200Dataset, with coord + colour + normal input (9 channels). Pointcept's ScanNet200
SpUNet config (the base of scannet200-ft-spunet.py) feeds 9 channels where its ScanNet one
feeds 6 (colour + normal), so a ScanNet SpUNet checkpoint does not fit it: pretrain with this.

    sh tools/train.sh -g 2 -d scannet200 -c configs/dos/scannet200-pretrain-spunet.py -n dos-spunet
"""

from pointcept_dos.integration.config_presets import multiview_transform as __multiview_transform

_base_ = ["scannet-pretrain-spunet.py"]

model = dict(backbone=dict(in_channels=9))

data = dict(
    train=dict(
        type="ScanNet200Dataset",
        transform=__multiview_transform(grid_size=0.02, feat_keys=("coord", "color", "normal")),
    )
)
