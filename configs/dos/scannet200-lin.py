"""Linear probe of a DOS-pretrained PTv3 on ScanNet200 (200 classes), through Pointcept's own
Sonata config (configs/sonata/semseg-sonata-v1m1-1a-scannet200-lin.py; wandb off, epoch checkpoints kept): its
CheckpointLoader maps `student.backbone` to the segmentor's `backbone`; only the linear head
(1232 -> 200) is new. ScanNet200 is ScanNet v2's scenes with finer labels, so the ScanNet
pretraining checkpoint (scannet-pretrain.py, or scannet200-pretrain.py: the same) is the one to
load.

    sh tools/train.sh -g 2 -d scannet200 -c configs/dos/scannet200-lin.py -n dos-lin \
        -w exp/scannet/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks

_base_ = [__pointcept_config("sonata/semseg-sonata-v1m1-1a-scannet200-lin.py")]

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# Sonata's hooks, and a checkpoint copy every 25 of its 100 trainer epochs
hooks = __finetune_hooks(save_freq=25)
