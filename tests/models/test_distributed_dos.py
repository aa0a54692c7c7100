"""DOS-v1m1 in two processes (gloo, CPU), against one process on the same global batch: the
distributed batch-scope Zipf-Sinkhorn gives the same loss, DDP the same gradients, the usage and
monitor all-reduces (what ZipfSinkhornHook calls) the same counts; and a rank whose scene is
degenerate (every term empty) neither hangs nor breaks the other (timeouts on everything).
Pointcept's own trainer in two processes: tests/test_dos_pointcept.py."""

import os
import socket
import time
import warnings
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from dos_batches import tiny_model, two_view_batch
from pointcept_dos.models.monitor import scalars
from pointcept_dos.models.step_sequence import StepSequence

# LayerNorm: no batch statistics coupling the scenes; no masking: each process would draw its
# own masks, the single process one set for both scenes
CONFIG = dict(
    backbone=dict(type="DOS-SpUNet-lite", in_channels=6, channels=(8, 16), enc_depths=(1, 1), dec_depths=(1,),
                  norm="ln"),
    mask_ratio=0.0,
    sinkhorn_scope="batch",
)
TIMEOUT_S = 120


def scene_batch(batch, scene):
    """The two views of one scene of a `two_view_batch`."""
    offset = batch["global_offset"]
    start = 0 if scene == 0 else int(offset[2 * scene - 1])
    end = int(offset[2 * scene + 1])
    part = {k: batch[k][start:end] for k in ("global_coord", "global_origin_coord", "global_feat")}
    part["global_offset"] = offset[2 * scene: 2 * scene + 2] - start
    part["grid_size"] = batch["grid_size"]
    return part


def one_point_scene():
    coord = torch.tensor([[1.0, 1.0, 1.0], [1.5, 1.0, 1.0]])
    return dict(global_coord=coord, global_origin_coord=coord.clone(),
                global_feat=torch.cat([coord, torch.rand(2, 3)], 1), global_offset=torch.tensor([1, 2]),
                grid_size=torch.tensor([0.05]))


def step(model, batch):
    """Forward and backward in the trainers' step order; -> (loss, {name: grad}, usage,
    monitor report) with the report's all-reduces."""
    group = dist.group.WORLD if dist.is_initialized() else None
    inner = getattr(model, "module", model)
    steps = StepSequence(inner)
    steps.begin(0, 10)
    out = model(batch)
    out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in inner.student.named_parameters()}
    steps.end(update_teacher=False)
    report = steps.monitor.report(group)
    return float(out["loss"].detach()), grads, report["usage"], scalars(report)


def _worker(rank, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=timedelta(seconds=TIMEOUT_S))
    try:
        torch.set_num_threads(1)
        # two runs: each process one scene of the global batch; then rank 1 a degenerate scene
        for name, batch in [("split", scene_batch(two_view_batch(), rank)),
                            ("degenerate", one_point_scene() if rank else scene_batch(two_view_batch(), 0))]:
            torch.manual_seed(0)
            # as Pointcept's trainer: buffers (the usage counts) stay per process
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # broadcast_buffers' new name
                model = DistributedDataParallel(tiny_model(**CONFIG), broadcast_buffers=False)
            loss, grads, usage, monitor = step(model, batch)
            torch.optim.SGD(model.parameters(), lr=0.1).step()
            params = {n: p.detach().clone() for n, p in model.module.student.named_parameters()}
            torch.save(dict(loss=loss, grads=grads, usage=usage, monitor=monitor, params=params),
                       os.path.join(out_dir, f"{name}{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of two gloo processes computed: {"split": [rank0, rank1], "degenerate": [...]}."""
    out = tmp_path_factory.mktemp("ranks")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.spawn(_worker, args=(port, str(out)), nprocs=2, join=False)
    deadline = time.time() + TIMEOUT_S
    while not context.join(timeout=5):
        if time.time() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"two DOS processes did not finish within {TIMEOUT_S} s (a rank hangs)")
    return {name: [torch.load(out / f"{name}{r}.pt") for r in range(2)] for name in ("split", "degenerate")}


def test_two_processes_equal_one_process_on_the_global_batch(ranks):
    ranks = ranks["split"]
    torch.manual_seed(0)
    loss, grads, usage, monitor = step(tiny_model(**CONFIG), two_view_batch())
    # each rank's loss is the mean over its 2 of the 4 views; the batch-scope Sinkhorn balanced
    # over both processes' points, so the mean of the ranks' losses is the one-process loss
    assert (ranks[0]["loss"] + ranks[1]["loss"]) / 2 == pytest.approx(loss, rel=1e-5)
    assert ranks[0]["loss"] != pytest.approx(ranks[1]["loss"], rel=1e-3)  # different scenes
    for name, grad in grads.items():  # DDP averages the ranks' gradients (float32 sums)
        assert (ranks[0]["grads"][name] - grad).norm() <= 1e-4 * grad.norm() + 1e-8, name
    for r in ranks:
        assert torch.allclose(r["usage"], usage, atol=1e-12)  # the hook's all-reduced usage
        assert r["monitor"]["terms"] == monitor["terms"] == 8 and r["monitor"]["empty_terms"] == 0
        assert r["monitor"]["steps"] == 2  # summed over the two processes
        assert r["monitor"]["target_entropy"] == pytest.approx(monitor["target_entropy"], rel=1e-6)
    assert all(torch.equal(ranks[0]["params"][n], ranks[1]["params"][n]) for n in ranks[0]["params"])


def test_a_rank_with_a_degenerate_scene_does_not_hang_the_other(ranks):
    ranks = ranks["degenerate"]
    assert ranks[1]["loss"] == 0.0 and ranks[0]["loss"] > 0
    assert ranks[0]["monitor"]["empty_steps"] == 1 and ranks[0]["monitor"]["empty_terms"] == 4
    # rank 1 contributed zero gradients (not missing ones: DDP would wait for them); the
    # averaged gradient reached it
    grads = ranks[1]["grads"]
    assert any(g.abs().sum() > 0 for g in grads.values())
    assert all(torch.equal(ranks[0]["grads"][n], grads[n]) for n in grads)
    assert all(torch.equal(ranks[0]["params"][n], ranks[1]["params"][n]) for n in ranks[0]["params"])

