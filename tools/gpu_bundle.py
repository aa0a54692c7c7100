"""The GPU bundle: what a lent GPU machine without a package index lacks, in one folder.

    python tools/gpu_bundle.py prepare [--out gpu-bundle] [--wheels DIR] [--requirements FILE]
    python tools/gpu_bundle.py unpack --bundle gpu-bundle --dest DIR

`prepare` (on a machine with the package index; tools/prepare_gpu_bundle.sh) fills `--out`
with two files: `bundle.tar.xz` and `manifest.json`. The archive holds `site/`, the wheels of
tools/gpu_bundle.txt unpacked as pip would install them (each wheel checked against its
SHA-256; whole: cumm asserts at import that its C++ headers are there), and
`pointcept-root/`, a copy of `$POINTCEPT_ROOT`'s `pointcept/` and `configs/` (Python and
configs only). xz at preset 9: spconv's 284 MB library packs to about 21 MB where its wheel's
zip takes 70 MB. The folder, as carried next to the working tree, must stay within `--limit-mib`
(64: what one call of the device tool carries, working tree included); `prepare` refuses
otherwise, naming the sizes.

`unpack` (on the GPU machine; tools/gpu_check.sh) checks the archive against the manifest,
extracts it into `--dest` in seconds and writes `--dest/env.sh`, which sets `POINTCEPT_ROOT`
and, when this interpreter is the CPython the wheels were built for, puts `site/` first on
`PYTHONPATH` (another interpreter, e.g. a CPU rehearsal on Python 3.11, keeps its own
packages and says so).
"""

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "tools" / "gpu_bundle.txt"
ARCHIVE, MANIFEST = "bundle.tar.xz", "manifest.json"
PYTHON_TAG = "cp312"  # the device's interpreter: CPython 3.12
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
POINTCEPT_PARTS = ("pointcept", "configs")
LIMIT_MIB = 64


class BundleError(Exception):
    """A bundle cannot be made or used; the message says which input and why."""


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def read_requirements(path=REQUIREMENTS):
    """[(wheel file name, sha256)] from a requirements file: `file sha256` per line, # comments."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].endswith(".whl") or len(parts[1]) != 64:
            raise BundleError(f"{path}:{number}: expected '<wheel file> <sha256>', got {line!r}")
        rows.append((parts[0], parts[1].lower()))
    if not rows:
        raise BundleError(f"{path} names no wheel")
    return rows


def _requirement_spec(wheel_file):
    """'spconv_cu126-2.3.8-cp312-...whl' -> 'spconv-cu126==2.3.8' (what pip download takes)."""
    name, version = wheel_file.split("-")[:2]
    return f"{name.replace('_', '-')}=={version}"


def fetch_wheels(requirements, wheels_dir, cache_dir):
    """The path of every required wheel, its SHA-256 checked: from `wheels_dir` when given,
    else from `cache_dir`, downloading there (pip download) what it lacks."""
    found = {}
    for wheel, digest in requirements:
        source = Path(wheels_dir or cache_dir) / wheel
        if not source.is_file() and wheels_dir is None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.12", "--implementation", "cp", "--dest", str(cache_dir)]
            for platform in PLATFORMS:
                cmd += ["--platform", platform]
            out = subprocess.run(cmd + [_requirement_spec(wheel)], capture_output=True, text=True)
            if out.returncode != 0:
                raise BundleError(f"pip download {_requirement_spec(wheel)} failed: {out.stderr.strip()[-400:]}")
        if not source.is_file():
            where = f"--wheels {wheels_dir}" if wheels_dir else f"the download folder {cache_dir}"
            raise BundleError(f"wheel {wheel} (tools/gpu_bundle.txt) is not in {where}")
        actual = sha256(source)
        if actual != digest:
            raise BundleError(f"wheel {source} has SHA-256 {actual}, tools/gpu_bundle.txt expects {digest}")
        found[wheel] = source
    return found


def install_wheel(wheel, site):
    """Unpack a wheel into `site` as pip installs a pure or platform wheel (its .data/purelib
    and platlib folded in; its scripts and data files, which no import reads, left out).
    -> (files written, bytes)."""
    files, size = 0, 0
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if ".data/" in name.split("/", 1)[0] + "/":
                parts = name.split("/", 2)
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: nothing an import needs
                name = parts[2]
            if info.is_dir():
                continue
            target = Path(site) / name
            if not target.resolve().is_relative_to(Path(site).resolve()):
                raise BundleError(f"wheel {wheel} has a member outside its folder: {info.filename}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(target, mode or 0o644)
            files, size = files + 1, size + info.file_size
    return files, size


def pointcept_checkout(root):
    """POINTCEPT_ROOT checked: a checkout with pointcept/__init__.py and configs/."""
    if not root:
        raise BundleError("POINTCEPT_ROOT is not set: the bundle carries a copy of your Pointcept checkout")
    path = Path(root)
    if not (path / "pointcept" / "__init__.py").is_file() or not (path / "configs").is_dir():
        raise BundleError(f"POINTCEPT_ROOT={root} is not a Pointcept checkout (no pointcept/__init__.py or configs/)")
    return path


def _pointcept_commit(root):
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def copy_pointcept(root, dest):
    """pointcept/ and configs/ of the checkout, Python and configs only (no caches, no builds)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.o", "build", "*.egg-info")
    for part in POINTCEPT_PARTS:
        shutil.copytree(root / part, dest / part, ignore=ignore)


def write_archive(path, folder, parts, preset):
    """tar of `folder`/`parts`, xz-compressed at `preset`: by the xz program on every core when
    it is installed (minutes less for ~350 MB), else by Python's lzma on one."""
    xz = shutil.which("xz")
    with open(path, "wb") as f:
        if xz is None:
            with lzma.open(f, "wb", preset=preset) as stream, tarfile.open(fileobj=stream, mode="w") as tar:
                for part in parts:
                    tar.add(folder / part, arcname=part)
            return
        proc = subprocess.Popen([xz, f"-{preset}", "-T0", "-c"], stdin=subprocess.PIPE, stdout=f)
        with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
            for part in parts:
                tar.add(folder / part, arcname=part)
        proc.stdin.close()
        if proc.wait() != 0:
            raise BundleError(f"xz exited {proc.returncode} while writing {path}")


def working_tree_bytes(repo=REPO_ROOT):
    """Bytes of what the device tool sends besides carried paths: tracked files and untracked
    ones git does not ignore. None outside a git checkout."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True)
    if out.returncode != 0:
        return None
    names = [n for n in out.stdout.decode(errors="replace").split("\0") if n]
    return sum((repo / n).stat().st_size for n in names if (repo / n).is_file())


def prepare(out, wheels_dir=None, requirements_file=REQUIREMENTS, cache_dir=None, pointcept_root=None,
            limit_mib=LIMIT_MIB, preset=9):
    """Make the bundle in `out` (see the module docstring). -> the manifest (dict)."""
    start = time.perf_counter()
    out = Path(out)
    root = pointcept_checkout(pointcept_root if pointcept_root is not None else os.environ.get("POINTCEPT_ROOT"))
    requirements = read_requirements(requirements_file)
    wheels = fetch_wheels(requirements, wheels_dir, cache_dir or REPO_ROOT / "gpu-bundle-cache")
    with tempfile.TemporaryDirectory(prefix="dos-gpu-bundle-") as staging:
        staging = Path(staging)
        installed = {}
        for wheel, path in wheels.items():
            files, size = install_wheel(path, staging / "site")
            installed[wheel] = dict(sha256=sha256(path), wheel_bytes=path.stat().st_size,
                                    files=files, unpacked_bytes=size)
        copy_pointcept(root, staging / "pointcept-root")
        out.mkdir(parents=True, exist_ok=True)
        archive = out / (ARCHIVE + ".tmp")
        write_archive(archive, staging, ("site", "pointcept-root"), preset)
        unpacked = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
    os.replace(archive, out / ARCHIVE)
    manifest = dict(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"), python=PYTHON_TAG,
        platforms=list(PLATFORMS), wheels=installed,
        pointcept=dict(root_name=root.name, commit=_pointcept_commit(root), parts=list(POINTCEPT_PARTS)),
        archive=dict(file=ARCHIVE, bytes=(out / ARCHIVE).stat().st_size, sha256=sha256(out / ARCHIVE),
                     unpacked_bytes=unpacked, xz_preset=preset),
        prepare_s=round(time.perf_counter() - start, 1),
    )
    tree = working_tree_bytes()
    manifest.update(working_tree_bytes=tree, carried_bytes=0)
    for _ in range(3):  # the manifest counts itself: settle its own size
        manifest["carried_bytes"] = manifest["archive"]["bytes"] + len(json.dumps(manifest, indent=1).encode())
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    carried = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    total = carried + (tree or 0)
    if total > limit_mib * 2**20:
        raise BundleError(
            f"the bundle takes {carried / 2**20:.1f} MiB and the working tree {(tree or 0) / 2**20:.1f} MiB: "
            f"{total / 2**20:.1f} MiB together, over the {limit_mib} MiB one device call carries"
        )
    return manifest


def unpack(bundle, dest, python_tag=None):
    """Check and extract a bundle into `dest`; write dest/env.sh. -> dict(site_used, seconds)."""
    start = time.perf_counter()
    bundle, dest = Path(bundle), Path(dest)
    if not (bundle / MANIFEST).is_file() or not (bundle / ARCHIVE).is_file():
        raise BundleError(f"--bundle {bundle}: no {MANIFEST} and {ARCHIVE} there (run tools/prepare_gpu_bundle.sh)")
    manifest = json.loads((bundle / MANIFEST).read_text())
    digest = sha256(bundle / ARCHIVE)
    if digest != manifest["archive"]["sha256"]:
        raise BundleError(f"{bundle / ARCHIVE} has SHA-256 {digest}, its manifest says {manifest['archive']['sha256']}")
    stamp = dest / ".bundle-sha256"
    if not (stamp.is_file() and stamp.read_text() == digest):  # unpacked already: keep it
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        with tarfile.open(bundle / ARCHIVE, mode="r:xz") as tar:
            tar.extractall(dest, filter="data")
        stamp.write_text(digest)
    tag = python_tag or f"cp{sys.version_info.major}{sys.version_info.minor}"
    site_used = tag == manifest["python"]
    lines = [f"POINTCEPT_ROOT='{dest / 'pointcept-root'}'", "export POINTCEPT_ROOT"]
    if site_used:
        lines += [f"PYTHONPATH='{dest / 'site'}'${{PYTHONPATH:+:$PYTHONPATH}}", "export PYTHONPATH"]
    else:
        lines.append(f"echo 'gpu bundle: its wheels are for {manifest['python']}, this interpreter is {tag}: "
                     f"using the packages of this environment and the Pointcept of the bundle' >&2")
    (dest / "env.sh").write_text("\n".join(lines) + "\n")
    return dict(site_used=site_used, seconds=round(time.perf_counter() - start, 1), dest=str(dest))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="make the bundle (needs POINTCEPT_ROOT and the package index or --wheels)")
    p.add_argument("--out", default=str(REPO_ROOT / "gpu-bundle"))
    p.add_argument("--wheels", help="a folder holding the wheels already (no download)")
    p.add_argument("--requirements", default=str(REQUIREMENTS))
    p.add_argument("--cache", default=str(REPO_ROOT / "gpu-bundle-cache"), help="where downloads are kept")
    p.add_argument("--limit-mib", type=float, default=LIMIT_MIB)
    p.add_argument("--xz-preset", type=int, default=9, choices=range(10))
    u = sub.add_parser("unpack", help="check and extract a bundle; write DEST/env.sh")
    u.add_argument("--bundle", default=str(REPO_ROOT / "gpu-bundle"))
    u.add_argument("--dest", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            manifest = prepare(args.out, args.wheels, args.requirements, args.cache, limit_mib=args.limit_mib,
                               preset=args.xz_preset)
            print(f"gpu bundle: {args.out} ({manifest['carried_bytes'] / 2**20:.1f} MiB carried; working tree "
                  f"{(manifest['working_tree_bytes'] or 0) / 2**20:.1f} MiB; {len(manifest['wheels'])} wheels, "
                  f"{manifest['archive']['unpacked_bytes'] / 2**20:.0f} MiB unpacked; {manifest['prepare_s']} s)")
        else:
            done = unpack(args.bundle, args.dest)
            print(f"gpu bundle: unpacked into {done['dest']} in {done['seconds']} s "
                  f"({'its site-packages first on PYTHONPATH' if done['site_used'] else 'its Pointcept only'})")
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
