"""pointcept_dos.integration.cpu_mode and pointops_knn: the plain-torch kNN (no Pointcept needed) and, with POINTCEPT_ROOT set,
the CPU-mode patches on Pointcept's real models, evaluator helpers and config builds."""

import subprocess
import sys
import textwrap

import pytest
import torch

from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept

from pointcept_dos.integration import cpu_mode
from pointcept_dos.integration.pointops_knn import knn_query


def brute_force_knn(k, xyz, offset, new_xyz, new_offset):
    """Reference: per query, sort every point of its own segment by distance (float64)."""
    idx = torch.full((new_xyz.shape[0], k), -1, dtype=torch.int64)
    dist = torch.full((new_xyz.shape[0], k), 1e5, dtype=torch.float64)
    start = new_start = 0
    for end, new_end in zip(offset.tolist(), new_offset.tolist()):
        for q in range(new_start, new_end):
            d = (xyz[start:end].double() - new_xyz[q].double()).norm(dim=1)
            order = torch.argsort(d, stable=True)[:k]
            idx[q, : len(order)] = order + start
            dist[q, : len(order)] = d[order]
        start, new_start = end, new_end
    return idx, dist


def test_knn_query_matches_brute_force_per_segment():
    gen = torch.Generator().manual_seed(0)
    sizes, new_sizes = [50, 3, 120], [20, 7, 33]  # middle segment smaller than k
    xyz = torch.rand(sum(sizes), 3, generator=gen) * 4
    new_xyz = torch.rand(sum(new_sizes), 3, generator=gen) * 4
    offset = torch.tensor(sizes).cumsum(0).int()
    new_offset = torch.tensor(new_sizes).cumsum(0).int()
    k = 8
    idx, dist = knn_query(k, xyz, offset, new_xyz, new_offset)
    ref_idx, ref_dist = brute_force_knn(k, xyz, offset, new_xyz, new_offset)
    assert idx.dtype == torch.int32 and dist.dtype == torch.float32
    assert idx.shape == (new_xyz.shape[0], k)
    torch.testing.assert_close(dist.double(), ref_dist, rtol=0, atol=1e-5)
    # indices equal wherever distances are not tied (random points: everywhere)
    assert torch.equal(idx.long(), ref_idx)
    # every neighbour lies in the query's own segment; a 3-point segment pads with -1 / 1e5
    assert (idx[20:27, 3:] == -1).all() and (dist[20:27, 3:] == 1e5).all()
    assert ((idx[20:27, :3] >= 50) & (idx[20:27, :3] < 53)).all()


def test_knn_query_defaults_to_self_query():
    gen = torch.Generator().manual_seed(1)
    xyz = torch.rand(200, 3, generator=gen)
    offset = torch.tensor([90, 200], dtype=torch.int32)
    idx, dist = knn_query(4, xyz, offset)
    ref_idx, ref_dist = brute_force_knn(4, xyz, offset, xyz, offset)
    assert torch.equal(idx.long(), ref_idx)
    torch.testing.assert_close(dist.double(), ref_dist, rtol=0, atol=1e-5)
    assert torch.equal(idx[:, 0].long(), torch.arange(200))  # each point is its own nearest
    assert (dist[:, 0] == 0).all()


def test_enable_cpu_mode_refuses_on_a_cuda_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    before = cpu_mode.applied_patches()
    with pytest.raises(RuntimeError, match="allow_cuda"):
        cpu_mode.enable_cpu_mode()
    assert cpu_mode.applied_patches() == before


def test_one_thread_on_cpu_restores_the_thread_count_even_on_error():
    seen = []

    def kernel(features, fail=False):
        seen.append(torch.get_num_threads())
        if fail:
            raise ValueError("kernel failed")
        return features

    wrapped = cpu_mode._one_thread_on_cpu(kernel)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.ones(3)
        assert wrapped(x) is x
        with pytest.raises(ValueError, match="kernel failed"):
            wrapped(x, fail=True)
        assert seen == [1, 1] and torch.get_num_threads() == 2

        class CudaLike:  # CUDA features are left to spconv's own threading
            is_cuda = True

        wrapped(CudaLike())
        assert seen[-1] == 2
    finally:
        torch.set_num_threads(before)


def test_cpu_mode_is_not_applied_on_import():
    # a fresh interpreter: importing the module patches nothing
    code = textwrap.dedent(
        """
        import sys, torch
        original = torch.Tensor.cuda
        from pointcept_dos.integration import cpu_mode as m
        assert m.applied_patches() == {} and not m.is_enabled()
        assert torch.Tensor.cuda is original and "pointops" not in sys.modules
        print("clean")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "clean" in out.stdout


PATCHED_RUN = textwrap.dedent(
    """
    import sys, torch
    from pointcept_dos.integration import cpu_mode
    patches = cpu_mode.enable_cpu_mode()
    print("PATCHES", sorted(patches))

    import pointcept.engines.train, pointcept.datasets, pointcept.models  # noqa: F401
    import pointops
    from pointcept.models.builder import build_model
    from pointcept.engines.hooks import evaluator
    from pointcept.utils.misc import intersection_and_union_gpu

    torch.manual_seed(0)
    # pointops: the stand-in (or wrapped) knn_query answers on CPU
    xyz = torch.rand(64, 3)
    idx, _ = pointops.knn_query(4, xyz, torch.tensor([30, 64], dtype=torch.int32))
    assert idx.shape == (64, 4) and (idx[:30] < 30).all() and (idx[30:] >= 30).all()

    # histc on int64 labels, through the name the evaluator imported
    out = torch.tensor([0, 1, 1, 2, 2]); tgt = torch.tensor([0, 1, 2, 2, -1])
    inter, union, target = evaluator.intersection_and_union_gpu(out, tgt, 3, -1)
    assert inter.tolist() == [1, 1, 1] and target.tolist() == [1, 1, 2], (inter, target)
    assert intersection_and_union_gpu is evaluator.intersection_and_union_gpu

    # .cuda() stays on CPU (trainer, CheckpointLoader's storage.cuda())
    assert torch.ones(2).cuda().device.type == "cpu"
    assert torch.nn.Linear(2, 2).cuda().weight.device.type == "cpu"

    def batch(n=300, scenes=2, channels=6):
        coord = torch.rand(n * scenes, 3) * 3
        grid = (coord / 0.05).int()
        return dict(
            coord=coord, grid_coord=grid, feat=torch.rand(n * scenes, channels),
            offset=torch.tensor([n * (i + 1) for i in range(scenes)]),
            segment=torch.randint(0, 20, (n * scenes,)),
        )

    spunet = build_model(dict(
        type="DefaultSegmentor",
        backbone=dict(type="SpUNet-v1m1", in_channels=6, num_classes=20,
                      channels=(8, 8, 16, 16, 16, 16, 8, 8), layers=(1, 1, 1, 1, 1, 1, 1, 1)),
        criteria=[dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)],
    ))
    spunet.train()
    loss = spunet(batch())["loss"]
    loss.backward()  # spconv CPU backward: torch.cuda.current_stream() without CUDA (issue 366)
    assert torch.isfinite(loss)
    spunet.eval()
    with torch.no_grad():
        logits = spunet(batch())["seg_logits"]  # spconv eval with conv bias on CPU
    assert torch.isfinite(logits).all()
    # the bias-after path equals spconv's training-mode arithmetic (same conv, bias added after)
    import spconv.pytorch as spconv
    conv = spconv.SubMConv3d(6, 4, 3, bias=True, indice_key="t")
    torch.nn.init.normal_(conv.bias)
    grid = torch.unique((torch.rand(500, 3) * 20).int(), dim=0)
    indices = torch.cat([torch.zeros(len(grid), 1, dtype=torch.int32), grid], 1)
    x = spconv.SparseConvTensor(torch.rand(len(grid), 6), indices, [20, 20, 20], 1)
    conv.train()
    ref = conv(x).features.detach()
    conv.eval()
    with torch.no_grad():
        got = conv(x).features
    torch.testing.assert_close(got, ref)
    # spconv_cpu_one_thread: with 2 threads, unpatched spconv gets ~1 call in 20 wrong; patched,
    # 60 calls equal the one-thread answer
    torch.set_num_threads(1)
    ref = conv(x).features
    torch.set_num_threads(2)
    for _ in range(60):
        x = spconv.SparseConvTensor(x.features, indices, [20, 20, 20], 1)
        torch.testing.assert_close(conv(x).features, ref, rtol=0, atol=1e-6)
    assert torch.get_num_threads() == 2

    # stock PT-v3m2 settings with enable_flash=True build and run without flash-attn
    ptv3 = build_model(dict(
        type="DefaultSegmentorV2", num_classes=20, backbone_out_channels=16,
        backbone=dict(type="PT-v3m2", in_channels=6, enable_flash=True,
                      upcast_attention=False, upcast_softmax=False,
                      order=("z", "z-trans", "hilbert", "hilbert-trans"), stride=(2, 2),
                      enc_depths=(1, 1, 1), enc_channels=(16, 16, 32), enc_num_head=(1, 1, 2),
                      enc_patch_size=(64, 64, 64), dec_depths=(1, 1), dec_channels=(16, 16),
                      dec_num_head=(1, 1), dec_patch_size=(64, 64), enc_mode=False),
        criteria=[dict(type="CrossEntropyLoss", loss_weight=1.0, ignore_index=-1)],
    ))
    assert all(not getattr(m, "enable_flash", False) for m in ptv3.modules())
    ptv3.train()
    loss = ptv3(batch())["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    print("ALL-OK")
    """
)


@requires_pointcept
def test_cpu_mode_patches_real_pointcept():
    code = PATCHED_RUN.format(tools=str(REPO_ROOT / "tools"))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=pointcept_env()
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    assert "ALL-OK" in out.stdout
    # the log line names what was patched
    assert "pointcept-dos CPU mode: patched" in out.stderr
    for name in ("cuda_calls_to_cpu", "spconv_cpu_stream", "spconv_eval_bias", "spconv_cpu_one_thread", "histc_int64", "no_flash_attention"):
        assert name in out.stdout, name
