"""Fine-tuning of a DOS-pretrained SparseUNet on ScanNet v2, through Pointcept's own SpUNet
config. Only the hooks change: the checkpoint loader maps DOS's `student.backbone` onto the
segmentor's `backbone`; the classifier (`backbone.final`) is new.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-ft-spunet.py -n dos-spunet-ft \
        -w exp/scannet/dos-spunet/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks

_base_ = [__pointcept_config("scannet/semseg-spunet-v1m1-0-base.py")]

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# CheckpointLoader: student.backbone -> backbone; a copy every 25 of 100 trainer epochs
hooks = __finetune_hooks(save_freq=25)
