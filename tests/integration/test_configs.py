"""configs/dos without Pointcept: every config is valid Python, the DOS settings of every
pretrain config, resolved through its `_base_` chain, are in the method's ranges, and every
config turns wandb off, keeps epoch checkpoints and states its learning rate's reasoning.

Configs are evaluated as Pointcept's Config would (top-level names, dunder names dropped,
`_base_` merged with `_delete_`), but with stubs for `pointcept_dos.integration.config_paths`,
`.registration` and `.nuscenes_sweeps` (the last two import Pointcept).
`pointcept_dos.integration.config_presets` is plain Python and is loaded from its file, so
neither torch nor Pointcept is imported. Bases in the Pointcept checkout are recorded, not read;
with POINTCEPT_ROOT set, the tests marked `with_pointcept_configs` read them too (as plain
Python: Pointcept's config files import nothing) and compare with Pointcept's own recipes.
"""

import ast
import builtins
import copy
import importlib.util
import os
import re
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs" / "dos"
ALL_CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
BASE_CONFIGS = sorted((CONFIG_DIR / "_base_").glob("*.py"))  # inherited, not run on their own
PRETRAIN_CONFIGS = [p for p in ALL_CONFIGS if "pretrain" in p.name]
OUTDOOR_PREFIXES = ("nuscenes", "waymo", "semantickitti", "outdoor")
POINTCEPT_BASE = "<pointcept>/"
_ROOT = os.environ.get("POINTCEPT_ROOT", "")
POINTCEPT_CONFIGS = Path(_ROOT) / "configs" if _ROOT and (Path(_ROOT) / "configs" / "_base_").is_dir() else None
with_pointcept_configs = pytest.mark.skipif(
    POINTCEPT_CONFIGS is None,
    reason="POINTCEPT_ROOT is not set to a Pointcept checkout (compares with Pointcept's own configs)",
)

BENCHMARKS = ("scannet", "scannet200", "nuscenes", "waymo", "semantickitti")


def _load_presets():
    spec = importlib.util.spec_from_file_location(
        "_dos_config_presets", REPO_ROOT / "pointcept_dos" / "integration" / "config_presets.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PRESETS = _load_presets()
_CONFIG_PATHS_STUB = types.SimpleNamespace(pointcept_config=lambda rel: POINTCEPT_BASE + rel)
_REGISTRATION_STUB = types.SimpleNamespace(registered_type=str)
_NUSCENES_SWEEPS_STUB = types.SimpleNamespace(registered_dataset=str)


def _pointcept_module(name):
    """A module of the Pointcept checkout that a Pointcept config imports (class-name constants),
    loaded from its file alone: Pointcept's package __init__ files import torch and more."""
    path = POINTCEPT_CONFIGS.parent.joinpath(*name.split(".")).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"_pointcept_config_import_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "pointcept_dos.integration.config_paths":
        return _CONFIG_PATHS_STUB
    if name == "pointcept_dos.integration.config_presets":
        return _PRESETS
    if name == "pointcept_dos.integration.registration":
        return _REGISTRATION_STUB
    if name == "pointcept_dos.integration.nuscenes_sweeps":
        return _NUSCENES_SWEEPS_STUB
    if name.startswith("pointcept.") and POINTCEPT_CONFIGS is not None:
        return _pointcept_module(name)
    if name.split(".")[0] in ("pointcept", "pointcept_dos", "torch"):
        raise ImportError(f"configs/dos must not import {name} at parse time in this test")
    return builtins.__import__(name, globals, locals, fromlist, level)


def _merge(base, child):
    """Pointcept's Config merge: dicts merge recursively unless `_delete_`; the rest replaces."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get("_delete_"):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _strip_delete(value)
    return out


def _strip_delete(value):
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, (list, tuple)):
        return type(value)(_strip_delete(v) for v in value)
    return value


def load_config(path, pointcept=False):
    """(config dict, [Pointcept bases reached]) of configs/dos/<path>, `_base_` resolved.

    pointcept: also read the bases in the Pointcept checkout (needs POINTCEPT_CONFIGS);
    otherwise they are only recorded and their keys are absent.
    """
    path = Path(path)
    namespace = {"__builtins__": dict(vars(builtins), __import__=_import), "__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    own = {k: v for k, v in namespace.items() if not k.startswith("__")}
    bases = own.pop("_base_", [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged, pointcept_bases = {}, []
    for base in bases:
        if base.startswith(POINTCEPT_BASE):
            relative = base[len(POINTCEPT_BASE):]
            pointcept_bases.append(relative)
            if not pointcept:
                continue
            parent, _ = load_config(POINTCEPT_CONFIGS / relative, pointcept=True)
        else:
            parent, parent_pc = load_config(path.parent / base, pointcept)
            pointcept_bases += parent_pc
        merged = _merge(merged, parent)
    return _merge(merged, own), pointcept_bases


def hook(cfg, type_name):
    """The one hook of `type_name` in cfg["hooks"]."""
    found = [h for h in cfg["hooks"] if h["type"] == type_name]
    assert len(found) == 1, f"expected one {type_name} hook, got {found}"
    return found[0]


def test_there_are_configs_for_every_benchmark():
    names = {p.name for p in ALL_CONFIGS}
    for bench in BENCHMARKS:
        for kind in ("pretrain", "pretrain-spunet", "lin", "ft", "ft-spunet"):
            assert f"{bench}-{kind}.py" in names, f"configs/dos/{bench}-{kind}.py is missing"
    assert "nuscenes-pretrain-det.py" in names
    assert {"indoor-multidataset-pretrain.py", "outdoor-multidataset-pretrain.py"} <= names


@pytest.mark.parametrize("path", ALL_CONFIGS + BASE_CONFIGS, ids=lambda p: p.parent.name + "/" + p.name)
def test_config_is_valid_python_without_machine_paths(path):
    text = path.read_text()
    ast.parse(text, filename=str(path))
    for forbidden in ("/work", "/opt/", "/tmp", "/root"):
        assert forbidden not in text, f"{path.name} holds a machine path ({forbidden})"
    assert ast.get_docstring(ast.parse(text)), f"{path.name} needs a docstring (what it is for)"


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_config_resolves_without_pointcept(path):
    cfg, pointcept_bases = load_config(path)
    assert "model" in cfg or pointcept_bases, f"{path.name}: no model and no Pointcept base"
    # nothing but plain data is left for Pointcept's Config to keep
    for key, value in cfg.items():
        assert not callable(value), f"{path.name}: top-level {key} is callable (import it as __name)"


def input_grid_size(path):
    """Metres: 0.02 indoor, 0.05 outdoor, 0.075 for detection (CenterPoint's nuScenes voxels)."""
    if path.name.endswith("-det.py"):
        return 0.075
    return 0.05 if path.name.startswith(OUTDOOR_PREFIXES) else 0.02


@pytest.mark.parametrize("path", PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_pretrain_dos_settings_in_range(path):
    cfg, _ = load_config(path)
    model = cfg["model"]
    assert model["type"] == "DOS-v1m1"
    outdoor = path.name.startswith(OUTDOOR_PREFIXES)
    assert isinstance(model["num_prototypes"], int) and model["num_prototypes"] > 0
    assert 0 <= model["zipf_alpha"] < 2
    assert model["mask_size"] > 0
    assert model["mask_size"] == (1.0 if outdoor else 0.4)
    assert 0.5 <= model["mask_ratio"] < 0.9
    assert model["mask_ratio"] == (0.6 if path.name.endswith("-det.py") else 0.7)
    temp, momentum = model["teacher_temp"], model["momentum"]
    assert 0 < temp["start"] <= temp["end"] < model["student_temp"]
    assert 0 <= temp["warmup_ratio"] <= 1
    assert 0.9 <= momentum["start"] <= momentum["end"] <= 1
    assert model["same_view_weight"] + model["cross_view_weight"] > 0
    assert model["sinkhorn_iters"] >= 1 and model["sinkhorn_scope"] in ("batch", "scene")
    # matches within 4 voxels of the loss resolution (the input grid pooled loss_pool_stride x)
    assert model["match_radius"] == pytest.approx(4 * input_grid_size(path) * model["loss_pool_stride"])
    assert cfg["epoch"] % cfg["eval_epoch"] == 0, "Pointcept asserts epoch % eval_epoch == 0"


@pytest.mark.parametrize("path", PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_pretrain_inputs_match_backbone(path):
    """grid size and input features: indoor coord+color+normal (SpUNet colour+normal) at 0.02 m,
    outdoor coord+strength at 0.05 m, detection coord+strength+time at 0.075 m; the backbone's
    in_channels is the features' width."""
    cfg, _ = load_config(path)
    outdoor = path.name.startswith(OUTDOOR_PREFIXES)
    widths = dict(coord=3, color=3, normal=3, strength=1, time=1)
    train = cfg["data"]["train"]
    datasets = train["datasets"] if train["type"] == "ConcatDataset" else [train]
    for dataset in datasets:
        transform = dataset["transform"]
        grid = next(t for t in transform if t["type"] == "GridSample")["grid_size"]
        assert grid == input_grid_size(path)
        collect = next(t for t in transform if t["type"] == "Collect")
        feats = [k[len("global_"):] for k in collect["global_feat_keys"]]
        views = next(t for t in transform if t["type"] == "MultiViewGenerator")
        assert set(feats) <= set(views["view_keys"]), "every input feature is cut into the views"
        if path.name.endswith("-det.py"):
            assert feats == ["coord", "strength", "time"]  # the detectors' x, y, z, intensity, time
        elif outdoor:
            assert feats == ["coord", "strength"]
        assert sum(widths[k] for k in feats) == cfg["model"]["backbone"]["in_channels"]
        assert next(t for t in transform if t["type"] == "Update")["keys_dict"]["grid_size"] == grid


def test_detection_pretraining_has_detector_inputs():
    """10 sweeps with time, CenterPoint's nuScenes range, 5 input channels (README documents it)."""
    cfg, _ = load_config(CONFIG_DIR / "nuscenes-pretrain-det.py")
    train = cfg["data"]["train"]
    assert train["type"] == "NuScenesSweepsDataset"
    assert train["sweeps"] == 10 and train["ego_radius"] == 1.0
    assert train["point_cloud_range"] == (-54.0, -54.0, -5.0, 54.0, 54.0, 3.0)
    assert not any(t["type"] == "PointClip" for t in train["transform"]), "the dataset drops, not clamps"
    assert cfg["model"]["backbone"]["in_channels"] == 5
    readme = (CONFIG_DIR / "README.md").read_text()
    for fact in ("10 sweeps", "0.075 m", "x, y, z, intensity, time", "NuScenesSweepsDataset"):
        assert fact in readme, f"configs/dos/README.md does not document {fact!r}"


# ----- what a GPU user meets on day one ----------------------------------------------------------

@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_config_turns_wandb_off(path):
    """Pointcept's runtime has enable_wandb=True: a run without a wandb login fails at start."""
    cfg, _ = load_config(path)
    assert cfg.get("enable_wandb") is False, f"{path.name} leaves enable_wandb to Pointcept's True"


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.name)
def test_every_schedule_keeps_epoch_checkpoints(path):
    """A CheckpointSaver with a save_freq that gives at least 3 epoch checkpoints besides
    model_last over the trainer's epochs (Pointcept's trainer runs `eval_epoch` of them). The
    trainer epochs of configs on Pointcept's recipes are known with POINTCEPT_ROOT only."""
    cfg, _ = load_config(path, pointcept=POINTCEPT_CONFIGS is not None)
    save_freq = hook(cfg, "CheckpointSaver")["save_freq"]
    assert isinstance(save_freq, int) and save_freq >= 1, f"{path.name}: save_freq={save_freq} keeps only model_last"
    if "pretrain" in path.name:
        assert "eval_epoch" in cfg, f"{path.name} must state its trainer epochs"
    if "eval_epoch" in cfg:
        assert cfg["eval_epoch"] // save_freq >= 3, (
            f"{path.name}: {cfg['eval_epoch']} trainer epochs, a checkpoint every {save_freq}")


# Sonata's pretraining rate (configs/sonata/pretrain-sonata-v1m1-0-base.py), compared with
# Pointcept's file in test_sonata_rate_is_pointcepts
SONATA_BASE_LR, SONATA_BATCH_SIZE, SONATA_LR_DECAY = 0.004, 96, 0.9


@pytest.mark.parametrize("path", PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_pretrain_learning_rate_is_sonatas_scaled_to_the_batch(path):
    cfg, _ = load_config(path)
    base_lr = cfg["base_lr"]
    assert base_lr == pytest.approx(SONATA_BASE_LR * cfg["batch_size"] / SONATA_BATCH_SIZE)
    assert cfg["optimizer"]["lr"] == base_lr
    if cfg["model"]["backbone"]["type"] == "PT-v3m2":
        depths = cfg["model"]["backbone"]["enc_depths"]
        groups = cfg["param_dicts"]
        assert len(groups) == sum(depths) and groups[-1]["lr"] == pytest.approx(base_lr)
        assert groups[0]["lr"] == pytest.approx(base_lr * SONATA_LR_DECAY ** (sum(depths) - 1))
        assert cfg["scheduler"]["max_lr"] == [base_lr] + [g["lr"] for g in groups]
    else:  # SpUNet: one group at the dataset's base_lr
        assert cfg["param_dicts"] is None
        assert cfg["scheduler"]["max_lr"] == pytest.approx(base_lr)
    wd = hook(cfg, "WeightDecaySchedular")
    assert (wd["base_value"], wd["final_value"]) == (cfg["base_wd"], cfg["final_wd"])
    assert cfg["optimizer"]["weight_decay"] == cfg["base_wd"]


def test_readme_states_every_pretrain_learning_rate():
    """configs/dos/README.md has a row `| config | batch | base_lr | ... |` per pretrain config."""
    readme = (CONFIG_DIR / "README.md").read_text()
    for path in PRETRAIN_CONFIGS:
        cfg, _ = load_config(path)
        row = re.search(rf"^\| `{re.escape(path.name)}` \| (\d+) \| ([0-9.]+) \|", readme, re.M)
        assert row, f"configs/dos/README.md has no learning-rate row for {path.name}"
        assert int(row.group(1)) == cfg["batch_size"]
        assert float(row.group(2)) == pytest.approx(cfg["base_lr"], rel=1e-3)


SEMANTIC_KITTI_PROBES = ("semantickitti-lin.py", "semantickitti-dec.py", "semantickitti-ft.py")


@pytest.mark.parametrize("name", SEMANTIC_KITTI_PROBES)
def test_semantickitti_probes_weight_the_cross_entropy(name):
    cfg, _ = load_config(CONFIG_DIR / name)
    model = cfg["model"]
    assert model["num_classes"] == 19
    cross_entropy, lovasz = model["criteria"]
    assert cross_entropy["type"] == "CrossEntropyLoss" and lovasz["type"] == "LovaszLoss"
    weight = cross_entropy["weight"]
    assert len(weight) == 19 and all(isinstance(w, float) and w > 0 for w in weight)
    with pytest.raises(ValueError, match="class_weight needs 19"):
        _PRESETS.lidar_linear_probe(19, class_weight=weight[:-1])


def kitti_weights(cfg):
    return next(c for c in cfg["model"]["criteria"] if c["type"] == "CrossEntropyLoss")["weight"]


@with_pointcept_configs
def test_semantickitti_weights_are_pointcepts():
    """Every Pointcept SemanticKITTI recipe that weights the cross-entropy uses the same 19
    weights; our probes and SpUNet fine-tuning use exactly them."""
    recipes = [p for p in sorted((POINTCEPT_CONFIGS / "semantic_kitti").glob("semseg-*.py"))
               if "weight=[" in p.read_text()]
    assert recipes, "no weighted SemanticKITTI recipe in Pointcept"
    reference = kitti_weights(load_config(POINTCEPT_CONFIGS / "semantic_kitti" / "semseg-spunet-v1m1-0-base.py",
                                          pointcept=True)[0])
    for recipe in recipes:
        assert kitti_weights(load_config(recipe, pointcept=True)[0]) == reference, recipe.name
    for name in SEMANTIC_KITTI_PROBES + ("semantickitti-ft-spunet.py",):
        cfg, _ = load_config(CONFIG_DIR / name, pointcept=True)
        assert kitti_weights(cfg) == reference, name
        assert len(cfg["data"]["names"]) == len(reference) == cfg["data"]["num_classes"]


@with_pointcept_configs
def test_semantickitti_probes_crop_as_pointcepts_lidar_recipes():
    """PointClip to Pointcept's SemanticKITTI range in train / val / test; no SphereCrop, as
    Pointcept's PTv3 nuScenes and Waymo recipes (whose scans are as large or larger)."""
    def types_of(transform):
        return [t["type"] for t in transform]

    for recipe in ("nuscenes/semseg-pt-v3m1-0-base.py", "waymo/semseg-pt-v3m1-0-base.py"):
        cfg, _ = load_config(POINTCEPT_CONFIGS / recipe, pointcept=True)
        assert "SphereCrop" not in types_of(cfg["data"]["train"]["transform"]), recipe
    for name in SEMANTIC_KITTI_PROBES:
        data = load_config(CONFIG_DIR / name, pointcept=True)[0]["data"]
        for split in ("train", "val", "test"):
            clip = [t for t in data[split]["transform"] if t["type"] == "PointClip"]
            assert [c["point_cloud_range"] for c in clip] == [_PRESETS.SEMANTIC_KITTI_POINT_CLOUD_RANGE], (name, split)
        assert "SphereCrop" not in types_of(data["train"]["transform"])


@with_pointcept_configs
def test_sonata_rate_is_pointcepts():
    cfg, _ = load_config(POINTCEPT_CONFIGS / "sonata" / "pretrain-sonata-v1m1-0-base.py", pointcept=True)
    assert (cfg["base_lr"], cfg["batch_size"], cfg["lr_decay"]) == (SONATA_BASE_LR, SONATA_BATCH_SIZE, SONATA_LR_DECAY)


def test_outdoor_backbone_is_the_same_in_pretrain_and_probes():
    """PT-v3m2 encoder arguments of the outdoor probes equal the pretrain's (parameters load)."""
    arch = ("in_channels", "stride", "enc_depths", "enc_channels", "enc_num_head", "mlp_ratio", "qkv_bias")
    for bench in ("nuscenes", "waymo", "semantickitti"):
        pre = load_config(CONFIG_DIR / f"{bench}-pretrain.py")[0]["model"]["backbone"]
        for kind in ("lin", "dec", "ft"):
            cfg, bases = load_config(CONFIG_DIR / f"{bench}-{kind}.py")
            probe = cfg["model"]["backbone"]
            assert probe["type"] == pre["type"] == "PT-v3m2"
            assert {k: probe[k] for k in arch} == {k: pre[k] for k in arch}, (bench, kind)
            assert cfg["model"]["backbone_out_channels"] == (1232 if kind == "lin" else 64)
            assert cfg["model"]["freeze_backbone"] == (kind == "lin")
            loader = cfg["hooks"][0]
            assert loader == dict(type="CheckpointLoader", keywords="module.student.backbone",
                                  replacement="module.backbone")
            assert bases and bases[0].startswith(("nuscenes/", "waymo/", "semantic_kitti/"))


def test_spunet_fine_tuning_loads_the_student_backbone():
    for bench in BENCHMARKS:
        cfg, bases = load_config(CONFIG_DIR / f"{bench}-ft-spunet.py")
        assert cfg["hooks"][0] == dict(type="CheckpointLoader", keywords="module.student.backbone",
                                       replacement="module.backbone"), bench
        assert bases and "semseg-spunet-v1m1" in bases[0], bench


def test_lidar_ptv3m2_stages_share_the_encoder():
    encoder_keys = set(_PRESETS.LIDAR_PTV3M2) - {"traceable", "enc_mode", "freeze_encoder"}
    stages = {s: _PRESETS.lidar_ptv3m2(s) for s in _PRESETS.LIDAR_PTV3M2_STAGES}
    for stage, backbone in stages.items():
        assert {k: backbone[k] for k in encoder_keys} == {k: _PRESETS.LIDAR_PTV3M2[k] for k in encoder_keys}
    assert stages["pretrain"]["traceable"] and stages["pretrain"]["enc_mode"]
    assert stages["dec"]["freeze_encoder"] and not stages["ft"]["freeze_encoder"]
    assert not stages["ft"]["enc_mode"] and stages["ft"]["dec_channels"][0] == 64
    with pytest.raises(ValueError):
        _PRESETS.lidar_ptv3m2("train")


def test_outdoor_multiview_transform():
    transform = _PRESETS.outdoor_multiview_transform(point_cloud_range=_PRESETS.WAYMO_POINT_CLOUD_RANGE)
    assert transform[0] == dict(type="PointClip", point_cloud_range=_PRESETS.WAYMO_POINT_CLOUD_RANGE)
    views = next(t for t in transform if t["type"] == "MultiViewGenerator")
    assert views["view_keys"] == ("coord", "origin_coord", "strength")
    assert views["global_shared_transform"] == []
    # Pointcept v1.7's MultiViewGenerator fails with 0 local views (KeyError 'local_coord')
    assert views["local_view_num"] >= 1 and views["global_view_num"] == 2
    assert _PRESETS.outdoor_multiview_transform()[0]["type"] == "GridSample"
    with pytest.raises(ValueError):
        _PRESETS.outdoor_multiview_transform(point_cloud_range=(1, 2, 3))
    # detection: the time channel is cut into the views and collected after strength
    det = _PRESETS.outdoor_multiview_transform(grid_size=0.075, feat_keys=("coord", "strength", "time"))
    assert next(t for t in det if t["type"] == "MultiViewGenerator")["view_keys"] == (
        "coord", "origin_coord", "strength", "time")
    assert next(t for t in det if t["type"] == "Collect")["global_feat_keys"] == (
        "global_coord", "global_strength", "global_time")
    # the indoor preset is unchanged
    indoor = _PRESETS.multiview_transform(0.02)
    assert next(t for t in indoor if t["type"] == "Collect")["global_feat_keys"] == (
        "global_coord", "global_color", "global_normal")


def test_layerwise_lr_groups():
    groups, max_lr = _PRESETS.layerwise_lr_groups(0.01, lr_decay=0.5, enc_depths=(1, 2))
    assert groups == [dict(keyword="enc0.block0.", lr=0.0025), dict(keyword="enc1.block0.", lr=0.005),
                      dict(keyword="enc1.block1.", lr=0.01)]
    assert max_lr == [0.01, 0.0025, 0.005, 0.01]


def test_readme_lists_every_config():
    readme = (CONFIG_DIR / "README.md").read_text()
    for path in ALL_CONFIGS:
        assert path.name in readme, f"configs/dos/README.md does not mention {path.name}"
    for forbidden in ("/work", "/opt/", "/tmp", "/root"):
        assert forbidden not in readme
