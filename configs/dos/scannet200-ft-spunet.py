"""Fine-tuning of a DOS-pretrained SparseUNet on ScanNet200, through Pointcept's own SpUNet
config (configs/scannet200/semseg-spunet-v1m1-0-base.py). Only the hooks change: the checkpoint
loader maps DOS's `student.backbone` onto the segmentor's `backbone`; the classifier
(`backbone.final`, 96 -> 200) is new. Its input is coord + colour + normal (9 channels):
pretrain with scannet200-pretrain-spunet.py, not the ScanNet SpUNet config.

    sh tools/train.sh -g 2 -d scannet200 -c configs/dos/scannet200-ft-spunet.py -n dos-spunet-ft \
        -w exp/scannet200/dos-spunet/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks

_base_ = [__pointcept_config("scannet200/semseg-spunet-v1m1-0-base.py")]

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# CheckpointLoader: student.backbone -> backbone; a copy every 25 of 100 trainer epochs
hooks = __finetune_hooks(save_freq=25)
