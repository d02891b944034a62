#!/usr/bin/env python3
"""Build mox as one file per platform: dist/mox-<target>.pyz.

    python3 build.py                  # host target only (fast dev loop); also dist/mox.pyz
    python3 build.py --all            # every target in TARGETS
    python3 build.py --target macos-arm64 --target windows-x86_64
    python3 build.py --rev v0.1.0     # mox and the lock from a commit instead of the work tree
    python3 build.py lock             # regenerate requirements.lock from pyproject.toml

Each pyz carries the native extensions of one OS/architecture for every CPython in PYVERS: the
locked wheels are installed once per Python version with uv (which evaluates environment markers
for the *target* platform), and the trees are merged (native file names carry the Python version,
so they never collide; any other difference fails the build). mox itself is pure Python and is
copied from the work tree (or --rev). dist/SHA256SUMS lists what was built.

The archive is a zipapp whose __main__.py is mox/_bootstrap.py: it refuses another platform in one
line, extracts site-packages once per build id into a cache dir (lock-free: temp dir + rename),
compiles bytecode for the running Python, then runs mox.__main__:main (see that module).

Inputs are pinned: requirements.lock is hashed, so a missing wheel fails the build instead of
silently picking an older release. Output is reproducible: timestamps come from SOURCE_DATE_EPOCH
(default: the commit time), entries are sorted, modes and compression fixed.

The build tool (uv) is taken from this interpreter's environment or PATH, else installed from PyPI
into build/tools/.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import operator
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / "build"
DIST = ROOT / "dist"
LOCK = ROOT / "requirements.lock"
# The distribution name (pyproject.toml): the import package and the command are `mox`, but the
# PyPI name `mox` belongs to an unrelated mocking library.
DIST_NAME = "mox-mail"
PYVERS = ("3.11", "3.12", "3.13", "3.14")
TOOLS = ("uv==0.13.9",)
BUILD_INFO = "mox-build.json"  # read by mox/_bootstrap.py

# name -> uv --python-platform, sys.platform, accepted machine names, extension suffixes
TARGETS = {
    "linux-x86_64": {
        "uv_platform": "x86_64-manylinux_2_17",
        "sys_platform": "linux",
        "machines": ["x86_64", "amd64"],
        "ext": ".cpython-{n}-x86_64-linux-gnu.so",
        "abi3": ".abi3.so",
    },
    "linux-aarch64": {
        "uv_platform": "aarch64-manylinux_2_17",
        "sys_platform": "linux",
        "machines": ["aarch64", "arm64"],
        "ext": ".cpython-{n}-aarch64-linux-gnu.so",
        "abi3": ".abi3.so",
    },
    "macos-arm64": {
        "uv_platform": "aarch64-apple-darwin",
        "sys_platform": "darwin",
        "machines": ["arm64"],
        "ext": ".cpython-{n}-darwin.so",
        "abi3": ".abi3.so",
    },
    "windows-x86_64": {
        "uv_platform": "x86_64-pc-windows-msvc",
        "sys_platform": "win32",
        "machines": ["AMD64", "ARM64"],
        "ext": ".cp{n}-win_amd64.pyd",
        "abi3": ".pyd",
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

def source_date_epoch(rev: str | None) -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%ct", rev or "HEAD"], cwd=ROOT, capture_output=True,
                             text=True)
        return int(out.stdout.strip())
    except (OSError, ValueError):
        return 315532800  # 1980-01-01, the earliest zip timestamp


def _wanted(rel: str) -> bool:
    parts = rel.split("/")
    return "__pycache__" not in parts and not rel.endswith((".pyc", ".pyo")) and rel != "mox/_target.py"


def read_sources(rev: str | None) -> dict[str, bytes]:
    """mox/* and requirements.lock: from commit `rev`, or from the work tree (tracked plus
    untracked-not-ignored files, so the dev loop builds what you are editing)."""
    if rev is not None:
        proc = subprocess.run(["git", "archive", "--format=tar", rev, "mox", LOCK.name], cwd=ROOT,
                              capture_output=True)
        if proc.returncode != 0:
            raise BuildError(f"git archive {rev}: {proc.stderr.decode('utf-8', 'replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile() and _wanted(m.name)}
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "mox"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode("utf-8")
        rels = [r for r in out.split("\0") if r]
    except (OSError, subprocess.CalledProcessError):
        rels = [p.relative_to(ROOT).as_posix() for p in (ROOT / "mox").rglob("*") if p.is_file()]
    sources = {rel: (ROOT / rel).read_bytes() for rel in sorted(set(rels)) if (ROOT / rel).is_file() and _wanted(rel)}
    if LOCK.exists():
        sources[LOCK.name] = LOCK.read_bytes()
    return sources


def mox_version(sources: dict[str, bytes]) -> str:
    text = sources["mox/__init__.py"].decode("utf-8")
    return re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M).group(1)


def install_deps(uv: Path, target: str, pyver: str, dest: Path, lock_file: Path) -> None:
    t = TARGETS[target]
    if dest.exists():
        shutil.rmtree(dest)
    run(uv, "pip", "install", "--no-config", "--quiet", "--target", dest, "--python-platform", t["uv_platform"],
        "--python-version", pyver, "--only-binary", ":all:", "--no-deps", "--require-hashes",
        "--link-mode", "copy", "-r", lock_file)


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


def add_mox(tree: Path, target: str, sources: dict[str, bytes]) -> None:
    for rel, data in sources.items():
        if rel.startswith("mox/"):
            dst = tree / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
    t = TARGETS[target]
    info = {"name": target, "sys_platform": t["sys_platform"], "machines": t["machines"], "ext": t["ext"],
            "pyvers": list(PYVERS)}
    (tree / "mox" / "_target.py").write_text(
        f'"""Written by build.py: the platform this pyz is for."""\n\nTARGET = {info!r}\n', "utf-8")
    version = mox_version(sources)
    dist_info = tree / f"{DIST_NAME.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST_NAME}\nVersion: {version}\n", "utf-8")
    (dist_info / "entry_points.txt").write_text(
        "[console_scripts]\nmox = mox.cli:main\n\n[pytest11]\nmox = mox.testing.pytest_plugin\n", "utf-8")


def normalise_modes(tree: Path) -> None:
    for p in tree.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


# Environment-marker values per target, to know which locked packages a target must contain.
_MARKER_ENV = {
    "linux": {"os_name": "posix", "platform_system": "Linux"},
    "darwin": {"os_name": "posix", "platform_system": "Darwin"},
    "win32": {"os_name": "nt", "platform_system": "Windows"},
}


def marker_env(target: str, pyver: str) -> dict[str, str]:
    """The PEP 508 environment of a CPython ``pyver`` on ``target``."""
    t = TARGETS[target]
    return {**_MARKER_ENV[t["sys_platform"]], "sys_platform": t["sys_platform"], "platform_machine": t["machines"][0],
            "python_version": pyver, "python_full_version": f"{pyver}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
            "implementation_version": f"{pyver}.0", "extra": ""}


_VERSION_VARS = frozenset({"python_version", "python_full_version", "implementation_version"})
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}


def marker_holds(marker: str, env: dict[str, str]) -> bool:
    """Whether a PEP 508 environment marker holds in ``env`` (build.py runs on a bare Python, so
    without the packaging library). A marker is a Python expression of ``and``/``or`` over
    comparisons of environment names and quoted strings; the Python versions compare as
    versions. What this does not know (``~=``, ``===``, an unknown name) fails the build."""
    try:
        tree = ast.parse(marker.strip(), mode="eval").body
    except SyntaxError:
        raise BuildError(f"environment marker not understood: {marker!r}") from None

    def term(node: ast.expr) -> str:
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        raise BuildError(f"environment marker not understood: {marker!r}")

    def version(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v))

    def holds(node: ast.expr) -> bool:
        if isinstance(node, ast.BoolOp):
            values = [holds(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            a, b, op = term(node.left), term(node.comparators[0]), node.ops[0]
            if isinstance(op, (ast.In, ast.NotIn)):
                return (a in b) == isinstance(op, ast.In)
            if type(op) in _COMPARE:
                if any(isinstance(n, ast.Name) and n.id in _VERSION_VARS for n in (node.left, node.comparators[0])):
                    return _COMPARE[type(op)](version(a), version(b))
                return _COMPARE[type(op)](a, b)
        raise BuildError(f"environment marker not understood: {marker!r}")

    return holds(tree)


def check_locked_present(tree: Path, lock_text: str, target: str, pyver: str) -> None:
    """Every locked package whose marker holds for (target, pyver) is installed in `tree`.

    uv evaluates markers for the target platform; this catches a dependency that was dropped
    anyway (pip, for one, ignores os_name/sys_platform markers when cross-installing)."""
    env = marker_env(target, pyver)
    installed = {_norm(p.name.split("-")[0]) for p in tree.glob("*.dist-info")}
    missing = []
    for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==[^\s;\\]+(?:\s*;\s*([^\\\n]+))?", lock_text, re.M):
        name, marker = _norm(m.group(1)), (m.group(2) or "").strip()
        if marker and not marker_holds(marker, env):
            continue
        if name not in installed:
            missing.append(name)
    if missing:
        raise BuildError(f"{target} (Python {pyver}): locked packages not installed: {', '.join(missing)}")


# Stable-ABI (abi3) extensions that must be in every pyz: one file serves every Python version.
ABI3_NATIVES = ("cryptography/hazmat/bindings/_rust", "nh3/nh3")


def check_natives(names: list[str], target: str) -> None:
    """Every CPython in PYVERS must find the native files: msgspec's and cffi's per version, the
    abi3 ones, and any other per-version extension for every version if it is there for one."""
    t = TARGETS[target]
    have = set(names)
    exts = {v: t["ext"].format(n=v.replace(".", "")) for v in PYVERS}
    stems = {"msgspec/_core", "_cffi_backend"}
    for name in have:
        for ext in exts.values():
            if name.endswith(ext):
                stems.add(name[: -len(ext)])
    missing = [f"{stem}{ext}" for stem in sorted(stems) for ext in exts.values() if f"{stem}{ext}" not in have]
    missing += [f"{stem}{t['abi3']}" for stem in ABI3_NATIVES if f"{stem}{t['abi3']}" not in have]
    if missing:
        raise BuildError(f"{target}: native files missing: {', '.join(missing)}")


# ---- pack

def pack(tree: Path, out: Path, target: str, epoch: int, sources: dict[str, bytes]) -> None:
    """A zipapp: shebang, mox/_bootstrap.py as __main__.py, mox-build.json, site-packages/.

    Reproducible: sorted entries, one timestamp (SOURCE_DATE_EPOCH), fixed modes and compression.
    The build id is a hash of every path and content, so the cache directory changes with them.
    """
    files = sorted((p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for rel, p in files:
        h.update(rel.encode("utf-8") + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    bootstrap = sources["mox/_bootstrap.py"]
    h.update(b"__main__.py\0" + hashlib.sha256(bootstrap).digest())
    build_id = h.hexdigest()[:24]
    t = TARGETS[target]
    info = {"build_id": build_id, "entry": "mox.__main__:main", "version": mox_version(sources),
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


def build_target(target: str, tl: dict[str, Path], epoch: int, work_root: Path, dist: Path,
                 sources: dict[str, bytes]) -> Path:
    work = work_root / target
    work.mkdir(parents=True, exist_ok=True)
    lock_file = work / LOCK.name
    lock_file.write_bytes(sources[LOCK.name])
    trees = []
    for v in PYVERS:
        dest = work / f"py{v}"
        install_deps(tl["uv"], target, v, dest, lock_file)
        check_locked_present(dest, sources[LOCK.name].decode("utf-8"), target, v)
        trees.append(dest)
    tree = work / "site-packages"
    merge(trees, tree)
    add_mox(tree, target, sources)
    normalise_modes(tree)
    check_natives([p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()], target)
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"mox-{target}.pyz"
    pack(tree, out, target, epoch, sources)
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
    ap.add_argument("--rev", help="build mox and the lock from this git commit (default: the work tree)")
    args = ap.parse_args(argv)
    try:
        tl = tools()
        if args.command == "lock":
            lock(tl["uv"])
            return 0
        if args.rev is None:
            check_lock()
        sources = read_sources(args.rev)
        if LOCK.name not in sources:
            raise BuildError(f"{LOCK.name} is missing: run `python3 build.py lock`")
        host = host_target() if not args.all and (not args.target or "host" in args.target) else None
        targets = list(TARGETS) if args.all else [host if t == "host" else t for t in (args.target or ["host"])]
        if args.all:
            try:
                host = host_target()
            except BuildError:
                host = None
        epoch = source_date_epoch(args.rev)
        dist, work = args.dist.resolve(), args.work.resolve()
        built = [build_target(t, tl, epoch, work, dist, sources) for t in dict.fromkeys(targets)]
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
