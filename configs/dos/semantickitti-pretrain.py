"""DOS pretraining of PT-v3m2 on SemanticKITTI scans (segmentation setting):
nuscenes-pretrain.py (coord + strength, grid 0.05 m, 1.0 m patches, ratio 0.7) on the training
sequences (00-07, 09, 10), clipped to Pointcept's SemanticKITTI range (+-35.2 m). 19130 scans:
30 epochs at batch 16 are about 36k iterations (our choice; the paper does not state it).

    sh tools/train.sh -g 2 -d semantic_kitti -c configs/dos/semantickitti-pretrain.py -n dos-ptv3
"""

from pointcept_dos.integration.config_presets import SEMANTIC_KITTI_POINT_CLOUD_RANGE as __RANGE
from pointcept_dos.integration.config_presets import outdoor_multiview_transform as __outdoor_multiview_transform

_base_ = ["nuscenes-pretrain.py"]

epoch = 30
eval_epoch = 30

data = dict(
    train=dict(
        _delete_=True,
        type="SemanticKITTIDataset",
        split="train",
        data_root="data/semantic_kitti",
        transform=__outdoor_multiview_transform(grid_size=0.05, point_cloud_range=__RANGE),
        test_mode=False,
        ignore_index=-1,
        loop=1,
    )
)
