"""DOS pretraining of PT-v3m2 on nuScenes for 3D object detection: nuscenes-pretrain.py with
the paper's detection mask ratio, 0.6 instead of 0.7 (patches stay 1.0 m).

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain-det.py -n dos-ptv3-det

Pointcept has no detection heads, so the pretrained encoder leaves Pointcept as a plain state
dict. tools/export_backbone.py reads the pretrain checkpoint (exp/nuscenes/dos-ptv3-det/model/
model_last.pth) and writes a backbone-only state dict: the student's backbone weights with the
`student.backbone.` prefix stripped, keyed exactly like a PT-v3m2 module (`embedding.*`,
`enc.enc0.block0.*`, ...); no teacher, prototype head or optimizer state. See
`python tools/export_backbone.py --help` for its arguments. In a detection codebase
(OpenPCDet, MMDetection3D, ...):

1. build the same encoder: Pointcept's PointTransformerV3 (PT-v3m2) with the arguments of
   pointcept_dos.config_presets.lidar_ptv3m2("ft") or ("lin") (in_channels=4: coord + strength
   scaled to [0, 1], grid 0.05 m), wrapped as that codebase's 3D backbone (voxel features in,
   a sparse feature map / BEV projection out);
2. `missing, unexpected = encoder.load_state_dict(torch.load(path, map_location="cpu"),
   strict=False)`: `unexpected` must be empty; `missing` holds only the new decoder, if any;
3. fine-tune with the detection head, typically at 0.1x learning rate on the encoder.
"""

_base_ = ["nuscenes-pretrain.py"]

model = dict(mask_ratio=0.6)
