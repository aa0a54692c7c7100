"""What a GPU user installs and what the GPU tooling writes: the `gpu` extra names an spconv
build that has wheels for the Python versions users run (3.12 included), the README says the
same, and the demo's and the GPU check's folders are git-ignored."""

import re
import subprocess
import sys

import pytest

from pointcept_env import REPO_ROOT

# spconv builds with a 2.3.8 wheel for CPython 3.12 (manylinux x86_64), read off the package
# index 2026-12: spconv-cu120 has none (it stops at 2.3.6 and Python 3.11)
SPCONV_BUILDS_WITH_CP312 = {"spconv-cu118", "spconv-cu121", "spconv-cu124", "spconv-cu126"}


def _gpu_extra():
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"]["gpu"]


def test_the_gpu_extra_names_an_spconv_build_with_python_312_wheels():
    spconv = [r for r in _gpu_extra() if r.startswith("spconv")]
    assert len(spconv) == 1, spconv
    name, version = re.fullmatch(r"(spconv-cu\d+)\s*>=\s*([\d.]+)", spconv[0]).groups()
    assert name in SPCONV_BUILDS_WITH_CP312, f"{name} has no wheel for Python 3.12"
    assert tuple(int(x) for x in version.split(".")) >= (2, 3, 8)
    install = (REPO_ROOT / "README.md").read_text().split("### Install next to a Pointcept checkout")[1]
    install = install.split("\n### ")[0]
    assert f"installs `{name}`" in install  # the README names the build the extra installs
    assert "--no-build-isolation torch-scatter" in install


@pytest.mark.parametrize("folder", ["dos-demo", "gpu-bundle", "gpu-bundle-cache", "gpu-check"])
def test_generated_folders_are_git_ignored(folder):
    out = subprocess.run(["git", "check-ignore", "-q", f"{folder}/some-file"], cwd=REPO_ROOT)
    assert out.returncode == 0, f"{folder}/ is not git-ignored"
