"""tools/train.sh and tools/test.sh: argument handling (no Pointcept needed: experiment folders
and weights that Pointcept would change are refused before anything is made; with Pointcept, that
rule is held against Pointcept's own parser) and, with
POINTCEPT_ROOT set, real CPU runs (-g 0) of Pointcept's stock ScanNet configs on a tiny synthetic
ScanNet-layout dataset: a few training iterations, a checkpoint in the experiment folder (under
DOS_EXP_ROOT, a tmp folder), then the tester on it."""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch

from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept, write_scannet_like

TRAIN_SH = str(REPO_ROOT / "tools" / "train.sh")
TEST_SH = str(REPO_ROOT / "tools" / "test.sh")


def run_sh(script, args, env, timeout=600, cwd=REPO_ROOT):
    return subprocess.run(
        ["sh", script, "-p", sys.executable, *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=str(cwd),
    )


def fake_pointcept_root(folder):
    """The least that passes for a Pointcept checkout: scripts get past their checks."""
    (folder / "pointcept").mkdir(parents=True)
    (folder / "pointcept" / "__init__.py").write_text("")
    (folder / "configs").mkdir()
    return folder


def test_train_sh_needs_pointcept_root(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "POINTCEPT_ROOT"}
    env["DOS_EXP_ROOT"] = str(tmp_path)
    out = run_sh(TRAIN_SH, ["-g", "0", "-c", "whatever"], env)
    assert out.returncode == 2
    assert "POINTCEPT_ROOT is not set" in out.stderr


def test_scripts_reject_a_wrong_pointcept_root(tmp_path):
    env = dict(os.environ, POINTCEPT_ROOT=str(tmp_path), DOS_EXP_ROOT=str(tmp_path / "exp"))
    for script in (TRAIN_SH, TEST_SH):
        out = run_sh(script, ["-g", "0", "-c", "whatever"], env)
        assert out.returncode == 2
        assert "is not a Pointcept checkout" in out.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_no_silent_cpu_mode_without_g0(tmp_path):
    (tmp_path / "pointcept").mkdir()
    (tmp_path / "pointcept" / "__init__.py").write_text("")
    (tmp_path / "configs").mkdir()
    out = run_sh(TRAIN_SH, ["-c", "whatever"],
                 dict(os.environ, POINTCEPT_ROOT=str(tmp_path), DOS_EXP_ROOT=str(tmp_path / "exp")))
    assert out.returncode == 2
    assert "pass -g 0 explicitly" in out.stderr


def test_train_sh_reports_a_missing_config(tmp_path):
    (tmp_path / "pointcept").mkdir()
    (tmp_path / "pointcept" / "__init__.py").write_text("")
    (tmp_path / "configs").mkdir()
    out = run_sh(TRAIN_SH, ["-g", "0", "-c", "no-such-config", "-n", f"t-{uuid.uuid4().hex[:6]}"],
                 dict(os.environ, POINTCEPT_ROOT=str(tmp_path), DOS_EXP_ROOT=str(tmp_path / "exp")))
    assert out.returncode == 2
    assert "config 'no-such-config' not found" in out.stderr
    assert not (tmp_path / "exp" / "scannet").exists()  # nothing created before the error


# ---- experiment folders and weights that Pointcept would change ------------------------------
# Both scripts hand Pointcept the experiment folder (save_path) and the weight through its
# --options parser, which deletes spaces, splits at commas and strips end quotes, and Pointcept
# writes them unescaped into the config.py that a resume reads back.

CHANGED_NAMES = [
    ("run one", "a space: Pointcept's --options parser deletes spaces, so it would use '{exp}/scannet/runone'"),
    ("a,b", "a comma: Pointcept's --options parser splits a value into a list at its commas"),
    ("it's", "a quote ('): Pointcept writes config.py"),
    ('quoted"', "a closing double quote"),
    ("a\\b", "a backslash"),
    ("{{fileDirname}}", "'{{': Pointcept replaces {{ ... }} placeholders"),
    ("two\nlines", "a control character"),
    ("a:b", "a colon: train.sh puts its code snapshot on PYTHONPATH"),
]


@pytest.mark.parametrize("script", [TRAIN_SH, TEST_SH], ids=["train", "test"])
@pytest.mark.parametrize("name, words", CHANGED_NAMES, ids=[c[0] for c in CHANGED_NAMES])
def test_an_experiment_name_pointcept_would_change_is_refused(tmp_path, script, name, words):
    # the issue: -n 'run one' put the code in '.../run one', config and checkpoints in
    # '.../runone' (shared with -n runone), and -r true found no config
    exp = tmp_path / "exp"
    env = dict(os.environ, POINTCEPT_ROOT=str(fake_pointcept_root(tmp_path / "pc")), DOS_EXP_ROOT=str(exp))
    config = tmp_path / "config.py"
    config.write_text("epoch = 1\n")
    out = run_sh(script, ["-g", "0", "-c", str(config), "-n", name], env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"'{exp}/scannet/{name}' contains {words.replace('{exp}', str(exp))}" in out.stderr
    assert "choose another -n, -d or DOS_EXP_ROOT" in out.stderr and "Traceback" not in out.stderr
    assert not exp.exists()  # refused before anything is created


def test_an_exp_root_with_a_space_is_refused_before_it_is_created(tmp_path):
    root = tmp_path / "x y"
    env = dict(os.environ, POINTCEPT_ROOT=str(fake_pointcept_root(tmp_path / "pc")), DOS_EXP_ROOT=str(root))
    for script in (TRAIN_SH, TEST_SH):
        out = run_sh(script, ["-g", "0", "-c", "whatever", "-n", "run"], env)
        assert out.returncode == 2
        assert (f"experiment folder (DOS_EXP_ROOT or exp/, -d, -n) '{root}/scannet/run' contains a space: "
                f"Pointcept's --options parser deletes spaces, so it would use '{tmp_path}/xy/scannet/run'"
                ) in out.stderr
        assert not root.exists() and not (tmp_path / "xy").exists()


def test_a_weight_pointcept_would_change_is_refused(tmp_path):
    weight = tmp_path / "my weights.pth"
    weight.write_bytes(b"")
    env = dict(os.environ, POINTCEPT_ROOT=str(fake_pointcept_root(tmp_path / "pc")),
               DOS_EXP_ROOT=str(tmp_path / "exp"))
    config = tmp_path / "config.py"
    config.write_text("epoch = 1\n")
    train = run_sh(TRAIN_SH, ["-g", "0", "-c", str(config), "-n", "ft", "-w", str(weight)], env)
    assert train.returncode == 2
    assert (f"weight (-w) '{weight}' contains a space: Pointcept's --options parser deletes spaces, so it "
            f"would use '{tmp_path}/myweights.pth'; Pointcept would look for another file and, finding "
            "none, train from scratch") in train.stderr
    assert not (tmp_path / "exp").exists()
    test = run_sh(TEST_SH, ["-g", "0", "-c", str(config), "-n", "ft", "-w", str(weight)], env)
    assert test.returncode == 2 and f"weight (-w) '{weight}' contains a space" in test.stderr


def test_a_relative_exp_root_is_taken_from_the_callers_folder(tmp_path):
    caller = tmp_path / "caller"
    caller.mkdir()
    relative = f"rel-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, POINTCEPT_ROOT=str(fake_pointcept_root(tmp_path / "pc")), DOS_EXP_ROOT=relative)
    try:
        out = run_sh(TEST_SH, ["-g", "0", "-n", "run"], env, cwd=caller)
        assert out.returncode == 2
        assert f"no experiment config at {caller}/{relative}/scannet/run/config.py" in out.stderr
    finally:  # the bug this guards against made the folder in the repository
        made = REPO_ROOT / relative
        if made.is_dir():
            shutil.rmtree(made)
    assert not made.exists()


POINTCEPT_CHANGES = """
import json, os, sys, tempfile
from pointcept.utils.config import Config, DictAction

def round_trip(values, folder):
    # the config.py Pointcept writes (values unescaped) and reads back on resume; all values in
    # one file, halved on a failure to find the values that break it
    cfg = Config.fromfile(os.path.join(folder, "base.py"))
    cfg.merge_from_dict({f"v{i}": v for i, v in enumerate(values)})
    dumped = os.path.join(folder, "config.py")
    try:
        cfg.dump(dumped)
        back = Config.fromfile(dumped)
    except Exception as err:
        if len(values) == 1:
            return {values[0]: type(err).__name__}
        half = len(values) // 2
        return {**round_trip(values[:half], folder), **round_trip(values[half:], folder)}
    return {v: None if back[f"v{i}"] == v else "config.py" for i, v in enumerate(values)}

folder = tempfile.mkdtemp()
with open(os.path.join(folder, "base.py"), "w") as f:
    f.write("epoch = 1\\n")
values = json.load(sys.stdin)
changes = {v: "--options parser" for v in values if DictAction._parse_iterable(v) != v}
changes.update(round_trip([v for v in values if v not in changes], folder))
print(json.dumps(changes))
"""


@requires_pointcept
def test_the_scripts_refuse_what_pointcept_changes(tmp_path):
    """dos_path_trouble against Pointcept's own option parser and config.py round trip, for
    every ASCII character (inside a name and at its end) and the config placeholders: every
    value Pointcept changes is refused; only other control characters are refused besides."""
    pieces = [chr(i) for i in range(1, 128)] + ["é", "\u00a0", "{{fileDirname}}", "{{fileBasename}}",
                                                "{{ fileExtname }}", "{{fileBasenameNoExtension}}"]
    values = [f"{tmp_path}/exp/scannet/a{p}b" for p in pieces] + [f"{tmp_path}/exp/scannet/a{p}" for p in pieces]
    run = subprocess.run([sys.executable, "-c", POINTCEPT_CHANGES], input=json.dumps(values),
                         capture_output=True, text=True, env=pointcept_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    changes = json.loads(run.stdout.strip().splitlines()[-1])
    common = str(REPO_ROOT / "tools" / "_dos_common.sh")
    each = '. "$0"; for v in "$@"; do printf "%s\\n" "$(dos_path_trouble "$v")"; done'
    lines = subprocess.run(["sh", "-c", each, common, *values], capture_output=True, text=True).stdout
    refused = dict(zip(values, lines.split("\n")))
    assert sum(map(bool, changes.values())) >= 15  # spaces, commas, quotes, backslashes, ...
    assert [v for v in values if changes[v] and not refused[v]] == []
    extra = {v[-2] if v.endswith("b") else v[-1] for v in values if refused[v] and not changes[v]}
    assert extra and all(c.isascii() and ord(c) < 32 or c == "\x7f" for c in extra), extra
    assert all(refused[v].startswith("a control character") for v in values if refused[v] and not changes[v])


# ---- real runs (need Pointcept) ---------------------------------------------------------------

SHRINK_COMMON = [
    "epoch=1", "eval_epoch=1", "batch_size=1", "num_worker=1", "mix_prob=0", "seed=0",
]
SHRINK_PTV3 = [
    "model.backbone_out_channels=16",
    "model.backbone.enc_depths=[1,1,1,1,1]",
    "model.backbone.enc_channels=[16,16,32,32,64]",
    "model.backbone.enc_num_head=[1,1,2,2,4]",
    "model.backbone.enc_patch_size=[64,64,64,64,64]",
    "model.backbone.dec_depths=[1,1,1,1]",
    "model.backbone.dec_channels=[16,16,32,32]",
    "model.backbone.dec_num_head=[1,1,2,2]",
    "model.backbone.dec_patch_size=[64,64,64,64]",
]
SHRINK_SPUNET = [
    "model.backbone.channels=[8,8,16,16,16,16,8,8]",
    "model.backbone.layers=[1,1,1,1,1,1,1,1]",
]


@pytest.fixture(scope="module")
def scannet_root(tmp_path_factory):
    return write_scannet_like(tmp_path_factory.mktemp("scannet"), points=400)


@pytest.fixture()
def exp_root(tmp_path):
    return (tmp_path / "exp").resolve()


def data_options(root):
    return [f"data.{split}.data_root={root}" for split in ("train", "val", "test")]


def train_then_test(config, shrink, root, name, exp_root):
    exp = exp_root / "scannet" / name
    env = pointcept_env(exp_root=exp_root)
    out = run_sh(TRAIN_SH, ["-g", "0", "-d", "scannet", "-c", config, "-n", name, "--",
                            *SHRINK_COMMON, *shrink, *data_options(root)], env)
    log = train_log = out.stdout + out.stderr
    assert out.returncode == 0, log[-8000:]
    assert "pointcept-dos CPU mode: patched" in log
    assert f"Experiment dir: {exp}" in log
    # Pointcept's InformationWriter: "Train: [1/1][2/2] ... loss: ..."
    losses = [float(v) for v in re.findall(r"Train: \[\d+/\d+\]\[\d+/\d+\].*?loss: ([0-9.naif]+)", log)]
    assert len(losses) == 2 and all(v == v and v < 1e4 for v in losses), log[-4000:]
    checkpoint = exp / "model" / "model_last.pth"
    assert checkpoint.is_file()
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and any(k.startswith("backbone.") for k in state["state_dict"])
    assert (exp / "code" / "pointcept").is_dir() and (exp / "config.py").is_file()

    # the trainer's PreciseEvaluator already tested and cached predictions in result/: drop
    # them so that the tester runs the model again
    shutil.rmtree(exp / "result", ignore_errors=True)
    out = run_sh(TEST_SH, ["-g", "0", "-d", "scannet", "-n", name, "-w", "model_last"], env)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-8000:]
    assert f"Loading weight at: {checkpoint}" in log and "Test: 1/1-scene0002_00, Batch: 0/" in log
    assert "Syncing ..." in log and re.search(r"Val result: mIoU/mAcc/allAcc", log), log[-4000:]
    assert (exp / "result" / "scene0002_00_pred.npy").is_file()
    assert not (REPO_ROOT / "exp" / "scannet" / name).exists()
    return train_log


ONE_TEST_VIEW = """
_base_ = [{stock!r}]
# a stock config, with test-time augmentation cut to its first (identity) view to keep the
# CPU test short; everything else is Pointcept's
data = dict(test=dict(test_cfg=dict(aug_transform=[
    [dict(type="RandomRotateTargetAngle", angle=[0], axis="z", center=[0, 0, 0], p=1)]
])))
"""


@pytest.mark.slow
@requires_pointcept
def test_train_and_test_ptv3m2_on_cpu(scannet_root, tmp_path, exp_root):
    # PT-v3m2 from Pointcept's stock config (enable_flash=True there: CPU mode turns it off);
    # -c given as a path to a config file that inherits the stock one
    stock = Path(os.environ["POINTCEPT_ROOT"]) / "configs" / "scannet" / "semseg-pt-v3m2-0-sonata-scratch.py"
    config = tmp_path / "ptv3m2-one-test-view.py"
    config.write_text(ONE_TEST_VIEW.format(stock=str(stock.resolve())))
    log = train_then_test(str(config), SHRINK_PTV3, scannet_root, "cpu-smoke-ptv3", exp_root)
    assert f"Loading config in: {config}" in log


@pytest.mark.slow
@requires_pointcept
def test_train_and_test_spunet_on_cpu(scannet_root, exp_root):
    # SpUNet-v1m1 from Pointcept's stock config, named as Pointcept's scripts do
    train_then_test("semseg-spunet-v1m1-0-base", SHRINK_SPUNET, scannet_root, "cpu-smoke-spunet", exp_root)


@pytest.mark.slow
@requires_pointcept
def test_a_name_pointcept_keeps_trains_and_resumes_in_one_folder(scannet_root, tmp_path):
    # characters Pointcept keeps (none of dos_path_trouble's), in DOS_EXP_ROOT and in -n
    exp_root = (tmp_path / "exp=1(a)#é").resolve()
    name = "run+[b]@c;d&e$f"
    exp = exp_root / "scannet" / name
    env = pointcept_env(exp_root=exp_root)
    out = run_sh(TRAIN_SH, ["-g", "0", "-d", "scannet", "-c", "semseg-spunet-v1m1-0-base", "-n", name, "--",
                            *SHRINK_COMMON, *SHRINK_SPUNET, *data_options(scannet_root)], env)
    assert out.returncode == 0, (out.stdout + out.stderr)[-8000:]
    assert sorted(p.name for p in exp_root.iterdir()) == ["scannet"]
    assert sorted(p.name for p in (exp_root / "scannet").iterdir()) == [name]  # one folder for all
    assert {"code", "model", "config.py", "train.log"} <= {p.name for p in exp.iterdir()}
    assert (exp / "model" / "model_last.pth").is_file()
    resume = run_sh(TRAIN_SH, ["-g", "0", "-d", "scannet", "-n", name, "-r", "true"], env)
    log = resume.stdout + resume.stderr
    assert resume.returncode == 0, log[-8000:]
    assert f"Loading config in: {exp}/config.py" in log
    assert f"Loading weight at: {exp}/model/model_last.pth" in log and "Resuming train at eval epoch: 1" in log
    assert sorted(p.name for p in (exp_root / "scannet").iterdir()) == [name]
