"""DOS pretraining of SparseUNet (SpUNet-v1m1) on ScanNet v2: scannet-pretrain.py with the
backbone swapped by registry name. SpUNet answers at the input voxels (0.02 m); DOS pools its
features 4x (0.08 m) for the loss, the same loss resolution as the PTv3 config. Input features
are colour + normal (6 channels), as Pointcept's SpUNet fine-tune config expects.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-pretrain-spunet.py -n dos-spunet
"""

from pointcept_dos.config_presets import multiview_transform as __multiview_transform

_base_ = ["scannet-pretrain.py"]

model = dict(
    backbone=dict(
        _delete_=True,
        type="SpUNet-v1m1",
        in_channels=6,
        num_classes=0,  # no classifier: the backbone returns [N, 96] features
        channels=(32, 64, 128, 256, 256, 128, 96, 96),
        layers=(2, 3, 4, 6, 2, 2, 2, 2),
    ),
    teacher_custom=dict(_delete_=True),
    head_in_channels=96,
    loss_pool_stride=4,
)

data = dict(train=dict(transform=__multiview_transform(grid_size=0.02, feat_keys=("color", "normal"))))

# SpUNet has no PTv3 encoder blocks: one learning rate for everything
param_dicts = None
optimizer = dict(type="AdamW", lr=0.002, weight_decay=0.04)
scheduler = dict(
    type="OneCycleLR", max_lr=0.002, pct_start=0.05, anneal_strategy="cos",
    div_factor=10.0, final_div_factor=1000.0,
)
