"""Everything that touches Pointcept: registration, the hook, the model adapter, CPU mode and
the config helpers. Importing this package does nothing; import what you need:

- `registration`: registers MODELS "DOS-v1m1" and "DOS-SpUNet-lite", LOSSES
  "SoftmapDistillationLoss", HOOKS "ZipfSinkhornHook" (imports Pointcept);
- `cpu_mode`: Pointcept's trainer on a machine without CUDA (import before Pointcept);
- `config_paths`, `config_presets`: used by configs/dos (import nothing of Pointcept);
- `nuscenes_sweeps`: DATASETS "NuScenesSweepsDataset", nuScenes keyframes with their sweeps and
  a time channel (imports Pointcept; nuscenes-pretrain-det.py imports it);
- `flash_attention`: the launch check for a GPU machine without flash-attn (tools/_dos_entry.py).
"""
