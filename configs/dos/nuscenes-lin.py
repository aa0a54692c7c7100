"""Linear probe of a DOS-pretrained PTv3 on nuScenes semantic segmentation (16 classes).

Built on Pointcept's PTv3 nuScenes semseg config (configs/nuscenes/semseg-pt-v3m1-0-base.py:
its data, augmentation, schedule and evaluation, unchanged; Pointcept has no Sonata probe
config for outdoor data), with the model replaced by Sonata's linear-probe layout over the
frozen encoder of nuscenes-pretrain.py (pointcept_dos.integration.config_presets.lidar_linear_probe). The
CheckpointLoader maps `student.backbone` to `backbone`, so only `seg_head` is new.

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-lin.py -n dos-lin \
        -w exp/nuscenes/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks
from pointcept_dos.integration.config_presets import lidar_linear_probe as __lidar_linear_probe

_base_ = [__pointcept_config("nuscenes/semseg-pt-v3m1-0-base.py")]

# Sonata's linear-probe layout on the outdoor PT-v3m2 encoder (in_channels=4: coord + strength),
# frozen, every level up-cast (1232 channels), and one linear layer
model = dict(_delete_=True, **__lidar_linear_probe(num_classes=16))

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# CheckpointLoader: student.backbone -> backbone; a copy every 10 of its 50 trainer epochs
hooks = __finetune_hooks(save_freq=10)
