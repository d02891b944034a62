"""Platform check for a built mox pyz (stdlib only; keep it importable on any Python 3).

A pyz carries native extensions (msgspec, cffi, cryptography) for one OS/architecture and for a
fixed set of CPython versions. build.py writes the description of that target into
`mox/_target.py` as a dict::

    TARGET = {"name": "linux-x86_64", "sys_platform": "linux", "machines": ["x86_64"],
              "ext": ".cpython-{n}-x86_64-linux-gnu.so", "pyvers": ["3.11", ...]}

`target_mismatch(TARGET)` returns None when this interpreter can load those files, else one line
that says what the archive is for and what is running it.
"""

import importlib.machinery
import os
import sys

_OS_NAMES = {"linux": "Linux", "win32": "Windows", "darwin": "macOS"}


def _machine():
    if os.name == "nt":
        # platform.machine() may query WMI on Windows; the environment says the same thing.
        env = os.environ
        return env.get("PROCESSOR_ARCHITEW6432") or env.get("PROCESSOR_ARCHITECTURE") or "unknown"
    try:
        return os.uname().machine
    except AttributeError:
        return "unknown"


def _describe_running():
    impl = sys.implementation.name
    impl = {"cpython": "CPython", "pypy": "PyPy"}.get(impl, impl)
    version = "%d.%d.%d" % sys.version_info[:3]
    if getattr(sys, "_is_gil_enabled", None) is not None and not sys._is_gil_enabled():
        version += " (free-threaded)"
    os_name = _OS_NAMES.get(sys.platform, sys.platform)
    return "%s %s with %s %s" % (os_name, _machine(), impl, version)


def target_mismatch(target):
    """None if this interpreter can run the pyz built for `target`, else a one-line message."""
    pyvers = list(target["pyvers"])
    running = "%d.%d" % sys.version_info[:2]
    ok = (
        sys.implementation.name == "cpython"
        and sys.platform == target["sys_platform"]
        and running in pyvers
        and target["ext"].format(n=running.replace(".", "")) in importlib.machinery.EXTENSION_SUFFIXES
    )
    if ok and target["machines"] and sys.platform != "win32":
        # Windows: the extension suffix (win_amd64) already names the interpreter's architecture,
        # which is what matters (x64 Python also runs emulated on Windows on ARM).
        ok = _machine().lower() in [m.lower() for m in target["machines"]]
    if ok:
        return None
    return "mox: this is mox-%s.pyz, for %s %s with CPython %s-%s; this is %s (get the pyz for your platform, or run mox from source)" % (
        target["name"],
        _OS_NAMES.get(target["sys_platform"], target["sys_platform"]),
        target["machines"][0] if target["machines"] else "",
        pyvers[0],
        pyvers[-1],
        _describe_running(),
    )


# ---- the pyz's own __main__.py
#
# build.py stores this file as the archive's `__main__.py`, next to `mox-build.json` and a
# `site-packages/` tree. Native extensions cannot be imported from a zip, so the first run extracts
# site-packages into a cache directory named after the build id (a hash of the contents). No lock
# file is involved: every first run extracts into its own temporary directory and renames it into
# place; when several processes race, one rename wins and the others discard their copy. A process
# killed halfway leaves only its temporary directory, which a later run removes.
#
# Bytecode: the import system writes a .pyc into the cache for each module as it is first imported
# by each Python version (atomically), even when PYTHONDONTWRITEBYTECODE=1 is set, because the
# cache dir is ours. So warm starts match an installed package, and a first run compiles only
# what it imports (compiling the whole tree up front took seconds).
#
# Cache root: $MOX_PYZ_CACHE, else %LOCALAPPDATA%\mox\pyz, ~/Library/Caches/mox/pyz or
# ${XDG_CACHE_HOME:-~/.cache}/mox/pyz. Builds not started for 30 days are removed.

BUILD_INFO = "mox-build.json"
_STALE_TMP_SECONDS = 600
_UNUSED_BUILD_SECONDS = 30 * 86400


def cache_root():
    env = os.environ
    if env.get("MOX_PYZ_CACHE"):
        return os.path.abspath(os.path.expanduser(env["MOX_PYZ_CACHE"]))
    if os.name == "nt":
        base = env.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "mox", "pyz")


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _sweep(root, keep):
    """Remove temporary directories of killed first runs and builds unused for 30 days."""
    import time

    now = time.time()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if name == keep:
            continue
        path = os.path.join(root, name)
        try:
            if ".tmp-" in name:
                if now - os.stat(path).st_mtime > _STALE_TMP_SECONDS:
                    _rmtree(path)
            elif now - os.stat(os.path.join(path, "site-packages")).st_mtime > _UNUSED_BUILD_SECONDS:
                _rmtree(path)
        except OSError:
            pass


def _extract(archive, root, build_id):
    """Extract site-packages of `archive` to root/build_id (atomically; safe when raced)."""
    import time

    final = os.path.join(root, build_id)
    tmp = os.path.join(root, "%s.tmp-%d-%s" % (build_id, os.getpid(), os.urandom(4).hex()))
    os.makedirs(tmp)
    try:
        for info in archive.infolist():
            if info.filename.startswith("site-packages/") and not info.is_dir():
                archive.extract(info, tmp)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                os.rename(tmp, final)
                return
            except OSError:
                if os.path.isdir(os.path.join(final, "site-packages")):
                    return  # another process won the race; ours is discarded below
                if os.name != "nt" or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # Windows: a scanner may briefly hold a handle in tmp
    finally:
        if os.path.exists(tmp):
            _rmtree(tmp)


def bootstrap():
    import json
    import zipfile

    archive_path = os.path.dirname(os.path.abspath(__file__))
    with zipfile.ZipFile(archive_path) as archive:
        info = json.loads(archive.read(BUILD_INFO).decode("utf-8"))
        problem = target_mismatch(info["target"])
        if problem:
            sys.stderr.write(problem + "\n")
            sys.exit(2)
        root = cache_root()
        build_dir = os.path.join(root, info["build_id"])
        site_packages = os.path.join(build_dir, "site-packages")
        try:
            if not os.path.isdir(site_packages):
                os.makedirs(root, exist_ok=True)
                _extract(archive, root, info["build_id"])
                _sweep(root, info["build_id"])
        except OSError as e:
            sys.stderr.write(
                "mox: cannot unpack %s into %s: %s (set MOX_PYZ_CACHE to a writable directory)\n"
                % (os.path.basename(archive_path), root, e)
            )
            sys.exit(2)
    try:
        os.utime(site_packages)  # "last used", for the sweep of unused builds
    except OSError:
        pass  # a read-only cache still runs (without writing bytecode)
    sys.dont_write_bytecode = False  # see "Bytecode" above
    if sys.path and os.path.abspath(sys.path[0]) == archive_path:
        sys.path[0] = site_packages
    else:
        sys.path.insert(0, site_packages)
    import importlib

    module, _, func = info["entry"].partition(":")
    sys.exit(getattr(importlib.import_module(module), func)())


if __name__ == "__main__":
    bootstrap()
