"""DOS pretraining of SparseUNet (SpUNet-v1m1) on SemanticKITTI: semantickitti-pretrain.py with the backbone
swapped, as nuscenes-pretrain-spunet.py (coord + strength in, [N, 96] features out, loss pooled
4x to 0.2 m). Fine-tune with semantickitti-ft-spunet.py.

    sh tools/train.sh -g 2 -d semantic_kitti -c configs/dos/semantickitti-pretrain-spunet.py -n dos-spunet
"""

_base_ = ["semantickitti-pretrain.py"]

model = dict(
    backbone=dict(
        _delete_=True,
        type="SpUNet-v1m1",
        in_channels=4,
        num_classes=0,
        channels=(32, 64, 128, 256, 256, 128, 96, 96),
        layers=(2, 3, 4, 6, 2, 2, 2, 2),
    ),
    teacher_custom=dict(_delete_=True),
    head_in_channels=96,
    loss_pool_stride=4,
)

param_dicts = None
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.04)
scheduler = dict(
    type="OneCycleLR", max_lr=0.002, pct_start=0.05, anneal_strategy="cos",
    div_factor=10.0, final_div_factor=1000.0,
)
