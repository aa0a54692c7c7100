"""DOS pretraining of SparseUNet (SpUNet-v1m1) on nuScenes: nuscenes-pretrain.py with the
backbone swapped by registry name. SpUNet answers at the input voxels (0.05 m); DOS pools its
features 4x (0.2 m) for the loss, the PTv3 config's loss resolution. Input coord + strength
(4 channels), as Pointcept's nuScenes SpUNet config (nuscenes-ft-spunet.py) expects.

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain-spunet.py -n dos-spunet
"""

_base_ = ["nuscenes-pretrain.py"]

model = dict(
    backbone=dict(
        _delete_=True,
        type="SpUNet-v1m1",
        in_channels=4,
        num_classes=0,  # no classifier: the backbone returns [N, 96] features
        channels=(32, 64, 128, 256, 256, 128, 96, 96),
        layers=(2, 3, 4, 6, 2, 2, 2, 2),
    ),
    teacher_custom=dict(_delete_=True),
    head_in_channels=96,
    loss_pool_stride=4,
)

# SpUNet has no PTv3 encoder blocks: one learning rate for everything
param_dicts = None
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.04)
scheduler = dict(
    type="OneCycleLR", max_lr=0.002, pct_start=0.05, anneal_strategy="cos",
    div_factor=10.0, final_div_factor=1000.0,
)
