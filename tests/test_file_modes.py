"""Files with secrets are created mode 0600 from the start (os.open with the mode, never a
default-mode file tightened later): the TLS private key, the DKIM key, adminpasswd, ctl.json's
token, ci.json's shared password and the account index (password hashes)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from mox import localserve
from mox.ctl import server as ctlserver
from mox.ci import hooks as ci
from mox.cli.admin import setadminpassword
from mox.store import Store
from mox.store import layout

pytestmark = pytest.mark.skipif(os.name == "nt", reason="file modes are a POSIX notion")


@pytest.fixture
def creations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """(path, flags, mode) of every os.open made by the durable-write helpers, with a permissive
    umask so a file is only private when its creation mode says so."""
    seen: list[tuple[str, int, int]] = []
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, *args: Any, **kw: Any) -> int:
        seen.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, *args, **kw)

    monkeypatch.setattr(layout.os, "open", recording_open)
    old = os.umask(0o002)
    try:
        yield seen
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def created_private(creations: list[tuple[str, int, int]], final: Path) -> bool:
    tmp = str(final.with_name(final.name + ".tmp"))
    return any(p == tmp and flags & os.O_CREAT and flags & os.O_EXCL and m == 0o600 for p, flags, m in creations)


def test_localserve_secrets(tmp_path: Path, creations: list[tuple[str, int, int]]) -> None:
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    for name in (localserve.KEY_FILE, localserve.DKIM_KEY_FILE, localserve.ADMIN_PASSWORD_FILE):
        assert mode(d / name) == 0o600, name
        assert created_private(creations, d / name), name
    assert mode(d / localserve.CERT_FILE) == 0o660  # not a secret
    # A leftover temporary file with a lax mode does not pass its mode on.
    (d / "adminpasswd.tmp").write_text("old", encoding="utf-8")
    os.chmod(d / "adminpasswd.tmp", 0o666)
    from mox.config import write_file

    write_file(d / "adminpasswd", b"pbkdf2-sha256$1$AA==$AA==\n", secret=True)
    assert mode(d / "adminpasswd") == 0o600


def test_setadminpassword(tmp_path: Path, creations: list[tuple[str, int, int]]) -> None:
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    creations.clear()
    from click.testing import CliRunner

    r = CliRunner().invoke(setadminpassword, ["-dir", str(d)], input="a new admin password\n")
    assert r.exit_code == 0, r.output
    assert mode(d / localserve.ADMIN_PASSWORD_FILE) == 0o600
    assert created_private(creations, d / localserve.ADMIN_PASSWORD_FILE)


def test_ctl_and_ci_files(tmp_path: Path, creations: list[tuple[str, int, int]]) -> None:
    ctlserver._write_info(tmp_path / "ctl.json", {"port": 1, "token": "secret"})
    assert mode(tmp_path / "ctl.json") == 0o600
    assert created_private(creations, tmp_path / "ctl.json")
    ci.init(tmp_path, {"shared_password": "s3cret-shared"})
    assert mode(tmp_path / ci.CI_FILE) == 0o600
    assert created_private(creations, tmp_path / ci.CI_FILE)


def test_account_index_private(tmp_path: Path, creations: list[tuple[str, int, int]]) -> None:
    with Store(tmp_path / "data", fsync=False) as store:
        store.create_account("acc")
        acc = store.open_account("acc")
        try:
            acc.set_password_sync("a password for the index")
        finally:
            acc.close()
    journal = tmp_path / "data" / "accounts" / "acc" / layout.JOURNAL_NAME
    assert mode(journal) == 0o600
