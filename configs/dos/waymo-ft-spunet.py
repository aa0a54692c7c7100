"""Fine-tuning of a DOS-pretrained SparseUNet on Waymo, through Pointcept's own SpUNet
config (configs/waymo/semseg-spunet-v1m1-0-base.py). Only the hooks change: the checkpoint
loader maps DOS's `student.backbone` onto the segmentor's `backbone` (in_channels=4: coord +
strength, as waymo-pretrain-spunet.py); the classifier (`backbone.final`) is new.

    sh tools/train.sh -g 2 -d waymo -c configs/dos/waymo-ft-spunet.py -n dos-spunet-ft \
        -w exp/waymo/dos-spunet/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks

_base_ = [__pointcept_config("waymo/semseg-spunet-v1m1-0-base.py")]

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# CheckpointLoader: student.backbone -> backbone; a copy every 10 of its 50 trainer epochs
hooks = __finetune_hooks(save_freq=10)
