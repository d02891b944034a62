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
