"""The localserve flags of the test and CI features, on a real `mox localserve` process."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.conftest import run_mox

from .conftest import Line


def test_localserve_flags(tmp_path: Path, mox_process) -> None:
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "hello.eml").write_bytes(b"From: a@example.org\r\nSubject: preloaded\r\n\r\nhi\r\n")
    out = tmp_path / "out"
    p = mox_process(
        "localserve", "-dir", str(tmp_path / "mox"), "-port-base", "0",
        "-imap-profile", "minimal-rev1", "-preload", str(pre), "-export-on-exit", str(out),
        "-deterministic", "-shared-password", "ci-pass",
    )
    info = p.wait_ready()
    c = Line(info["imap"])
    assert c.line() == "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] mox imap"
    c.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{info['http']}/api/v1/ci", timeout=30) as resp:
        assert json.load(resp) == {
            "shared_password": "ci-pass",
            "imap_profile": "minimal-rev1",
            "deterministic": 946684800.0,
            "preload": str(pre.absolute()),
            "export_on_exit": str(out.absolute()),
            "views": True,
            "views_max": 1000,
        }
    with urllib.request.urlopen(f"http://127.0.0.1:{info['http']}/api/v1/messages", timeout=30) as resp:
        assert [m["subject"] for m in json.load(resp)["messages"]] == ["preloaded"]
    p.terminate()
    assert p.wait() == 0
    assert "preloaded 1 messages from " in p.log()
    (f,) = (out / "mox" / "Inbox" / "cur").iterdir()
    assert f.read_bytes() == b"From: a@example.org\r\nSubject: preloaded\r\n\r\nhi\r\n"


def test_bad_profile_is_a_usage_error(tmp_path: Path) -> None:
    r = run_mox("localserve", "-dir", str(tmp_path / "mox"), "-imap-profile", "exchange")
    assert r.returncode == 2
    assert "Invalid value for '-imap-profile'" in r.stderr


def test_bad_settings_in_the_environment(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, MOX_IMAP_PROFILE="bogus", MOX_DETERMINISTIC="yesterday")
    r = subprocess.run(
        [sys.executable, "-m", "mox", "localserve", "-dir", str(tmp_path / "mox"), "-port-base", "0"],
        capture_output=True, text=True, encoding="utf-8", timeout=60, env=env, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == (
        "mox: test and CI settings (MOX_* environment): unknown imap profile 'bogus', choose from mox, full, dovecot, minimal-rev1"
    )


def test_bad_fixture_paths_are_refused_at_start(tmp_path: Path) -> None:
    """An export dir that is a file, or a preload dir that is missing, stops localserve at once
    (flags: usage error; environment: one line), not when the server exits."""
    import os
    import subprocess
    import sys

    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    r = run_mox("localserve", "-dir", str(tmp_path / "mox"), "-export-on-exit", str(afile))
    assert r.returncode == 2
    assert "Invalid value for '-export-on-exit'" in r.stderr and "is a file" in r.stderr
    for var, want in [
        ("MOX_EXPORT_ON_EXIT", f"export on exit: {afile} exists and is not a directory"),
        ("MOX_PRELOAD", f"preload: {tmp_path / 'missing'} is not a directory"),
    ]:
        env = dict(os.environ, **{var: str(afile if var == "MOX_EXPORT_ON_EXIT" else tmp_path / "missing")})
        r = subprocess.run(
            [sys.executable, "-m", "mox", "localserve", "-dir", str(tmp_path / "mox"), "-port-base", "0"],
            capture_output=True, text=True, encoding="utf-8", timeout=60, env=env, stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 1
        assert r.stderr.splitlines()[-1] == f"mox: test and CI settings (MOX_* environment): {want}"
