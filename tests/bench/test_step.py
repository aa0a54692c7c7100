"""bench/step.py on a GPU without a GPU: the device it is asked for (and a clear error when
CUDA is missing), autocast as the pretrain configs say, the batch moved to the device, the clock
read after a CUDA synchronise and the CUDA allocator's peaks reported, and a step that really
runs under autocast with a GradScaler (plain-PyTorch backbone on the CPU, no Pointcept)."""

import pytest
import torch

import step
from dos_batches import tiny_model, two_view_batch
from pointcept_dos.models.step_sequence import StepSequence


def test_cuda_is_refused_clearly_where_there_is_none():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="--device cuda: CUDA is not available"):
        step.resolve_device("cuda")
    with pytest.raises(ValueError, match="--device must be cpu, cuda or cuda:N, got 'gpu'"):
        step.resolve_device("gpu")
    assert step.resolve_device("cpu") == torch.device("cpu")


def test_autocast_follows_the_pretrain_config_on_cuda_only(tmp_path):
    assert step.amp_from_config() == "bfloat16"  # configs/dos/_base_/pretrain-dos-ptv3.py
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert step.resolve_amp("config", cuda) == "bfloat16"
    assert step.resolve_amp("config", cpu) is None  # as CPU mode (-g 0) turns AMP off
    assert step.resolve_amp("float16", cpu) == "float16" and step.resolve_amp("none", cuda) is None
    off = tmp_path / "off.py"
    off.write_text("enable_amp = False\namp_dtype = 'bfloat16'\n")
    assert step.resolve_amp("config", cuda, config=off) is None
    fp16 = tmp_path / "fp16.py"
    fp16.write_text("from x import y as __y\nenable_amp = True\n")  # Pointcept's default dtype
    assert step.amp_from_config(fp16) == "float16"
    with pytest.raises(ValueError, match="--amp must be one of"):
        step.resolve_amp("fp8", cuda)


def test_the_batch_goes_to_the_device():
    batch = dict(two_view_batch(num_scenes=1, points=50), name=["scene0"])
    moved = step.to_device(batch, torch.device("meta"))
    assert all(v.device.type == "meta" for k, v in moved.items() if k != "name")
    assert moved["name"] == ["scene0"]


def test_on_cuda_the_clock_waits_for_the_kernels_and_memory_is_the_allocators(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: calls.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 5 * 2**20)
    meter = step.DeviceMeter(torch.device("cuda"))
    meter.reset()
    assert calls == ["sync", "reset"]
    monkeypatch.setattr(step.time, "perf_counter", lambda: calls.append("clock") or 1.0)
    meter.now()
    assert calls[-2:] == ["sync", "clock"]  # synchronised before the clock is read
    assert meter.peak() == dict(peak_allocated_mb=3.0, peak_reserved_mb=5.0)


def _model():
    model = tiny_model()
    model.steps = StepSequence(model)  # as the Pointcept adapter has
    return model


@pytest.mark.parametrize("amp", [None, "bfloat16"])
def test_a_step_runs_under_the_autocast_asked_for(amp):
    torch.manual_seed(0)
    data = [two_view_batch(num_scenes=1, points=300, seed=s) for s in range(3)]
    row = step.run_steps(_model(), "DOS-v1m1", data, torch.device("cpu"), amp)
    head = row["dtypes"]["student.head"]
    assert head["output"] == ("bfloat16" if amp else "float32"), row["dtypes"]
    assert len(row["times"]) == 3 and row["first_step_s"] == row["times"][0]
    assert row["finite"] and len(row["losses"]) == 3 and row["peak_rss_mb"] >= 0
    if amp:
        assert row["scale"] == 65536.0 and row["skipped_steps"] == 0  # finite grads: no skip
    else:
        assert row["scale"] is None


def test_the_cpu_rehearsal_keeps_the_scaler_without_casting():
    data = [two_view_batch(num_scenes=1, points=300, seed=s) for s in range(2)]
    row = step.run_steps(_model(), "DOS-v1m1", data, torch.device("cpu"), "bfloat16", cast=False)
    assert row["dtypes"]["student.head"]["output"] == "float32" and row["scale"] is not None
