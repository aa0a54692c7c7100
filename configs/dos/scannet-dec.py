"""Decoder probe of a DOS-pretrained PTv3 on ScanNet v2 (frozen encoder, new decoder and
head), through Pointcept's own Sonata decoder-probe config.

    sh tools/train.sh -g 2 -d scannet -c configs/dos/scannet-dec.py -n dos-dec \
        -w exp/scannet/dos-ptv3/model/model_last.pth
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config

_base_ = [__pointcept_config("sonata/semseg-sonata-v1m1-0b-scannet-dec.py")]
