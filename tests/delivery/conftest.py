"""A localserve whose domains.conf a test changes before it starts."""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from mox import localserve
from mox.testing import LocalServer


def configured(d: Path, change: Callable[[dict], None]) -> LocalServer:
    """A LocalServer on a new localserve config in ``d`` whose account "mox" settings (an object
    with domains.conf's field names) ``change`` edits first."""
    from mox import config

    localserve.write_localserve_config(d)
    conf = msgspec.to_builtins(config.read_domains(d))
    change(conf["Accounts"]["mox"])
    config.write_domains(d, msgspec.convert(conf, type=config.DomainsConfig))
    return LocalServer(dir=d)


def smtp_send(srv, data: bytes, *, mail_from: str = "sender@example.org", rcpt: str = "mox@localhost") -> None:
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"]) as c:
        c.sendmail(mail_from, [rcpt], data)


def imap(srv) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    c.login(srv.address, srv.password)
    return c


def subjects(srv, mailbox: str) -> list[str]:
    """Subjects of the messages in a mailbox, over IMAP (sorted)."""
    c = imap(srv)
    try:
        typ, count = c.select(mailbox, readonly=True)
        if typ != "OK" or count == [b"0"]:
            return []
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = []
        for item in data:
            if isinstance(item, tuple):
                out.append(item[1].decode().strip().removeprefix("Subject: "))
        return sorted(out)
    finally:
        c.logout()


def mailbox_flags(srv, mailbox: str) -> dict[str, set[str]]:
    """Subject -> flags of the messages in a mailbox, over IMAP."""
    c = imap(srv)
    try:
        c.select(mailbox, readonly=True)
        typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                head = item[0].decode()
                flags = set(head.split("FLAGS (")[1].split(")")[0].split()) - {"\\Recent"}
                out[item[1].decode().strip().removeprefix("Subject: ")] = flags
        return out
    finally:
        c.logout()


@pytest.fixture
def conf_dir(tmp_path):
    return tmp_path / "data"
