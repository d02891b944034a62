"""Webhooks end to end: localserve delivers, delays and fails messages sent through the webapi
and SMTP, and a real HTTP receiver on 127.0.0.1 gets mox's outgoing and incoming webhooks.

The field sets below are written from mox's ``webhook`` package (v0.0.15, webhook/webhook.go:
Outgoing, Incoming, IncomingMeta, NameAddress, Structure) and its ``queue.HookPost`` headers,
not from our code.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import smtplib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import msgspec
import pytest
import trio.testing

from mox import config as mconfig
from mox import localserve
from mox.admin import provision
from mox.testing import LocalServer
from tests.hookreceiver import HookReceiver
from tests.metrics.test_metrics import scrape, value

OUTGOING_FIELDS = {
    "Version", "Event", "DSN", "Suppressing", "QueueMsgID", "FromID", "MessageID", "Subject", "WebhookQueued",
    "SMTPCode", "SMTPEnhancedCode", "Error", "Extra",
}
INCOMING_FIELDS = {
    "Version", "From", "To", "CC", "BCC", "ReplyTo", "Subject", "MessageID", "InReplyTo", "References", "Date",
    "Text", "HTML", "Structure", "Meta",
}
META_FIELDS = {
    "MsgID", "MailFrom", "MailFromValidated", "MsgFromValidated", "RcptTo", "DKIMVerifiedDomains", "RemoteIP",
    "Received", "MailboxName", "Automated",
}
STRUCTURE_FIELDS = {"ContentType", "ContentTypeParams", "ContentID", "ContentDisposition", "Filename", "DecodedSize", "Parts"}
NAME_ADDRESS_FIELDS = {"Name", "Address"}
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"


def set_webhooks(srv: LocalServer, recv: HookReceiver, *, events: list[str] | None = None, incoming: bool = True) -> None:
    """Configure account mox's webhooks at run time, as the account page does."""

    def save() -> None:
        provision.account_save(
            srv.ctx,
            "mox",
            outgoing_webhook=mconfig.OutgoingWebhook(url=recv.url("/out"), authorization="Bearer s3cret", events=events or []),
            incoming_webhook=mconfig.IncomingWebhook(url=recv.url("/in"), authorization="Basic aW46Y29taW5n") if incoming else None,
        )

    srv.run_sync_in_server(save)


def webapi(srv: LocalServer, method: str, request: Any) -> Any:
    data = urllib.parse.urlencode({"request": json.dumps(request)}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{srv.ports['http']}/webapi/v0/{method}",
        data=data,
        headers={"Authorization": "Basic " + base64.b64encode(b"mox@localhost:moxmoxmox").decode()},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise AssertionError(f"webapi {method}: {e.code} {e.read()!r}") from None


def check_outgoing(call: Any) -> dict[str, Any]:
    """The outgoing payload, after checking mox's field names and request headers."""
    import mox

    p = call.json
    assert set(p) == OUTGOING_FIELDS, sorted(p)
    assert p["Version"] == 0
    assert isinstance(p["Extra"], dict)
    h = call.headers
    assert h["content-type"] == "application/json; charset=utf-8"
    assert h["user-agent"] == f"mox/{mox.__version__} (webhook)"
    assert h["authorization"] == "Bearer s3cret"
    assert int(h["x-mox-webhook-id"]) > 0 and int(h["x-mox-webhook-attempt"]) >= 1
    import re

    assert re.match(RFC3339, p["WebhookQueued"]), p["WebhookQueued"]
    return p


def check_structure(s: dict[str, Any]) -> None:
    assert set(s) == STRUCTURE_FIELDS, sorted(s)
    for p in s["Parts"]:
        check_structure(p)


def check_incoming(call: Any) -> dict[str, Any]:
    import re

    p = call.json
    assert set(p) == INCOMING_FIELDS, sorted(p)
    assert set(p["Meta"]) == META_FIELDS, sorted(p["Meta"])
    for f in ("From", "To", "CC", "BCC", "ReplyTo"):
        for na in p[f]:
            assert set(na) == NAME_ADDRESS_FIELDS
    check_structure(p["Structure"])
    assert re.match(RFC3339, p["Meta"]["Received"])
    assert call.headers["authorization"] == "Basic aW46Y29taW5n"
    return p


def inbox_message_id(srv: LocalServer, message_id: str) -> int:
    """The account-unique id (webapi MsgID) of the Inbox message with ``message_id``."""

    def find() -> int | None:
        acc = srv.store.open_account("mox")
        try:
            for m in acc.messages(acc.mailbox("Inbox").id):
                if m.part.envelope and m.part.envelope.message_id == message_id:
                    return m.id
            return None
        finally:
            acc.close()

    return srv.run_sync_in_server(find)


def wait_until(srv: LocalServer, fn: Any, expected: Any, timeout: float = 30) -> None:
    """Poll ``fn`` in the server's thread until it returns ``expected`` (the timeout only ends
    a broken run)."""
    deadline = time.monotonic() + timeout
    while (got := srv.run_sync_in_server(fn)) != expected:
        assert time.monotonic() < deadline, got
        time.sleep(0.01)


@pytest.fixture
def server(tmp_path: Any) -> Any:
    with LocalServer(tmp_path / "data") as srv:
        yield srv


def test_webapi_delivered_and_incoming(server: LocalServer) -> None:
    """Send through the webapi to a local address: the outgoing "delivered" webhook with the
    submitter's Extra, and the incoming webhook of the delivery (as mox's localserve delivers
    queued messages over its own port 1025)."""
    with HookReceiver() as recv:
        set_webhooks(server, recv)
        r = webapi(
            server,
            "Send",
            {
                "To": [{"Name": "Bob", "Address": "bob@localhost"}],
                "Subject": "hello bob",
                "Text": "hi\nthere",
                "HTML": "<p>hi</p>",
                "Extra": {"customer": "c42", "order": "7"},
                "Headers": [["X-Custom", "yes"]],
            },
        )
        [sub] = r["Submissions"]
        [out] = recv.wait(1, path="/out")
        p = check_outgoing(out)
        assert {k: p[k] for k in ("Event", "DSN", "Suppressing", "QueueMsgID", "FromID", "MessageID", "Subject", "SMTPCode", "SMTPEnhancedCode", "Error", "Extra")} == {
            "Event": "delivered",
            "DSN": False,
            "Suppressing": False,
            "QueueMsgID": sub["QueueMsgID"],
            "FromID": "",
            "MessageID": r["MessageID"],
            "Subject": "hello bob",
            "SMTPCode": 0,
            "SMTPEnhancedCode": "",
            "Error": "",
            "Extra": {"customer": "c42", "order": "7"},
        }
        assert (out.headers["x-mox-webhook-attempt"], out.status) == ("1", 200)
        [inc] = recv.wait(1, path="/in")
        p = check_incoming(inc)
        assert p["From"] == [{"Name": "", "Address": "mox@localhost"}]
        assert p["To"] == [{"Name": "Bob", "Address": "bob@localhost"}]
        assert (p["Subject"], p["MessageID"], p["Text"], p["HTML"]) == ("hello bob", r["MessageID"], "hi\nthere\n", "<p>hi</p>\n")
        assert p["Structure"]["ContentType"] == "multipart/alternative"
        assert [x["ContentType"] for x in p["Structure"]["Parts"]] == ["text/plain", "text/html"]
        meta = p["Meta"]
        assert meta["MsgID"] == inbox_message_id(server, r["MessageID"])
        assert {k: meta[k] for k in ("MailFrom", "RcptTo", "RemoteIP", "MailboxName", "MailFromValidated", "MsgFromValidated", "DKIMVerifiedDomains", "Automated")} == {
            "MailFrom": "mox@localhost",
            "RcptTo": "bob@localhost",
            "RemoteIP": "127.0.0.1",
            "MailboxName": "Inbox",
            "MailFromValidated": True,  # spf pass for localhost from loopback
            "MsgFromValidated": True,  # dkim pass for localhost, the From domain
            "DKIMVerifiedDomains": ["localhost"],
            "Automated": False,
        }
        # The MsgID works with the webapi.
        got = webapi(server, "MessageGet", {"MsgID": meta["MsgID"]})
        assert got["Message"]["Subject"] == "hello bob" and got["Meta"]["RcptTo"] == "bob@localhost"
        assert got["Structure"] == p["Structure"]


def test_webapi_delayed_then_failed(server: LocalServer) -> None:
    """localserve's failure rules in the queue (README "Special addresses"): ``temperror``
    gives 451 on each attempt ("delayed" webhooks; a waiting one is superseded by the next), and
    after the last retry "failed" with the same code."""
    with HookReceiver() as recv:
        set_webhooks(server, recv, incoming=False)
        r = webapi(server, "Send", {"To": [{"Address": "temperror@example.org"}], "Subject": "late", "Text": "x"})
        qid = r["Submissions"][0]["QueueMsgID"]
        deadline = time.monotonic() + 60
        while not any(c.json["Event"] == "failed" for c in recv.calls):
            assert time.monotonic() < deadline, [c.json["Event"] for c in recv.calls]
            time.sleep(0.05)
        events = [check_outgoing(c) for c in recv.calls]
        assert [e["Event"] for e in events][-1] == "failed"
        assert {e["Event"] for e in events[:-1]} == {"delayed"} and len(events) >= 2
        for e in events:
            assert (e["QueueMsgID"], e["Subject"], e["SMTPCode"], e["SMTPEnhancedCode"], e["Suppressing"]) == (qid, "late", 451, "4.0.0", False)
            assert e["Error"] == "451 4.0.0 failure with code 451 due to special localpart"
        # Each of the queue's 3 temporary failures gave a "delayed" webhook: delivered, or
        # retired as superseded by the next one.

        def superseded() -> list[int]:
            return [h.superseded_by_id for h in server.ctx.queue.store.hooks_retired.values() if h.superseded_by_id]

        assert len(events) - 1 + len(server.run_sync_in_server(superseded)) == 3


def test_permanent_failure_suppresses_then_suppressed(server: LocalServer) -> None:
    """A 550 from the queue's delivery: "failed" with Suppressing, the address on the account's
    suppression list (mox: 550 blocks at once); the next message to it (and to a variant with
    the same base address) fails as "suppressed", without SMTP code, and a DSN goes to the
    sender each time."""
    with HookReceiver() as recv:
        set_webhooks(server, recv, incoming=False)
        webapi(server, "Send", {"To": [{"Address": "Perm.Error+tag.permerror@example.org"}], "Subject": "one", "Text": "x"})
        [first] = recv.wait(1)
        p = check_outgoing(first)
        assert (p["Event"], p["Suppressing"], p["SMTPCode"], p["SMTPEnhancedCode"]) == ("failed", True, 550, "5.0.0")
        sups = webapi(server, "SuppressionList", {})["Suppressions"]
        assert [(x["Account"], x["BaseAddress"], x["OriginalAddress"], x["Manual"], x["Reason"]) for x in sups] == [
            ("mox", "permerror@example.org", "Perm.Error+tag.permerror@example.org", False, 'delivery failure from queue with smtp code 550, enhanced code "0.0"')
        ]
        assert set(sups[0]) == {"ID", "Created", "Account", "BaseAddress", "OriginalAddress", "Manual", "Reason"}  # mox webapi.Suppression
        assert webapi(server, "SuppressionPresent", {"EmailAddress": "permerror-x@example.org"}) == {"Present": True}
        webapi(server, "Send", {"To": [{"Address": "permerror-other@example.org"}], "Subject": "two", "Text": "x"})
        second = recv.wait(2)[1]
        p = check_outgoing(second)
        assert (p["Event"], p["Suppressing"], p["SMTPCode"], p["SMTPEnhancedCode"], p["Subject"]) == ("suppressed", False, 0, "", "two")
        assert p["Error"] == "not delivering to recipient address permerror-other@example.org: address is on suppression list"
        webapi(server, "SuppressionRemove", {"EmailAddress": "permerror@example.org"})
        assert webapi(server, "SuppressionList", {}) == {"Suppressions": []}

        def dsn_subjects() -> list[str]:
            acc = server.store.open_account("mox")
            try:
                out = []
                for m in acc.messages(acc.mailbox("Inbox").id):
                    msg = email.message_from_bytes(acc.read_message(m), policy=email.policy.default)
                    out.append(str(msg["Subject"]))
                return out
            finally:
                acc.close()

        deadline = time.monotonic() + 30
        while server.run_sync_in_server(dsn_subjects).count("mail delivery failed") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_three_failures_in_a_row_suppress(server: LocalServer) -> None:
    """mox's other rule: a permanent failure whose code does not block at once (554, enhanced
    code 5.0.0) suppresses the address when the two messages to it before failed too."""
    with HookReceiver() as recv:
        set_webhooks(server, recv, incoming=False)
        for i in range(3):
            webapi(server, "Send", {"To": [{"Address": "x554@example.org"}], "Subject": f"n{i}", "Text": "x"})
            recv.wait(i + 1)
        got = [check_outgoing(c) for c in recv.calls]
        assert [(p["Event"], p["SMTPCode"], p["Suppressing"]) for p in got] == [("failed", 554, False), ("failed", 554, False), ("failed", 554, True)]
        [x] = webapi(server, "SuppressionList", {})["Suppressions"]
        assert x["Reason"] == "delivery failure from queue and three consecutive failures"


def test_smtp_submission_extra_and_port_25_incoming(server: LocalServer) -> None:
    """SMTP: a submission's ``X-Mox-Extra-*`` fields become the webhook's Extra (keys
    canonicalized as mox's textproto does); a message arriving on the SMTP port (1025 in
    localserve) triggers the incoming webhook with the SMTP transaction's details."""
    with HookReceiver() as recv:
        set_webhooks(server, recv)
        msg = (
            b"From: mox@localhost\r\nTo: carol@example.org\r\nSubject: with extra\r\nMessage-ID: <extra-1@localhost>\r\n"
            b"x-mox-extra-customer-id: 123\r\nX-Mox-Extra-Plan: gold\r\n\r\nhello\r\n"
        )
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
            s.login("mox@localhost", "moxmoxmox")
            s.sendmail("mox@localhost", ["carol@example.org"], msg)
        [out] = recv.wait(1, path="/out")
        p = check_outgoing(out)
        assert (p["Event"], p["MessageID"], p["Subject"], p["Extra"]) == (
            "delivered", "<extra-1@localhost>", "with extra", {"Customer-Id": "123", "Plan": "gold"}
        )
        [queued_in] = recv.wait(1, path="/in")
        assert check_incoming(queued_in)["Meta"]["RcptTo"] == "carol@example.org"
        # Duplicate keys are refused at submission, as mox.
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
            s.login("mox@localhost", "moxmoxmox")
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("mox@localhost", ["carol@example.org"], msg.replace(b"X-Mox-Extra-Plan", b"X-Mox-Extra-Customer-ID"))
            assert e.value.smtp_code == 554 and e.value.smtp_error.startswith(b"5.6.0 duplicate x-mox-extra- key 'Customer-Id'")

        incoming = (
            b"From: Dave <dave@example.org>\r\nTo: mox@localhost, Eve <eve@localhost>\r\nCc: frank@localhost\r\n"
            b"Reply-To: replies@example.org\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <in-1@example.org>\r\n"
            b"In-Reply-To: <prev@example.org>\r\nReferences: <root@example.org> <prev@example.org>\r\n"
            b"Date: Tue, 02 Jan 2024 03:04:05 +0100\r\nList-Id: <news.example.org>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody text\r\n"
            b'--b\r\nContent-Type: application/pdf; name="r.pdf"\r\nContent-Disposition: attachment; filename="report.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
        )
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
            s.sendmail("dave@example.org", ["mox@localhost", "eve@localhost"], incoming)
        ins = recv.wait(3, path="/in")[1:]
        payloads = [check_incoming(c) for c in ins]
        assert sorted(p["Meta"]["RcptTo"] for p in payloads) == ["eve@localhost", "mox@localhost"]  # one per recipient
        p = payloads[0]
        assert {k: p[k] for k in ("From", "To", "CC", "BCC", "ReplyTo", "Subject", "MessageID", "InReplyTo", "References", "Date", "Text", "HTML")} == {
            "From": [{"Name": "Dave", "Address": "dave@example.org"}],
            "To": [{"Name": "", "Address": "mox@localhost"}, {"Name": "Eve", "Address": "eve@localhost"}],
            "CC": [{"Name": "", "Address": "frank@localhost"}],
            "BCC": [],
            "ReplyTo": [{"Name": "", "Address": "replies@example.org"}],
            "Subject": "grüße",
            "MessageID": "<in-1@example.org>",
            "InReplyTo": "<prev@example.org>",
            "References": ["<root@example.org>", "<prev@example.org>"],
            "Date": "2024-01-02T03:04:05+01:00",
            "Text": "body text",
            "HTML": "",
        }
        assert p["Structure"] == {
            "ContentType": "multipart/mixed",
            "ContentTypeParams": {"boundary": "b"},
            "ContentID": "",
            "ContentDisposition": "",
            "Filename": "",
            "DecodedSize": 0,
            "Parts": [
                {"ContentType": "text/plain", "ContentTypeParams": {"charset": "utf-8"}, "ContentID": "", "ContentDisposition": "", "Filename": "", "DecodedSize": 9, "Parts": []},
                {"ContentType": "application/pdf", "ContentTypeParams": {"name": "r.pdf"}, "ContentID": "", "ContentDisposition": "attachment", "Filename": "report.pdf", "DecodedSize": 9, "Parts": []},
            ],
        }
        meta = p["Meta"]
        assert {k: meta[k] for k in ("MailFrom", "RemoteIP", "MailboxName", "Automated", "MailFromValidated", "DKIMVerifiedDomains")} == {
            "MailFrom": "dave@example.org",
            "RemoteIP": "127.0.0.1",
            "MailboxName": "Inbox",
            "Automated": True,  # List-Id
            "MailFromValidated": False,  # no SPF for example.org without DNS
            "DKIMVerifiedDomains": [],
        }
        assert payloads[0]["Meta"]["MsgID"] == payloads[1]["Meta"]["MsgID"] == inbox_message_id(server, "<in-1@example.org>")


def test_smtp_submission_delayed_and_failed(server: LocalServer) -> None:
    """A message submitted over SMTP to a temporarily and a permanently failing recipient: the
    queue's failure gives the "failed" webhook (550, Suppressing) for one and "delayed" (451)
    for the other, each with the message's Message-ID, Subject and X-Mox-Extra-* data."""
    with HookReceiver() as recv:
        set_webhooks(server, recv, incoming=False)
        msg = (
            b"From: mox@localhost\r\nTo: queuepermerror@example.org, queuetemperror@example.org\r\nSubject: two fates\r\n"
            b"Message-ID: <fates@localhost>\r\nX-Mox-Extra-Ref: r1\r\n\r\nhello\r\n"
        )
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
            s.login("mox@localhost", "moxmoxmox")
            s.sendmail("mox@localhost", ["queuepermerror@example.org", "queuetemperror@example.org"], msg)
        deadline = time.monotonic() + 30
        while {"failed", "delayed"} - {c.json["Event"] for c in recv.calls}:
            assert time.monotonic() < deadline, [c.json for c in recv.calls]
            time.sleep(0.02)
        by_event = {}
        for c in recv.calls:
            p = check_outgoing(c)
            by_event.setdefault(p["Event"], p)
        failed, delayed = by_event["failed"], by_event["delayed"]
        for p in (failed, delayed):
            assert (p["MessageID"], p["Subject"], p["Extra"], p["DSN"]) == ("<fates@localhost>", "two fates", {"Ref": "r1"}, False)
        assert (failed["SMTPCode"], failed["SMTPEnhancedCode"], failed["Suppressing"]) == (550, "5.0.0", True)
        assert failed["Error"] == "550 5.0.0 failure with code 550 due to special localpart"
        assert (delayed["SMTPCode"], delayed["SMTPEnhancedCode"], delayed["Suppressing"]) == (451, "4.0.0", False)
        assert failed["QueueMsgID"] != delayed["QueueMsgID"]


def test_alias_recipient_incoming_per_member(server: LocalServer) -> None:
    """A message to an alias: the queue delivers a copy to each member's account (as mox's
    localserve delivers over SMTP to itself), and each account's incoming webhook gets it with
    the alias as RcptTo."""
    with HookReceiver() as recv:

        def setup() -> None:
            for name in ("alpha", "beta"):
                provision.account_add(server.ctx, name, f"{name}@localhost")
                provision.account_save(server.ctx, name, incoming_webhook=mconfig.IncomingWebhook(url=recv.url(f"/in/{name}")))
            provision.alias_add(server.ctx, "team@localhost", mconfig.Alias(addresses=["alpha@localhost", "beta@localhost"], post_public=True))

        server.run_sync_in_server(setup)
        webapi(server, "Send", {"To": [{"Address": "team@localhost"}], "Subject": "to the team", "Text": "x"})
        for name in ("alpha", "beta"):
            [c] = recv.wait(1, path=f"/in/{name}")
            p = c.json
            assert set(p) == INCOMING_FIELDS and set(p["Meta"]) == META_FIELDS
            assert (p["Subject"], p["Meta"]["RcptTo"], p["Meta"]["MailFrom"], p["Meta"]["MailboxName"]) == ("to the team", "team@localhost", "mox@localhost", "Inbox")


def test_events_filter_and_no_webhooks_without_config(server: LocalServer) -> None:
    """Only the configured events are sent (mox OutgoingWebhook.Events); without webhooks in
    the config nothing is queued."""
    with HookReceiver() as recv:
        webapi(server, "Send", {"To": [{"Address": "nobody@localhost"}], "Text": "x"})
        set_webhooks(server, recv, events=["failed"], incoming=False)
        webapi(server, "Send", {"To": [{"Address": "a@localhost"}], "Subject": "ok", "Text": "x"})
        webapi(server, "Send", {"To": [{"Address": "b550@localhost"}], "Subject": "bad", "Text": "x"})
        [c] = recv.wait(1)
        assert (c.json["Event"], c.json["Subject"]) == ("failed", "bad")

        def counts() -> tuple[int, int]:
            st = server.ctx.queue.store
            return len(st.hooks), len(st.hooks_retired)

        wait_until(server, counts, (0, 1))  # only the "failed" one was ever queued


def test_retries_after_500_on_frozen_clock(tmp_path: Any) -> None:
    """The receiver answers 500 twice: mox's schedule retries after 1 minute, then 2 minutes
    (+-1 % jitter), each call with the same X-Mox-Webhook-ID and the next attempt number; the
    third is delivered and the webhook retired with its three results. The server runs on a
    frozen clock that the test moves on."""
    clock = trio.testing.MockClock()
    with HookReceiver(statuses=[500, 500]) as recv, LocalServer(tmp_path / "data", clock=clock) as srv:
        set_webhooks(srv, recv, incoming=False)
        webapi(srv, "Send", {"To": [{"Address": "retry@localhost"}], "Subject": "retry me", "Text": "x"})
        recv.wait(1)

        def hook() -> Any:
            hooks = srv.ctx.queue.hooks.list()
            return hooks[0] if hooks else None

        expected_waits = [60.0, 120.0]
        for attempt, wait in enumerate(expected_waits, start=1):
            h = _wait_hook_attempts(srv, hook, attempt)
            last = h.results[-1]
            assert (last.code, last.success, last.error) == (500, False, 'http status "500 Internal Server Error", expected 200 ok')
            assert last.response == "receiver says no"
            delay = h.next_attempt - last.start
            assert wait * 0.99 <= delay <= wait * 1.01, (attempt, delay)
            srv.jump(delay + 0.5)
            recv.wait(attempt + 1)
        calls = recv.wait(3)
        assert [c.headers["x-mox-webhook-attempt"] for c in calls] == ["1", "2", "3"]
        assert len({c.headers["x-mox-webhook-id"] for c in calls}) == 1
        assert [c.status for c in calls] == [500, 500, 200]
        assert len({c.body for c in calls}) == 1  # the same payload each time

        def retired() -> list[Any]:
            return list(srv.ctx.queue.store.hooks_retired.values())

        deadline = time.monotonic() + 30
        while not srv.run_sync_in_server(retired):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        [hr] = srv.run_sync_in_server(retired)
        assert (hr.success, hr.attempts, [r.code for r in hr.results]) == (True, 3, [500, 500, 200])
        # mox's webhook metrics on the metrics port count each call by its HTTP status.
        text = scrape(srv.ports["metrics"])[2]
        assert value(text, "mox_webhook_results_total", code="500") == 2
        assert value(text, "mox_webhook_results_total", code="200") == 1
        assert value(text, "mox_webhook_request_duration_seconds_count") == 3
        # Kept for localserve's 72 hours, then removed (mox: KeepRetiredWebhookPeriod), as the
        # retired message is (KeepRetiredMessagePeriod).
        assert hr.keep_until - hr.last_activity == 72 * 3600
        [mr] = srv.run_sync_in_server(lambda: list(srv.ctx.queue.store.retired.values()))
        assert (mr.success, mr.recipient, mr.keep_until - mr.last_activity) == (True, "retry@localhost", 72 * 3600)
        srv.jump(71 * 3600)
        srv.run_sync_in_server(lambda: None)
        assert srv.run_sync_in_server(lambda: len(srv.ctx.queue.store.retired)) == 1  # not yet
        srv.jump(2 * 3600)
        deadline = time.monotonic() + 30
        while srv.run_sync_in_server(retired) or srv.run_sync_in_server(lambda: list(srv.ctx.queue.store.retired.values())):
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_webhook_without_http_response_counts_as_error(server: LocalServer) -> None:
    """A webhook URL nobody listens on: the attempt fails without an HTTP status, and mox's
    mox_webhook_results_total counts it with code "error"; a retry is scheduled."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    def save() -> None:
        provision.account_save(server.ctx, "mox", outgoing_webhook=mconfig.OutgoingWebhook(url=f"http://127.0.0.1:{port}/hook"))

    server.run_sync_in_server(save)
    webapi(server, "Send", {"To": [{"Address": "mox@localhost"}], "Subject": "nobody listens", "Text": "x"})

    def hook() -> Any:
        hooks = server.ctx.queue.hooks.list()
        return hooks[0] if hooks else None

    h = _wait_hook_attempts(server, hook, 1)
    assert h.results[-1].code == 0 and h.results[-1].error.startswith("http transact: ")
    text = scrape(server.ports["metrics"])[2]
    assert value(text, "mox_webhook_results_total", code="error") == 1
    assert value(text, "mox_webhook_request_duration_seconds_count") == 1


def _wait_hook_attempts(srv: LocalServer, hook: Any, attempts: int) -> Any:
    deadline = time.monotonic() + 30
    while True:
        h = srv.run_sync_in_server(hook)
        if h is not None and h.attempts == attempts and h.results[-1].error != "delivering...":
            return h
        assert time.monotonic() < deadline, h
        time.sleep(0.01)


def test_gives_up_after_mox_schedule(tmp_path: Any) -> None:
    """A receiver that always fails: 12 attempts at mox's intervals (1, 2, 4, 7.5, 15, 30 min,
    1, 2, 4, 8, 16 h), then the webhook is retired as a failure."""
    clock = trio.testing.MockClock()
    with HookReceiver(default=503) as recv, LocalServer(tmp_path / "data", clock=clock) as srv:
        set_webhooks(srv, recv, incoming=False)
        webapi(srv, "Send", {"To": [{"Address": "never@localhost"}], "Text": "x"})
        recv.wait(1)

        def hook() -> Any:
            hooks = srv.ctx.queue.hooks.list()
            return hooks[0] if hooks else None

        intervals = [60, 120, 240, 450, 900, 1800, 3600, 7200, 14400, 28800, 57600]
        for attempt, wait in enumerate(intervals, start=1):
            h = _wait_hook_attempts(srv, hook, attempt)
            delay = h.next_attempt - h.results[-1].start
            assert wait * 0.99 <= delay <= wait * 1.01, (attempt, delay)
            srv.jump(delay + 0.5)
            recv.wait(attempt + 1)
        deadline = time.monotonic() + 30
        while srv.run_sync_in_server(hook) is not None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        [hr] = srv.run_sync_in_server(lambda: list(srv.ctx.queue.store.hooks_retired.values()))
        assert (hr.success, hr.attempts, len(recv.calls)) == (False, 12, 12)


def test_webhooks_in_config_file(tmp_path: Any) -> None:
    """The account's webhooks and keep periods in domains.conf (mox's Account fields
    OutgoingWebhook, IncomingWebhook, KeepRetiredMessagePeriod, KeepRetiredWebhookPeriod);
    a bad URL or event stops start-up with the file named."""
    d = tmp_path / "data"
    localserve.prepare(d, port_base=0)
    static, domains = mconfig.read_static(d), mconfig.read_domains(d)
    with HookReceiver() as recv:
        acc = msgspec.structs.replace(
            domains.accounts["mox"],
            outgoing_webhook=mconfig.OutgoingWebhook(url=recv.url("/out"), authorization="Bearer s3cret", events=["delivered"]),
            keep_retired_webhook_period=3600.0,
        )
        mconfig.write_config(d, static, msgspec.structs.replace(domains, accounts={"mox": acc}))
        with LocalServer(d) as srv:
            webapi(srv, "Send", {"To": [{"Address": "conf@localhost"}], "Text": "x"})
            assert check_outgoing(recv.wait(1)[0])["Event"] == "delivered"
            assert srv.ctx.config.accounts["mox"].keep_retired_webhook_period == 3600
    for bad, problem in (
        ({"url": "ftp://x/"}, "scheme must be http or https"),
        ({"url": "http://x/", "events": ["sent"]}, "unknown outgoing webhook event 'sent'"),
    ):
        with pytest.raises(ValueError, match=problem):
            mconfig.OutgoingWebhook(**bad)
