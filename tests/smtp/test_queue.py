"""The queue seen through the server: `mox queue list|fail|drop` over the control channel, daily
limits, persistence of queued messages."""

from __future__ import annotations

import email

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
    assert run(["queue", "list", "-dir", d]) == (0, "(none)\n")
    submit(tc, ["a@example.com", "b@example.com", "c@example.com"], " HOLDFOR=3600")
    code, out = run(["queue", "list", "-dir", d])
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].startswith("1 ") and " from <mox@localhost> to <a@example.com> next " in lines[0]
    assert lines[0].endswith(" attempts 0")
    assert run(["queue", "fail", "-dir", d, "1"]) == (0, "1 message(s) failed\n")
    dsn = smtp.wait_messages("Inbox", 1)[0]
    m = email.message_from_bytes(dsn)
    assert m["Subject"] == "mail delivery failed"
    assert "Diagnostic-Code: smtp; 550 5.0.0 delivery failed by admin" in m.get_payload()[1].as_string()
    assert run(["queue", "drop", "-dir", d, "2", "99"]) == (0, "1 message(s) dropped\n")
    code, out = run(["queue", "list", "-dir", d])
    assert out.splitlines()[0].startswith("3 ")
    assert run(["queue", "drop", "-dir", d, "-all"]) == (0, "1 message(s) dropped\n")
    assert run(["queue", "list", "-dir", d]) == (0, "(none)\n")
    assert len(smtp.messages("Inbox")) == 1  # only the DSN; dropping sends none
    r = CliRunner().invoke(cli, ["queue", "drop", "-dir", d])
    assert r.exit_code == 2 and "give message ids, or -all" in r.output


def test_daily_outgoing_limit(smtp):
    smtp.start(max_outgoing_messages_per_day=1)
    tc = smtp.connect(login=True)
    submit(tc, ["a@example.com"])
    submit(
        tc,
        ["b@example.com"],
        expect="451 4.7.1 max number of messages (1) over past 24h reached, try increasing per-account setting MaxOutgoingMessagesPerDay (ID)",
    )
    # The count is kept in the queue's journal: a restart does not reset it.
    smtp.restart()
    tc = smtp.connect(login=True)
    submit(
        tc,
        ["c@example.com"],
        expect="451 4.7.1 max number of messages (1) over past 24h reached, try increasing per-account setting MaxOutgoingMessagesPerDay (ID)",
    )


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
    assert b"\r\nDelivered-To: later@example.com\r\n" in msgs[0]
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
    assert len(smtp.messages("Sent")) == 40
    assert smtp.wait_queue_empty() == []
    assert list((smtp.data_dir / "queue" / "msg").iterdir()) == []
