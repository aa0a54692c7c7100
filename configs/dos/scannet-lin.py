"""Linear probe of a DOS-pretrained PTv3 on ScanNet v2 (20 classes), through Pointcept's own
Sonata linear-probe config (model, data, schedule), with wandb off and epoch checkpoints kept:
its CheckpointLoader maps `student.backbone` (where DOS keeps the student, as Sonata) to the
segmentor's `backbone`, so only the linear head is new.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-lin.py -n dos-lin \
        -w exp/scannet/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks

_base_ = [__pointcept_config("sonata/semseg-sonata-v1m1-0a-scannet-lin.py")]

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# Sonata's hooks, and a checkpoint copy every 25 of its 100 trainer epochs
hooks = __finetune_hooks(save_freq=25)
