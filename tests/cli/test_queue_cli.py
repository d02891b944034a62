"""`mox queue list|hold|unhold|schedule|fail|drop|dump` and `mox queue holdrules list|add|remove`
with mox's filter flags, against a running localserve (a `mox` subprocess per command)."""

from __future__ import annotations

import imaplib
import re
import smtplib
import time

import pytest

from mox.testing import LocalServer

from ..conftest import run_mox

LINE = re.compile(r"^ {0,4}\d+ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ from:\S* to:\S+ next -?[0-9hms]+ last [0-9hms]* error \".*\"$")


@pytest.fixture
def server(tmp_path):
    with LocalServer(dir=tmp_path / "d") as srv:
        yield srv


def mox(srv, *args, input=None):
    """`mox queue ...` with -dir of srv after the command words (before flags)."""
    n = 3 if args[:2] == ("queue", "holdrules") else 2
    return run_mox(*args[:n], "-dir", str(srv.dir), *args[n:], input=input)


def out(srv, *args) -> str:
    r = mox(srv, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def submit(srv, rcpts: list[str], subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", rcpts, f"From: mox@localhost\r\nSubject: {subject}\r\n\r\nhi\r\n".encode())


def subjects(srv) -> list[str]:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        c.login("mox@localhost", "moxmoxmox")
        c.select("Inbox", readonly=True)
        _, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])") if int(c.select("Inbox", readonly=True)[1][0]) else ("", [])
        return sorted(d[1].decode().strip().removeprefix("Subject: ") for d in data if isinstance(d, tuple))
    finally:
        c.logout()


def wait_for(cond, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def listed_ids(text: str) -> list[int]:
    lines = text.splitlines()
    assert lines[0] == "messages:"
    if lines[1:] == ["(none)"]:
        return []
    assert all(LINE.match(line) for line in lines[1:]), lines
    return [int(line.split()[0]) for line in lines[1:]]


def test_hold_schedule_fail_drop_dump(server):
    assert out(server, "queue", "list") == "messages:\n(none)\n"
    assert out(server, "queue", "holdrules", "list") == "hold rules:\n(none)\n"
    # A rule for everything: what is submitted now stays on hold.
    assert out(server, "queue", "holdrules", "add") == ""
    assert out(server, "queue", "holdrules", "list") == "hold rules:\nid 1: all messages\n"
    submit(server, ["a@example.com", "b@other.example"], "first")
    submit(server, ["c@example.com"], "second")
    listed = out(server, "queue", "list")
    assert sorted(listed_ids(listed)) == [1, 2, 3]
    assert " from:mox@localhost to:a@example.com next " in listed
    # Filters: recipient domain, sender, account, hold state, ids, submitted and next attempt
    # times, transport, count; sorts.
    assert sorted(listed_ids(out(server, "queue", "list", "-to", "@example.com"))) == [1, 3]
    assert sorted(listed_ids(out(server, "queue", "list", "-from", "@localhost"))) == [1, 2, 3]
    assert listed_ids(out(server, "queue", "list", "-account", "nobody")) == []
    assert listed_ids(out(server, "queue", "list", "-hold", "false")) == []
    assert sorted(listed_ids(out(server, "queue", "list", "-hold", "true", "-ids", "1,3"))) == [1, 3]
    assert sorted(listed_ids(out(server, "queue", "list", "-submitted", "<now"))) == [1, 2, 3]
    assert listed_ids(out(server, "queue", "list", "-submitted", ">1h")) == []
    assert sorted(listed_ids(out(server, "queue", "list", "-transport", ""))) == [1, 2, 3]
    assert listed_ids(out(server, "queue", "list", "-transport", "submit")) == []
    assert listed_ids(out(server, "queue", "list", "-sort", "queued", "-asc")) == [1, 2, 3]
    assert listed_ids(out(server, "queue", "list", "-sort", "queued")) == [3, 2, 1]
    assert len(listed_ids(out(server, "queue", "list", "-n", "2"))) == 2

    # dump: the message as it will be delivered.
    dumped = out(server, "queue", "dump", "3")
    assert "Subject: second\n" in dumped and dumped.startswith("Received: ")

    # unhold one: it is delivered.
    assert out(server, "queue", "unhold", "-ids", "1") == "1 messages changed\n"
    wait_for(lambda: "first" in subjects(server), "delivery of message 1")
    assert sorted(listed_ids(out(server, "queue", "list"))) == [2, 3]

    # schedule: an hour later, then off hold: still waiting; then "-now 0": delivered.
    assert out(server, "queue", "schedule", "-ids", "2", "1h") == "1 message(s) rescheduled\n"
    assert listed_ids(out(server, "queue", "list", "-nextattempt", ">30m")) == [2]
    assert out(server, "queue", "unhold", "-ids", "2") == "1 messages changed\n"
    assert listed_ids(out(server, "queue", "list", "-hold", "false")) == [2]
    assert out(server, "queue", "schedule", "-now", "-ids", "2", "0") == "1 message(s) rescheduled\n"
    wait_for(lambda: subjects(server).count("first") == 2, "delivery of message 2")

    # hold again is idempotent: only changed messages are counted.
    assert out(server, "queue", "hold", "-ids", "3") == "0 messages changed\n"

    # fail: a DSN to the sender, nothing delivered.
    assert out(server, "queue", "fail", "-to", "c@example.com") == "1 message(s) marked as failed\n"
    wait_for(lambda: "mail delivery failed" in subjects(server), "the DSN")
    assert "second" not in subjects(server)
    assert out(server, "queue", "list") == "messages:\n(none)\n"

    # drop with a filter, then without any (everything, as mox).
    submit(server, ["d@example.com", "e@third.example"], "third")
    assert out(server, "queue", "drop", "-to", "@third.example") == "1 message(s) dropped\n"
    assert out(server, "queue", "drop") == "1 message(s) dropped\n"
    assert out(server, "queue", "list") == "messages:\n(none)\n"
    assert "third" not in subjects(server)


def test_holdrules(server):
    assert out(server, "queue", "holdrules", "add", "-account", "mox", "-recipientdom", "Example.COM") == ""
    assert out(server, "queue", "holdrules", "add", "-senderdom", "localhost") == ""
    assert out(server, "queue", "holdrules", "list") == (
        'hold rules:\nid 1: account "mox", recipient domain "example.com"\nid 2: sender domain "localhost"\n'
    )
    assert out(server, "queue", "holdrules", "remove", "2") == ""
    # Every field of a rule must match: other recipient domains are delivered.
    submit(server, ["x@example.com", "y@example.org"], "rules")
    wait_for(lambda: "rules" in subjects(server), "delivery to example.org")
    assert listed_ids(out(server, "queue", "list", "-hold", "true")) == [1]
    # A new rule holds matching queued messages too (mox HoldRuleAdd); removing it releases
    # nothing (as mox).
    assert out(server, "queue", "schedule", "-ids", "1", "1h") == "1 message(s) rescheduled\n"
    assert out(server, "queue", "unhold") == "1 messages changed\n"
    assert out(server, "queue", "holdrules", "add", "-recipientdom", "example.com") == ""
    assert listed_ids(out(server, "queue", "list", "-hold", "true")) == [1]
    assert out(server, "queue", "holdrules", "remove", "3") == ""
    assert listed_ids(out(server, "queue", "list", "-hold", "true")) == [1]
    # The rules survive a restart of the queue's process (they are in the data dir).
    assert (server.dir / "queue" / "holdrules.json").is_file()


def test_errors(server):
    r = mox(server, "queue", "list", "-submitted", "5m")
    assert (r.returncode, r.stderr) == (1, 'mox: applying filter for submitted: must start with "<" for before or ">" for after a duration\n')
    r = mox(server, "queue", "list", "-nextattempt", "<5 parsecs")
    assert r.returncode == 1 and r.stderr.startswith('mox: applying filter for next attempt: parsing duration "<5 parsecs": ')
    r = mox(server, "queue", "hold", "-hold", "maybe")
    assert r.returncode == 2 and "bad value 'maybe', want true or false" in r.stderr
    r = mox(server, "queue", "hold", "-ids", "1,x")
    assert r.returncode == 2 and "comma-separated list of message IDs" in r.stderr
    r = mox(server, "queue", "schedule", "soon")
    assert r.returncode == 2 and "parsing duration 'soon'" in r.stderr
    r = mox(server, "queue", "dump", "999")
    assert (r.returncode, r.stderr) == (1, "mox: opening message: message not found\n")
    r = mox(server, "queue", "dump", "x")
    assert r.returncode == 1 and r.stderr.startswith("mox: parsing id: ")
    r = mox(server, "queue", "holdrules", "remove", "99")
    assert (r.returncode, r.stderr) == (1, "mox: remove hold rule: not found\n")
    r = mox(server, "queue", "holdrules", "add", "-account", "nobody")
    assert (r.returncode, r.stderr) == (1, "mox: add hold rule: unknown account 'nobody'\n")
    r = mox(server, "queue", "holdrules", "add", "-senderdom", "bad domain")
    assert (r.returncode, r.stderr) == (1, "mox: parsing sender domain: invalid domain 'bad domain'\n")


def test_help_lists_queue_commands():
    r = run_mox("help", "queue")
    for cmd in ("list", "hold", "unhold", "schedule", "fail", "drop", "dump", "holdrules"):
        assert f"\n  {cmd} " in r.stdout, cmd
    r = run_mox("help", "queue", "schedule")
    for flag in ("-account", "-from", "-to", "-hold", "-submitted", "-nextattempt", "-transport", "-ids", "-n", "-now"):
        assert f"  {flag}, --{flag[1:]}" in r.stdout, flag


def test_global_config_flag(server):
    # mox -config DIR/mox.conf talks to the mox running from DIR, as -dir does.
    conf = str(server.dir / "mox.conf")
    assert out(server, "queue", "holdrules", "add") == ""
    submit(server, ["a@example.com"], "via config")
    r = run_mox("-config", conf, "queue", "list", "-hold", "true")
    assert r.returncode == 0, r.stderr
    assert listed_ids(r.stdout) == [1]
    r = run_mox("-config", conf, "queue", "drop", "-ids", "1")
    assert (r.returncode, r.stdout) == (0, "1 message(s) dropped\n")
    r = run_mox("-config", conf, "deliver", "mox@localhost", input="Subject: delivered via config\n\nx\n")
    assert (r.returncode, r.stdout) == (0, "message delivered\n")
    assert "delivered via config" in subjects(server)
