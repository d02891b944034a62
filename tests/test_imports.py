"""Every module of mox imports, on its own and first; a module that fails to import fails loudly
(start-up for what the server imports at start, the command or request that needs it otherwise): no
stand-in handler, placeholder page or skipped command hides it. What the server imports before it is
ready is checked too: the modules it only needs later are imported at first use."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import click
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
        "mox.imap.server",  # a protocol server: was a stand-in handler answering "not available"
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


@pytest.mark.parametrize("module", ["mox.web.webmail", "mox.web.webadmin"])
def test_a_broken_page_module_fails_the_web_requests(tmp_path: Path, module: str) -> None:
    """Page modules are imported at the first HTTP request: a broken one (was a 404 placeholder
    page) fails every web request with a 500 and logs its traceback."""
    ready = tmp_path / "ready.json"
    args = ["-loglevel", "error", "localserve", "-dir", str(tmp_path / "d"), "-port-base", "0", "-ready-file", str(ready)]
    script = textwrap.dedent(_BROKEN.format(module=module, args=args))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=mox_env()
    )
    try:
        while not ready.exists() and proc.poll() is None:
            time.sleep(0.05)
        ports = json.loads(ready.read_text(encoding="utf-8"))
        for path in ("/", "/webmail/", "/api/v1/messages"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}{path}", timeout=30)
            assert e.value.code == 500
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    stderr = err.decode(errors="replace")
    assert "Traceback (most recent call last)" in stderr
    assert f"ImportError: {module} is broken on purpose" in stderr


@pytest.mark.parametrize("args", [["help"], ["--help"], ["dkim", "gened25519"]])
def test_a_broken_command_module_fails_the_commands_that_need_it(args: list[str]) -> None:
    """Command modules are imported when a command is run or listed (not at every start): a broken
    one fails `mox help` and its own command with its traceback; it is never left out of the list."""
    script = textwrap.dedent(_BROKEN.format(module="mox.cli.dkim", args=args))
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, env=mox_env()
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().endswith("ImportError: mox.cli.dkim is broken on purpose"), proc.stderr


def test_every_command_of_the_tables_is_found_under_its_name() -> None:
    from mox import cli

    for group, table in ((cli.cli, cli.COMMANDS), (cli.config, cli.CONFIG_COMMANDS)):
        ctx = click.Context(group)
        assert group.list_commands(ctx) == sorted({*table, *(["config"] if group is cli.cli else [])})
        for name in table:
            command = group.get_command(ctx, name)
            assert command is not None and command.name == name


# Starts `mox localserve` as `python -m mox` does; when the ready file appears, a thread writes the
# names of the modules imported by then (the server's start is done: nothing more is imported for
# it). The test then stops the server.
_MODULES_AT_READY = """
import sys, threading, time
from pathlib import Path

ready, out, data_dir = (Path(a) for a in sys.argv[1:4])

def watch():
    while not ready.exists():
        time.sleep(0.005)
    out.with_suffix(".tmp").write_text("\\n".join(sorted(sys.modules)), encoding="utf-8")
    out.with_suffix(".tmp").replace(out)

threading.Thread(target=watch, daemon=True).start()
sys.argv = ["mox", "localserve", "-dir", str(data_dir), "-port-base", "0", "-ready-file", str(ready)]
from mox.__main__ import main
main()
"""

#: Imported at first use, not for the server's start: the command modules of other commands, the
#: modules of control channel commands, the web pages (and nh3, the HTML sanitizer), and:
LAZY_AT_START = [
    *(f"mox.web.{m}" for m in ("webmail", "webaccount", "webadmin", "webapi", "testapi", "testapi_ci", "live", "compose")),
    "nh3",
    *(f"mox.cli.{m}" for m in ("admin", "ctl", "dkim", "queue", "sendmail", "transfer", "webapi", "version")),
    *(f"mox.admin.{m}" for m in ("cid", "deliver", "junk", "threads", "transfer")),
    "mox.queue.ctl",
    # The HTTP driver and h11 (first web connection or webhook), the stdlib's email parser with its
    # header registry (first message or form upload), http.cookies, mimetypes, gzip, difflib.
    "mox.web.http", "h11", "email.policy", "email.parser", "http.cookies", "mimetypes", "gzip", "difflib",
    # html.parser and its entity tables (the junk filter's first HTML part).
    "mox.junk.htmltext", "html.parser", "html.entities",
]


def _modules_at_ready(tmp_path: Path, data_dir: Path) -> set[str]:
    out = tmp_path / "modules.txt"
    out.unlink(missing_ok=True)
    # The user's cache dir (mox.localcert), on each platform: in tmp_path.
    env = {**mox_env(), "XDG_CACHE_HOME": str(tmp_path / "cache"), "LocalAppData": str(tmp_path / "cache"),
           "HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _MODULES_AT_READY, str(tmp_path / "ready.json"), str(out), str(data_dir)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    try:
        while not out.exists() and proc.poll() is None:
            time.sleep(0.05)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert out.exists(), err.decode(errors="replace")
    loaded = set(out.read_text(encoding="utf-8").split())
    assert {"mox.serve", "mox.imap.server", "mox.smtp.server", "mox.cli.localserve"} <= loaded
    return loaded


def test_the_start_does_not_import_what_it_needs_only_later(tmp_path: Path) -> None:
    # A new data dir, nothing cached: its TLS certificate is made with cryptography (and cached).
    loaded = _modules_at_ready(tmp_path, tmp_path / "d")
    assert sorted(m for m in LAZY_AT_START if m in loaded) == []
    assert "cryptography" in loaded
    # The same dir again: the config's DKIM key is checked without cryptography, nothing signs yet.
    loaded = _modules_at_ready(tmp_path, tmp_path / "d")
    assert sorted(m for m in LAZY_AT_START if m in loaded) == []
    assert sorted(m for m in loaded if m.split(".")[0] == "cryptography") == []
    # Another new dir: the cached certificate, a DKIM key written from its seed, no cryptography.
    loaded = _modules_at_ready(tmp_path, tmp_path / "d2")
    assert sorted(m for m in loaded if m.split(".")[0] == "cryptography") == []
