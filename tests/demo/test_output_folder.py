"""The demo's output folder is the user's: the demo writes and deletes only files its manifest
records with their hashes, never replaces a file it did not write (with or without --overwrite),
runs one at a time per folder, checks everything it can before the first byte, and reads back
only the scenes it wrote."""

import errno
import hashlib
import importlib.util
import json
import os

import numpy as np
import pytest

from demo_folders import claim_with_scenes, quick_plan, quick_settings, snapshot
from pointcept_dos.cli import main
from pointcept_dos.demo.output_folder import MANIFEST_NAME, OutputFolder, OutputFolderError
from pointcept_dos.demo.scene_source import SYNTHETIC_DATA, load_split
from pointcept_dos.data.pointcept_layout import DatasetError


def _demo(out, *extra):
    return main(["demo", "--quick", "--steps", "6", "--out", str(out), *extra])


def test_new_and_empty_folders_are_claimed_with_a_manifest(tmp_path):
    settings = quick_settings()
    for out in (tmp_path / "new" / "nested", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        folder = OutputFolder(out)
        assert folder.claim(settings, quick_plan()) == "new"
        on_disk = json.loads((out / MANIFEST_NAME).read_text())
        assert on_disk["settings"] == settings and on_disk["files"] == {} and on_disk["pending"] == []
        folder.release()
    # the same settings again: the earlier run is resumed, not restarted
    assert OutputFolder(tmp_path / "empty").claim(settings, quick_plan()) == "resume"


@pytest.mark.parametrize("case", ["copied dataset", "user folder", "other settings", "out is a file",
                                  "changed report", "damaged manifest", "earlier version"])
def test_refused_before_writing_a_byte(tmp_path, capsys, monkeypatch, case):
    out = tmp_path / "out"
    expect = {"copied dataset": "did not write (data)",
              "user folder": "did not write (photos)",
              "other settings": "steps 7 (now 6)", "out is a file": "is a file",
              "changed report": "(report/report.md)", "damaged manifest": "'files' is not a dict",
              "earlier version": "earlier pointcept-dos version"}[case]
    if case == "out is a file":
        out.write_text("mine")
    elif case == "user folder":
        (out / "photos").mkdir(parents=True)
    elif case == "copied dataset":  # a user's real ScanNet copied (not linked) where the demo writes
        scene = out / "data" / "scannet" / "train" / "scene0000_00"
        scene.mkdir(parents=True)
        for key in ("coord", "color", "normal", "segment20", "segment200", "instance"):
            np.save(scene / f"{key}.npy", np.ones((5, 3)))
    else:
        folder, _ = claim_with_scenes(out, quick_settings("--steps", "7" if case == "other settings" else "6"),
                                      monkeypatch)
        with folder.write(folder.path("report/report.md")) as f:
            f.write("the demo's report")
        folder.release()
        manifest = json.loads((out / MANIFEST_NAME).read_text())
        if case == "changed report":  # the user wrote over the demo's report
            (out / "report" / "report.md").write_text("my own notes")
        if case == "damaged manifest":
            (out / MANIFEST_NAME).write_text(json.dumps(dict(manifest, files=5)))
        if case == "earlier version":
            (out / MANIFEST_NAME).write_text(json.dumps(dict(manifest, version=1)))
    before = snapshot(tmp_path)
    for extra in ([], ["--overwrite"]):
        code = _demo(out, *extra)
        err = capsys.readouterr().err
        # with --overwrite a copied dataset is still refused: its files are not the demo's
        words = "6 files the run would write are not the demo's" if extra and case == "copied dataset" else expect
        assert code == 2 and words in err, err
        assert snapshot(tmp_path) == before  # not a byte written, not a byte removed
        if case in ("user folder", "other settings"):
            break  # --overwrite may go ahead there (tested below)


def test_overwrite_never_replaces_a_copied_dataset(tmp_path, capsys):
    """Issue 17, case 1: the refusal promises nothing it does not keep; --overwrite refuses too."""
    out = tmp_path / "out"
    scene = out / "data" / "scannet" / "train" / "scene0000_00"
    scene.mkdir(parents=True)
    np.save(scene / "coord.npy", np.arange(12.0).reshape(4, 3))
    before = snapshot(tmp_path)
    assert _demo(out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "data/scannet/train/scene0000_00/coord.npy" in err and "never replaces" in err, err
    assert snapshot(tmp_path) == before


def test_linked_scannet_is_never_written_through_even_with_overwrite(tmp_path, capsys):
    real = tmp_path / "real_scannet"
    (real / "train" / "scene0000_00").mkdir(parents=True)
    np.save(real / "train" / "scene0000_00" / "coord.npy", np.ones((7, 3)))
    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "data" / "scannet").symlink_to(real, target_is_directory=True)
    before = snapshot(tmp_path)
    assert _demo(out, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "data/scannet (a symbolic link)" in err, err
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_only_the_demos_own_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    folder, source = claim_with_scenes(out, quick_settings("--steps", "7"), monkeypatch)
    with folder.write(folder.path("dos/model_last.pth"), "wb") as f:
        f.write(b"weights")
    folder.release()
    user_files = [out / "notes.txt", out / "data" / "scannet" / "README", out / "report" / "mine.md",
                  out / ".staging" / "thesis.tex", out / "report" / ".report.md.backup.tmp"]
    for path in user_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    folder = OutputFolder(out)
    with pytest.raises(OutputFolderError, match="other settings"):
        folder.claim(quick_settings("--steps", "6"), quick_plan())
    assert folder.claim(quick_settings("--steps", "6"), quick_plan(), overwrite=True) == "new"
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["files"] == {} and manifest["settings"] == quick_settings("--steps", "6")
    assert not (out / "dos" / "model_last.pth").exists()
    assert not any((out / SYNTHETIC_DATA / rel).exists() for rel in source["files"])
    assert all(p.read_text() == "x" for p in user_files)


def test_a_file_the_demo_did_not_write_is_never_replaced_mid_run(tmp_path, monkeypatch):
    folder, _ = claim_with_scenes(tmp_path / "out", quick_settings(), monkeypatch)
    (tmp_path / "out" / "report").mkdir()
    (tmp_path / "out" / "report" / "metrics.json").write_text("mine")
    with pytest.raises(OutputFolderError, match="report/metrics.json was not written by the demo"):
        with folder.write(folder.path("report/metrics.json")) as f:
            f.write("{}")
    assert (tmp_path / "out" / "report" / "metrics.json").read_text() == "mine"
    assert folder.remove(folder.path("report/metrics.json")) is False
    assert (tmp_path / "out" / "report" / "metrics.json").read_text() == "mine"


def test_one_demo_at_a_time(tmp_path, capsys):
    """Issue 17, case 3: a second demo started while the first holds the folder is refused
    before it reads the first's manifest, and leaves it whole."""
    out = tmp_path / "out"
    first = OutputFolder(out)
    first.claim(quick_settings(), quick_plan())
    before = snapshot(tmp_path)
    assert _demo(out) == 2
    err = capsys.readouterr().err
    assert "another pointcept-dos demo is writing into it" in err, err
    assert snapshot(tmp_path) == before
    first.release()  # (a kill releases it too: the lock is the process's)
    assert OutputFolder(out).claim(quick_settings(), quick_plan()) == "resume"


def test_reads_only_the_scenes_it_wrote(tmp_path, monkeypatch):
    folder, source = claim_with_scenes(tmp_path / "out", quick_settings(), monkeypatch)
    data_root = tmp_path / "out" / SYNTHETIC_DATA
    assert len(source["files"]) == (6 + 2) * 6
    # a scene the demo did not write is never read, even in the split's folder
    stranger = data_root / "val" / "scene0700_00"
    stranger.mkdir()
    np.save(stranger / "coord.npy", np.ones((3, 3)))
    assert [s["name"] for s in load_split(source, "val")] == ["val/scene0006_00", "val/scene0007_00"]
    train = load_split(source, "train", labels=True)
    assert len(train) == 6 and train[0]["coord"].shape == (40, 3) and "label" in train[0]
    assert "label" not in load_split(source, "train")[0]  # pretraining never opens the labels
    # a listed file changed since it was written: refused, naming it
    np.save(data_root / "train" / "scene0001_00" / "color.npy", np.zeros((40, 3), np.uint8))
    with pytest.raises(DatasetError, match="scene0001_00.color.npy changed since this run started"):
        load_split(source, "train")


def test_scenes_written_halfway_are_completed_and_must_hash_as_recorded(tmp_path, monkeypatch):
    from pointcept_dos.demo.run import PRESETS, _synthetic_scenes

    out = tmp_path / "out"
    folder, source = claim_with_scenes(out, quick_settings(), monkeypatch)
    missing = out / SYNTHETIC_DATA / "val" / "scene0007_00" / "normal.npy"
    assert folder.remove(str(missing))  # as if killed before that file was written
    assert _synthetic_scenes(folder, PRESETS["quick"], 0) == source and missing.is_file()
    folder.remove(str(missing))
    from pointcept_dos import synthetic
    from demo_folders import tiny_scenes

    monkeypatch.setattr(synthetic, "scannet_layout_scenes", lambda counts, s: tiny_scenes(counts, 1))
    with pytest.raises(RuntimeError, match="differ from those its manifest records"):
        _synthetic_scenes(folder, PRESETS["quick"], 0)


def test_resume_clears_what_a_killed_run_left_half_written(tmp_path, monkeypatch):
    out = tmp_path / "out"
    folder, _ = claim_with_scenes(out, quick_settings(), monkeypatch)
    # a kill in the middle of a write: the file is pending, its temporary beside it
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    (out / "dos_alpha0").mkdir()
    half = out / "dos_alpha0" / ".resume.pth.x1y2z3w4.tmp"
    half.write_bytes(b"half")
    # a kill after a write's rename, before its digest was recorded: the file is complete
    renamed = out / "dos_alpha0" / "model_last.pth"
    renamed.write_bytes(b"complete")
    pending = ["dos_alpha0/model_last.pth", "dos_alpha0/resume.pth"]
    (out / MANIFEST_NAME).write_text(json.dumps(dict(manifest, pending=pending)))
    folder.release()
    mine = out / "dos_alpha0" / ".resume.pth.mine.tmp"  # not the shape of a temporary: the user's
    mine.write_bytes(b"mine")
    assert OutputFolder(out).claim(quick_settings(), quick_plan()) == "resume"
    assert not half.exists() and mine.read_bytes() == b"mine"
    assert renamed.read_bytes() == b"complete"  # kept, and the demo's from now on
    after = json.loads((out / MANIFEST_NAME).read_text())
    assert after["pending"] == [] and "dos_alpha0/resume.pth" not in after["files"]
    assert after["files"]["dos_alpha0/model_last.pth"] == hashlib.sha256(b"complete").hexdigest()


def test_a_failed_write_leaves_nothing_pending_and_the_old_file(tmp_path, monkeypatch):
    folder, _ = claim_with_scenes(tmp_path / "out", quick_settings(), monkeypatch)
    path = folder.path("report/report.md")
    with folder.write(path) as f:
        f.write("first")
    with pytest.raises(OSError, match="No space left"):
        with folder.write(path) as f:
            f.write("second")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert open(path).read() == "first" and not [p for p in os.listdir(os.path.dirname(path)) if p.endswith(".tmp")]
    manifest = folder.manifest()
    assert manifest["pending"] == [] and "report/report.md" in manifest["files"]
    with folder.write(path) as f:  # still the demo's: it may write it again
        f.write("third")


def test_a_full_disk_is_a_clear_error_and_stays_resumable(tmp_path, capsys, monkeypatch):
    """Issue 17, case 12: ENOSPC while the demo writes: exit 2, what to do, nothing half-written."""
    from pointcept_dos.demo import output_folder

    real_write = output_folder.OutputFolder.write
    calls = []

    def full_after_three(self, path, mode="w"):
        calls.append(path)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, path, mode)

    monkeypatch.setattr(output_folder.OutputFolder, "write", full_after_three)
    out = tmp_path / "out"
    assert _demo(out, "--threads", "1") == 2
    err = capsys.readouterr().err
    assert "no space left on the disk of" in err and "run the same command again: the run resumes" in err, err
    assert not list(out.rglob("*.tmp")) and json.loads((out / MANIFEST_NAME).read_text())["pending"] == []
    assert len(json.loads((out / MANIFEST_NAME).read_text())["files"]) == 3


@pytest.mark.parametrize("argv, words", [
    (["--backbone", "NOPE"], "--backbone: 'NOPE' is not a demo backbone"),
    (["--seed", str(2**64)], f"--seed: expected an integer in [0, {2**32 - 1}], got {2**64}"),
    (["--threads", "1000"], "--threads: expected at most this machine's"),
    (["--steps", "1000000000"], "--steps: expected at most 100000"),
    (["--runs", "dos_alpha0"], "--runs: expected dos and any of"),
    (["--runs", "dos", "nope"], "--runs: expected dos and any of"),
])
def test_cli_values_are_checked_before_a_byte_is_written(tmp_path, capsys, argv, words):
    """Issue 17, case 10."""
    out = tmp_path / "out"
    assert _demo(out, *argv) == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert not out.exists()


@pytest.mark.skipif(importlib.util.find_spec("pointcept") is not None, reason="Pointcept is importable here")
def test_a_pointcept_backbone_without_pointcept_is_refused_first(tmp_path, capsys):
    assert _demo(tmp_path / "out", "--backbone", "SpUNet-v1m1") == 2
    assert "Pointcept does not import" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case, words", [
    ("parent is a file", "is a file, so no folder can be made below it"),
    ("read-only parent", "is not writable by this user"),
    ("name too long", "bytes, over this file system's"),
    ("dangling link", "which does not exist"),
])
def test_out_paths_that_cannot_be_written_are_named(tmp_path, capsys, case, words):
    if case == "read-only parent" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    base = tmp_path / "base"
    base.mkdir()
    out = {"parent is a file": base / "file" / "out", "read-only parent": base / "ro" / "out",
           "name too long": base / ("x" * 300), "dangling link": base / "link"}[case]
    if case == "parent is a file":
        (base / "file").write_text("mine")
    if case == "read-only parent":
        (base / "ro").mkdir()
        (base / "ro").chmod(0o555)
    if case == "dangling link":
        out.symlink_to(base / "gone")
    before = snapshot(tmp_path)
    assert _demo(out) == 2
    err = capsys.readouterr().err
    assert words in err, err
    assert snapshot(tmp_path) == before
