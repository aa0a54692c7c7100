"""DOS pretraining of PT-v3m2 on nuScenes for 3D object detection, with the inputs of the LiDAR
detectors it is for (CenterPoint-style: 10 stacked sweeps, 5 channels, 0.075 m voxels):
nuscenes-pretrain.py with

- input: each keyframe stacked with its 9 previous sweeps (moved into the keyframe's LiDAR
  frame, sweep points within 1 m of the sensor dropped), 5 channels in the detectors' order
  x, y, z, intensity, time: coord + strength (intensity / 255, as Pointcept) + time (seconds
  before the keyframe, 0 for keyframe points); points outside CenterPoint's nuScenes range
  (-54, -54, -5) - (54, 54, 3) m dropped, as detectors do;
- voxels of 0.075 m, CenterPoint's (and TransFusion-L's) nuScenes voxel side in x-y, isotropic
  because PT-v3 serialises a cubic grid; the DOS loss runs 4x coarser (0.3 m), so the match
  radius is 1.2 m (4 loss voxels);
- the paper's detection mask ratio, 0.6 instead of 0.7 (patches stay 1.0 m).

Pointcept v1.7 cannot supply the sweeps: its NuScenesDataset reads only the keyframe, although
its info files (preprocess_nuscenes_info.py --max_sweeps 10, as configs/dos/README.md) list
the sweeps. The adapter is `pointcept_dos.integration.nuscenes_sweeps.NuScenesSweepsDataset`
(imported below, which registers it), reading the same data/nuscenes layout. Each view keeps
at most 65536 voxels (a crop around a random centre) of the about 10x denser stacked sweeps.

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain-det.py -n dos-ptv3-det

Pointcept has no detection heads, so the pretrained encoder leaves Pointcept as a plain state
dict, written by tools/export_backbone.py:

    python tools/export_backbone.py exp/nuscenes/dos-ptv3-det/model/model_last.pth \
        -o dos-ptv3-nuscenes-det-backbone.pth --config exp/nuscenes/dos-ptv3-det/config.py

It saves dict(state_dict=..., backbone_cfg=..., branch="student", ...): `state_dict` holds the
student's backbone only (no teacher, prototype head or optimizer state), keyed exactly like a
PT-v3m2 module (`embedding.*`, `enc.enc0.block0.*`, ...); `backbone_cfg` is this config's
backbone dict (in_channels=5; `--branch teacher` exports the EMA teacher instead). In a
detection codebase (OpenPCDet, MMDetection3D, ...):

1. feed the detector these inputs: 10 sweeps, features x, y, z, intensity / 255, time lag in
   seconds (OpenPCDet / MMDetection3D keep intensity in 0-255: divide it), voxels of 0.075 m;
2. build the same encoder, Pointcept's PointTransformerV3 (PT-v3m2) from `backbone_cfg`
   (enable_flash as the machine allows), wrapped as that codebase's 3D backbone (voxel features
   in, a sparse feature map or BEV projection out);
3. `missing, unexpected = encoder.load_state_dict(ckpt["state_dict"], strict=False)`:
   `unexpected` must be empty, `missing` only holds layers the detector adds (the encoder's
   own are all in the export; tests/test_benchmark_configs.py checks this round trip). A
   4-channel export (nuscenes-pretrain.py) raises a size mismatch at
   `embedding.stem.linear.weight` here;
4. fine-tune with the detection head, typically with a lower learning rate on the encoder.
"""

from pointcept_dos.integration.config_presets import outdoor_multiview_transform as __outdoor_multiview_transform
from pointcept_dos.integration.nuscenes_sweeps import registered_dataset as __registered_dataset

_base_ = ["nuscenes-pretrain.py"]

model = dict(
    backbone=dict(in_channels=5),  # coord + strength + time: x, y, z, intensity, time
    mask_ratio=0.6,  # the paper's detection setting
    match_radius=1.2,  # metres: 4 loss-resolution voxels of 0.3 m (0.075 m x 4)
)

data = dict(
    train=dict(
        _delete_=True,
        type=__registered_dataset("NuScenesSweepsDataset"),
        split="train",
        data_root="data/nuscenes",
        sweeps=10,  # the keyframe and its 9 previous sweeps
        ego_radius=1.0,  # metres: sweep points this close to the sensor are the ego vehicle's
        point_cloud_range=(-54.0, -54.0, -5.0, 54.0, 54.0, 3.0),  # CenterPoint's nuScenes range
        transform=__outdoor_multiview_transform(grid_size=0.075, feat_keys=("coord", "strength", "time")),
        test_mode=False,
        ignore_index=-1,
        loop=1,
    )
)
