"""DOS pretraining of SparseUNet (SpUNet-v1m1) on nuScenes: nuscenes-pretrain.py with the
backbone swapped by registry name. SpUNet answers at the input voxels (0.05 m); DOS pools its
features 4x (0.2 m) for the loss, the PTv3 config's loss resolution. Input coord + strength
(4 channels), as Pointcept's nuScenes SpUNet config (nuscenes-ft-spunet.py) expects.

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain-spunet.py -n dos-spunet
"""

from pointcept_dos.integration.config_presets import spunet_pretrain_model as __spunet_pretrain_model

_base_ = ["nuscenes-pretrain.py"]

model = __spunet_pretrain_model(in_channels=4)  # coord + strength

# SpUNet has no PTv3 encoder blocks: one group, at nuscenes-pretrain.py's base_lr (Sonata's rate
# scaled linearly to batch 16; not tuned for SpUNet)
param_dicts = None
scheduler = dict(max_lr=0.004 * 16 / 96)
