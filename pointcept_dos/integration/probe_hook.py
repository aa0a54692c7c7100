"""OnlineProbeHook: is the run learning? A linear probe while pretraining runs.

Every `interval` trainer epochs, and after the last, the hook takes the teacher backbone (and,
if asked, the student's), extracts probe features (every level brought back to the points,
Sonata's linear-probe protocol) on a few labelled scenes, fits the demo's linear probe on
`train_scenes` of the train split and scores it on `val_scenes` of the held-out split, and
logs mIoU, head / common / tail IoU and per-class IoU (log line, TensorBoard `probe/`).

It never changes the run: it probes a copy in eval mode, its BatchNorm statistics re-estimated
on the probe's train scenes, with every random stream forked (`evaluation.linear_probe`), so
weights, losses and RNG streams are those of the run without it. Labels are read by this hook
alone. Under DDP rank 0 probes while the other processes wait at a barrier.

The scenes are read from a dataset in Pointcept's preprocessed indoor layout (ScanNet: train/
and val/; S3DIS: Area 5 held out): the config's own `data.train.data_root` unless `data_root`
names another. The backbone's inputs are the config's feat keys, among coord, color, normal.
"""

import time

import numpy as np
import torch.distributed as dist
from pointcept.engines.hooks.builder import HOOKS
from pointcept.engines.hooks.default import HookBase

from ..core.validation import check_positive_int, check_real
from ..data.model_input import INPUT_KEYS
from ..data.pointcept_layout import LAYOUTS, build_scene, detect_layout, list_scenes, scene_files
from ..evaluation.linear_probe import linear_probe

BRANCHES = ("teacher", "student")


def _data_root(cfg):
    """The config's training data root (the first dataset's, for a ConcatDataset)."""
    train = cfg.data.train
    if "data_root" in train:
        return train.data_root
    for dataset in train.get("datasets", []):
        if "data_root" in dataset:
            return dataset.data_root
    return None


def _feat_keys(cfg):
    """The backbone's input channels, as the config's Collect builds `global_feat`."""
    train = cfg.data.train
    for dataset in [train] + list(train.get("datasets", [])):
        for transform in dataset.get("transform", []):
            if transform.get("type") == "Collect" and "global_feat_keys" in transform:
                return tuple(k.removeprefix("global_") for k in transform["global_feat_keys"])
    return INPUT_KEYS


def _grid_size(cfg):
    """The pretraining grid (metres): the GridSample of the training transform."""
    train = cfg.data.train
    datasets = [train] + list(train.get("datasets", []))
    for dataset in datasets:
        for transform in dataset.get("transform", []):
            if transform.get("type") == "GridSample":
                return float(transform["grid_size"])
    return None


@HOOKS.register_module()
class OnlineProbeHook(HookBase):
    """Args:
        interval: trainer epochs between probes (and one after the last epoch).
        data_root: dataset to probe on (Pointcept's ScanNet or S3DIS layout); None: the
            config's `data.train.data_root`.
        train_scenes, val_scenes: scenes of the train / held-out split (the first, by name).
        max_points: points per scene at most (a fixed random subset).
        iters, max_train_points: L-BFGS iterations and training points of the linear probe.
        branches: which backbones to probe: "teacher" (the EMA, what DOS releases), "student".
        grid_size: metres; None: the config's GridSample grid.
        seed: the probe's subsampling and initialisation.
    """

    def __init__(self, interval=10, data_root=None, train_scenes=4, val_scenes=2, max_points=100_000,
                 iters=200, max_train_points=100_000, branches=("teacher",), grid_size=None, seed=0):
        for name, value in dict(interval=interval, train_scenes=train_scenes, val_scenes=val_scenes,
                                max_points=max_points, iters=iters,
                                max_train_points=max_train_points).items():
            check_positive_int(name, value)
        branches = (branches,) if isinstance(branches, str) else tuple(branches)
        unknown = [b for b in branches if b not in BRANCHES]
        if unknown or not branches:
            raise ValueError(f"branches must name some of {BRANCHES}, got {branches!r}")
        if grid_size is not None:
            check_real("grid_size", grid_size, low=0.0, low_open=True)
        self.interval, self.data_root, self.branches, self.seed = interval, data_root, branches, seed
        self.counts = dict(train=train_scenes, val=val_scenes)
        self.max_points, self.grid_size = max_points, grid_size
        self.options = dict(iters=iters, max_train_points=max_train_points)
        self.scenes = None

    def _rank0(self):
        return not dist.is_initialized() or dist.get_rank() == 0

    def before_train(self):
        cfg = self.trainer.cfg
        root = self.data_root or _data_root(cfg)
        if root is None:
            raise ValueError("OnlineProbeHook: the config has no data.train.data_root; set data_root")
        self.grid_size = self.grid_size or _grid_size(cfg)
        if self.grid_size is None:
            raise ValueError("OnlineProbeHook: the config's training transform has no GridSample; "
                             "set grid_size (metres)")
        model = getattr(self.trainer.model, "module", self.trainer.model)
        keys = _feat_keys(cfg)
        if not hasattr(model, "teacher") or any(k not in INPUT_KEYS for k in keys):
            raise TypeError(f"OnlineProbeHook probes a DOS model whose backbone takes indoor inputs "
                            f"(some of {INPUT_KEYS}); got {type(model).__name__} with feat keys {keys}")
        self.options["input_keys"] = keys
        self.layout = LAYOUTS[detect_layout(root)]
        if not self._rank0():
            return
        self.scenes = {}
        for split, count in self.counts.items():
            scenes = []
            for rel in list_scenes(root, self.layout, split)[:count]:
                files = scene_files(root, rel, self.layout, labels=True)
                arrays = {key: np.load(path, allow_pickle=False) for key, path in files.items()}
                scenes.append(build_scene(files, arrays, self.layout, labels=True,
                                          max_points=self.max_points, seed=self.seed))
            self.scenes[split] = scenes
        self.trainer.logger.info(
            f"Online probe: every {self.interval} epochs, {'/'.join(self.branches)} backbone, "
            f"linear probe fit on {len(self.scenes['train'])} scenes of {root} and scored on "
            f"{len(self.scenes['val'])} held-out scenes ({self.layout.name}, grid {self.grid_size} m)")

    def after_epoch(self):
        epoch = self.trainer.epoch + 1
        if epoch % self.interval and epoch != self.trainer.max_epoch:
            return
        if self._rank0():
            model = getattr(self.trainer.model, "module", self.trainer.model)
            for branch in self.branches:
                self._probe(getattr(model, branch)["backbone"], branch, epoch)
        if dist.is_initialized() and dist.get_world_size() > 1:
            dist.barrier()  # the others wait for rank 0's probe

    def _probe(self, backbone, branch, epoch):
        start = time.time()
        result = linear_probe(backbone, self.scenes["train"], self.scenes["val"], self.grid_size,
                              self.layout.class_names, seed=self.seed, **self.options)
        seconds = time.time() - start
        groups = result["groups"]
        per_class = ", ".join(f"{c} {100 * v:.1f}" for c, v in result["iou"].items() if v is not None)
        self.trainer.logger.info(
            f"Online probe @ epoch {epoch} ({branch}): mIoU {100 * result['miou']:.1f}, head "
            f"{100 * groups['head']:.1f}, common {100 * groups['common']:.1f}, tail "
            f"{100 * groups['tail']:.1f} ({seconds:.1f} s); per class: {per_class}")
        writer = self.trainer.writer
        if writer is not None:
            writer.add_scalar(f"probe/{branch}_mIoU", result["miou"], epoch)
            for name, value in groups.items():
                writer.add_scalar(f"probe/{branch}_{name}", value, epoch)
            for name, value in result["iou"].items():
                if value is not None:
                    writer.add_scalar(f"probe/{branch}_iou/{name}", value, epoch)
            writer.add_scalar(f"probe/{branch}_seconds", seconds, epoch)
