"""DOS pretraining of Point Transformer V3 (PT-v3m2) on nuScenes LiDAR keyframes, one sweep each
as Pointcept's NuScenesDataset reads them (segmentation setting). The reference outdoor config: waymo-, semantickitti- and outdoor-multidataset-pretrain
inherit it and change only the data.

Outdoor settings of the paper: LiDAR features coord + strength (in_channels=4, no colour or
normal), Pointcept's outdoor grid 0.05 m (the loss runs 4x coarser, 0.2 m, after the two-level
up-cast), 1.0 m mask patches, mask ratio 0.7 (0.6 for detection: nuscenes-pretrain-det.py).
The encoder is Sonata's base PT-v3m2 (pointcept_dos.integration.config_presets.LIDAR_PTV3M2), the one the
nuscenes-lin / -dec / -ft configs build, so the checkpoint loads there with only heads new.
The schedule (epochs) is our choice, sized to about 35k iterations; the paper does not state it.
Sized for 2 GPUs of 80 GB (batch 8 per GPU); see configs/dos/README.md to halve it. The DOS
model, optimizer and hooks are in _base_/pretrain-dos-ptv3.py, shared with scannet-pretrain.py;
this file sets the nuScenes parts, the learning rate for its batch size included.

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain.py -n dos-ptv3
"""

from pointcept_dos.integration.config_presets import LIDAR_PTV3M2 as __LIDAR_PTV3M2
from pointcept_dos.integration.config_presets import layerwise_lr_groups as __layerwise_lr_groups
from pointcept_dos.integration.config_presets import outdoor_multiview_transform as __outdoor_multiview_transform
from pointcept_dos.integration.config_presets import pretrain_hooks as __pretrain_hooks

_base_ = ["_base_/pretrain-dos-ptv3.py"]

# misc custom setting
batch_size = 16  # total over all GPUs
num_worker = 16

# model settings: LiDAR input and mask patches
model = dict(
    backbone=dict(in_channels=__LIDAR_PTV3M2["in_channels"]),  # coord + strength: 4
    mask_size=1.0,  # metres: outdoor patches
    match_radius=0.8,  # 4 loss-resolution voxels of 0.2 m (indoor: 4 x 0.08 = 0.32)
)

# scheduler settings
epoch = 20  # nuScenes train: 28130 sweeps, 1758 iterations per epoch at batch 16
eval_epoch = 20  # pretraining has no evaluation; one data loop per trainer epoch
# Sonata's rate, 0.004 at a total batch of 96, scaled linearly to this batch: 0.000667
base_lr = 0.004 * batch_size / 96
# layer-wise decay over the 24 encoder blocks, as Sonata (see scannet-pretrain.py)
param_dicts, __max_lr = __layerwise_lr_groups(base_lr, lr_decay=0.9)
optimizer = dict(lr=base_lr)
scheduler = dict(max_lr=__max_lr)

# dataset settings: two global views per sweep, coord + strength features
data = dict(
    train=dict(
        type="NuScenesDataset",
        split="train",
        data_root="data/nuscenes",
        transform=__outdoor_multiview_transform(grid_size=0.05),
        test_mode=False,
        ignore_index=-1,
        loop=1,
    )
)

# the base's hooks (weight decay 0.04 -> 0.2), a checkpoint every 5 of the 20 trainer epochs
hooks = __pretrain_hooks(base_wd=0.04, final_wd=0.2, save_freq=5)
# no online probe: OnlineProbeHook reads indoor layouts (coord, color, normal); a LiDAR probe
# is Pointcept's own linear-probe config (configs/dos/*-lin.py)
