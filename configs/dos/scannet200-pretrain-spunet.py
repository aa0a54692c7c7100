"""DOS pretraining of SparseUNet for ScanNet200: scannet-pretrain-spunet.py read through
ScanNet200Dataset (the same scenes; labels are unused, so a ScanNet SpUNet checkpoint serves).

    sh tools/train.sh -g 2 -d scannet200 -c configs/dos/scannet200-pretrain-spunet.py -n dos-spunet
"""

_base_ = ["scannet-pretrain-spunet.py"]

data = dict(train=dict(type="ScanNet200Dataset"))
