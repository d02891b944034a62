"""`mox queue webhook ...` and `mox queue suppress ...` against a running `mox localserve`
(a subprocess), with a webhook receiver on 127.0.0.1. Commands, flags and output as mox's
(queue.go cmdQueueHook*/cmdQueueSuppress*, ctl.go queuehook*/queuesuppress*)."""

from __future__ import annotations

import datetime
import json
import re
import smtplib
import time
from pathlib import Path
from typing import Any

import msgspec

from mox import config as mconfig
from tests.conftest import run_mox
from tests.hookreceiver import HookReceiver

#: mox queue.Hook and queue.HookRetired as JSON (queue/hook.go), plus Payload.
HOOK_FIELDS = {
    "ID", "QueueMsgID", "FromID", "MessageID", "Subject", "Extra", "Account", "URL", "Authorization", "IsIncoming",
    "OutgoingEvent", "Payload", "Submitted", "Attempts", "NextAttempt", "Results",
}
HOOK_RETIRED_FIELDS = {
    "ID", "QueueMsgID", "FromID", "MessageID", "Subject", "Extra", "Account", "URL", "Authorization", "IsIncoming",
    "OutgoingEvent", "Payload", "Submitted", "SupersededByID", "Attempts", "Results", "Success", "LastActivity", "KeepUntil",
}
HOOK_RESULT_FIELDS = {"Start", "Duration", "URL", "Success", "Code", "Error", "Response"}


def start(tmp_path: Path, mox_process: Any, url: str) -> Path:
    d = tmp_path / "d"
    r = run_mox("localserve", "-dir", str(d), "-initonly")
    assert r.returncode == 0, r.stderr
    static, domains = mconfig.read_static(d), mconfig.read_domains(d)
    acc = msgspec.structs.replace(domains.accounts["mox"], outgoing_webhook=mconfig.OutgoingWebhook(url=url, authorization="Bearer t"))
    mconfig.write_config(d, static, msgspec.structs.replace(domains, accounts={"mox": acc}))
    p = mox_process("localserve", "-dir", str(d), "-port-base", "0")
    p.info = p.wait_ready()
    return d


def submit(info: dict[str, Any], rcpt: str, subject: str) -> None:
    msg = f"From: mox@localhost\r\nTo: {rcpt}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@localhost>\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", info["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", [rcpt], msg.encode())


def mox(d: Path, *args: str) -> str:
    """Run ``mox ARGS`` against the localserve in ``d``; its stdout (it must succeed)."""
    r = run_mox(*_with_dir(args, d))
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _with_dir(args: tuple[str, ...], d: Path) -> list[str]:
    """``-dir D`` after the subcommand words (before positional arguments)."""
    words = []
    rest = list(args)
    while rest and rest[0] in ("queue", "webhook", "retired", "suppress", "list", "schedule", "cancel", "print", "add", "remove", "lookup"):
        words.append(rest.pop(0))
    return [*words, "-dir", str(d), *rest]


def wait_for(fn: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (v := fn()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return v


def parse_time(s: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def wait_output(d: Path, text: str, *args: str) -> str:
    """The output of ``mox ARGS`` once it contains ``text`` (the server works on it)."""
    return wait_for(lambda: (lambda out: out if text in out else None)(mox(d, *args)))


LINE = re.compile(
    r'^ +(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) account:mox next (-?(?:\d+h)?(?:\d+m)?\d+s) last (\d+s)? ?error "(.*)" url (\S+)$'
)
RETIRED = re.compile(r'^ +(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (success|failure) account:mox last (\d+s)? ?error "(.*)" url (\S+)$')


def test_webhook_commands(tmp_path, mox_process):
    with HookReceiver(default=500) as recv:
        d = start(tmp_path, mox_process, recv.url())
        info = json.loads((tmp_path / "ready-0.json").read_text())
        submit(info, "a@localhost", "first")
        recv.wait(1)
        # The webhook stays queued after the 500: list shows it (mox's line format).
        out = wait_output(d, "http status", "queue", "webhook", "list")
        lines = out.splitlines()
        assert lines[0] == "webhooks:"
        m = LINE.match(lines[1])
        assert m, lines[1]
        hook_id = m.group(1)
        assert m.group(5) == 'http status \\"500 Internal Server Error\\", expected 200 ok'
        assert m.group(6) == recv.url()
        # Filters.
        assert mox(d, "queue", "webhook", "list", "-event", "failed") == "webhooks:\n(none)\n"
        assert mox(d, "queue", "webhook", "list", "-ids", "999") == "webhooks:\n(none)\n"
        assert len(mox(d, "queue", "webhook", "list", "-account", "mox", "-event", "delivered", "-nextattempt", ">now").splitlines()) == 2
        assert mox(d, "queue", "webhook", "list", "-nextattempt", "<now") == "webhooks:\n(none)\n"
        assert len(mox(d, "queue", "webhook", "list", "-submitted", "<now", "-sort", "queued", "-asc", "-n", "1").splitlines()) == 2
        # print: the webhook as JSON with mox's field names.
        h = json.loads(mox(d, "queue", "webhook", "print", hook_id))
        assert set(h) == HOOK_FIELDS
        assert (h["ID"], h["Account"], h["URL"], h["Authorization"], h["OutgoingEvent"], h["IsIncoming"], h["Subject"], h["Attempts"]) == (
            int(hook_id), "mox", recv.url(), "Bearer t", "delivered", False, "first", 1
        )
        assert json.loads(h["Payload"])["Event"] == "delivered"
        assert set(h["Results"][0]) == HOOK_RESULT_FIELDS and h["Results"][0]["Code"] == 500
        wait = (parse_time(h["NextAttempt"]) - parse_time(h["Results"][0]["Start"])).total_seconds()
        assert 59.4 <= wait <= 60.6  # mox: 1 minute after the first attempt, +-1 %
        # schedule -now 0: delivered at once (the receiver now says 200).
        recv.default = 200
        assert mox(d, "queue", "webhook", "schedule", "-now", "0") == "1 webhook(s) rescheduled\n"
        assert recv.wait(2)[1].headers["x-mox-webhook-attempt"] == "2"
        out = wait_output(d, "success", "queue", "webhook", "retired", "list")
        [head, line] = out.splitlines()
        m = RETIRED.match(line)
        assert head == "retired webhooks:" and m and (m.group(1), m.group(3), m.group(5)) == (hook_id, "success", ""), line
        hr = json.loads(mox(d, "queue", "webhook", "retired", "print", hook_id))
        assert set(hr) == HOOK_RETIRED_FIELDS
        assert (hr["Success"], hr["Authorization"], [r["Code"] for r in hr["Results"]]) == (True, True, [500, 200])
        assert mox(d, "queue", "webhook", "list") == "webhooks:\n(none)\n"

        # schedule without -now moves the next attempt by the duration; cancel retires.
        recv.default = 500
        submit(info, "b@localhost", "second")
        recv.wait(3)
        line = wait_for(lambda: [x for x in mox(d, "queue", "webhook", "list").splitlines() if "http status" in x])[0]
        assert LINE.match(line), line
        second = LINE.match(line).group(1)
        before = parse_time(json.loads(mox(d, "queue", "webhook", "print", second))["NextAttempt"])
        assert mox(d, "queue", "webhook", "schedule", "-ids", second, "2h") == "1 webhook(s) rescheduled\n"
        after = parse_time(json.loads(mox(d, "queue", "webhook", "print", second))["NextAttempt"])
        assert abs((after - before).total_seconds() - 7200) < 0.001
        assert LINE.match(mox(d, "queue", "webhook", "list").splitlines()[1]).group(3).startswith("2h")
        assert mox(d, "queue", "webhook", "cancel", "-ids", second) == "1 webhook(s) marked as canceled\n"
        assert mox(d, "queue", "webhook", "list") == "webhooks:\n(none)\n"
        lines = mox(d, "queue", "webhook", "retired", "list", "-event", "delivered", "-sort", "lastactivity").splitlines()
        assert [RETIRED.match(x).group(1, 3) for x in lines[1:]] == [(second, "failure"), (hook_id, "success")]
        assert 'error "canceled by admin"' in lines[1]
        assert mox(d, "queue", "webhook", "retired", "list", "-lastactivity", "<-1h") == "retired webhooks:\n(none)\n"
        assert len(mox(d, "queue", "webhook", "retired", "list", "-asc", "-n", "1").splitlines()) == 2

        # Errors: one line, exit code 1 (2 for usage).
        r = run_mox("queue", "webhook", "print", "-dir", str(d), "999")
        assert (r.returncode, r.stderr) == (1, "mox: getting webhook: not found\n")
        r = run_mox("queue", "webhook", "retired", "print", "-dir", str(d), "x")
        assert (r.returncode, r.stderr) == (1, "mox: parsing id: invalid syntax: 'x'\n")
        r = run_mox("queue", "webhook", "list", "-dir", str(d), "-submitted", "1h")
        assert r.returncode == 1
        assert r.stderr == 'mox: listing webhooks: applying filter for submitted: must start with "<" for before or ">" for after a duration\n'
        r = run_mox("queue", "webhook", "list", "-dir", str(d), "-event", "sent")
        assert r.returncode == 2 and "Invalid value for '-event'" in r.stderr
        r = run_mox("queue", "webhook", "schedule", "-dir", str(d), "soon")
        assert r.returncode == 2 and "invalid duration 'soon'" in r.stderr


def test_suppress_commands(tmp_path, mox_process):
    with HookReceiver() as recv:
        d = start(tmp_path, mox_process, recv.url())
        assert mox(d, "queue", "suppress", "list") == "suppressions (account, address, manual, time added, base adddress, reason):\n(none)\n"
        assert mox(d, "queue", "suppress", "add", "mox", "John.Doe+news@Example.org") == ""
        out = mox(d, "queue", "suppress", "list", "-account", "mox").splitlines()
        assert out[0] == "suppressions (account, address, manual, time added, base adddress, reason):"
        fields = out[1].split("\t")
        assert (fields[0], fields[1], fields[2], fields[4], fields[5]) == (
            '"mox"', '"John.Doe+news@example.org"', "Yes", '"johndoe@example.org"', '"added through mox cli"'
        )
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$", fields[3])
        assert mox(d, "queue", "suppress", "list", "-account", "other") == "suppressions (account, address, manual, time added, base adddress, reason):\n(none)\n"
        lookup = mox(d, "queue", "suppress", "lookup", "johndoe-x@example.org").splitlines()
        assert lookup[0] == "present" and lookup[2:] == ["manual: yes", "base address: johndoe@example.org", 'reason: "added through mox cli"']
        assert mox(d, "queue", "suppress", "lookup", "-account", "mox", "jane@example.org") == "not present\n"
        # A suppressed recipient: the submission is accepted, then fails in the queue with a DSN
        # and the "suppressed" webhook.
        info = json.loads((tmp_path / "ready-0.json").read_text())
        submit(info, "john.doe@example.org", "blocked")
        [call] = recv.wait(1)
        assert (call.json["Event"], call.json["Subject"]) == ("suppressed", "blocked")
        r = run_mox("queue", "suppress", "add", "-dir", str(d), "mox", "johndoe@example.org")
        assert (r.returncode, r.stderr) == (1, "mox: adding suppression: address johndoe@example.org is already on the suppression list\n")
        r = run_mox("queue", "suppress", "add", "-dir", str(d), "nobody", "x@example.org")
        assert (r.returncode, r.stderr) == (1, "mox: looking up account: unknown account\n")
        r = run_mox("queue", "suppress", "add", "-dir", str(d), "mox", "not an address")
        assert r.returncode == 1 and r.stderr.startswith("mox: adding suppression: parsing address 'not an address': ")
        assert mox(d, "queue", "suppress", "remove", "mox", "JOHNDOE@example.org") == ""
        r = run_mox("queue", "suppress", "remove", "-dir", str(d), "mox", "johndoe@example.org")
        assert (r.returncode, r.stderr) == (1, "mox: removing suppression: address johndoe@example.org is not on the suppression list\n")
        assert mox(d, "queue", "suppress", "lookup", "johndoe@example.org") == "not present\n"


def test_help_lists_webhook_and_suppress_commands():
    """`mox help` and `mox help queue ...` list the commands (no server needed)."""
    out = run_mox("help").stdout
    for cmd in (
        "queue webhook list", "queue webhook schedule", "queue webhook cancel", "queue webhook print",
        "queue webhook retired list", "queue webhook retired print",
        "queue suppress list", "queue suppress add", "queue suppress remove", "queue suppress lookup",
    ):
        assert f"  mox {cmd} " in out, (cmd, out)
    out = run_mox("help", "queue").stdout
    assert "webhook" in out and "suppress" in out
    out = run_mox("help", "queue", "webhook").stdout
    assert all(f"\n  {cmd} " in out for cmd in ("list", "schedule", "cancel", "print", "retired")), out
    out = run_mox("help", "queue", "webhook", "retired").stdout
    assert all(f"\n  {cmd} " in out for cmd in ("list", "print")), out
    out = run_mox("help", "queue", "suppress").stdout
    assert all(f"\n  {cmd} " in out for cmd in ("list", "add", "remove", "lookup")), out
    out = run_mox("help", "queue", "webhook", "list").stdout
    for flag in ("-ids", "-n", "-account", "-submitted", "-event", "-nextattempt", "-sort", "-asc"):
        assert f"{flag}," in out, (flag, out)
