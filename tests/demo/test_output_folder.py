"""The demo's output folder: the demo writes only into a new or empty --out, or one holding an
earlier run with the same settings (its manifest decides; the run is resumed). User files,
another run, a changed scene or a linked ScanNet stop it before it writes a byte, naming
--overwrite where that helps; it reads back only the scenes it wrote (hashes checked)."""

import json
from pathlib import Path

import numpy as np
import pytest

from pointcept_dos.cli import build_parser, main
from pointcept_dos.demo.output_folder import (
    DATA_ROOT,
    MANIFEST_NAME,
    OutputFolderError,
    ensure_scenes,
    load_split,
    prepare_output_folder,
)
from pointcept_dos.demo.run import demo_settings

ROOT = Path(__file__).resolve().parents[2]
from demo_folders import RUN_DIRS, demo_with_scenes, quick_settings, snapshot, tiny_layout  # noqa: E402


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
    demo_files = [out / "report" / "report.md", out / "dos" / "model_last.pth",
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


