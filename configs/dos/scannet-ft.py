"""Full fine-tuning of a DOS-pretrained PTv3 on ScanNet v2, through Pointcept's own Sonata
fine-tune config, with wandb off and epoch checkpoints kept (the encoder starts from
`student.backbone`; decoder and head are new).

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-ft.py -n dos-ft \
        -w exp/scannet/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config
from pointcept_dos.integration.config_presets import finetune_hooks as __finetune_hooks

_base_ = [__pointcept_config("sonata/semseg-sonata-v1m1-0c-scannet-ft.py")]

enable_wandb = False  # Pointcept's runtime: True, and a run without a wandb login fails

# Sonata's hooks, and a checkpoint copy every 25 of its 100 trainer epochs
hooks = __finetune_hooks(save_freq=25)
