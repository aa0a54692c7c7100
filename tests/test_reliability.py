"""Reliability: nothing lost, nothing silently wrong. One section per promise, in this order:

1. Demo output folder: the demo writes only into a new or empty --out, or one holding an
   earlier run with the same settings (its manifest decides; the run is resumed). User files,
   another run, a changed scene or a linked ScanNet stop it before it writes a byte, naming
   --overwrite where that helps; it reads back only the scenes it wrote (hashes checked).
2. Exact resume: N pretraining steps straight equal N/2 steps, a stop, a resume and N/2 more;
   a demo killed by SIGKILL mid-pretraining and run again ends as an uninterrupted one.
3. Checkpoints load safely: weights only everywhere; a crafted pickle is refused without
   running; empty, truncated and foreign files give an error naming the path and what was
   expected; writes are atomic.
4. Feature API inputs: NaN / Inf, colours outside 0..255 (0..1 floats get a hint), millimetre
   coordinates and bad grid sizes are named; a frame 1e6 m from the origin gives the features
   of the same cloud at the origin.
5. Core: -inf scores mean "never assigned" and never give NaN; a point no prototype may take is
   an error; the loss, the schedules and the prior check their inputs; numpy integers pass.
6. CLI: arguments checked before any work (exit code 2, a message); --version.
7. Randomised: 1,200 zipf_sinkhorn + loss calls with adversarial scales, -inf, empty scenes.

(The DOS model's degenerate batches, the Pointcept trainer's resume and the two-process run are
in test_dos_model.py and test_dos_pointcept.py.)
"""

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pointcept_dos import (
    CosineSchedule,
    PrototypeHead,
    WarmupConstantSchedule,
    patch_visibility,
    sinkhorn_log_plan,
    softmap_distillation_loss,
    zipf_prior,
    zipf_sinkhorn,
)
from pointcept_dos.backbones import build_backbone
from pointcept_dos.cli import build_parser, main
from pointcept_dos.core.schedules import cosine_schedule, warmup_schedule
from pointcept_dos.core.validation import check_non_negative_int, check_positive_int
from pointcept_dos.data import IN_CHANNELS, generate_scene
from pointcept_dos.demo import pretrain as pretrain_module
from pointcept_dos.demo.output_folder import (
    DATA_ROOT,
    MANIFEST_NAME,
    OutputFolderError,
    ensure_scenes,
    load_split,
    prepare_output_folder,
)
from pointcept_dos.demo.pretrain import model_config, pretrain
from pointcept_dos.demo.run import RUNS, demo_settings
from pointcept_dos.inference import extract_features, load_dos_backbone
from pointcept_dos.io import read_checkpoint, write_checkpoint
from pointcept_dos.models import DOSv1m1

ROOT = Path(__file__).resolve().parents[1]
RUN_DIRS = [folder for folder, _ in RUNS.values()]


def snapshot(folder):
    """{relative path: (bytes sha256 or link target)} of everything under `folder`."""
    state = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            state[rel] = "link -> " + os.readlink(path)
        elif path.is_file():
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[rel] = "dir"
    return state


def quick_settings(*argv):
    return demo_settings(build_parser().parse_args(["demo", "--quick", *argv]))[1]


def tiny_layout(folder, seed=0):
    """A stand-in for write_scannet_layout: 2 train + 1 val scenes of 40 points."""
    rng = np.random.default_rng(seed)
    for split, names in (("train", ["scene0000_00", "scene0001_00"]), ("val", ["scene0002_00"])):
        for name in names:
            scene = Path(folder) / split / name
            scene.mkdir(parents=True)
            np.save(scene / "coord.npy", rng.uniform(0, 3, (40, 3)).astype(np.float32))
            np.save(scene / "color.npy", rng.integers(0, 256, (40, 3)).astype(np.uint8))
            np.save(scene / "normal.npy", np.tile(np.float32([0, 0, 1]), (40, 1)))
            np.save(scene / "segment20.npy", rng.integers(-1, 20, 40).astype(np.int32))


def demo_with_scenes(out, settings):
    """A claimed output folder whose (tiny) scenes are written: (manifest, scene hashes)."""
    state, manifest = prepare_output_folder(str(out), settings, RUN_DIRS)
    assert state == "new"
    return manifest, ensure_scenes(str(out), manifest, tiny_layout)


# ----- 1. demo output folder ------------------------------------------------------------------
def test_new_and_empty_folders_are_claimed_with_a_manifest(tmp_path):
    settings = quick_settings()
    for out in (tmp_path / "new" / "nested", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        state, manifest = prepare_output_folder(str(out), settings, RUN_DIRS)
        assert state == "new" and manifest["settings"] == settings
        on_disk = json.loads((out / MANIFEST_NAME).read_text())
        assert on_disk["settings"] == settings and on_disk["scenes"] is None
    # the same settings again: the earlier run is resumed, not restarted
    state, _ = prepare_output_folder(str(tmp_path / "empty"), settings, RUN_DIRS)
    assert state == "resume"
    # empty folders of the demo's own names hold nothing to lose
    (tmp_path / "bare" / "data" / "scannet").mkdir(parents=True)
    assert prepare_output_folder(str(tmp_path / "bare"), settings, RUN_DIRS)[0] == "new"


@pytest.mark.parametrize("case", ["user file", "user folder", "other settings", "larger earlier run",
                                  "file beside a run", "folder beside a run", "changed scene",
                                  "out is a file"])
def test_refused_before_writing_a_byte(tmp_path, capsys, case):
    out = tmp_path / "out"
    expect = {"user file": "1 files or folders the demo did not write "
                           "(data/scannet/train/scene0000_00/coord.npy)",
              "user folder": "did not write (photos)",
              "other settings": "steps 7 (now 6)", "larger earlier run": "train_scenes 24 (now 6)",
              "file beside a run": "report/notes.txt", "folder beside a run": "(photos)",
              "changed scene": "changed since the demo wrote", "out is a file": "is a file"}[case]
    if case == "out is a file":
        out.write_text("mine")
    elif case == "user folder":
        (out / "photos").mkdir(parents=True)
    elif case == "user file":
        (out / "data" / "scannet" / "train" / "scene0000_00").mkdir(parents=True)
        np.save(out / "data" / "scannet" / "train" / "scene0000_00" / "coord.npy", np.ones((5, 3)))
    elif case == "larger earlier run":  # the default preset's 24 + 6 scenes
        prepare_output_folder(str(out), demo_settings(build_parser().parse_args(
            ["demo", "--steps", "6"]))[1], RUN_DIRS)
    else:
        demo_with_scenes(out, quick_settings("--steps", "7" if case == "other settings" else "6"))
        if case == "file beside a run":
            (out / "report").mkdir()
            (out / "report" / "notes.txt").write_text("mine")
        if case == "folder beside a run":
            (out / "photos").mkdir()
        if case == "changed scene":
            np.save(out / DATA_ROOT / "train" / "scene0001_00" / "coord.npy", np.zeros((40, 3)))
    before = snapshot(tmp_path)
    code = main(["demo", "--quick", "--steps", "6", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and expect in err, err
    assert ("--overwrite" in err) == (case != "out is a file"), err
    assert snapshot(tmp_path) == before  # not a byte written


def test_linked_scannet_is_never_written_through_even_with_overwrite(tmp_path, capsys):
    real = tmp_path / "real_scannet"
    (real / "train" / "scene0000_00").mkdir(parents=True)
    np.save(real / "train" / "scene0000_00" / "coord.npy", np.ones((7, 3)))
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "scannet").symlink_to(real, target_is_directory=True)
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        assert main(["demo", "--quick", "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "data/scannet is a symbolic link" in err and str(real) in err, err
        assert snapshot(tmp_path) == before


def test_overwrite_replaces_only_the_demos_files(tmp_path):
    out = tmp_path / "out"
    _, old_scenes = demo_with_scenes(out, quick_settings("--steps", "7"))
    demo_files = [out / "report" / "report.md", out / "dos_alpha1.3" / "model_last.pth",
                  out / "dos_alpha0" / ".resume.pth.ab12cd34.tmp"]
    user_files = [out / "notes.txt", out / "data" / "scannet" / "README", out / "report" / "mine.md"]
    for path in demo_files + user_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    settings = quick_settings("--steps", "6")
    with pytest.raises(OutputFolderError, match="other settings"):
        prepare_output_folder(str(out), settings, RUN_DIRS)
    state, manifest = prepare_output_folder(str(out), settings, RUN_DIRS, overwrite=True)
    assert state == "new" and manifest["settings"] == settings and manifest["scenes"] is None
    assert not any(p.exists() for p in demo_files)
    assert not any((out / DATA_ROOT / rel).exists() for rel in old_scenes)
    assert all(p.read_text() == "x" for p in user_files)


def test_reads_only_the_scenes_it_wrote(tmp_path):
    out = tmp_path / "out"
    manifest, hashes = demo_with_scenes(out, quick_settings())
    data_root = out / DATA_ROOT
    assert json.loads((out / MANIFEST_NAME).read_text())["scenes"] == hashes
    assert len(hashes) == 3 * 4 and not (out / ".staging").exists()
    # a scene the demo did not write is never read, even when it sits in the split's folder
    stranger = data_root / "val" / "scene0700_00"
    stranger.mkdir()
    np.save(stranger / "coord.npy", np.ones((3, 3)))
    val = load_split(str(data_root), "val", hashes)
    assert [s["name"] for s in val] == ["scene0002_00"]
    train = load_split(str(data_root), "train", hashes)
    assert [s["name"] for s in train] == ["scene0000_00", "scene0001_00"]
    assert train[0]["coord"].shape == (40, 3)
    # a listed file changed since it was written: refused, naming it
    np.save(data_root / "train" / "scene0001_00" / "color.npy", np.zeros((40, 3), np.uint8))
    with pytest.raises(OutputFolderError, match="scene0001_00.color.npy changed"):
        load_split(str(data_root), "train", hashes)


def test_scenes_moved_halfway_are_completed_and_must_hash_as_recorded(tmp_path):
    out = tmp_path / "out"
    manifest, hashes = demo_with_scenes(out, quick_settings())
    missing = out / DATA_ROOT / "val" / "scene0002_00" / "normal.npy"
    missing.unlink()  # as if killed while moving the staged files into place
    state, manifest = prepare_output_folder(str(out), quick_settings(), RUN_DIRS)
    assert state == "resume" and ensure_scenes(str(out), manifest, tiny_layout) == hashes
    assert missing.is_file()
    missing.unlink()
    with pytest.raises(RuntimeError, match="differ from those its manifest records"):
        ensure_scenes(str(out), manifest, lambda folder: tiny_layout(folder, seed=1))


def test_resume_clears_what_a_killed_run_left_half_written(tmp_path):
    out = tmp_path / "out"
    demo_with_scenes(out, quick_settings())
    leftovers = [out / "dos_alpha0" / ".resume.pth.x1y2z3w4.tmp", out / ".staging" / "scannet" / "a.npy"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    state, manifest = prepare_output_folder(str(out), quick_settings(), RUN_DIRS)
    ensure_scenes(str(out), manifest, tiny_layout)
    assert state == "resume" and not any(p.exists() for p in leftovers)


# ----- 2. exact resume ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run():
    cfg = model_config(num_prototypes=16)
    cfg.update(backbone=dict(type="DOS-SpUNet-lite", in_channels=IN_CHANNELS, channels=(8, 16),
                             enc_depths=(1, 1), dec_depths=(1,)),
               head_in_channels=8, head_hidden_channels=16, head_embed_channels=8)
    scenes = [generate_scene(s) for s in (1, 2, 3)]
    return scenes, cfg, dict(steps=6, max_points=300, grid_size=0.1, precise_bn_scenes=1)


class _Stop(Exception):
    pass


def _stop_at(monkeypatch, stop_step):
    """Make pretrain stop (an exception, as Ctrl-C would) when it asks for batch `stop_step`."""
    batch = pretrain_module.pretrain_batch

    def stopping(scenes, grid_size, seed, step, *args, **kwargs):
        if step == stop_step:
            raise _Stop
        return batch(scenes, grid_size, seed, step, *args, **kwargs)

    monkeypatch.setattr(pretrain_module, "pretrain_batch", stopping)


def _assert_same_run(a, b, exact=True):
    for ra, rb in zip(a["history"], b["history"], strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], rel=1e-6, abs=1e-7), (ra["step"], k)
    sa, sb = a["model"].state_dict(), b["model"].state_dict()
    for k, v in sa.items():
        if torch.is_tensor(v):
            torch.testing.assert_close(v, sb[k], rtol=1e-6, atol=1e-7, msg=k)


def test_pretrain_stopped_and_resumed_equals_straight(tiny_run, tmp_path, monkeypatch):
    scenes, cfg, opt = tiny_run
    straight = pretrain(scenes, str(tmp_path / "straight"), cfg, progress=False, log=str, **opt)
    out = tmp_path / "stopped"
    with monkeypatch.context() as m:
        _stop_at(m, 3)
        with pytest.raises(_Stop):
            pretrain(scenes, str(out), cfg, progress=False, log=str, checkpoint_every=3, **opt)
    state = read_checkpoint(out / "resume.pth")
    assert state["step"] == 3 and len(state["history"]) == 3 and not (out / "model_last.pth").exists()
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 3
    resumed = pretrain(scenes, str(out), cfg, progress=False, log=str, **opt)
    assert resumed["resumed_from"] == 3 and not (out / "resume.pth").exists()
    _assert_same_run(straight, resumed)
    logged = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in logged] == [r["loss"] for r in straight["history"]]
    # a finished run is loaded, not trained again; a different run in its folder is refused
    again = pretrain(scenes, str(out), cfg, progress=False, log=str, **opt)
    assert again["resumed_from"] == 6
    _assert_same_run(straight, again)
    with pytest.raises(ValueError, match=r"other settings \(differing: \['train'\]\)"):
        pretrain(scenes, str(out), cfg, progress=False, log=str, **dict(opt, steps=7))
    with pytest.raises(ValueError, match=r"differing: \['scenes'\]"):
        pretrain(scenes[:2], str(out), cfg, progress=False, log=str, **opt)


def test_resume_without_the_masking_state_would_differ(tiny_run, tmp_path, monkeypatch):
    """Control: the check above has power. Dropping the masking generator's state from the
    resume (replaying the masks of step 0) changes the run."""
    scenes, cfg, opt = tiny_run
    straight = pretrain(scenes, str(tmp_path / "straight"), cfg, progress=False, log=str, **opt)
    with monkeypatch.context() as m:
        _stop_at(m, 3)
        with pytest.raises(_Stop):
            pretrain(scenes, str(tmp_path / "b"), cfg, progress=False, log=str, checkpoint_every=3, **opt)
    monkeypatch.setattr(DOSv1m1, "set_extra_state", lambda self, state: None)
    resumed = pretrain(scenes, str(tmp_path / "b"), cfg, progress=False, log=str, **opt)
    assert [r["loss"] for r in resumed["history"][:3]] == [r["loss"] for r in straight["history"][:3]]
    assert [r["loss"] for r in resumed["history"][3:]] != [r["loss"] for r in straight["history"][3:]]


def _model_of(checkpoint):
    model = pretrain_module.build_model(checkpoint["cfg"]["model"])
    model.load_state_dict(checkpoint["state_dict"])
    return model


def test_demo_killed_mid_pretraining_then_rerun_equals_uninterrupted(quick_demo, tmp_path):
    """The quick demo was SIGKILLed (with its workers) once its first pretraining checkpoint
    existed, then the same command ran again (conftest.quick_demo). Its runs must equal an
    uninterrupted pretraining of the same settings on the same scenes, and its metrics.json
    must report them."""
    out, at_kill, rerun = quick_demo["out"], quick_demo["at_kill"], quick_demo["rerun"]
    assert "dos_alpha1.3/resume.pth" in at_kill and "dos_alpha1.3/model_last.pth" not in at_kill
    assert "resuming at step" in rerun.stdout
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("resume.pth"))
    assert not (out / ".staging").exists()
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    scenes = load_split(str(out / DATA_ROOT), "train", manifest["scenes"])
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the demo's workers
    try:
        for label, (folder, _) in RUNS.items():
            resumed = read_checkpoint(out / folder / "model_last.pth")
            cfg = resumed["cfg"]
            straight = pretrain(scenes, str(tmp_path / folder), cfg["model"], seed=cfg["seed"],
                                progress=False, log=str, **cfg["train"])
            assert read_checkpoint(straight["checkpoint"])["cfg"] == cfg  # settings and scenes
            _assert_same_run(straight, dict(history=resumed["history"], model=_model_of(resumed)))
            final = metrics["final_training_stats"][label]
            assert final == pytest.approx({k: straight["history"][-1][k] for k in final}, rel=1e-6)
    finally:
        torch.set_num_threads(threads)


# ----- 3. checkpoints -----------------------------------------------------------------------------
class _WritesAFile:
    """A pickle that, loaded with weights_only=False, would create `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model_last.pth"
    torch.save(dict(state_dict={}, cfg=_WritesAFile(marker)), evil)
    refused = r"model_last.pth' refused: loading it would import and run (io|builtins)\.open"
    with pytest.raises(ValueError, match=refused):
        read_checkpoint(evil)
    with pytest.raises(ValueError, match="refused"):
        load_dos_backbone(evil)
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "export_backbone.py"), str(evil),
                          "-o", str(tmp_path / "backbone.pth")], capture_output=True, text=True)
    assert run.returncode == 2 and "error: checkpoint" in run.stderr and "refused" in run.stderr
    assert str(evil) in run.stderr and "Traceback" not in run.stderr
    assert not marker.exists() and not (tmp_path / "backbone.pth").exists()


def test_every_checkpoint_load_goes_through_read_checkpoint():
    sources = [p for d in ("pointcept_dos", "tools") for p in (ROOT / d).rglob("*.py")]
    loads = {str(p.relative_to(ROOT)): re.findall(r"torch\.load\(([^)]*)\)", p.read_text())
             for p in sources}
    loads = {path: calls for path, calls in loads.items() if calls}
    assert list(loads) == [os.path.join("pointcept_dos", "io", "checkpoints.py")], loads
    assert all("weights_only=True" in call for call in loads[list(loads)[0]])


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "real.pth"
    write_checkpoint(path, {"w": torch.randn(1000)}, epoch=1)
    return path


@pytest.mark.parametrize("case, error, words", [
    ("missing", FileNotFoundError, "no checkpoint at"),
    ("folder", ValueError, "is a folder: expected a .pth"),
    ("empty", ValueError, r"is empty \(0 bytes\): expected a .pth"),
    ("truncated", ValueError, r"not a readable torch file \(truncated or foreign\?\).*expected a .pth"),
    ("text", ValueError, r"not a (readable )?torch (file|checkpoint).*expected a .pth"),
    ("numpy", ValueError, r"not a torch checkpoint.*expected a .pth"),
    ("tensor", ValueError, r"expected a dict with 'state_dict', got Tensor"),
    ("no state_dict", ValueError, r"expected a dict with 'state_dict', got \['epoch', 'model'\]"),
    ("state_dict not a dict", ValueError, r"expected 'state_dict' to be a dict of tensors, got list"),
])
def test_bad_checkpoint_files_name_the_path_and_the_expectation(tmp_path, real_checkpoint, case, error,
                                                               words):
    path = tmp_path / f"{case.replace(' ', '_')}.pth"
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        data = real_checkpoint.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "text":
        path.write_text("model weights: see the wiki\n")
    elif case == "numpy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif case == "tensor":
        torch.save(torch.zeros(3), path)
    elif case == "no state_dict":
        torch.save(dict(model={}, epoch=3), path)
    elif case == "state_dict not a dict":
        torch.save(dict(state_dict=[1, 2]), path)
    with pytest.raises(error, match=words) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)


def test_checkpoint_writes_are_atomic_and_not_private(tmp_path):
    path = tmp_path / "model_last.pth"
    write_checkpoint(path, {"w": torch.ones(3)})
    before = path.read_bytes()
    with pytest.raises(Exception):  # a lambda cannot be pickled: the write fails half-way
        write_checkpoint(path, {"w": torch.zeros(3)}, extra=lambda: 0)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model_last.pth"]
    old = os.umask(0o022)
    try:
        write_checkpoint(tmp_path / "shared.pth", {"w": torch.ones(3)})
    finally:
        os.umask(old)
    assert (tmp_path / "shared.pth").stat().st_mode & 0o777 == 0o644


# ----- 4. feature API inputs ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return build_backbone(dict(type="DOS-SpUNet-lite", in_channels=IN_CHANNELS, channels=(8, 16),
                               enc_depths=(1, 1), dec_depths=(1,))).eval()


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(0)
    coord = rng.uniform(0, 4, (3000, 3))
    color = rng.uniform(0, 255, (3000, 3)).astype(np.float32)
    normal = rng.normal(size=(3000, 3)).astype(np.float32)
    return coord, color, normal / np.linalg.norm(normal, axis=1, keepdims=True)


def _bad(value, row, v):
    """A float64 copy of `value` with `v` at [row, 1]."""
    value = np.array(value, dtype=np.float64)
    value[row, 1] = v
    return value


@pytest.mark.parametrize("case, words", [
    ("coord nan", r"coord holds NaN or Inf in 1 of 3000 points \(first at row 7\)"),
    ("coord inf", r"coord holds NaN or Inf"),
    ("color nan", r"color holds NaN or Inf in 1 of 3000 points"),
    ("normal nan", r"normal holds NaN or Inf"),
    ("normal -inf", r"normal holds NaN or Inf"),
    ("color 300", r"color must be RGB in 0..255, got values in \[.*, 300\]"),
    ("color -1", r"color must be RGB in 0..255, got values in \[-1,"),
    ("color 16 bit", r"color must be RGB in 0..255"),
    ("color 0..1", r"looks like 0..1 colours; multiply them by 255"),
    ("millimetres", r"coord spans .* expected metres \(millimetres\? divide coord by 1000\)"),
    ("grid 0", r"grid_size must be a positive number of metres, got 0"),
    ("grid -0.02", r"grid_size must be a positive number of metres, got -0.02"),
    ("grid nan", r"grid_size must be a positive number of metres, got nan"),
    ("grid inf", r"grid_size must be a positive number of metres, got inf"),
    ("grid text", r"grid_size must be a positive number of metres, got '0.02'"),
])
def test_feature_inputs_are_checked_where_they_enter(backbone, cloud, case, words):
    coord, color, normal = cloud
    grid = 0.05
    if case == "coord nan":
        coord = _bad(coord, 7, np.nan)
    elif case == "coord inf":
        coord = _bad(coord, 0, np.inf)
    elif case == "color nan":
        color = _bad(color, 5, np.nan)
    elif case == "normal nan":
        normal = _bad(normal, 9, np.nan)
    elif case == "normal -inf":
        normal = _bad(normal, 9, -np.inf)
    elif case == "color 300":
        color = _bad(color, 3, 300.0)
    elif case == "color -1":
        color = _bad(color, 3, -1.0)
    elif case == "color 16 bit":
        color = (color * 257).astype(np.uint16)
    elif case == "color 0..1":
        color = color / 255.0
    elif case == "millimetres":
        coord = coord * 1000.0
    else:
        grid = {"grid 0": 0, "grid -0.02": -0.02, "grid nan": float("nan"), "grid inf": math.inf,
                "grid text": "0.02"}[case]
    with pytest.raises(ValueError, match=words):
        extract_features(backbone, coord, color, normal, grid_size=grid)


def test_valid_colour_encodings_give_the_same_features(backbone, cloud):
    coord, color, normal = cloud
    as_float = extract_features(backbone, coord, np.round(color), normal, grid_size=0.05)
    as_uint8 = extract_features(backbone, coord, np.round(color).astype(np.uint8), normal, grid_size=0.05)
    np.testing.assert_array_equal(as_float, as_uint8)


def test_a_frame_1e6_m_away_gives_the_same_features(backbone, cloud):
    coord, color, normal = cloud
    near = extract_features(backbone, coord, color, normal, grid_size=0.05)
    far = coord + np.array([1e6, -1e6, 1e6])  # float64, as UTM coordinates come
    np.testing.assert_allclose(extract_features(backbone, far, color, normal, grid_size=0.05), near,
                               atol=1e-4, rtol=0)
    # control: cast to float32 before centring, the same frame loses its centimetres
    lossy = extract_features(backbone, far.astype(np.float32), color, normal, grid_size=0.05)
    assert np.abs(lossy - near).max() > 1e-2


# ----- 5. core -----------------------------------------------------------------------------------
def _column_sums(target, offset):
    bounds = zip([0] + offset.tolist()[:-1], offset.tolist())
    return torch.stack([target[s:e].sum(0) for s, e in bounds])


@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_minus_inf_column_is_never_assigned_and_the_rest_stays_exact(scope):
    torch.manual_seed(0)
    logits = torch.randn(60, 8) * 3
    logits[:, 2] = -torch.inf  # prototype 2: no point may take it
    logits[:20, 5] = -torch.inf  # prototype 5: not in scene 0
    offset = torch.tensor([20, 45, 60])
    target = zipf_sinkhorn(logits, offset, zipf_prior(8, 1.3), scope=scope)
    assert torch.isfinite(target).all() and (target >= 0).all()
    assert (target[logits == -torch.inf] == 0).all()
    sums = _column_sums(target, offset)
    expected = torch.ones(3, 8)
    expected[:, 2] = 0
    expected[0, 5] = 0
    torch.testing.assert_close(sums, expected, atol=1e-5, rtol=0)
    plan = sinkhorn_log_plan(logits, zipf_prior(8, 1.3)).exp()
    assert torch.isfinite(plan).all() and float(plan[:, 2].sum()) == 0


@pytest.mark.parametrize("scope", ["batch", "scene"])
def test_minus_inf_in_a_one_point_scene(scope):
    logits = torch.tensor([[0.5, -torch.inf, 2.0], [0.1, 0.2, 0.3], [1.0, -1.0, -torch.inf]])
    target = zipf_sinkhorn(logits, torch.tensor([1, 3]), zipf_prior(3, 1.3), scope=scope)
    assert torch.isfinite(target).all()
    torch.testing.assert_close(target[0], torch.tensor([1.0, 0.0, 1.0]))
    torch.testing.assert_close(target[1:].sum(0), torch.ones(3))
    assert target[2, 2] == 0 and target[1, 2] == 1


@pytest.mark.parametrize("bad, words", [
    ("row", r"logits row 1 is -inf for every prototype .* every point must carry 1/N"),
    ("nan", r"logits contain NaN or \+inf \(1 of 4 rows, first row 2\)"),
    ("+inf", r"logits contain NaN or \+inf"),
])
def test_no_valid_assignment_is_a_clear_error(bad, words):
    logits = torch.randn(4, 3)
    if bad == "row":
        logits[1] = -torch.inf
    else:
        logits[2, 0] = torch.nan if bad == "nan" else torch.inf
    with pytest.raises(ValueError, match=words):
        zipf_sinkhorn(logits, torch.tensor([4]), zipf_prior(3, 1.3))


def _scene_target(n=30, k=6):
    return zipf_sinkhorn(torch.randn(n, k) * 2, torch.tensor([n]), zipf_prior(k, 1.3))


@pytest.mark.parametrize("case, words", [
    ("student nan", r"student_logits hold 1 NaN or Inf entries"),
    ("student inf", r"student_logits hold 1 NaN or Inf entries"),
    ("target nan", r"target holds 1 NaN or Inf and 0 negative entries"),
    ("target negative", r"target holds 0 NaN or Inf and 1 negative entries"),
    ("target not a softmap",
     r"target column \d of scene 0 sums to .*: expected each scene's column to sum to 1"),
])
def test_loss_validates_its_inputs(case, words):
    torch.manual_seed(1)
    student, target = torch.randn(30, 6), _scene_target()
    if case.startswith("student"):
        student[4, 2] = torch.nan if case == "student nan" else -torch.inf
    elif case == "target nan":
        target[3, 1] = torch.nan
    elif case == "target negative":
        target[3, 1] = -1e-3
    else:
        target = torch.rand(30, 6)
    with pytest.raises(ValueError, match=words):
        softmap_distillation_loss(student, target, torch.tensor([30]))


def test_loss_accepts_a_prototype_no_point_may_take():
    logits = torch.randn(30, 6)
    logits[:, 4] = -torch.inf
    target = zipf_sinkhorn(logits, torch.tensor([30]), zipf_prior(6, 1.3))
    student = torch.randn(30, 6, requires_grad=True)
    loss = softmap_distillation_loss(student, target, torch.tensor([30]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert (student.grad[:, 4] == 0).all()  # nothing to distil for prototype 4


@pytest.mark.parametrize("call", [
    lambda: CosineSchedule(0.994, 1.0, 100)(-1),
    lambda: CosineSchedule(0.994, 1.0, 100)(float("nan")),
    lambda: WarmupConstantSchedule(0.04, 0.07, 0)(-1),
    lambda: WarmupConstantSchedule(0.04, 0.07, 10)(float("nan")),
    lambda: warmup_schedule(0.04, 0.07, 0.05)(-1, 100),
    lambda: cosine_schedule(0.994, 1.0)(float("-inf"), 100),
])
def test_schedules_reject_negative_or_nan_steps(call):
    with pytest.raises(ValueError, match=r"step must be a finite number in \[0.0, inf\]"):
        call()


def test_schedules_at_the_edges():
    assert WarmupConstantSchedule(0.04, 0.07, 0)(0) == 0.07  # no warm-up: no division by zero
    assert CosineSchedule(0.994, 1.0, 0)(0) == 1.0
    assert CosineSchedule(0.5, 1.0, 10)(np.int64(5)) == pytest.approx(0.75)


def _alpha_limit(message):
    return float(re.search(r"expected alpha <= ([\d.]+)", message).group(1))


@pytest.mark.parametrize("dtype, k", [(torch.float32, 256), (torch.float32, 4096), (torch.float64, 256),
                                      (torch.float16, 64)])
def test_zipf_prior_never_returns_zeros_and_names_the_alpha_limit(dtype, k):
    with pytest.raises(ValueError, match=rf"underflows {dtype}.*expected alpha <= [\d.]+ for K={k}") as info:
        zipf_prior(k, 200.0, dtype=dtype)
    limit = _alpha_limit(str(info.value))
    below = zipf_prior(k, limit * 0.999, dtype=dtype)
    assert below.dtype == dtype and (below >= torch.finfo(dtype).tiny).all()
    assert float(below.double().sum()) == pytest.approx(1.0, abs=1e-2 if dtype == torch.float16 else 1e-6)
    with pytest.raises(ValueError, match="underflows"):
        zipf_prior(k, limit * 1.001, dtype=dtype)
    # what the issue met: float32 K=256 alpha=50 gave exact zeros; float64 holds it
    if dtype == torch.float32 and k == 256:
        assert 15 < limit < 16
        assert (zipf_prior(256, 50.0) > 0).all()


def test_numpy_scalars_pass_where_python_numbers_do():
    for value in (np.int8(3), np.int32(3), np.int64(3), np.uint16(3)):
        check_positive_int("n", value)
        check_non_negative_int("n", value)
    for value in (True, 3.0, np.float64(3.0), "3"):
        with pytest.raises(ValueError, match="n must be a"):
            check_positive_int("n", value)
    prior = zipf_prior(np.int64(8), np.float32(1.3))
    torch.testing.assert_close(prior, zipf_prior(8, 1.3), rtol=1e-6, atol=0)
    logits, offset = torch.randn(20, 8), torch.tensor([20])
    torch.testing.assert_close(zipf_sinkhorn(logits, offset, prior, num_iters=np.int32(3)),
                               zipf_sinkhorn(logits, offset, prior, num_iters=3))
    assert CosineSchedule(np.float32(0.5), 1.0, np.int64(10))(np.int64(10)) == 1.0
    assert WarmupConstantSchedule(0.04, 0.07, np.int16(10))(np.int64(5)) == pytest.approx(0.055)
    coord = torch.rand(500, 3) * 3
    visible = patch_visibility(coord, torch.tensor([500]), np.float64(0.4), np.float32(0.5),
                               torch.Generator().manual_seed(0))
    assert 0 < int(visible.sum()) < 500
    head = PrototypeHead(in_channels=np.int64(4), hidden_channels=np.int64(8), embed_channels=np.int64(4),
                         num_prototypes=np.int64(6), num_layers=np.int64(2))
    assert head(torch.randn(3, 4)).shape == (3, 6)


# ----- 6. CLI ------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["--steps", "0"], r"--steps: expected an integer >= 1, got 0"),
    (["--steps", "-1"], r"--steps: expected an integer >= 1, got -1"),
    (["--steps", "ten"], r"--steps: expected an integer >= 1, got 'ten'"),
    (["--threads", "0"], r"--threads: expected an integer >= 1, got 0"),
    (["--threads", "-2"], r"--threads: expected an integer >= 1, got -2"),
    (["--seed", "-1"], r"--seed: expected an integer >= 0, got -1"),
    (["--out", ""], r"--out: expected a folder path, got an empty string"),
    (["--out", "  "], r"--out: expected a folder path, got an empty string"),
])
def test_cli_arguments_are_checked_before_any_work(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)  # the default --out (dos-demo) would land here
    with pytest.raises(SystemExit) as info:
        main(["demo", "--quick", *argv])
    assert info.value.code == 2
    assert re.search(words, capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


def test_cli_version(capsys):
    from pointcept_dos import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"pointcept-dos {__version__}"


# ----- 7. randomised ------------------------------------------------------------------------------
def test_randomised_sinkhorn_and_loss_never_return_nan():
    """1,200 seeded zipf_sinkhorn + loss calls: scales 1e-6..1e4, -inf entries, empty scenes,
    one-point scenes, K from 1 to 17. No NaN ever; every scene's column sums to 1 where any of
    its scores is finite, to 0 where all are -inf; a -inf score gets exactly 0; a point with
    only -inf scores is refused, never turned into NaN."""
    rng = np.random.default_rng(2024)
    generator = torch.Generator().manual_seed(2024)
    calls = refused = 0
    for _ in range(1200):
        k = int(rng.integers(1, 18))
        sizes = rng.choice([0, 1, 2, 3, 7, 20, 41], size=int(rng.integers(1, 5)))
        n = int(sizes.sum())
        offset = torch.tensor(np.cumsum(sizes), dtype=torch.long)
        scale = float(10 ** rng.uniform(-6, 4))
        dtype = torch.float64 if rng.random() < 0.2 else torch.float32
        logits = (torch.randn(n, k, generator=generator, dtype=torch.float64) * scale).to(dtype)
        if rng.random() < 0.5:
            logits[torch.rand(n, k, generator=generator) < rng.choice([0.1, 0.5, 0.9])] = -torch.inf
        if rng.random() < 0.2 and k > 1:
            logits[:, int(rng.integers(k))] = -torch.inf
        prior = zipf_prior(k, float(rng.uniform(0, 3)))
        scope = "scene" if rng.random() < 0.5 else "batch"
        iters = int(rng.integers(1, 6))
        calls += 1
        if n and (logits == -torch.inf).all(1).any():
            with pytest.raises(ValueError, match="-inf for every prototype"):
                zipf_sinkhorn(logits, offset, prior, num_iters=iters, scope=scope)
            refused += 1
            continue
        target = zipf_sinkhorn(logits, offset, prior, num_iters=iters, scope=scope)
        assert target.shape == (n, k) and not torch.isnan(target).any() and (target >= 0).all()
        assert (target[logits == -torch.inf] == 0).all()
        for s, e in zip([0] + offset.tolist()[:-1], offset.tolist()):
            if e > s:
                live = (logits[s:e] > -torch.inf).any(0).float()
                torch.testing.assert_close(target[s:e].sum(0), live, atol=1e-4, rtol=0)
        student = (torch.randn(n, k, generator=generator) * float(10 ** rng.uniform(-6, 4))).requires_grad_()
        if n == 0:
            with pytest.raises(ValueError, match="nothing to distil"):
                softmap_distillation_loss(student, target, offset)
            continue
        loss = softmap_distillation_loss(student, target, offset)
        loss.backward()
        assert torch.isfinite(loss) and float(loss.detach()) > -1e-5
        assert torch.isfinite(student.grad).all()
    assert calls == 1200 and 0 < refused < 400
