"""Linear probe of a DOS-pretrained PTv3 on ScanNet v2 (20 classes), through Pointcept's own
Sonata linear-probe config, unchanged: its CheckpointLoader maps `student.backbone` (where DOS
keeps the student, as Sonata) to the segmentor's `backbone`, so only the linear head is new.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-lin.py -n dos-lin \
        -w exp/scannet/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config

_base_ = [__pointcept_config("sonata/semseg-sonata-v1m1-0a-scannet-lin.py")]
