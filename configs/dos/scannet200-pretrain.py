"""DOS pretraining of PT-v3m2 for ScanNet200: scannet-pretrain.py read through
ScanNet200Dataset. ScanNet200 is ScanNet v2's scenes with 200-class labels, and
pretraining uses no labels, so this trains exactly what scannet-pretrain.py trains: reuse a
ScanNet checkpoint for the ScanNet200 probes rather than pretraining twice. It exists so that
every benchmark has its pretrain / probe / fine-tune triple under one name.

    sh tools/train.sh -g 2 -d scannet200 -c configs/dos/scannet200-pretrain.py -n dos-ptv3
"""

_base_ = ["scannet-pretrain.py"]

data = dict(train=dict(type="ScanNet200Dataset"))
