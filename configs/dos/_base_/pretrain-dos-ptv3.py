"""Base of the DOS pretrain configs (not run on its own): DOS-v1m1 over PT-v3m2 (Sonata's
base encoder), the paper's DOS settings, AdamW + OneCycleLR, cosine weight decay 0.04 -> 0.2,
and the pretraining hooks (a checkpoint every 10 trainer epochs).

A dataset config (scannet-pretrain.py, nuscenes-pretrain.py) inherits it and sets what depends
on the data: batch size and workers, the learning rate (it scales with the batch size: base_lr,
the layer-wise groups `param_dicts` and OneCycleLR's `max_lr`), `model.backbone.in_channels`,
`model.mask_size`, `model.match_radius`, the epochs and `data`.
"""

from pointcept_dos.integration.config_paths import pointcept_config as __pointcept_config

# Registers DOS-v1m1, ZipfSinkhornHook and SoftmapDistillationLoss in Pointcept's registries,
# so that Pointcept's own tools/train.py runs these configs too (registered_type: see there)
from pointcept_dos.integration.registration import registered_type as __registered_type
from pointcept_dos.integration.config_presets import ptv3m2 as __ptv3m2
from pointcept_dos.integration.config_presets import pretrain_hooks as __pretrain_hooks

_base_ = [__pointcept_config("_base_/default_runtime.py")]

# misc custom setting
mix_prob = 0
clip_grad = 3.0
empty_cache = False
enable_amp = True
amp_dtype = "bfloat16"
evaluate = False
find_unused_parameters = False
enable_wandb = False

# model settings
model = dict(
    type=__registered_type("DOS-v1m1"),
    # PT-v3m2 base encoder, traceable; in_channels: set by the dataset config
    backbone=__ptv3m2("pretrain", in_channels=None),
    teacher_custom=dict(attn_drop=0.0, proj_drop=0.0, drop_path=0.0),
    head_in_channels=1088,  # 512 + 384 + 192: the encoder up-cast two levels
    head_hidden_channels=2048,
    head_embed_channels=256,
    num_prototypes=1024,
    mask_size=None,  # metres, set by the dataset config: 0.4 indoor, 1.0 outdoor
    mask_ratio=0.7,  # segmentation setting (detection: 0.6)
    # per-step values: a number (constant) or a schedule over the run (models/step_params.py)
    zipf_alpha=1.3,
    sinkhorn_iters=3,
    sinkhorn_scope="batch",
    teacher_temp=dict(start=0.04, end=0.07, warmup_ratio=0.05),  # linear warm-up, then end
    student_temp=0.1,
    momentum=dict(start=0.994, end=1.0),  # EMA momentum, cosine over the run
    same_view_weight=0.5,
    cross_view_weight=0.5,
    match_radius=None,  # metres, set by the dataset config: 4 loss-resolution voxels
    up_cast_level=2,
    loss_pool_stride=4,
)

# scheduler settings: the rates (optimizer.lr, scheduler.max_lr, param_dicts) are set by the
# dataset config, which knows the batch size
base_wd = 0.04
final_wd = 0.2
optimizer = dict(type="AdamW", lr=None, weight_decay=base_wd)
scheduler = dict(
    type="OneCycleLR",
    max_lr=None,
    pct_start=0.05,
    anneal_strategy="cos",
    div_factor=10.0,
    final_div_factor=1000.0,
)

# is the run learning? a linear probe of the teacher every 10 trainer epochs, fit on 4 train scenes
# of the config's own data and scored on 2 held-out ones (OnlineProbeHook; indoor layouts; the
# outdoor configs restate their hooks without it). Off: online_probe=None.
hooks = __pretrain_hooks(base_wd=base_wd, final_wd=final_wd, save_freq=10,
                         online_probe=dict(interval=10, train_scenes=4, val_scenes=2))
