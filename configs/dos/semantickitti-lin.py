"""Linear probe of a DOS-pretrained PTv3 on SemanticKITTI semantic segmentation (19 classes):
nuscenes-lin.py's model and hooks on Pointcept's SemanticKITTI SpUNet semseg config
(configs/semantic_kitti/semseg-spunet-v1m1-0-base.py, taken for its data, augmentation and
evaluation: Pointcept has no PTv3 config for it), with the probes' two learning rates. The
frozen encoder is semantickitti-pretrain.py's; only `seg_head` is new.

    sh tools/train.sh -g 2 -d semantic_kitti -c configs/dos/semantickitti-lin.py -n dos-lin \
        -w exp/semantic_kitti/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks
from pointcept_dos.integration.config_presets import lidar_linear_probe as __lidar_linear_probe

_base_ = [__pointcept_config("semantic_kitti/semseg-spunet-v1m1-0-base.py")]

# Sonata's linear-probe layout on the outdoor PT-v3m2 encoder (in_channels=4: coord + strength),
# frozen, every level up-cast (1232 channels), and one linear layer
model = dict(_delete_=True, **__lidar_linear_probe(num_classes=19))

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

hooks = __finetune_hooks()  # CheckpointLoader: student.backbone -> backbone
