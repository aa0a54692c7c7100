"""DOS pretraining of PT-v3m2 on nuScenes for 3D object detection: nuscenes-pretrain.py with
the paper's detection mask ratio, 0.6 instead of 0.7 (patches stay 1.0 m).

    sh tools/train.sh -g 2 -d nuscenes -c configs/dos/nuscenes-pretrain-det.py -n dos-ptv3-det

Pointcept has no detection heads, so the pretrained encoder leaves Pointcept as a plain state
dict, written by tools/export_backbone.py:

    python tools/export_backbone.py exp/nuscenes/dos-ptv3-det/model/model_last.pth \
        -o dos-ptv3-nuscenes-det-backbone.pth --config exp/nuscenes/dos-ptv3-det/config.py

It saves dict(state_dict=..., backbone_cfg=..., branch="student", ...): `state_dict` holds the
student's backbone only (no teacher, prototype head or optimizer state), keyed exactly like a
PT-v3m2 module (`embedding.*`, `enc.enc0.block0.*`, ...); `backbone_cfg` is this config's
backbone dict (`--branch teacher` exports the EMA teacher instead). In a detection codebase
(OpenPCDet, MMDetection3D, ...):

1. build the same encoder, Pointcept's PointTransformerV3 (PT-v3m2) from `backbone_cfg`
   (in_channels=4: coord + strength scaled to [0, 1], grid 0.05 m; enable_flash as the
   machine allows), wrapped as that codebase's 3D backbone (voxel features in, a sparse
   feature map or BEV projection out);
2. `missing, unexpected = encoder.load_state_dict(ckpt["state_dict"], strict=False)`:
   `unexpected` must be empty, `missing` only holds layers the detector adds;
3. fine-tune with the detection head, typically with a lower learning rate on the encoder.
"""

_base_ = ["nuscenes-pretrain.py"]

model = dict(mask_ratio=0.6)
