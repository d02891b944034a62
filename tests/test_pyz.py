"""The one-file build: `python3 build.py` makes dist/mox.pyz; started on its own (no site-packages)
with -ephemeral and moved ports, it does the same SMTP -> IMAP round trip."""

from __future__ import annotations

import imaplib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_localserve import MESSAGE, fetch_all, submit

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_pyz_roundtrip(tmp_path, mox_process, monkeypatch):
    dist, work = tmp_path / "dist", tmp_path / "work"
    r = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "--dist", str(dist), "--work", str(work)],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr
    pyz = dist / "mox.pyz"
    assert pyz.is_file()
    monkeypatch.setenv("MOX_PYZ_CACHE", str(tmp_path / "cache"))
    cmd = [sys.executable, "-I", "-S", str(pyz)]
    v = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith("mox ")

    p = mox_process("localserve", "-ephemeral", "-port-base", "0", cmd=cmd)
    info = p.wait_ready(timeout=120)
    submit(info["submission"], MESSAGE)
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        [got] = fetch_all(imap, 1)
    assert got.endswith(MESSAGE)
    p.terminate()
    assert p.wait() == 0, p.log()
    assert not Path(info["dir"]).exists()
