"""Every module of mox imports, on its own and first, and a module that fails to import fails
start-up loudly: no stand-in handler, placeholder page or skipped command hides it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import mox_env

ROOT = Path(__file__).resolve().parents[1]

# Imports every module of the package, each in a fresh state of mox (every mox module unloaded
# before the next one), so an import cycle that only breaks when one module is imported first is
# found. Prints the modules it imported; a failure is a traceback and exit code 1.
_IMPORT_EACH = """
import importlib, pkgutil, sys
import mox

names = ["mox", *sorted(m.name for m in pkgutil.walk_packages(mox.__path__, "mox."))]
for name in names:
    for loaded in [m for m in sys.modules if m == "mox" or m.startswith("mox.")]:
        del sys.modules[loaded]
    importlib.import_module(name)
    print(name)
"""


def test_every_module_imports_on_its_own() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH], cwd=ROOT, capture_output=True, text=True, timeout=300, env=mox_env()
    )
    assert proc.returncode == 0, proc.stderr
    imported = sorted(proc.stdout.split())
    files = sorted(p for p in (ROOT / "mox").rglob("*.py") if p.name != "_target.py")
    expected = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in files
    )
    assert imported == expected


# Runs `mox ...` with one module of mox made unimportable (a broken page, command or server
# module), as a bug in that module would.
_BROKEN = """
import importlib.abc, sys

class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise ImportError("{module} is broken on purpose")
        return None

sys.meta_path.insert(0, Broken())
sys.argv = ["mox", *{args!r}]
from mox.__main__ import main
main()
"""


@pytest.mark.parametrize(
    "module",
    [
        "mox.web.webmail",  # a web page module: was a 404 placeholder page
        "mox.web.webadmin",
        "mox.imap.server",  # a protocol server: was a stand-in handler answering "not available"
        "mox.cli.dkim",  # a command module: was skipped, the command missing from `mox help`
    ],
)
def test_a_broken_module_fails_startup(tmp_path: Path, module: str) -> None:
    args = ["localserve", "-dir", str(tmp_path / "d"), "-port-base", "0"]
    script = textwrap.dedent(_BROKEN.format(module=module, args=args))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, env=mox_env()
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith(f"ImportError: {module} is broken on purpose"), proc.stderr
    assert "mox: ready" not in proc.stdout + proc.stderr


def test_the_server_does_not_import_test_tools() -> None:
    """What `mox localserve` imports before it serves: no pytest (trio.testing brings it in where
    it is installed: 115 ms and 8 MB at every start), nor mox's own test helpers."""
    script = "import sys, mox.cli, mox.localserve; print(' '.join(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, env=mox_env()
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert "mox.localserve" in loaded
    unwanted = sorted(m for m in loaded if m.split(".")[0] in ("pytest", "_pytest", "pluggy") or m in ("trio.testing", "mox.testing"))
    assert unwanted == []
