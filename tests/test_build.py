"""build.py and the pyz bootstrap: reproducible archives, native files per target, platform guard,
first runs that race or get killed.

The slow tests build real archives with uv from requirements.lock (about 15 s in all); they are
marked `slow` and run in CI (`pytest -m slow`).
"""

from __future__ import annotations

import hashlib
import imaplib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

import mox
from mox._bootstrap import target_mismatch

ROOT = Path(__file__).resolve().parents[1]


def _load_build():
    spec = importlib.util.spec_from_file_location("mox_build_script", ROOT / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _target_info(name: str, pyvers=None) -> dict:
    t = build.TARGETS[name]
    return {"name": name, "sys_platform": t["sys_platform"], "machines": t["machines"], "ext": t["ext"],
            "pyvers": list(pyvers or build.PYVERS)}


def _running() -> str:
    os_name = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}[sys.platform]
    machine = os.uname().machine if hasattr(os, "uname") else os.environ["PROCESSOR_ARCHITECTURE"]
    return f"{os_name} {machine} with CPython {'.'.join(map(str, sys.version_info[:3]))}"


# ---- the guard, without building

def test_guard_accepts_the_host_target():
    assert target_mismatch(_target_info(build.host_target())) is None


def test_guard_names_archive_and_interpreter_for_another_platform():
    other = "windows-x86_64" if sys.platform != "win32" else "linux-x86_64"
    want = {
        "windows-x86_64": "mox: this is mox-windows-x86_64.pyz, for Windows AMD64 with CPython 3.11-3.14; ",
        "linux-x86_64": "mox: this is mox-linux-x86_64.pyz, for Linux x86_64 with CPython 3.11-3.14; ",
    }[other]
    assert target_mismatch(_target_info(other)) == (
        want + f"this is {_running()} (get the pyz for your platform, or run mox from source)")


def test_guard_rejects_another_python_version():
    info = _target_info(build.host_target(), pyvers=["3.9", "3.10"])
    host = build.host_target()
    t = build.TARGETS[host]
    os_name = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}[t["sys_platform"]]
    assert target_mismatch(info) == (
        f"mox: this is mox-{host}.pyz, for {os_name} {t['machines'][0]} with CPython 3.9-3.10; "
        f"this is {_running()} (get the pyz for your platform, or run mox from source)")


def test_package_entry_checks_target_before_importing_anything_native(tmp_path):
    # mox/__main__.py guards too (for an extracted tree run by another interpreter): a copy of the
    # package with a _target.py for another platform stops in one line, before click or msgspec.
    other = "windows-x86_64" if sys.platform != "win32" else "linux-x86_64"
    shutil.copytree(ROOT / "mox", tmp_path / "mox", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "mox" / "_target.py").write_text(f"TARGET = {_target_info(other)!r}\n", encoding="utf-8")
    code = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); sys.argv[1:] = ['version']\n"
            "try:\n    runpy.run_module('mox', run_name='__main__')\n"
            "finally:\n    print(sorted(m for m in ('click', 'msgspec', 'trio', 'cryptography') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == target_mismatch(_target_info(other)) + "\n"
    assert proc.stdout == "[]\n"


def test_no_target_file_in_the_source_tree():
    # Running from source has no _target.py, so mox/__main__.py checks nothing.
    assert not (ROOT / "mox" / "_target.py").exists()
    assert importlib.util.find_spec("mox._target") is None


def test_distribution_is_mox_mail_with_the_mox_command_and_plugin():
    # PyPI's `mox` is an unrelated mocking library (2010): ours is published as `mox-mail`, while
    # the import package, the command and the pytest plugin keep the name mox.
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["name"] == "mox-mail" == build.DIST_NAME
    assert project["scripts"] == {"mox": "mox.cli:main"}
    assert project["entry-points"]["pytest11"] == {"mox": "mox.testing.pytest_plugin"}
    # The installed distribution (this venv's `pip install -e .`) carries that name and entry points.
    dist = importlib.metadata.distribution("mox-mail")
    eps = {(ep.group, ep.name): ep.value for ep in dist.entry_points}
    assert eps[("console_scripts", "mox")] == "mox.cli:main"
    assert eps[("pytest11", "mox")] == "mox.testing.pytest_plugin"
    assert dist.version == mox.__version__
    # README tells plugin users that name.
    assert "pip install mox-mail  " in (ROOT / "README.md").read_text("utf-8")


def test_native_check_wants_every_version_of_every_extension():
    t = build.TARGETS["windows-x86_64"]
    names = [f"{stem}{t['abi3']}" for stem in build.ABI3_NATIVES]
    for v in build.PYVERS:
        n = v.replace(".", "")
        names += [f"msgspec/_core.cp{n}-win_amd64.pyd", f"_cffi_backend.cp{n}-win_amd64.pyd"]
    build.check_natives(names, "windows-x86_64")
    with pytest.raises(build.BuildError) as e:
        build.check_natives([*names[:-1], "other/_speedups.cp312-win_amd64.pyd"], "windows-x86_64")
    assert str(e.value) == (
        "windows-x86_64: native files missing: _cffi_backend.cp314-win_amd64.pyd, "
        "other/_speedups.cp311-win_amd64.pyd, other/_speedups.cp313-win_amd64.pyd, "
        "other/_speedups.cp314-win_amd64.pyd")


def test_a_dependency_dropped_for_one_platform_fails_the_build(tmp_path):
    lock = (ROOT / "requirements.lock").read_text("utf-8")
    lock += "pywin32-ctypes==0.2.3 ; sys_platform == 'win32' \\\n    --hash=sha256:" + "0" * 64 + "\n"
    tree = tmp_path / "site-packages"
    for name, version in build.check_lock().items():
        (tree / f"{name.replace('-', '_')}-{version}.dist-info").mkdir(parents=True)
    build.check_locked_present(tree, lock, "linux-x86_64", "3.12")  # not needed on Linux
    with pytest.raises(build.BuildError) as e:
        build.check_locked_present(tree, lock, "windows-x86_64", "3.12")
    assert str(e.value) == "windows-x86_64 (Python 3.12): locked packages not installed: pywin32-ctypes"


MARKERS = [
    "(implementation_name != 'pypy' and os_name == 'nt') or platform_python_implementation != 'PyPy'",
    "implementation_name != 'PyPy' and ((implementation_name != 'pypy' and os_name == 'nt') or "
    "platform_python_implementation != 'PyPy')",
    "sys_platform == 'win32'", "sys_platform != 'win32' and platform_machine == 'arm64'",
    "python_version < '3.13'", "python_version >= '3.9'", "python_full_version <= '3.12.0'",
    "'linux' in sys_platform", "os_name not in 'nt'", "platform_system == 'Darwin' or python_version > '3.12'",
]


@pytest.mark.parametrize("target", sorted(build.TARGETS))
@pytest.mark.parametrize("pyver", build.PYVERS)
def test_markers_are_evaluated_as_the_packaging_library_does(target, pyver):
    # build.py evaluates the lock's environment markers itself (it runs on a bare Python); the
    # packaging library (pip's and uv's reading of PEP 508) is the judge.
    from packaging.markers import Marker

    env = build.marker_env(target, pyver)
    results = [Marker(m).evaluate(env) for m in MARKERS]
    assert True in results and False in results
    assert [build.marker_holds(m, env) for m in MARKERS] == results
    for bad in ("python_version ~= '3.12'", "bogus_name == 'x'", "python_version == 3"):
        with pytest.raises(build.BuildError, match="environment marker not understood"):
            build.marker_holds(bad, env)


def test_cache_sweep_removes_leftovers_of_killed_runs_and_unused_builds(tmp_path):
    from mox import _bootstrap

    now = time.time()

    def make(name: str, age: float) -> Path:
        sp = tmp_path / name / "site-packages"
        sp.mkdir(parents=True)
        os.utime(sp, (now - age, now - age))
        os.utime(tmp_path / name, (now - age, now - age))
        return tmp_path / name

    make("current", 40 * 86400)  # the build starting now is never removed
    make("recent", 29 * 86400)
    make("unused", 31 * 86400)
    make("aaaa.tmp-123-00ff", 11 * 60)  # a first run killed 11 minutes ago
    make("bbbb.tmp-456-00ff", 60)  # probably still extracting
    _bootstrap._sweep(str(tmp_path), "current")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bbbb.tmp-456-00ff", "current", "recent"]


# ---- real archives

def _run_build(*args: str, dist: Path, work: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "build.py"), *args, "--dist", str(dist), "--work", str(work)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dist")
    _run_build("--all", dist=d, work=tmp_path_factory.mktemp("work"))
    return d


def _pyz_cmd(pyz: Path, *args: str, python: str = sys.executable) -> list[str]:
    # -I -S: no site-packages of the test environment; the pyz must bring everything itself.
    return [python, "-I", "-S", str(pyz), *args]


def _env(cache: Path) -> dict[str, str]:
    return dict(os.environ, MOX_PYZ_CACHE=str(cache))


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_target_carries_its_natives_for_every_python(dist):
    sums = (dist / "SHA256SUMS").read_text("utf-8").splitlines()
    assert sorted(sums) == sorted(f"{_sha256(dist / f'mox-{t}.pyz')}  mox-{t}.pyz" for t in build.TARGETS)
    for name, t in build.TARGETS.items():
        with zipfile.ZipFile(dist / f"mox-{name}.pyz") as z:
            names = set(z.namelist())
            info = json.loads(z.read("mox-build.json"))
            target_py = z.read("site-packages/mox/_target.py").decode("utf-8")
            meta = z.read(f"site-packages/mox_mail-{mox.__version__}.dist-info/METADATA").decode("utf-8")
        assert info["target"] == _target_info(name), name
        assert info["entry"] == "mox.__main__:main"
        assert meta.splitlines()[1] == "Name: mox-mail", name
        assert f"'name': '{name}'" in target_py
        for v in build.PYVERS:
            ext = t["ext"].format(n=v.replace(".", ""))
            assert f"site-packages/msgspec/_core{ext}" in names, (name, v)
            assert f"site-packages/_cffi_backend{ext}" in names, (name, v)
        for stem in build.ABI3_NATIVES:
            assert f"site-packages/{stem}{t['abi3']}" in names, (name, stem)
        assert not [n for n in names if "/__pycache__/" in n or "/trio/_tests/" in n], name
        # No native file of another platform slipped in.
        foreign = {".pyd", ".so"} - ({".pyd"} if t["sys_platform"] == "win32" else {".so"})
        assert not [n for n in names if Path(n).suffix in foreign], name


@pytest.mark.slow
def test_same_input_gives_same_bytes(tmp_path):
    # One commit as input (the work tree may change under a running test); fresh scratch dirs.
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    _run_build("--all", "--rev", rev, dist=tmp_path / "a", work=tmp_path / "work-a")
    _run_build("--all", "--rev", rev, dist=tmp_path / "b", work=tmp_path / "work-b")
    for target in build.TARGETS:  # every target, not only this machine's
        name = f"mox-{target}.pyz"
        assert _sha256(tmp_path / "a" / name) == _sha256(tmp_path / "b" / name), name
    assert (tmp_path / "a" / "SHA256SUMS").read_bytes() == (tmp_path / "b" / "SHA256SUMS").read_bytes()
    assert len((tmp_path / "a" / "SHA256SUMS").read_text("utf-8").splitlines()) == len(build.TARGETS)


@pytest.mark.slow
def test_pyz_for_another_platform_says_so_in_one_line(dist, tmp_path):
    other = "windows-x86_64" if sys.platform != "win32" else "linux-x86_64"
    proc = subprocess.run(_pyz_cmd(dist / f"mox-{other}.pyz", "version"), env=_env(tmp_path / "cache"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == target_mismatch(_target_info(other)) + "\n"
    assert not (tmp_path / "cache").exists()  # refused before extracting anything


def _interpreter_candidates() -> list[str]:
    """Paths where a CPython 3.11+ may be: the running one, python3 and python3.X on PATH, pyenv's
    versions ($PYENV_ROOT, ~/.pyenv), /usr/bin, /usr/local/bin, Homebrew's, and on Windows the py
    launcher's list."""
    cands = [sys.executable, shutil.which("python3") or ""]
    cands += [shutil.which(f"python{v}") or "" for v in build.PYVERS]
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        cands += [str(p) for p in sorted(Path(root, "versions").glob("3.*/bin/python3.*")) if not p.name.endswith("-config")]
    for d in ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"):
        cands += [str(p) for p in sorted(Path(d).glob("python3.*")) if not p.name.endswith("-config")]
    if sys.platform == "win32" and shutil.which("py"):
        try:
            out = subprocess.run(["py", "-0p"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        cands += [line.split()[-1] for line in out.splitlines() if line.strip().lower().endswith("python.exe")]
    return cands


def _interpreters() -> list[tuple[str, str]]:
    """(version, path) of each distinct CPython 3.11+ on this machine (one path per version string)."""
    found: dict[str, str] = {}
    for c in _interpreter_candidates():
        if not c or not Path(c).is_file():
            continue
        try:
            out = subprocess.run([c, "-I", "-c", "import platform; print(platform.python_implementation(), "
                                  "platform.python_version())"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        impl, _, version = out.stdout.strip().partition(" ")
        if out.returncode == 0 and impl == "CPython" and ".".join(version.split(".")[:2]) in build.PYVERS:
            found.setdefault(version, c)
    return sorted(found.items(), key=lambda kv: tuple(int(x) for x in kv[0].split(".")[:3] if x.isdigit()))


@pytest.mark.slow
def test_runs_on_every_python_found(dist, tmp_path):
    pythons = [path for _, path in _interpreters()]
    assert pythons  # at least the one running this test
    for py in pythons:
        proc = subprocess.run(_pyz_cmd(dist / "mox.pyz", "version", python=py), env=_env(tmp_path / "cache"),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (py, proc.stderr)
        assert mox.__version__ in proc.stdout, py
    # Each Python left its own bytecode in the cache (even with PYTHONDONTWRITEBYTECODE=1).
    (build_dir,) = (tmp_path / "cache").iterdir()
    pycache = build_dir / "site-packages" / "mox" / "__pycache__"
    for py in pythons:
        tag = subprocess.run([py, "-I", "-c", "import sys; print(sys.implementation.cache_tag)"],
                             capture_output=True, text=True).stdout.strip()
        assert (pycache / f"__main__.{tag}.pyc").is_file(), py


@pytest.mark.slow
def test_round_trip_on_every_python_found(dist, tmp_path, mox_process, monkeypatch, request):
    # The smoke test of the host archive (linux-x86_64 in CI) on every CPython 3.11+ of this
    # machine: `localserve -ephemeral` serves, a submitted message is read back over IMAP byte for
    # byte after the trace headers, and `mox stop`-style SIGTERM ends it with exit code 0. The
    # terminal summary names the CPythons it ran on; fewer than --min-pythons (CI: 2) fails.
    from tests.conftest import PYZ_SMOKE_RAN
    from tests.test_localserve import MESSAGE, fetch_all, submit

    pyz = dist / f"mox-{build.host_target()}.pyz"
    pythons = _interpreters()
    ran: list[tuple[str, str]] = []
    request.config.stash[PYZ_SMOKE_RAN] = ran
    monkeypatch.setenv("MOX_PYZ_CACHE", str(tmp_path / "cache"))  # a first run on the first Python
    for version, py in pythons:
        p = mox_process("localserve", "-ephemeral", "-port-base", "0", cmd=[py, "-I", "-S", str(pyz)])
        info = p.wait_ready(timeout=120)
        msg = MESSAGE.replace(b"roundtrip-1", f"pyz-{len(ran)}".encode())
        submit(info["submission"], msg)
        with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
            imap.login("mox@localhost", "moxmoxmox")
            [got] = fetch_all(imap, 1)
        assert got.endswith(msg), (py, got)
        p.terminate()
        assert p.wait() == 0, (py, p.log())
        assert not Path(info["dir"]).exists(), py
        ran.append((version, py))
    minimum = request.config.getoption("min_pythons")
    assert len(ran) >= minimum, (
        f"the pyz smoke test ran on {len(ran)} CPython(s) ({', '.join(v for v, _ in ran)}), --min-pythons is "
        f"{minimum}: install more CPythons 3.11-3.14 (pyenv, apt python3.X) or lower --min-pythons"
    )


@pytest.mark.slow
def test_four_simultaneous_first_runs(dist, tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen(_pyz_cmd(dist / "mox.pyz", "version"), env=_env(cache), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert mox.__version__ in out
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 1 and ".tmp-" not in entries[0]  # one build dir, every loser cleaned up
    assert (cache / entries[0] / "site-packages" / "mox" / "__main__.py").is_file()


def _wait_for(pred, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.002)
    return False


@pytest.mark.slow
def test_first_run_killed_mid_extraction_then_next_run_works(dist, tmp_path):
    cache = tmp_path / "cache"
    proc = subprocess.Popen(_pyz_cmd(dist / "mox.pyz", "version"), env=_env(cache), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: cache.exists() and any(".tmp-" in p.name for p in cache.iterdir()))
        proc.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    finally:
        proc.wait(timeout=30)
    assert [p for p in cache.iterdir() if ".tmp-" not in p.name] == []  # killed before the rename

    done = subprocess.run(_pyz_cmd(dist / "mox.pyz", "version"), env=_env(cache), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert mox.__version__ in done.stdout


@pytest.mark.slow
def test_warm_run_uses_bytecode_written_by_the_first(dist, tmp_path):
    cache = tmp_path / "cache"
    env = dict(_env(cache), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, str(dist / "mox.pyz"), "version"]  # without -I: the variable applies
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (build_dir,) = cache.iterdir()
    sp = build_dir / "site-packages"
    tag = sys.implementation.cache_tag
    for mod in ("mox/__pycache__/__main__", "click/__pycache__/core", "mox/cli/__pycache__/__init__"):
        assert (sp / f"{mod}.{tag}.pyc").is_file(), mod
    # Warm: same output, no new extraction, the bytecode is reused (not rewritten).
    pyc = sp / f"mox/__pycache__/__main__.{tag}.pyc"
    before = pyc.stat().st_mtime_ns
    warm = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == first.stdout
    assert [p.name for p in cache.iterdir()] == [build_dir.name]
    assert pyc.stat().st_mtime_ns == before


@pytest.mark.slow
def test_unwritable_cache_gives_one_clear_line(dist, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    proc = subprocess.run(_pyz_cmd(dist / "mox.pyz", "version"), env=_env(blocker / "cache"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"mox: cannot unpack mox.pyz into {blocker / 'cache'}: ")
    assert lines[0].endswith("(set MOX_PYZ_CACHE to a writable directory)")
