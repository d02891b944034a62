"""The queue seen through the server: `mox queue list|fail|drop` over the control channel, daily
limits, persistence of queued messages."""

from __future__ import annotations

import email
import re

from click.testing import CliRunner

from mox.cli import cli

MSG = (
    b"From: <mox@localhost>\r\n"
    b"To: <x@example.com>\r\n"
    b"Subject: queued\r\n"
    b"Message-ID: <q@localhost>\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"hello\r\n"
)


def submit(tc, rcpts, mail_params="", expect="250 2.2.0 it is done"):
    tc.transact(f"MAIL FROM:<mox@localhost>{mail_params}", "250 2.1.0 looking good")
    for r in rcpts:
        tc.transact(f"RCPT TO:<{r}>", "250 2.1.0 now on the list")
    tc.transact("DATA", "354 see you at the bare dot")
    tc.write(MSG + b".\r\n")
    tc.expect(expect)


def run(args):
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    return r.exit_code, r.output


def test_queue_cli(smtp):
    tc = smtp.connect(login=True)
    d = str(smtp.data_dir)
    assert run(["queue", "list", "-dir", d]) == (0, "messages:\n(none)\n")
    submit(tc, ["a@example.com", "b@example.com", "c@example.com"], " HOLDFOR=3600")
    code, out = run(["queue", "list", "-dir", d, "-sort", "queued", "-asc"])
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4 and lines[0] == "messages:"
    assert lines[1].startswith("    1 ") and " from:mox@localhost to:a@example.com next " in lines[1]
    assert re.search(r" next (1h0m0s|59m\d+s) ", lines[1])  # HOLDFOR=3600: an hour from now
    assert lines[1].endswith(' last  error ""')
    assert run(["queue", "fail", "-dir", d, "1"]) == (0, "1 message(s) marked as failed\n")
    dsn = smtp.wait_messages("Inbox", 1)[0]
    m = email.message_from_bytes(dsn)
    assert m["Subject"] == "mail delivery failed"
    assert "Diagnostic-Code: smtp; 550 5.0.0 delivery failed by admin" in m.get_payload()[1].as_string()
    assert run(["queue", "drop", "-dir", d, "2", "99"]) == (0, "1 message(s) dropped\n")
    code, out = run(["queue", "list", "-dir", d])
    assert out.splitlines()[1].startswith("    3 ")
    assert run(["queue", "drop", "-dir", d, "-all"]) == (0, "1 message(s) dropped\n")
    assert run(["queue", "list", "-dir", d]) == (0, "messages:\n(none)\n")
    assert len(smtp.messages("Inbox")) == 1  # only the DSN; dropping sends none


MSG_LIMIT = "451 4.7.1 max number of messages (4) over past 24h reached, try increasing per-account setting MaxOutgoingMessagesPerDay (ID)"
RCPT_LIMIT = (
    "451 4.7.1 max number of new/first-time recipients (2) over past 24h reached, try increasing per-account "
    "setting MaxFirstTimeRecipientsPerDay (ID)"
)


def test_daily_outgoing_limits(smtp, monkeypatch):
    """mox's per-account limits (store/account.go SendLimitReached, smtpserver/server.go), here 4
    recipients and 2 first-time recipients in 24 hours: the sequence of mox's TestLimitOutgoing,
    with a recipient from more than a day ago that is no longer counted but is no first-time
    recipient either; the counts survive a restart and end after 24 hours."""
    from mox.config import AccountConfig
    from mox.queue import queue as queue_mod
    from mox.queue import store as queue_store_mod
    from tests.smtp.conftest import ACCOUNT, ADDRESS

    now = [1_800_000_000.0]

    class QueueTime:  # the queue's clock (its journal keeps wall-clock times)
        @staticmethod
        def time() -> float:
            return now[0]

    monkeypatch.setattr(queue_mod, "time", QueueTime)
    monkeypatch.setattr(queue_store_mod, "time", QueueTime)
    limited = AccountConfig.with_addresses([ADDRESS], max_outgoing_messages_per_day=4, max_first_time_recipients_per_day=2)
    smtp.start(accounts={ACCOUNT: limited})
    tc = smtp.connect(login=True)
    submit(tc, ["a@other.example"])
    now[0] += 24 * 3600 + 60  # a: more than a day ago
    submit(tc, ["b@other.example"])
    submit(tc, ["c@other.example"])
    submit(tc, ["a@other.example"])  # 3 recipients; first-time ones: b, c (a was sent to before)
    submit(tc, ["d@other.example"], expect=RCPT_LIMIT)  # d would be the 3rd first-time one
    submit(tc, ["b@other.example"])  # the 4th recipient
    submit(tc, ["b@other.example"], expect=MSG_LIMIT)  # would be the 5th
    # The counts are kept in the queue's journal: a restart keeps them.
    smtp.restart()
    tc = smtp.connect(login=True)
    submit(tc, ["e@other.example"], expect=MSG_LIMIT)
    # A day later, after two more restarts (each rewrites the journal): x and y are first-time
    # recipients, b is not (its first submission, now out of the window, is still remembered).
    now[0] += 24 * 3600 + 60
    smtp.restart()
    smtp.restart()
    tc = smtp.connect(login=True)
    submit(tc, ["x@other.example"])
    submit(tc, ["y@other.example"])
    submit(tc, ["b@other.example"])
    submit(tc, ["z@other.example"], expect=RCPT_LIMIT)


def test_default_daily_limits_are_mox_defaults():
    from mox.config import AccountConfig, Config

    cfg = Config(accounts={"a": AccountConfig.with_addresses([]), "b": AccountConfig.with_addresses([], max_outgoing_messages_per_day=-1, max_first_time_recipients_per_day=5)})
    assert cfg.send_limits("a") == (1000, 200)  # mox: MaxOutgoingMessagesPerDay 1000, MaxFirstTimeRecipientsPerDay 200
    assert cfg.send_limits("b") == (None, 5)

def test_queued_message_survives_restart(smtp):
    tc = smtp.connect(login=True)
    submit(tc, ["later@example.com"], " HOLDFOR=2")
    assert [e.recipient for e in smtp.queue()] == ["later@example.com"]
    assert smtp.messages("Inbox") == []
    smtp.restart()
    # The new server's queue loads the entry from its journal and delivers it when due.
    entries = smtp.queue()
    assert [e.recipient for e in entries] == ["later@example.com"] or smtp.messages("Inbox")
    msgs = smtp.wait_messages("Inbox", 1)
    assert len(msgs) == 1 and msgs[0].endswith(b"hello\r\n")
    # mox's order for a local delivery: Delivered-To, Return-Path, then the authentication results.
    assert msgs[0].startswith(b"Delivered-To: later@example.com\r\nReturn-Path: <mox@localhost>\r\nAuthentication-Results: ")
    assert smtp.wait_queue_empty() == []


def test_concurrent_submissions(smtp):
    """Group-committed queue writes: every message of parallel submitters is delivered once."""
    import threading

    from mox.smtp.client import Client

    smtp.start()
    errors = []

    def work(k):
        try:
            with Client.connect("127.0.0.1", smtp.ports["submission"], tls="none") as c:
                c.auth("mox@localhost", "moxmoxmox")
                for i in range(8):
                    c.deliver("mox@localhost", [f"k{k}i{i}@example.com"], MSG.replace(b"hello", f"msg {k} {i}".encode()))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    msgs = smtp.wait_messages("Inbox", 40)
    bodies = sorted(m.rsplit(b"\r\n\r\n", 1)[1] for m in msgs)
    assert bodies == sorted(f"msg {k} {i}\r\n".encode() for k in range(5) for i in range(8))
    assert len(smtp.wait_messages("Sent", 40)) == 40  # stored after the 250s (mox.queue.sentcopy)
    assert smtp.wait_queue_empty() == []
    assert smtp.wait_queue_settled() == []
    assert list((smtp.data_dir / "queue" / "msg").iterdir()) == []
