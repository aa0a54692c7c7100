"""DOS pretraining of PT-v3m2 on a mix of LiDAR datasets: nuscenes-pretrain.py (coord +
strength, grid 0.05 m, 1.0 m patches, ratio 0.7) over nuScenes + Waymo + SemanticKITTI
training sweeps, concatenated as Sonata's pretraining config does (ConcatDataset). The three
share the 4-channel input (strength is scaled to [0, 1] by each dataset class); each keeps the
point-cloud range of Pointcept's semseg config for it. The checkpoint serves every outdoor
probe / fine-tune config ({nuscenes,waymo,semantickitti}-{lin,dec,ft}.py).

About 28k + 158k + 19k sweeps per epoch; 3 epochs at batch 16 (2 GPUs of 80 GB) are about
38k iterations (our choice). Waymo dominates the mix; raise the others' `loop` to rebalance.

    sh tools/train.sh -g 2 -d outdoor -c configs/dos/outdoor-multidataset-pretrain.py -n dos-ptv3-outdoor
"""

from pointcept_dos.integration.config_presets import SEMANTIC_KITTI_POINT_CLOUD_RANGE as __KITTI_RANGE
from pointcept_dos.integration.config_presets import WAYMO_POINT_CLOUD_RANGE as __WAYMO_RANGE
from pointcept_dos.integration.config_presets import outdoor_multiview_transform as __outdoor_multiview_transform
from pointcept_dos.integration.config_presets import pretrain_hooks as __pretrain_hooks

_base_ = ["nuscenes-pretrain.py"]

epoch = 3
eval_epoch = 3
# the base's hooks (weight decay 0.04 -> 0.2), a checkpoint after each of the 3 trainer epochs
hooks = __pretrain_hooks(base_wd=0.04, final_wd=0.2, save_freq=1)
# no online probe: OnlineProbeHook reads indoor layouts (coord, color, normal); a LiDAR probe
# is Pointcept's own linear-probe config (configs/dos/*-lin.py)

data = dict(
    train=dict(
        _delete_=True,
        type="ConcatDataset",
        datasets=[
            dict(
                type="NuScenesDataset",
                split="train",
                data_root="data/nuscenes",
                transform=__outdoor_multiview_transform(grid_size=0.05),
                test_mode=False,
                ignore_index=-1,
                loop=1,
            ),
            dict(
                type="WaymoDataset",
                split="training",
                data_root="data/waymo",
                transform=__outdoor_multiview_transform(grid_size=0.05, point_cloud_range=__WAYMO_RANGE),
                test_mode=False,
                loop=1,
            ),
            dict(
                type="SemanticKITTIDataset",
                split="train",
                data_root="data/semantic_kitti",
                transform=__outdoor_multiview_transform(grid_size=0.05, point_cloud_range=__KITTI_RANGE),
                test_mode=False,
                ignore_index=-1,
                loop=1,
            ),
        ],
    )
)

