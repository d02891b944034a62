"""Delivery rulesets per address (mox config.Ruleset) against a running localserve: messages on
port 1025 and through the queue (submission) go to the mailbox of the first matching ruleset,
created when missing."""

from __future__ import annotations

import smtplib

import msgspec
import pytest

from mox.config import AccountConfig, Destination, DomainsConfig, Ruleset

from .conftest import configured, smtp_send, subjects

RULESETS = [
    {"HeadersRegexp": {"^list-id$": r"<dev\.lists\.example\.org>"}, "Mailbox": "Lists/dev", "Comment": "mailing list"},
    {"SMTPMailFromRegexp": r"^bounces\+.*@shop\.example$", "Mailbox": "Shop"},
    {"MsgFromRegexp": r"^news@", "Mailbox": "Newsletters"},
    {"VerifiedDomain": "localhost", "HeadersRegexp": {"^x-origin$": "^app$"}, "Mailbox": "App"},
]


def msg(subject: str, *, from_: str = "someone@example.org", extra: str = "") -> bytes:
    return f"From: {from_}\r\nTo: mox@localhost\r\nSubject: {subject}\r\n{extra}\r\nbody of {subject}\r\n".encode()


def test_rulesets(conf_dir):
    def change(acc):
        acc["Destinations"] = {"mox@localhost": {"Rulesets": RULESETS}}

    with configured(conf_dir, change) as srv:
        smtp_send(srv, msg("list post", extra="List-Id: Dev list <dev.lists.example.org>\r\n"))
        smtp_send(srv, msg("other list", extra="List-Id: <other.lists.example.org>\r\n"))
        smtp_send(srv, msg("order shipped"), mail_from="bounces+123@shop.example")
        smtp_send(srv, msg("news", from_="News <NEWS@example.org>"))
        # VerifiedDomain: a message to mox+tag@localhost (catch-all: the same destination)
        # from a localhost address over loopback passes SPF for localhost.
        smtp_send(srv, msg("from app", extra="X-Origin: app\r\n"), mail_from="app@localhost", rcpt="mox+tag@localhost")
        smtp_send(srv, msg("unverified app", extra="X-Origin: app\r\n"), mail_from="app@example.org")
        # Through the queue: submission, DKIM-signed for localhost, delivered locally.
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"]) as c:
            c.login(srv.address, srv.password)
            c.sendmail(srv.address, ["mox@localhost"], msg("queued list post", from_="mox@localhost",
                                                           extra="List-ID: <dev.lists.example.org>\r\n"))
        import time

        for _ in range(200):
            if "queued list post" in subjects(srv, "Lists/dev"):
                break
            time.sleep(0.05)
        assert subjects(srv, "Lists/dev") == ["list post", "queued list post"]
        assert subjects(srv, "Shop") == ["order shipped"]
        assert subjects(srv, "Newsletters") == ["news"]
        assert subjects(srv, "App") == ["from app"]
        assert subjects(srv, "Inbox") == ["other list", "unverified app"]


def test_destination_mailbox_and_config_checks(conf_dir):
    def change(acc):
        acc["Destinations"] = {"mox@localhost": {"Mailbox": "Incoming"}}

    with configured(conf_dir, change) as srv:
        smtp_send(srv, msg("plain"))
        assert subjects(srv, "Incoming") == ["plain"]
    # The config refuses rulesets that cannot work, with mox's reasons.
    dec = lambda obj: msgspec.json.decode(msgspec.json.encode(obj), type=Ruleset)  # noqa: E731
    with pytest.raises(msgspec.ValidationError, match="at least one rule"):
        dec({"Mailbox": "x"})
    with pytest.raises(msgspec.ValidationError, match="Mailbox is required"):
        dec({"MsgFromRegexp": "x"})
    with pytest.raises(msgspec.ValidationError, match="IsForward requires"):
        dec({"MsgFromRegexp": "x", "IsForward": True, "Mailbox": "x"})
    with pytest.raises(msgspec.ValidationError, match="invalid HeadersRegexp value"):
        dec({"HeadersRegexp": {"a": "("}, "Mailbox": "x"})
    # domains.conf keeps them in mox's sconf form.
    from mox import config as mconfig

    dest = Destination(mailbox="B", full_name="Bee", rulesets=[dec({"MsgFromRegexp": "^x@", "Mailbox": "X"})])
    acc = AccountConfig(destinations={"a@localhost": Destination(), "b@localhost": dest}, rejects_mailbox="R")
    mconfig.write_domains(conf_dir, DomainsConfig(domains={"localhost": mconfig.DomainConfig()}, accounts={"acc": acc}))
    text = (conf_dir / "domains.conf").read_text(encoding="utf-8")
    assert "\t\t\t\tRulesets:\n" in text and "MsgFromRegexp: ^x@" in text and "RejectsMailbox: R" in text
    assert mconfig.read_domains(conf_dir).accounts["acc"] == acc
