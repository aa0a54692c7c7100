"""Linear probe of a DOS-pretrained PTv3 on SemanticKITTI semantic segmentation (19 classes):
nuscenes-lin.py's model and hooks on Pointcept's SemanticKITTI SpUNet semseg config
(configs/semantic_kitti/semseg-spunet-v1m1-0-base.py, taken for its data, augmentation and
evaluation, with its PointClip to +-35.2 m and, like Pointcept's PTv3 nuScenes / Waymo recipes,
no SphereCrop: Pointcept has no PTv3 config for it), with the probes' two learning rates and
the cross-entropy weighted per class as Pointcept's SemanticKITTI recipes. The frozen encoder
is semantickitti-pretrain.py's; only `seg_head` is new.

    sh tools/train.sh -g 2 -d semantic_kitti -c configs/dos/semantickitti-lin.py -n dos-lin \
        -w exp/semantic_kitti/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks
from pointcept_dos.integration.config_presets import lidar_linear_probe as __lidar_linear_probe

_base_ = [__pointcept_config("semantic_kitti/semseg-spunet-v1m1-0-base.py")]

# Sonata's linear-probe layout on the outdoor PT-v3m2 encoder (in_channels=4: coord + strength),
# frozen, every level up-cast (1232 channels), and one linear layer. The cross-entropy weights
# each class (in the order of data.names, car ... traffic-sign; rare classes count more) exactly
# as Pointcept's SemanticKITTI SpUNet / SPVCNN / MinkUNet / PTv2 recipes, plus Lovasz as its PTv2
# recipe. The dec / ft probes inherit both.
model = dict(
    _delete_=True,
    **__lidar_linear_probe(
        num_classes=19,
        class_weight=[
            3.1557, 8.7029, 7.8281, 6.1354, 6.3161, 7.9937, 8.9704, 10.1922, 1.6155, 4.2187,
            1.9385, 5.5455, 2.0198, 2.6261, 1.3212, 5.1102, 2.5492, 5.8585, 7.3929,
        ],
    ),
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

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# CheckpointLoader: student.backbone -> backbone; a copy every 10 of its 50 trainer epochs
hooks = __finetune_hooks(save_freq=10)
