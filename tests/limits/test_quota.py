"""Per-account quota on message size (mox ``store/account.go``): the mox.conf default
(quota_message_size), the account's override (negative: unlimited), IMAP `NO [OVERQUOTA]` on
APPEND and COPY, SMTP `452 4.2.2 account storage full`, GETQUOTAROOT/GETQUOTA usage in KiB."""

from __future__ import annotations

import imaplib
import json
import smtplib
from pathlib import Path

import pytest

from mox import config as mconfig
from mox import localserve
from mox.config import AccountConfig, Config
from mox.testing import LocalServer

MSG_1500 = b"From: a@localhost\r\nTo: mox@localhost\r\nSubject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 18 + b"xxxx\r\n"
assert len(MSG_1500) == 1500


def server_with_quota(d: Path, *, account_quota: int = 0, default_quota: int = 0) -> LocalServer:
    localserve.prepare(d, port_base=0)
    mconfig.edit_file(d, mconfig.DOMAINS_CONF, lambda x: x["Accounts"]["mox"].update(QuotaMessageSize=account_quota))
    mconfig.edit_file(d, mconfig.MOX_CONF, lambda x: x.update(QuotaMessageSize=default_quota))
    return LocalServer(d)


def imap(srv) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    c.login(LocalServer.address, LocalServer.password)
    return c


def usage(srv) -> int:
    acc = srv.store.open_account("mox")
    try:
        return acc.disk_usage()
    finally:
        acc.close()


def test_account_quota_rules():
    cfg = Config(quota=5000, accounts={
        "a": AccountConfig.with_addresses(["a@x"]),
        "b": AccountConfig.with_addresses(["b@x"], quota_message_size=100),
        "c": AccountConfig.with_addresses(["c@x"], quota_message_size=-1),
    })
    assert [cfg.account_quota(n) for n in ("a", "b", "c", "unknown")] == [5000, 100, 0, 5000]
    assert [Config(accounts=cfg.accounts).account_quota(n) for n in ("a", "b", "c")] == [0, 100, 0]


def test_imap_quota(tmp_path):
    with server_with_quota(tmp_path / "d", account_quota=3000) as srv:
        c = imap(srv)
        assert c.getquotaroot("Inbox") == ("OK", [[b'Inbox ""'], [b'"" (STORAGE 0 3)']])
        typ, data = c.append("Inbox", None, None, MSG_1500)
        assert (typ, data[0].endswith(b" 1] appended")) == ("OK", True)
        assert c.getquota('""') == ("OK", [b'"" (STORAGE 2 3)'])  # 1500 bytes: 2 KiB rounded up
        # A second copy would make 3000 bytes: exactly at the limit is allowed, one more byte is not.
        assert c.append("Inbox", None, None, MSG_1500 + b"x") == ("NO", [b"[OVERQUOTA] account over quota"])
        typ, data = c.append("Inbox", None, None, MSG_1500)
        assert (typ, data[0].endswith(b" 2] appended")) == ("OK", True)
        assert usage(srv) == 3000
        assert c.append("Inbox", None, None, b"Subject: x\r\n\r\nx\r\n") == ("NO", [b"[OVERQUOTA] account over quota"])
        c.select("Inbox")
        assert c.copy("1", "Archive") == ("NO", [b"[OVERQUOTA] account over quota"])
        # MOVE does not add to the usage, so it works at the limit.
        typ, _ = c._simple_command("MOVE", "1", "Archive")  # noqa: SLF001 - imaplib has no move()
        assert typ == "OK"
        assert usage(srv) == 3000
        c.select("Archive")
        assert c.search(None, "ALL") == ("OK", [b"1"])
        c.logout()


def test_imap_quota_default_and_unlimited(tmp_path):
    with server_with_quota(tmp_path / "d", default_quota=1000) as srv:
        c = imap(srv)
        assert c.getquotaroot("Inbox") == ("OK", [[b'Inbox ""'], [b'"" (STORAGE 0 1)']])
        assert c.append("Inbox", None, None, MSG_1500) == ("NO", [b"[OVERQUOTA] account over quota"])
        c.logout()
    with server_with_quota(tmp_path / "e", default_quota=1000, account_quota=-1) as srv:
        c = imap(srv)
        # No quota: the root without a STORAGE resource (RFC 9208, as mox).
        assert c.getquotaroot("Inbox") == ("OK", [[b'Inbox ""'], [None]])
        assert c.append("Inbox", None, None, MSG_1500)[0] == "OK"
        c.logout()
