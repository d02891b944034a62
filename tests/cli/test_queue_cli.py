"""`mox queue list|hold|unhold|schedule|fail|drop|dump`, `mox queue retired list|print` and
`mox queue holdrules list|add|remove` with mox's filter flags, against a running localserve (a `mox` subprocess per command)."""

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
    n = 3 if args[:2] in (("queue", "holdrules"), ("queue", "retired")) else 2
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


RETIRED_LINE = re.compile(
    r"^ {0,4}(\d+) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (success|failure) from:(\S*) to:(\S+) last [0-9hms]* error (\".*\")$"
)


def retired(srv, *flags: str) -> list[tuple[int, str, str, str]]:
    """(id, result, to, quoted error) of each line of `mox queue retired list FLAGS`."""
    lines = out(srv, "queue", "retired", "list", *flags).splitlines()
    assert lines[0] == "retired messages:"
    if lines[1:] == ["(none)"]:
        return []
    rows = []
    for line in lines[1:]:
        m = RETIRED_LINE.match(line)
        assert m, line
        assert m.group(3) == "mox@localhost"
        rows.append((int(m.group(1)), m.group(2), m.group(4), m.group(5)))
    return rows


#: mox's queue.MsgRetired as JSON (queue/queue.go), what `mox queue retired print` shows.
MSG_RETIRED_FIELDS = {
    "ID", "BaseID", "Queued", "SenderAccount", "SenderLocalpart", "SenderDomainStr", "FromID", "RecipientLocalpart",
    "RecipientDomain", "RecipientDomainStr", "Attempts", "MaxAttempts", "DialedIPs", "LastAttempt", "Results",
    "SMTPUTF8", "IsDMARCReport", "IsTLSReport", "Size", "MessageID", "Subject", "Transport", "RequireTLS",
    "FutureReleaseRequest", "Extra", "LastActivity", "RecipientAddress", "Success", "KeepUntil",
}


def test_retired_list_and_print(server):
    """Messages that left the queue (delivered, failed, dropped) are listed and printed from the
    retired queue with mox's filter and sort flags, kept for localserve's 72 hours."""
    import datetime
    import json

    assert out(server, "queue", "retired", "list") == "retired messages:\n(none)\n"
    submit(server, ["mox@localhost"], "delivered")
    wait_for(lambda: len(retired(server)) == 1, "the delivered message to retire")
    submit(server, ["queuepermerror@localhost"], "failed")  # 550 in the queue (failure simulation)
    wait_for(lambda: len(retired(server)) == 2, "the failed message to retire")
    assert out(server, "queue", "holdrules", "add", "-recipientdom", "example.com") == ""
    submit(server, ["held@example.com"], "dropped")
    assert out(server, "queue", "drop", "-to", "@example.com") == "1 message(s) dropped\n"

    rows = retired(server)  # newest activity first
    assert [(r[1], r[2]) for r in rows] == [
        ("failure", "held@example.com"), ("failure", "queuepermerror@localhost"), ("success", "mox@localhost"),
    ]
    delivered, failed, dropped = rows[2][0], rows[1][0], rows[0][0]
    assert rows[0][3] == '"delivery canceled by admin"' and rows[2][3] == '""'
    assert rows[1][3].startswith('"') and rows[1][3] != '""'
    # Filters, as mox's flagRetiredFilterSort.
    assert [r[0] for r in retired(server, "-result", "success")] == [delivered]
    assert [r[0] for r in retired(server, "-result", "failure", "-sort", "queued", "-asc")] == [failed, dropped]
    assert [r[0] for r in retired(server, "-to", "@example.com")] == [dropped]
    assert [r[0] for r in retired(server, "-from", "mox@")] == [dropped, failed, delivered]
    assert [r[0] for r in retired(server, "-ids", f"{delivered},{dropped}", "-sort", "queued", "-asc")] == [delivered, dropped]
    assert retired(server, "-account", "nobody") == []
    assert len(retired(server, "-account", "mox", "-transport", "")) == 3
    assert retired(server, "-lastactivity", "<-1h") == [] and len(retired(server, "-lastactivity", ">-1h")) == 3
    assert retired(server, "-submitted", ">now") == [] and len(retired(server, "-submitted", "<now")) == 3
    assert [r[0] for r in retired(server, "-n", "1")] == [dropped]

    # print: mox's MsgRetired fields.
    m = json.loads(out(server, "queue", "retired", "print", str(delivered)))
    assert set(m) == MSG_RETIRED_FIELDS
    assert (m["ID"], m["SenderAccount"], m["SenderLocalpart"], m["SenderDomainStr"]) == (delivered, "mox", "mox", "localhost")
    assert (m["RecipientLocalpart"], m["RecipientDomain"], m["RecipientAddress"]) == (
        "mox", {"IP": "", "Domain": {"ASCII": "localhost", "Unicode": ""}}, "mox@localhost",
    )
    assert (m["Success"], m["Attempts"], m["Subject"], m["Transport"]) == (True, 1, "delivered", "")
    assert set(m["Results"][0]) == {"Start", "Duration", "Success", "Code", "Secode", "Error"} and m["Results"][-1]["Success"]
    t = {k: datetime.datetime.fromisoformat(m[k].replace("Z", "+00:00")) for k in ("LastActivity", "KeepUntil")}
    assert t["KeepUntil"] - t["LastActivity"] == datetime.timedelta(hours=72)  # localserve's KeepRetiredMessagePeriod
    m = json.loads(out(server, "queue", "retired", "print", str(failed)))
    assert (m["Success"], m["Results"][-1]["Code"], m["Results"][-1]["Success"]) == (False, 550, False)

    # Errors.
    r = mox(server, "queue", "retired", "print", "999")
    assert (r.returncode, r.stderr) == (1, "mox: getting retired message: not found\n")
    r = mox(server, "queue", "retired", "print", "x")
    assert r.returncode == 1 and r.stderr.startswith("mox: parsing id: ")
    r = mox(server, "queue", "retired", "list", "-lastactivity", "5m")
    assert (r.returncode, r.stderr) == (
        1, 'mox: listing retired queue: applying filter for last activity: must start with "<" for before or ">" for after a duration\n',
    )
    r = mox(server, "queue", "retired", "list", "-result", "maybe")
    assert r.returncode == 2 and 'bad argument "maybe", need success or failure' in r.stderr

    # A KeepRetiredMessagePeriod of 0: what leaves the queue now is not kept.
    from mox.admin import provision

    server.run_sync_in_server(lambda: provision.account_save(server.ctx, "mox", keep_retired_message_period=0.0))
    submit(server, ["mox@localhost"], "not kept")
    wait_for(lambda: "not kept" in subjects(server), "the delivery")
    wait_for(lambda: out(server, "queue", "list") == "messages:\n(none)\n", "the queue to empty")
    assert len(retired(server)) == 3


def test_help_lists_queue_commands():
    r = run_mox("help", "queue")
    for cmd in ("list", "hold", "unhold", "schedule", "fail", "drop", "dump", "retired", "holdrules"):
        assert f"\n  {cmd} " in r.stdout, cmd
    r = run_mox("help", "queue", "retired", "list")
    for flag in ("-ids", "-n", "-account", "-from", "-to", "-submitted", "-lastactivity", "-transport", "-result", "-sort", "-asc"):
        assert f"  {flag}, --{flag[1:]}" in r.stdout, flag
    assert "  mox queue retired print [OPTIONS] ID\n" in run_mox("help").stdout
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
