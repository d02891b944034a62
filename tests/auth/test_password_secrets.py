"""Passwords set through `mox setaccountpassword` on a running mox: a confusable or control
character password is refused (the old one keeps working), and what is stored are derived
secrets only, never the password (mox ``store/account.go``)."""

from __future__ import annotations

import imaplib

import pytest

from mox.testing import LocalServer

from ..conftest import run_mox


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


def set_password(srv, password: str):
    return run_mox("setaccountpassword", "-dir", str(srv.dir), "mox", input=password + "\n")


def imap_login(srv, password: str) -> str:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        return c.login("mox@localhost", password)[0]
    except imaplib.IMAP4.error as e:
        return str(e)
    finally:
        c.logout()


@pytest.mark.parametrize(
    "password, why",
    [
        ("password\u200b", "ignorable or noncharacter U+200B not allowed"),  # looks like "password"
        ("pass\u0007word1", "control character U+0007 not allowed"),
    ],
)
def test_refused_password_keeps_the_old_one(server, password, why):
    r = set_password(server, password)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: password not allowed: {why}\n")
    assert imap_login(server, LocalServer.password) == "OK"


def test_only_derived_secrets_stored(server):
    password = "Distinctive-Secret-4711"
    assert set_password(server, password).returncode == 0
    try:
        assert imap_login(server, password) == "OK"
        needles = [password.encode(), password.encode("utf-16-le"), password.lower().encode()]
        for path in server.dir.rglob("*"):
            if path.is_file():
                data = path.read_bytes().lower()
                assert not any(n.lower() in data for n in needles), path
    finally:
        assert set_password(server, LocalServer.password).returncode == 0
