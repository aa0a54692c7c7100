"""The package's layers, as contracts: imports without side effects, no import pointing back up,
the README's module table matching the tree, and the packaging entry points."""

import ast
import os
import subprocess
import sys
import textwrap

import pytest

from pointcept_env import REPO_ROOT, pointcept_env, requires_pointcept

PACKAGE = REPO_ROOT / "pointcept_dos"

# What each layer may import from the package (its own folder always). Read top to bottom:
# a layer imports only layers above it in this list, so no arrow points back up.
ALLOWED = {
    "core": set(),
    "data": set(),
    "io": set(),
    "synthetic": {"data"},
    "backbones": {"core"},
    "models": {"core", "backbones"},
    "inference": {"core", "backbones", "data", "io"},
    "evaluation": {"core", "backbones", "data", "inference"},
    "integration": {"core", "backbones", "models", "io", "data", "evaluation"},
    "demo": {"core", "backbones", "models", "data", "io", "inference", "evaluation", "synthetic"},
    "cli": {"__init__", "demo"},
    "__init__": {"core"},
}

# Every module of the package except those that import Pointcept by design
# (integration/registration.py, hooks.py, model.py).
POINTCEPT_FREE_MODULES = sorted(
    ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if p.parent.name != "integration" or p.stem in ("__init__", "cpu_mode", "config_paths", "config_presets")
)


def _layer(path):
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _package_imports(path):
    """Layers of pointcept_dos imported by a module (module level and inside functions)."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(PACKAGE).parts) - 1  # folders below pointcept_dos
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("pointcept_dos"):
                parts = node.module.split(".")[1:]
            elif node.level > depth:  # relative import leaving the module's folder
                parts = (node.module or "").split(".") if node.module else [a.name for a in node.names]
            else:
                continue
            top = parts[0] if parts and parts[0] else "__init__"
            # `from . import __version__` at the root names the package itself
            is_module = (PACKAGE / top).is_dir() or (PACKAGE / f"{top}.py").is_file()
            found.add(top if is_module else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pointcept_dos."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_points_back_up(path):
    layer = _layer(path)
    assert layer in ALLOWED, f"{path} is in no known layer: add it to ALLOWED and the README table"
    wrong = _package_imports(path) - ALLOWED[layer] - {layer}
    assert not wrong, f"{path.relative_to(REPO_ROOT)} ({layer}) imports {sorted(wrong)}"


def test_core_imports_only_torch_and_the_standard_library():
    for path in (PACKAGE / "core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top == "torch" or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def _fake_packages(root):
    """pointcept, spconv and timm packages that fail loudly when imported."""
    for name in ("pointcept", "spconv", "timm"):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(f"raise RuntimeError('{name} was imported')\n")
    return root


CHECK_IMPORTS = textwrap.dedent(
    """
    import importlib, sys
    import torch
    original = (torch.Tensor.cuda, torch.nn.Module.cuda)
    for name in {modules!r}:
        importlib.import_module(name)
    heavy = sorted(m for m in ("pointcept", "spconv", "timm", "pointops") if m in sys.modules)
    assert not heavy, f"imported {{heavy}}"
    assert (torch.Tensor.cuda, torch.nn.Module.cuda) == original, "a module patched torch"
    print("clean", len({modules!r}))
    """
)


def test_importing_the_package_has_no_side_effects(tmp_path):
    """Every module but the registration layer imports with Pointcept, spconv and timm on the
    path as packages that raise when imported: none of them is touched, nothing is patched."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_fake_packages(tmp_path)), str(REPO_ROOT)]))
    code = CHECK_IMPORTS.format(modules=POINTCEPT_FREE_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"clean {len(POINTCEPT_FREE_MODULES)}" in out.stdout
    assert "pointcept_dos.integration.cpu_mode" in POINTCEPT_FREE_MODULES


def test_the_feature_api_and_the_pointcept_layer_never_load_the_room_generator():
    """The synthetic scenes are the demo's and the tests': `inference` and the Pointcept-free
    modules of `integration` import without them."""
    code = ("import sys, pointcept_dos.inference, pointcept_dos.integration.cpu_mode, "
            "pointcept_dos.integration.config_presets, pointcept_dos.models; "
            "print(sorted(m for m in sys.modules if m.startswith('pointcept_dos.synthetic')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


@requires_pointcept
def test_importing_the_package_leaves_real_pointcept_alone():
    code = CHECK_IMPORTS.format(modules=POINTCEPT_FREE_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=pointcept_env([REPO_ROOT]), timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]


def test_readme_module_table_matches_the_tree():
    """Every folder and module the README's layer table names exists, and every layer folder
    of the package is in the table."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert named, "README has no layout table"
    for entry in named:
        assert (REPO_ROOT / entry).exists(), f"README names {entry}, which does not exist"
    folders = {f"pointcept_dos/{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders <= named, f"layers missing from the README table: {sorted(folders - named)}"


def test_setup_py_shim_reads_pyproject():
    pytest.importorskip("setuptools")
    out = subprocess.run([sys.executable, "setup.py", "--version"], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == __import__("pointcept_dos").__version__
