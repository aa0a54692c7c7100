"""Linear probe of a DOS-pretrained PTv3 on Waymo semantic segmentation (22 classes):
nuscenes-lin.py's model and hooks on Pointcept's PTv3 Waymo semseg config
(configs/waymo/semseg-pt-v3m1-0-base.py: data, augmentation, schedule and evaluation
unchanged). The frozen encoder is waymo-pretrain.py's; only `seg_head` is new.

    sh tools/train.sh -g 2 -d waymo -c configs/dos/waymo-lin.py -n dos-lin \
        -w exp/waymo/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks
from pointcept_dos.integration.config_presets import lidar_linear_probe as __lidar_linear_probe

_base_ = [__pointcept_config("waymo/semseg-pt-v3m1-0-base.py")]

# Sonata's linear-probe layout on the outdoor PT-v3m2 encoder (in_channels=4: coord + strength),
# frozen, every level up-cast (1232 channels), and one linear layer
model = dict(_delete_=True, **__lidar_linear_probe(num_classes=22))

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# CheckpointLoader: student.backbone -> backbone; a copy every 10 of its 50 trainer epochs
hooks = __finetune_hooks(save_freq=10)
