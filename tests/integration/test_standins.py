"""The opt-in stand-ins (integration/standins.py): segment_csr / segment_coo against a per-segment
reference (and torch_scatter itself where it is installed), values and gradients; the pointops
stand-in's kNN against brute force; DOS_STANDINS parsing; what each mode installs; and, with
Pointcept, a PT-v3m2 forward and backward through the stand-in equal to the real torch_scatter's."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from pointcept_dos.integration import standins
from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept

REDUCES = ("sum", "mean", "min", "max")


def _reference(src, bounds, reduce):
    """Each segment reduced on its own with plain torch; an empty one is 0."""
    rows = []
    for start, end in bounds:
        part = src[start:end]
        if len(part) == 0:
            rows.append(torch.zeros(src.shape[1:], dtype=src.dtype))
        elif reduce == "sum":
            rows.append(part.sum(0))
        elif reduce == "mean":
            rows.append(part.mean(0))
        elif reduce == "min":
            rows.append(part.min(0).values)
        else:
            rows.append(part.max(0).values)
    return torch.stack(rows)


def _case(seed=0):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([3, 0, 5, 1, 0, 7])  # empty segments included
    src = torch.randn(int(lengths.sum()) + 2, 4, generator=gen, dtype=torch.float64)
    indptr = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]) + 1  # rows 1..N-1
    bounds = list(zip(indptr[:-1].tolist(), indptr[1:].tolist()))
    return src, indptr, bounds


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_csr_matches_a_per_segment_reference_in_value_and_gradient(reduce):
    src, indptr, bounds = _case()
    a = src.clone().requires_grad_(True)
    b = src.clone().requires_grad_(True)
    out = standins.segment_csr(a, indptr, reduce=reduce)
    ref = _reference(b, bounds, reduce)
    assert out.shape == (len(bounds), 4) and out.dtype == src.dtype
    torch.testing.assert_close(out, ref)
    weights = torch.randn_like(ref)  # random cotangent: every row's gradient counts
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)
    assert a.grad[0].abs().sum() == 0 and a.grad[-1].abs().sum() == 0  # rows outside indptr


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_coo_matches_a_per_segment_reference(reduce):
    src, indptr, bounds = _case(1)
    src = src[1:-1]  # every row in a segment
    index = torch.repeat_interleave(torch.arange(len(bounds)), indptr.diff())
    out = standins.segment_coo(src, index, reduce=reduce, dim_size=len(bounds) + 2)
    ref = _reference(src, [(s - 1, e - 1) for s, e in bounds] + [(0, 0), (0, 0)], reduce)
    torch.testing.assert_close(out, ref)
    # default dim_size: the last non-empty segment + 1
    assert standins.segment_coo(src, index, reduce=reduce).shape[0] == len(bounds)


@pytest.mark.parametrize("reduce", ("min", "max"))
def test_at_ties_the_whole_gradient_goes_to_the_first_tied_entry(reduce):
    """As torch_scatter (torch's scatter_reduce alone would split it among the tied entries)."""
    src = torch.tensor([[1.0, 5.0], [3.0, 5.0], [3.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    if reduce == "min":
        src = -src
    for op in ("csr", "coo"):
        leaf = src.clone().requires_grad_(True)
        if op == "csr":
            out = standins.segment_csr(leaf, torch.tensor([0, 3, 5]), reduce=reduce)
        else:
            out = standins.segment_coo(leaf, torch.tensor([0, 0, 0, 1, 1]), reduce=reduce)
        torch.testing.assert_close(out.detach().abs(), torch.tensor([[3.0, 5.0], [0.0, 0.0]]))
        (out * torch.tensor([[2.0, 7.0], [3.0, 4.0]])).sum().backward()
        expected = torch.tensor([[0.0, 7.0], [2.0, 0.0], [0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
        torch.testing.assert_close(leaf.grad, expected)


@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_ops_equal_torch_scatter(reduce):
    torch_scatter = pytest.importorskip("torch_scatter")
    if standins._marker(torch_scatter):
        pytest.skip("torch_scatter is a stand-in in this process")
    src, indptr, _ = _case(2)
    src = src.float()
    torch.testing.assert_close(standins.segment_csr(src, indptr, reduce=reduce),
                               torch_scatter.segment_csr(src, indptr, reduce=reduce))
    index = torch.repeat_interleave(torch.arange(len(indptr) - 1), indptr.diff())
    part = src[int(indptr[0]):int(indptr[-1])]
    torch.testing.assert_close(standins.segment_coo(part, index, reduce=reduce, dim_size=len(indptr) - 1),
                               torch_scatter.segment_coo(part, index, reduce=reduce, dim_size=len(indptr) - 1))
    tied = part.repeat_interleave(2, dim=0).round(decimals=1)  # every row twice, and more ties
    grads = []
    for segment_csr in (standins.segment_csr, torch_scatter.segment_csr):
        leaf = tied.clone().requires_grad_(True)
        (segment_csr(leaf, (indptr - indptr[0]) * 2, reduce=reduce) * torch.arange(1.0, 5.0)).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_segment_ops_reject_bad_arguments_naming_them():
    src = torch.randn(5, 2)
    with pytest.raises(ValueError, match="reduce must be one of"):
        standins.segment_csr(src, torch.tensor([0, 5]), reduce="prod")
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        standins.segment_csr(src, torch.tensor([0, 4, 2]))
    with pytest.raises(ValueError, match="indptr must be a 1-D tensor"):
        standins.segment_csr(src, torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match=r"index must be a 1-D tensor with one entry per row of src \(5\)"):
        standins.segment_coo(src, torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="dim_size=1 is smaller than index.max"):
        standins.segment_coo(src, torch.tensor([0, 0, 1, 1, 2]), dim_size=1)
    with pytest.raises(NotImplementedError, match="takes no out="):
        standins.segment_csr(src, torch.tensor([0, 5]), out=torch.zeros(1, 2))


def test_the_pointops_standin_is_exact_knn_and_names_what_it_lacks():
    pointops = standins.STANDINS["pointops"]()
    gen = torch.Generator().manual_seed(3)
    xyz = torch.rand(50, 3, generator=gen)
    offset = torch.tensor([20, 50], dtype=torch.int32)
    idx, dist = pointops.knn_query(3, xyz, offset)
    for start, end in ((0, 20), (20, 50)):
        brute = torch.cdist(xyz[start:end], xyz[start:end], compute_mode="donot_use_mm_for_euclid_dist").topk(3, largest=False)
        assert torch.equal(idx[start:end].long(), brute.indices + start)
        torch.testing.assert_close(dist[start:end], brute.values)
    with pytest.raises(NotImplementedError, match="pointops.ball_query is not available"):
        pointops.ball_query(1, 2)


@pytest.mark.parametrize("value, mode", [(None, None), ("", None), ("0", None), ("1", "missing"),
                                         ("missing", "missing"), ("ALL", "all")])
def test_the_environment_variable_selects_the_mode(value, mode):
    environ = {} if value is None else {"DOS_STANDINS": value}
    assert standins.requested_mode(environ) == mode


def test_a_bad_value_names_the_variable_and_the_choices():
    with pytest.raises(ValueError, match=r"DOS_STANDINS='yes': expected 1 / missing .* all .* 0 / unset"):
        standins.requested_mode({"DOS_STANDINS": "yes"})


PROBE = textwrap.dedent("""
    import json, sys
    from pointcept_dos.integration.standins import install_requested_standins, active_standins
    installed = install_requested_standins()
    import torch_scatter
    print(json.dumps(dict(installed=sorted(installed), active=sorted(active_standins()),
                          segment_csr=torch_scatter.segment_csr.__module__)))
""")


def _probe(tmp_path, value, fake=(), broken=()):
    """Run PROBE with DOS_STANDINS=value and, on the path, a fake importable module per name in
    `fake` and one that fails to import (an extension built for another torch) per `broken`."""
    for names, body in ((fake, "def segment_csr(*a, **k):\n    return 'real'\n"),
                        (broken, "raise ImportError('undefined symbol: built for another torch')\n")):
        for name in names:
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / "__init__.py").write_text(body)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO_ROOT)]))
    env.pop("DOS_STANDINS", None)
    if value is not None:
        env["DOS_STANDINS"] = value
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_missing_installs_only_what_does_not_import(tmp_path):
    found = _probe(tmp_path, "1", fake=("torch_scatter", "torch_cluster", "wandb", "open3d"), broken=("pointops",))
    assert found["installed"] == ["pointops"] == found["active"]
    assert found["segment_csr"] == "torch_scatter"  # the real (here: fake) module answers


def test_all_replaces_even_importable_modules_and_every_one_is_named(tmp_path):
    found = _probe(tmp_path, "all", fake=("torch_scatter",))
    assert found["installed"] == sorted(standins.STANDINS)
    assert found["active"] == sorted(standins.STANDINS)
    assert found["segment_csr"] == "pointcept_dos.integration.standins"


def test_nothing_is_installed_by_default(tmp_path):
    found = _probe(tmp_path, None, fake=("torch_scatter",))
    assert found["installed"] == [] and found["active"] == []


PTV3_FORWARD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tools!r})
    from _dos_entry import bootstrap
    bootstrap(["--num-gpus", "0"])
    import torch
    from pointcept.models.builder import build_model
    from pointcept_dos.integration.standins import active_standins
    torch.manual_seed(0)
    model = build_model(dict(type="PT-v3m2", in_channels=6, enc_depths=[1, 1, 1], enc_channels=[8, 16, 16],
                             enc_num_head=[1, 2, 2], enc_patch_size=[16, 16, 16], stride=[2, 2],
                             enc_mode=True, enable_flash=False, drop_path=0.0))
    gen = torch.Generator().manual_seed(1)
    coord = torch.rand(600, 3, generator=gen) * 2
    feat = torch.randn(600, 6, generator=gen, requires_grad=True)
    out = model(dict(coord=coord, feat=feat, grid_size=0.05, offset=torch.tensor([300, 600])))
    out.feat.square().sum().backward()
    print(json.dumps(dict(feat=out.feat.tolist(), grad=feat.grad.tolist(),
                          standins=sorted(active_standins()))))
""")


@pytest.mark.slow  # two Pointcept imports: ~35 s on 2 cores
@requires_pointcept
def test_ptv3_through_the_torch_scatter_standin_equals_the_real_one():
    """PT-v3m2's pooling (segment_csr, reduce max and mean) with the stand-in and with the real
    torch_scatter: the same features and input gradients."""
    code = PTV3_FORWARD.format(tools=str(REPO_ROOT / "tools"))
    results = {}
    for value in ("0", "all"):
        env = pointcept_env()
        env["DOS_STANDINS"] = value
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             timeout=300, cwd=str(REPO_ROOT))
        assert out.returncode == 0, out.stderr[-4000:]
        results[value] = json.loads(out.stdout.strip().splitlines()[-1])
    assert "torch_scatter" in results["all"]["standins"] and "torch_scatter" not in results["0"]["standins"]
    torch.testing.assert_close(torch.tensor(results["all"]["feat"]), torch.tensor(results["0"]["feat"]))
    torch.testing.assert_close(torch.tensor(results["all"]["grad"]), torch.tensor(results["0"]["grad"]))
