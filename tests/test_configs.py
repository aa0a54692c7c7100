"""configs/dos without Pointcept: every config is valid Python, and the DOS settings of every
pretrain config, resolved through its `_base_` chain, are in the method's ranges.

Configs are evaluated as Pointcept's Config would (top-level names, dunder names dropped,
`_base_` merged with `_delete_`), but with stubs for `pointcept_dos.integration.config_paths`
(bases in the Pointcept checkout are recorded, not read) and `.registration` (which imports
Pointcept). `pointcept_dos.integration.config_presets` is plain Python and is loaded from its
file, so neither torch nor Pointcept is imported.
"""

import ast
import builtins
import copy
import importlib.util
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs" / "dos"
ALL_CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
BASE_CONFIGS = sorted((CONFIG_DIR / "_base_").glob("*.py"))  # inherited, not run on their own
PRETRAIN_CONFIGS = [p for p in ALL_CONFIGS if "pretrain" in p.name]
OUTDOOR_PREFIXES = ("nuscenes", "waymo", "semantickitti", "outdoor")
POINTCEPT_BASE = "<pointcept>/"

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


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "pointcept_dos.integration.config_paths":
        return _CONFIG_PATHS_STUB
    if name == "pointcept_dos.integration.config_presets":
        return _PRESETS
    if name == "pointcept_dos.integration.registration":
        return _REGISTRATION_STUB
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


def load_config(path):
    """(config dict, [Pointcept bases reached]) of configs/dos/<path>, `_base_` resolved."""
    path = Path(path)
    namespace = {"__builtins__": dict(vars(builtins), __import__=_import), "__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    own = {k: v for k, v in namespace.items() if not k.startswith("__")}
    bases = own.pop("_base_", [])
    bases = [bases] if isinstance(bases, str) else list(bases)
    merged, pointcept_bases = {}, []
    for base in bases:
        if base.startswith(POINTCEPT_BASE):
            pointcept_bases.append(base[len(POINTCEPT_BASE):])
            continue
        parent, parent_pc = load_config(path.parent / base)
        merged = _merge(merged, parent)
        pointcept_bases += parent_pc
    return _merge(merged, own), pointcept_bases


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
    assert 0 < model["teacher_temp_start"] <= model["teacher_temp_base"] < model["student_temp"]
    assert 0 <= model["teacher_temp_warmup_ratio"] <= 1
    assert 0.9 <= model["momentum_base"] <= model["momentum_final"] <= 1
    assert model["same_view_weight"] + model["cross_view_weight"] > 0
    assert model["sinkhorn_iters"] >= 1 and model["sinkhorn_scope"] in ("batch", "scene")
    assert model["match_radius"] > 0
    assert cfg["epoch"] % cfg.get("eval_epoch", 100) == 0, "Pointcept asserts epoch % eval_epoch == 0"


@pytest.mark.parametrize("path", PRETRAIN_CONFIGS, ids=lambda p: p.name)
def test_pretrain_inputs_match_backbone(path):
    """grid size and input features: indoor coord+color+normal (SpUNet colour+normal) at 0.02 m,
    outdoor coord+strength at 0.05 m; the backbone's in_channels is the features' width."""
    cfg, _ = load_config(path)
    outdoor = path.name.startswith(OUTDOOR_PREFIXES)
    widths = dict(coord=3, color=3, normal=3, strength=1)
    train = cfg["data"]["train"]
    datasets = train["datasets"] if train["type"] == "ConcatDataset" else [train]
    for dataset in datasets:
        transform = dataset["transform"]
        grid = next(t for t in transform if t["type"] == "GridSample")["grid_size"]
        assert grid == (0.05 if outdoor else 0.02)
        collect = next(t for t in transform if t["type"] == "Collect")
        feats = [k[len("global_"):] for k in collect["global_feat_keys"]]
        if outdoor:
            assert feats == ["coord", "strength"]
            assert not {"color", "normal"} & set(feats)
        assert sum(widths[k] for k in feats) == cfg["model"]["backbone"]["in_channels"]
        assert next(t for t in transform if t["type"] == "Update")["keys_dict"]["grid_size"] == grid


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
    # the indoor preset is unchanged
    indoor = _PRESETS.multiview_transform(0.02)
    assert next(t for t in indoor if t["type"] == "Collect")["global_feat_keys"] == (
        "global_coord", "global_color", "global_normal")


def test_readme_lists_every_config():
    readme = (CONFIG_DIR / "README.md").read_text()
    for path in ALL_CONFIGS:
        assert path.name in readme, f"configs/dos/README.md does not mention {path.name}"
    for forbidden in ("/work", "/opt/", "/tmp", "/root"):
        assert forbidden not in readme
