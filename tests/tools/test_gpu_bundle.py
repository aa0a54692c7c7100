"""tools/gpu_bundle.py with small stand-in wheels and a stand-in Pointcept checkout: every wheel
checked by SHA-256 and unpacked as pip would (scripts left out), Pointcept's
Python and configs copied without caches, the size limit enforced with the sizes named, the
archive checked before it is extracted, and env.sh using the wheels only for their interpreter."""

import hashlib
import json
import zipfile

import subprocess

import pytest

import gpu_bundle


def _wheel(folder, name, members):
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


@pytest.fixture()
def inputs(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    made = [
        _wheel(wheels, "fakepkg-1.0-py3-none-any.whl", {
            "fakepkg/__init__.py": "VERSION = '1.0'\n",
            "fakepkg-1.0.dist-info/METADATA": "Name: fakepkg\nVersion: 1.0\n",
            "fakepkg-1.0.data/purelib/fakepkg_extra.py": "X = 1\n",
            "fakepkg-1.0.data/scripts/fakepkg-run": "#!/bin/sh\n",
        }),
        _wheel(wheels, "cumm_fake-0.1-cp312-cp312-manylinux_2_28_x86_64.whl", {
            "cumm/__init__.py": "", "cumm/include/big.h": "x" * 5000, "cumm/lib/libcudadevrt.a": "a",
            "cumm/core_cc.so": "binary",
        }),
    ]
    requirements = tmp_path / "reqs.txt"
    requirements.write_text("# test wheels\n" + "".join(
        f"{w.name} {hashlib.sha256(w.read_bytes()).hexdigest()}\n" for w in made))
    root = tmp_path / "Pointcept"
    (root / "pointcept" / "__pycache__").mkdir(parents=True)
    (root / "pointcept" / "__init__.py").write_text("")
    (root / "pointcept" / "__pycache__" / "x.cpython-312.pyc").write_text("cache")
    (root / "configs" / "scannet").mkdir(parents=True)
    (root / "configs" / "scannet" / "a.py").write_text("batch_size = 12\n")
    (root / "libs").mkdir()
    (root / "libs" / "setup.py").write_text("")
    return dict(wheels=wheels, requirements=requirements, root=root)


def _prepare(inputs, out, **kwargs):
    return gpu_bundle.prepare(out, inputs["wheels"], inputs["requirements"], pointcept_root=inputs["root"],
                              preset=1, **kwargs)


def test_prepare_then_unpack_gives_the_wheels_and_pointcept(inputs, tmp_path):
    manifest = _prepare(inputs, tmp_path / "bundle")
    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["bundle.tar.xz", "manifest.json"]
    assert manifest == json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert set(manifest["wheels"]) == {"fakepkg-1.0-py3-none-any.whl",
                                       "cumm_fake-0.1-cp312-cp312-manylinux_2_28_x86_64.whl"}
    assert manifest["carried_bytes"] == sum(p.stat().st_size for p in (tmp_path / "bundle").iterdir())
    done = gpu_bundle.unpack(tmp_path / "bundle", tmp_path / "dest", python_tag="cp312")
    assert done["site_used"]
    site, root = tmp_path / "dest" / "site", tmp_path / "dest" / "pointcept-root"
    assert (site / "fakepkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    assert (site / "fakepkg_extra.py").is_file()  # .data/purelib folded in, as pip does
    assert not list(site.rglob("fakepkg-run"))  # scripts are not carried
    assert (site / "cumm" / "core_cc.so").is_file()
    assert (site / "cumm" / "include" / "big.h").is_file()  # cumm asserts its headers exist at import
    assert (root / "configs" / "scannet" / "a.py").read_text() == "batch_size = 12\n"
    assert (root / "pointcept" / "__init__.py").is_file()
    assert not (root / "pointcept" / "__pycache__").exists() and not (root / "libs").exists()
    env = (tmp_path / "dest" / "env.sh").read_text()
    assert f"POINTCEPT_ROOT='{root}'" in env and f"PYTHONPATH='{site}'" in env


def test_another_interpreter_keeps_its_own_packages(inputs, tmp_path):
    _prepare(inputs, tmp_path / "bundle")
    done = gpu_bundle.unpack(tmp_path / "bundle", tmp_path / "dest", python_tag="cp311")
    env = (tmp_path / "dest" / "env.sh").read_text()
    assert not done["site_used"] and "PYTHONPATH" not in env
    assert "its wheels are for cp312, this interpreter is cp311" in env
    assert subprocess.run(["sh", "-n", str(tmp_path / "dest" / "env.sh")]).returncode == 0  # valid sh and "POINTCEPT_ROOT=" in env


def test_a_wheel_with_another_hash_is_refused(inputs, tmp_path):
    wheel = inputs["wheels"] / "fakepkg-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    with pytest.raises(gpu_bundle.BundleError, match="fakepkg-1.0-py3-none-any.whl has SHA-256 .* expects"):
        _prepare(inputs, tmp_path / "bundle")


def test_a_missing_wheel_is_named(inputs, tmp_path):
    (inputs["wheels"] / "fakepkg-1.0-py3-none-any.whl").unlink()
    with pytest.raises(gpu_bundle.BundleError, match="wheel fakepkg-1.0-py3-none-any.whl .* is not in --wheels"):
        _prepare(inputs, tmp_path / "bundle")


def test_no_pointcept_checkout_is_named(inputs, tmp_path):
    inputs["root"] = tmp_path / "nowhere"
    with pytest.raises(gpu_bundle.BundleError, match="POINTCEPT_ROOT=.*nowhere is not a Pointcept checkout"):
        _prepare(inputs, tmp_path / "bundle")
    with pytest.raises(gpu_bundle.BundleError, match="POINTCEPT_ROOT is not set"):
        gpu_bundle.pointcept_checkout("")


def test_over_the_carry_limit_is_refused_with_the_sizes(inputs, tmp_path):
    with pytest.raises(gpu_bundle.BundleError, match=r"the bundle takes .* MiB and the working tree .* over the 0.001 MiB"):
        _prepare(inputs, tmp_path / "bundle", limit_mib=0.001)


def test_a_damaged_archive_is_not_extracted(inputs, tmp_path):
    _prepare(inputs, tmp_path / "bundle")
    archive = tmp_path / "bundle" / "bundle.tar.xz"
    archive.write_bytes(archive.read_bytes()[:-10])
    with pytest.raises(gpu_bundle.BundleError, match="bundle.tar.xz has SHA-256 .* its manifest says"):
        gpu_bundle.unpack(tmp_path / "bundle", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    with pytest.raises(gpu_bundle.BundleError, match="no manifest.json and bundle.tar.xz there"):
        gpu_bundle.unpack(tmp_path / "elsewhere", tmp_path / "dest")


def test_the_pinned_requirements_name_every_wheel_the_device_lacks():
    names = {wheel.split("-")[0] for wheel, _ in gpu_bundle.read_requirements()}
    # spconv and its cumm for CPython 3.12; Pointcept's import-time needs the device lacks
    assert {"spconv_cu126", "cumm_cu126", "pccm", "ccimport", "lark", "fire", "addict", "yapf",
            "platformdirs", "termcolor", "tensorboardx"} == names
    assert all("cp312" in w or "py3-none-any" in w for w, _ in gpu_bundle.read_requirements())


def test_bad_requirement_lines_are_named(tmp_path):
    bad = tmp_path / "reqs.txt"
    bad.write_text("spconv-cu126==2.3.8\n")
    with pytest.raises(gpu_bundle.BundleError, match=r"reqs.txt:1: expected '<wheel file> <sha256>'"):
        gpu_bundle.read_requirements(bad)
