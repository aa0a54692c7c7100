"""DOS pretraining of SparseUNet (SpUNet-v1m1) on ScanNet v2: scannet-pretrain.py with the
backbone swapped by registry name. SpUNet answers at the input voxels (0.02 m); DOS pools its
features 4x (0.08 m) for the loss, the same loss resolution as the PTv3 config. Input features
are colour + normal (6 channels), as Pointcept's SpUNet fine-tune config expects.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-pretrain-spunet.py -n dos-spunet
"""

from pointcept_dos.integration.config_presets import multiview_transform as __multiview_transform
from pointcept_dos.integration.config_presets import spunet_pretrain_model as __spunet_pretrain_model

_base_ = ["scannet-pretrain.py"]

model = __spunet_pretrain_model(in_channels=6)  # colour + normal

data = dict(train=dict(transform=__multiview_transform(grid_size=0.02, feat_keys=("color", "normal"))))

# SpUNet has no PTv3 encoder blocks: one group, at scannet-pretrain.py's base_lr (Sonata's rate
# scaled linearly to batch 24; not tuned for SpUNet)
param_dicts = None
scheduler = dict(max_lr=0.004 * 24 / 96)
