"""The `mox` command line, run as users run it: `python -m mox ...` in a subprocess."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest

from mox import __version__
from tests.conftest import run_mox


def test_version():
    r = run_mox("version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"mox {__version__}"
    assert lines[1].startswith(f"python {sys.version_info.major}.{sys.version_info.minor}.")


def test_help():
    r = run_mox("help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: mox [OPTIONS] [COMMAND] [ARGS]...\n")
    for cmd in ("localserve", "stop", "loglevels", "version", "help"):
        assert f"\n  {cmd} " in r.stdout
    r = run_mox("help", "localserve")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: mox localserve [OPTIONS]\n")
    assert "-port-base, --port-base" in r.stdout
    r = run_mox("help", "nope")
    assert (r.returncode, r.stdout, r.stderr) == (2, "", "mox: unknown command 'nope' (see: mox help)\n")


#: Go mox's localserve-relevant commands (main.go's command table), each with a test against a
#: running localserve in tests/cli/ (queue, queue webhook/suppress, config, dkim, tools).
MOX_COMMANDS = (
    "queue list", "queue hold", "queue unhold", "queue schedule", "queue fail", "queue drop", "queue dump",
    "queue retired list", "queue retired print", "queue holdrules list", "queue holdrules add", "queue holdrules remove",
    "queue webhook list", "queue webhook schedule", "queue webhook cancel", "queue webhook print",
    "queue webhook retired list", "queue webhook retired print",
    "queue suppress list", "queue suppress add", "queue suppress remove", "queue suppress lookup",
    "dkim gened25519", "dkim genrsa", "dkim txt", "dkim sign", "dkim verify",
    "config dnsrecords", "config describe-static", "config describe-domains", "config test", "config example",
    "config domain add", "config domain rm", "config alias list", "config alias print", "config alias add",
    "config alias update", "config alias rm", "config alias addaddr", "config alias rmaddr",
    "config account list", "config account disable", "config account enable",
    "deliver", "webapi", "message parse", "verifydata", "clientconfig", "cid",
)


def test_help_lists_mox_commands():
    out = run_mox("help").stdout
    missing = [c for c in MOX_COMMANDS if f"\n  mox {c} " not in out and f"\n  mox {c}\n" not in out]
    assert missing == [], out


def test_readme_lists_mox_commands():
    """README's CLI sections name each of them in a `mox ...` span: the full command, or its
    group with alternatives (`mox queue holdrules list|add|remove`)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    spans = re.findall(r"`(mox [^`]+)`", readme)

    def listed(cmd: str) -> bool:
        *group, last = cmd.split()
        prefix = " ".join(["mox", *group])
        for s in spans:
            rest = s[len(prefix):].split() if (s + " ").startswith(prefix + " ") else []
            if rest and last in rest[0].split("|"):
                return True
        return False

    assert [c for c in MOX_COMMANDS if not listed(c)] == []


def test_usage_errors():
    r = run_mox("localserve", "-bogus")
    assert (r.returncode, r.stderr) == (2, "mox: no such option: -bogus (see: mox help localserve)\n")
    r = run_mox("localserve", "-port-base", "x")
    assert r.returncode == 2
    assert r.stderr == "mox: Invalid value for '-port-base' / '--port-base': 'x' is not a valid integer range. (see: mox help localserve)\n"
    r = run_mox("localserve", "-port-base", "0", "-ports-offset", "1")
    assert (r.returncode, r.stderr) == (2, "mox: use either -port-base or -ports-offset, not both (see: mox help localserve)\n")
    r = run_mox("nope")
    assert (r.returncode, r.stderr) == (2, "mox: No such command 'nope'. (see: mox help)\n")


def _assert_initialised(d):
    for name in ("mox.conf", "domains.conf", "localhost.crt", "localhost.key", "adminpasswd"):
        assert (d / name).is_file(), name
    assert (d / "accounts" / "mox").is_dir()
    assert "moxadmin" not in (d / "adminpasswd").read_text(encoding="utf-8")  # hashed


def test_initonly_both_dash_forms(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r = run_mox("-loglevel", "info", "localserve", "-initonly", "-dir", str(one))
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[0] == f"print: creating mox localserve config in {one}; pkg=localserve"
    _assert_initialised(one)
    r = run_mox("--loglevel=info", "localserve", "--initonly", f"--dir={two}")
    assert r.returncode == 0, r.stderr
    _assert_initialised(two)
    # Existing dir: warn, change nothing.
    before = (one / "mox.conf").read_bytes()
    r = run_mox("localserve", "-initonly", "-dir", str(one))
    assert r.returncode == 0
    assert r.stderr.splitlines() == [
        "print: warning: directory for configuration files already exists, continuing; pkg=localserve",
        f"print: config already present in {one}, not changed; pkg=localserve",
    ]
    assert (one / "mox.conf").read_bytes() == before
    # -ip only when writing a new config.
    r = run_mox("localserve", "-dir", str(one), "-ip", "127.0.0.1")
    assert (r.returncode, r.stderr) == (1, "mox: can only use -ip when writing a new config file\n")


def test_broken_config(tmp_path):
    d = tmp_path / "d"
    assert run_mox("localserve", "-initonly", "-dir", str(d)).returncode == 0
    (d / "mox.conf").write_text("{", encoding="utf-8")
    r = run_mox("localserve", "-dir", str(d))
    assert r.returncode == 1
    assert r.stderr.startswith(
        "mox: loading mox localserve config (hint: when creating a new config with -dir, the directory must not yet exist): "
    )
    assert len(r.stderr.splitlines()) == 1


def test_bad_dir_and_ip(tmp_path):
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    r = run_mox("localserve", "-dir", str(f))
    assert (r.returncode, r.stderr) == (1, f"mox: {f} is not a directory\n")
    r = run_mox("localserve", "-dir", str(tmp_path / "new"), "-ip", "localhost")
    assert (r.returncode, r.stderr) == (1, "mox: invalid ip address 'localhost' for -ip\n")
    assert not (tmp_path / "new").exists()  # nothing left behind
    r = run_mox("localserve", "-dir", str(f / "sub"))
    assert (r.returncode, r.stderr) == (1, f"mox: {f / 'sub'} is not a directory\n")


def test_stop_not_running(tmp_path):
    r = run_mox("stop", "-dir", str(tmp_path))
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: mox is not running (no control channel at {tmp_path / 'ctl'})\n"
    r = run_mox("loglevels", "--dir", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.startswith("mox: mox is not running")


def test_stop_and_loglevels(tmp_path, mox_process):
    d = tmp_path / "d"
    p = mox_process("-checkconsistency", "localserve", "-dir", str(d), "-port-base", "0")
    info = p.wait_ready()
    assert info["dir"] == str(d)
    r = run_mox("loglevels", "-dir", str(d))
    assert (r.returncode, r.stdout) == (0, "(default): info\n"), r.stderr
    r = run_mox("loglevels", "-dir", str(d), "debug", "imapserver")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = run_mox("loglevels", "-dir", str(d))
    assert r.stdout == "(default): info\nimapserver: debug\n"
    r = run_mox("loglevels", "-dir", str(d), "loud")
    assert r.returncode == 2
    assert r.stderr.startswith("mox: unknown log level 'loud', known: tracedata traceauth")
    # A second localserve on the same dir is refused in one line.
    r = run_mox("localserve", "-dir", str(d), "-port-base", "0")
    assert (r.returncode, r.stderr.splitlines()[-1]) == (1, f"mox: mox is already running with data dir {d}")
    r = run_mox("stop", "-dir", str(d))
    assert (r.returncode, r.stdout) == (0, "mox stopped\n"), r.stderr
    assert p.wait() == 0
    log = p.log()
    assert "print: shutting down, waiting max 3s for existing connections; pkg=serve\n" in log
    assert log.endswith("print: mox stopped; pkg=localserve\n")


@pytest.mark.parametrize("flag", ["-port-base", "-ports-offset"])
def test_port_in_use(tmp_path, flag):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        d = tmp_path / "d"
        # smtp is bound first, at 25 + base or 1025 + offset: make it the busy port.
        n = port - 25 if flag == "-port-base" else port - 1025
        assert n >= 0
        r = run_mox("localserve", "-dir", str(d), "-ip", "127.0.0.1", flag, str(n))
        assert r.returncode == 1
        lines = r.stderr.splitlines()
        assert lines[-1] == f"mox: listen for smtp on 127.0.0.1:{port}: address already in use"
        assert [line for line in lines if line.startswith(("mox:", "fatal", "Traceback"))] == [lines[-1]]
    finally:
        busy.close()
