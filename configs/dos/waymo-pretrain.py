"""DOS pretraining of PT-v3m2 on Waymo Open Dataset LiDAR frames (segmentation setting):
nuscenes-pretrain.py (coord + strength, grid 0.05 m, 1.0 m patches, ratio 0.7) on Waymo's
training frames, clipped to Pointcept's Waymo range (+-75.2 m). About 158k frames: 4 epochs
at batch 16 are about 40k iterations (our choice; the paper does not state the schedule).

    sh tools/train.sh -g 2 -d waymo -c configs/dos/waymo-pretrain.py -n dos-ptv3
"""

from pointcept_dos.integration.config_presets import WAYMO_POINT_CLOUD_RANGE as __RANGE
from pointcept_dos.integration.config_presets import outdoor_multiview_transform as __outdoor_multiview_transform
from pointcept_dos.integration.config_presets import pretrain_hooks as __pretrain_hooks

_base_ = ["nuscenes-pretrain.py"]

epoch = 4
eval_epoch = 4
# the base's hooks (weight decay 0.04 -> 0.2), a checkpoint after each of the 4 trainer epochs
hooks = __pretrain_hooks(base_wd=0.04, final_wd=0.2, save_freq=1)
# no online probe: OnlineProbeHook reads indoor layouts (coord, color, normal); a LiDAR probe
# is Pointcept's own linear-probe config (configs/dos/*-lin.py)

data = dict(
    train=dict(
        _delete_=True,
        type="WaymoDataset",
        split="training",
        data_root="data/waymo",
        transform=__outdoor_multiview_transform(grid_size=0.05, point_cloud_range=__RANGE),
        test_mode=False,
        loop=1,
    )
)

