"""Full fine-tuning of a DOS-pretrained PTv3 on ScanNet v2, through Pointcept's own Sonata
fine-tune config (the encoder starts from `student.backbone`; decoder and head are new).

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-ft.py -n dos-ft \
        -w exp/scannet/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config

_base_ = [__pointcept_config("sonata/semseg-sonata-v1m1-0c-scannet-ft.py")]
