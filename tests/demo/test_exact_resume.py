"""Exact resume: N pretraining steps straight equal N/2 steps, a stop, a resume and N/2 more; a
demo killed by SIGKILL mid-pretraining and run again ends as an uninterrupted one. (The
Pointcept trainer's resume is in integration/test_dos_pointcept.py.)"""

import json

import pytest
import torch

from pointcept_dos.data import IN_CHANNELS
from pointcept_dos.synthetic import generate_scene
from pointcept_dos.demo import pretrain as pretrain_module
from pointcept_dos.demo.output_folder import MANIFEST_NAME
from pointcept_dos.demo.pretrain import model_config, pretrain
from pointcept_dos.demo.run import RUNS, run_label
from pointcept_dos.demo.scene_source import SYNTHETIC_DATA, load_split, synthetic_source
from pointcept_dos.io import read_checkpoint
from pointcept_dos.models import DOSv1m1
from pointcept_dos.synthetic import scannet_layout_names


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


@pytest.mark.slow
def test_demo_killed_mid_pretraining_then_rerun_equals_uninterrupted(quick_demo, tmp_path):
    """The quick demo was SIGKILLed (with its workers) once its first pretraining checkpoint
    existed, then the same command ran again (conftest.quick_demo). Its runs must equal an
    uninterrupted pretraining of the same settings on the same scenes, and its metrics.json
    must report them."""
    out, at_kill, rerun = quick_demo["out"], quick_demo["at_kill"], quick_demo["rerun"]
    assert "dos/resume.pth" in at_kill and "dos/model_last.pth" not in at_kill
    assert "resuming at step" in rerun.stdout
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("resume.pth"))
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["pending"] == []  # nothing left half-written
    files = {rel[len(SYNTHETIC_DATA) + 1:]: sha for rel, sha in manifest["files"].items()
             if rel.startswith(SYNTHETIC_DATA)}
    source = synthetic_source(str(out / SYNTHETIC_DATA), scannet_layout_names(dict(train=6, val=2)), files)
    scenes = load_split(source, "train")
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the demo's workers
    try:
        for folder in RUNS:
            resumed = read_checkpoint(out / folder / "model_last.pth")
            cfg = resumed["cfg"]
            straight = pretrain(scenes, str(tmp_path / folder), cfg["model"], seed=cfg["seed"],
                                progress=False, log=str, **cfg["train"])
            assert read_checkpoint(straight["checkpoint"])["cfg"] == cfg  # settings and scenes
            _assert_same_run(straight, dict(history=resumed["history"], model=_model_of(resumed)))
            final = metrics["final_training_stats"][run_label(cfg["model"], model_config())]
            assert final == pytest.approx({k: straight["history"][-1][k] for k in final}, rel=1e-6)
    finally:
        torch.set_num_threads(threads)




def test_a_probe_during_pretraining_changes_nothing_and_resumes(tiny_run, tmp_path, monkeypatch):
    """The demo's probe at 25 / 50 / 100% of a run leaves it exactly as the run without it, and
    its results survive a stop and a resume."""
    from pointcept_dos.evaluation.linear_probe import linear_probe

    scenes, cfg, opt = tiny_run
    labelled = [dict(s, label=s["segment20"]) for s in scenes]
    calls = []

    def probe(backbone):
        calls.append(1)
        return linear_probe(backbone, labelled[:2], labelled[2:], opt["grid_size"], iters=5)

    plain = pretrain(scenes, str(tmp_path / "plain"), cfg, progress=False, log=str, **opt)
    probed = pretrain(scenes, str(tmp_path / "probed"), cfg, progress=False, log=str, probe=probe, **opt)
    _assert_same_run(plain, probed)
    assert [p["step"] for p in probed["probes"]] == [2, 3, 6] and len(calls) == 3  # of 6 steps
    assert all(0.0 <= p["miou"] <= 1.0 for p in probed["probes"])
    # stopped after step 4 (probes at 2 and 3 taken), resumed: the same probes, not taken twice
    out = tmp_path / "stopped"
    with monkeypatch.context() as m:
        _stop_at(m, 4)
        with pytest.raises(_Stop):
            pretrain(scenes, str(out), cfg, progress=False, log=str, checkpoint_every=4, probe=probe, **opt)
    calls.clear()
    resumed = pretrain(scenes, str(out), cfg, progress=False, log=str, probe=probe, **opt)
    assert len(calls) == 1 and resumed["probes"] == probed["probes"]
    assert pretrain(scenes, str(out), cfg, progress=False, log=str, probe=probe, **opt)["probes"] == probed["probes"]
