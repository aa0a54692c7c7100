"""DOS pretraining of PT-v3m2 on a mix of indoor datasets: scannet-pretrain.py (colour +
normal + coord, grid 0.02 m, 0.4 m patches, ratio 0.7) over ScanNet v2 + ScanNet++ + S3DIS,
concatenated as Sonata's pretraining config does (ConcatDataset). ScanNet200 is ScanNet's
scenes, so it adds nothing here.

Unlike Sonata's mix, the scenes the probes evaluate on stay out: ScanNet train only (not
val / test), ScanNet++ train chunks, S3DIS Areas 1-4 and 6 (Area 5 is S3DIS's test area).
Every dataset must provide coord, color and normal: preprocess S3DIS with --parse_normal
(configs/dos/README.md lists the commands). About 1201 + ~3.5k chunks + 204 rooms per epoch;
100 epochs at batch 24 (2 GPUs of 80 GB) are about 20k iterations (our choice).

    sh tools/train.sh -g 2 -d scannet -c configs/dos/indoor-multidataset-pretrain.py -n dos-ptv3-indoor
"""

from pointcept_dos.integration.config_presets import multiview_transform as __multiview_transform

_base_ = ["scannet-pretrain.py"]

epoch = 100
eval_epoch = 100

__transform = __multiview_transform(grid_size=0.02, feat_keys=("coord", "color", "normal"))

data = dict(
    train=dict(
        _delete_=True,
        type="ConcatDataset",
        datasets=[
            dict(
                type="ScanNetDataset",
                split="train",
                data_root="data/scannet",
                transform=__transform,
                test_mode=False,
                loop=1,
            ),
            dict(
                type="ScanNetPPDataset",
                split="train_grid1mm_chunk6x6_stride3x3",
                data_root="data/scannetpp",
                transform=__transform,
                test_mode=False,
                loop=1,
            ),
            dict(
                type="S3DISDataset",
                split=["Area_1", "Area_2", "Area_3", "Area_4", "Area_6"],
                data_root="data/s3dis",
                transform=__transform,
                test_mode=False,
                loop=1,
            ),
        ],
    )
)
