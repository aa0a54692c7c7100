"""Everything that touches Pointcept: registration, the hook, the model adapter, CPU mode and
the config helpers. Importing this package does nothing; import what you need:

- `registration`: registers MODELS "DOS-v1m1" and "DOS-SpUNet-lite", LOSSES
  "SoftmapDistillationLoss", HOOKS "ZipfSinkhornHook" (imports Pointcept);
- `cpu_mode`: Pointcept's trainer on a machine without CUDA (import before Pointcept);
- `config_paths`, `config_presets`: used by configs/dos (import nothing of Pointcept).
"""
