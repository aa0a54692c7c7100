"""DOS pretraining of SparseUNet (SpUNet-v1m1) on Waymo: waymo-pretrain.py with the backbone
swapped, as nuscenes-pretrain-spunet.py (coord + strength in, [N, 96] features out, loss pooled
4x to 0.2 m). Fine-tune with waymo-ft-spunet.py.

    sh tools/train.sh -g 2 -d waymo -c configs/dos/waymo-pretrain-spunet.py -n dos-spunet
"""

from pointcept_dos.integration.config_presets import spunet_pretrain_model as __spunet_pretrain_model

_base_ = ["waymo-pretrain.py"]

model = __spunet_pretrain_model(in_channels=4)  # coord + strength

# SpUNet has no PTv3 encoder blocks: one group, at nuscenes-pretrain.py's base_lr (Sonata's rate
# scaled linearly to batch 16; not tuned for SpUNet)
param_dicts = None
scheduler = dict(max_lr=0.004 * 16 / 96)
