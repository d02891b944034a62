#!/usr/bin/env python3
"""Build mox as one file per platform: dist/mox-<target>.pyz.

    python3 build.py                  # host target only (fast dev loop): dist/mox.pyz too
    python3 build.py --all            # every target in TARGETS, plus dist/SHA256SUMS
    python3 build.py --target macos-arm64 --target windows-x86_64
    python3 build.py lock             # regenerate requirements.lock from pyproject.toml

Each pyz carries the native extensions of one OS/architecture for every CPython in PYVERS: the
locked wheels are installed once per Python version with uv (which evaluates environment markers
for the *target* platform), and the trees are merged (native file names carry the Python version,
so they never collide). mox itself is pure Python and is copied from the work tree.

Inputs are pinned: requirements.lock is hashed, so a missing wheel fails the build instead of
silently picking an older release. Output is reproducible: timestamps come from SOURCE_DATE_EPOCH
(default: the last commit's time), file modes and order are normalised.

The build tool (uv) is taken from the interpreter's environment when present, else installed
from PyPI into build/tools/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / "build"
DIST = ROOT / "dist"
LOCK = ROOT / "requirements.lock"
PYVERS = ("3.11", "3.12", "3.13", "3.14")
TOOLS = ("uv==0.13.9",)
BUILD_INFO = "mox-build.json"  # read by mox/_bootstrap.py

# name -> uv --python-platform, sys.platform, accepted machine names, extension suffix, rust file
TARGETS = {
    "linux-x86_64": {
        "uv_platform": "x86_64-manylinux_2_17",
        "sys_platform": "linux",
        "machines": ["x86_64", "amd64"],
        "ext": ".cpython-{n}-x86_64-linux-gnu.so",
        "rust": "_rust.abi3.so",
    },
    "linux-aarch64": {
        "uv_platform": "aarch64-manylinux_2_17",
        "sys_platform": "linux",
        "machines": ["aarch64", "arm64"],
        "ext": ".cpython-{n}-aarch64-linux-gnu.so",
        "rust": "_rust.abi3.so",
    },
    "macos-arm64": {
        "uv_platform": "aarch64-apple-darwin",
        "sys_platform": "darwin",
        "machines": ["arm64"],
        "ext": ".cpython-{n}-darwin.so",
        "rust": "_rust.abi3.so",
    },
    "windows-x86_64": {
        "uv_platform": "x86_64-pc-windows-msvc",
        "sys_platform": "win32",
        "machines": ["AMD64", "ARM64"],
        "ext": ".cp{n}-win_amd64.pyd",
        "rust": "_rust.pyd",
    },
}

# Not needed at run time, and they differ between the per-version installs.
DROP_METADATA = {"RECORD", "WHEEL", "INSTALLER", "REQUESTED", "direct_url.json"}
PRUNE_DIRS = {"__pycache__", "_tests", "tests", "bin"}


class BuildError(Exception):
    pass


def log(msg: str) -> None:
    print(f"build: {msg}", file=sys.stderr, flush=True)


def run(*args: object, **kw) -> subprocess.CompletedProcess:
    cmd = [str(a) for a in args]
    proc = subprocess.run(cmd, **kw)
    if proc.returncode != 0:
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return proc


def host_target() -> str:
    machine = os.uname().machine.lower() if hasattr(os, "uname") else os.environ.get("PROCESSOR_ARCHITECTURE", "")
    for name, t in TARGETS.items():
        if t["sys_platform"] == sys.platform and machine in [m.lower() for m in t["machines"]]:
            return name
    raise BuildError(f"no target for this host ({sys.platform} {machine}); pass --target")


# ---- tools

def _tool(name: str) -> Path | None:
    exe = name + (".exe" if os.name == "nt" else "")
    here = Path(sys.executable).parent / exe
    if here.exists():
        return here
    found = shutil.which(name)
    return Path(found) if found else None


def tools() -> dict[str, Path]:
    """uv: from this interpreter's environment or PATH, else a build venv from PyPI."""
    found = {n: _tool(n) for n in ("uv",)}
    if all(found.values()):
        return found  # type: ignore[return-value]
    venv = BUILD / "tools"
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    suffix = ".exe" if os.name == "nt" else ""
    want = {n: bindir / (n + suffix) for n in ("uv",)}
    if not all(p.exists() for p in want.values()):
        log(f"installing build tools into {venv.relative_to(ROOT)}: {' '.join(TOOLS)}")
        run(sys.executable, "-m", "venv", "--clear", venv)
        run(bindir / ("python" + suffix), "-m", "pip", "install", "-q", *TOOLS)
    return want


# ---- lock

def lock(uv: Path) -> None:
    run(uv, "pip", "compile", "--no-config", "--quiet", "--universal", "--python-version", PYVERS[0],
        "--generate-hashes", "pyproject.toml", "-o", LOCK.name, cwd=ROOT)
    log(f"wrote {LOCK.name}")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_lock() -> dict[str, str]:
    """Locked name -> version; fails when pyproject names a dependency the lock lacks."""
    if not LOCK.exists():
        raise BuildError(f"{LOCK.name} is missing: run `python3 build.py lock`")
    locked = {}
    for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", LOCK.read_text("utf-8"), re.M):
        locked[_norm(m.group(1))] = m.group(2)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"]
    for dep in deps:
        name = _norm(re.match(r"[A-Za-z0-9._-]+", dep).group(0))
        if name not in locked:
            raise BuildError(f"{name} is in pyproject.toml but not in {LOCK.name}: run `python3 build.py lock`")
    return locked


# ---- tree

def source_date_epoch() -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True)
        return int(out.stdout.strip())
    except (OSError, ValueError):
        return 315532800  # 1980-01-01, the earliest zip timestamp


def mox_files() -> list[Path]:
    """The package's files from the work tree (tracked plus untracked-not-ignored), sorted."""
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "mox"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode("utf-8")
        rels = [r for r in out.split("\0") if r]
    except (OSError, subprocess.CalledProcessError):
        rels = [p.relative_to(ROOT).as_posix() for p in (ROOT / "mox").rglob("*") if p.is_file()]
    files = []
    for rel in sorted(set(rels)):
        p = ROOT / rel
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            if p.name != "_target.py":
                files.append(p)
    return files


def mox_version() -> str:
    text = (ROOT / "mox" / "__init__.py").read_text("utf-8")
    return re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M).group(1)


def install_deps(uv: Path, target: str, pyver: str, dest: Path) -> None:
    t = TARGETS[target]
    if dest.exists():
        shutil.rmtree(dest)
    run(uv, "pip", "install", "--no-config", "--quiet", "--target", dest, "--python-platform", t["uv_platform"],
        "--python-version", pyver, "--only-binary", ":all:", "--no-deps", "--require-hashes",
        "--link-mode", "copy", "-r", LOCK)


def merge(trees: list[Path], out: Path) -> None:
    """Union of the per-version trees; a path present in several must have the same bytes."""
    if out.exists():
        shutil.rmtree(out)
    seen: dict[str, Path] = {}
    for tree in trees:
        for p in sorted(tree.rglob("*")):
            rel = p.relative_to(tree)
            if p.is_dir() or set(rel.parts) & PRUNE_DIRS:
                continue
            if rel.parts[0].endswith(".dist-info") and rel.name in DROP_METADATA:
                continue
            key = rel.as_posix()
            if key in seen:
                if seen[key].read_bytes() != p.read_bytes():
                    raise BuildError(f"merge conflict: {key} differs between {seen[key]} and {p}")
                continue
            seen[key] = p
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, dst)


def add_mox(tree: Path, target: str) -> None:
    for src in mox_files():
        dst = tree / src.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    t = TARGETS[target]
    info = {"name": target, "sys_platform": t["sys_platform"], "machines": t["machines"], "ext": t["ext"],
            "pyvers": list(PYVERS)}
    (tree / "mox" / "_target.py").write_text(
        f'"""Written by build.py: the platform this pyz is for."""\n\nTARGET = {info!r}\n', "utf-8")
    version = mox_version()
    dist_info = tree / f"mox-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mox\nVersion: {version}\n", "utf-8")
    (dist_info / "entry_points.txt").write_text(
        "[console_scripts]\nmox = mox.cli:main\n\n[pytest11]\nmox = mox.pytest_plugin\n", "utf-8")


def normalise_modes(tree: Path) -> None:
    for p in tree.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


def check_natives(names: list[str], target: str) -> None:
    """Every CPython in PYVERS must find msgspec's, cffi's and cryptography's native files."""
    t = TARGETS[target]
    have = set(names)
    missing = []
    for v in PYVERS:
        ext = t["ext"].format(n=v.replace(".", ""))
        for need in (f"msgspec/_core{ext}", f"_cffi_backend{ext}"):
            if need not in have:
                missing.append(need)
    rust = f"cryptography/hazmat/bindings/{t['rust']}"
    if rust not in have:
        missing.append(rust)
    if missing:
        raise BuildError(f"{target}: native files missing: {', '.join(missing)}")


# ---- pack

def pack(tree: Path, out: Path, target: str, epoch: int) -> None:
    """A zipapp: shebang, mox/_bootstrap.py as __main__.py, mox-build.json, site-packages/.

    Reproducible: sorted entries, one timestamp (SOURCE_DATE_EPOCH), fixed modes and compression.
    The build id is a hash of every path and content, so the cache directory changes with them.
    """
    files = sorted((p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for rel, p in files:
        h.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    bootstrap = (ROOT / "mox" / "_bootstrap.py").read_bytes()
    h.update(b"__main__.py\0" + hashlib.sha256(bootstrap).digest())
    build_id = h.hexdigest()[:24]
    t = TARGETS[target]
    info = {"build_id": build_id, "entry": "mox.__main__:main", "version": mox_version(),
            "target": {"name": target, "sys_platform": t["sys_platform"], "machines": t["machines"],
                       "ext": t["ext"], "pyvers": list(PYVERS)}}
    stamp = time.gmtime(max(epoch, 315532800))[:6]

    def entry(name: str) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, date_time=stamp)
        zi.external_attr = (stat.S_IFREG | 0o644) << 16
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.create_system = 3
        return zi

    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w", compresslevel=9) as z:
            z.writestr(entry("__main__.py"), bootstrap)
            z.writestr(entry(BUILD_INFO), json.dumps(info, indent=1, sort_keys=True) + "\n")
            for rel, p in files:
                z.writestr(entry(f"site-packages/{rel}"), p.read_bytes())
    tmp.chmod(0o755)
    os.replace(tmp, out)


def build_target(target: str, tl: dict[str, Path], epoch: int, work_root: Path, dist: Path) -> Path:
    work = work_root / target
    trees = []
    for v in PYVERS:
        dest = work / f"py{v}"
        install_deps(tl["uv"], target, v, dest)
        trees.append(dest)
    tree = work / "site-packages"
    merge(trees, tree)
    add_mox(tree, target)
    normalise_modes(tree)
    check_natives([p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()], target)
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"mox-{target}.pyz"
    pack(tree, out, target, epoch)
    log(f"{out.name}: {out.stat().st_size / 1e6:.1f} MB")
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build mox pyz files (see the module docstring).")
    ap.add_argument("command", nargs="?", choices=["build", "lock"], default="build")
    ap.add_argument("--all", action="store_true", help="build every target")
    ap.add_argument("--target", action="append", choices=[*TARGETS, "host"], help="target to build (repeatable)")
    ap.add_argument("--dist", type=Path, default=DIST, help="output directory (default dist/)")
    ap.add_argument("--work", type=Path, default=BUILD, help="scratch directory (default build/)")
    args = ap.parse_args(argv)
    try:
        tl = tools()
        if args.command == "lock":
            lock(tl["uv"])
            return 0
        check_lock()
        host = host_target() if not args.all and (not args.target or "host" in args.target) else None
        targets = list(TARGETS) if args.all else [host if t == "host" else t for t in (args.target or ["host"])]
        if args.all:
            try:
                host = host_target()
            except BuildError:
                host = None
        epoch = source_date_epoch()
        dist, work = args.dist.resolve(), args.work.resolve()
        built = [build_target(t, tl, epoch, work, dist) for t in dict.fromkeys(targets)]
        if host in targets:
            tmp = dist / "mox.pyz.tmp"
            shutil.copyfile(dist / f"mox-{host}.pyz", tmp)
            tmp.chmod(0o755)
            os.replace(tmp, dist / "mox.pyz")
        sums = "".join(f"{sha256(p)}  {p.name}\n" for p in sorted(built))
        (dist / "SHA256SUMS").write_text(sums, "utf-8")
    except BuildError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
