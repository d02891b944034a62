"""Exactly once through the queue: the process dies (os._exit, like SIGKILL) at each step of a
submission's way — queue file written, queue record durable, view and main account delivery
file placed, their transactions durable, queue record removed, its file not yet removed, DSN
stored, the 250 heard but the Sent copy not stored, the Sent copy's file placed and its
transaction durable — and after a restart no queue file is left behind and the message is in the
account, in the recipient's per-address view and in the sender's Sent exactly once (or nowhere,
when it died before the submission was durable and so before any 250), and a DSN exactly once.

With an outgoing webhook configured, dying right after the message was retired with its
webhook, or right after a webhook's attempt became durable but before its POST, loses no
webhook: after the restart the receiver gets it (once here; in general at least once).

The random-kill test over real SIGKILLs is tests/test_crash.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mox.ci.hooks import view_account

HERE = Path(__file__).parent
CHILD = HERE / "crash_points_child.py"
RCPT = "alice@example.org"
MID = "<crash-point@example.org>"

# point -> (recipient, expected Inbox of the main account, of the recipient's view, Sent of the
# main account)
CASES = {
    "queue-file": (RCPT, [], [], []),  # not durable yet: no 250, nothing delivered
    "queue-put": (RCPT, [MID], [MID], [MID]),
    "view-file": (RCPT, [MID], [MID], [MID]),
    "view-txn": (RCPT, [MID], [MID], [MID]),
    "main-file": (RCPT, [MID], [MID], [MID]),
    "main-txn": (RCPT, [MID], [MID], [MID]),  # the duplicate the random crash test found
    "queue-remove": (RCPT, [MID], [MID], [MID]),
    "queue-unlink": (RCPT, [MID], [MID], [MID]),  # dequeued, its file left: removed at the next start
    "dsn-file": ("queue550@example.org", ["dsn"], [], [MID]),
    "dsn-txn": ("queue550@example.org", ["dsn"], [], [MID]),
    "sent-250": (RCPT, [MID], [MID], [MID]),  # killed after the 250, before the Sent copy
    "sent-file": (RCPT, [MID], [MID], [MID]),
    "sent-txn": (RCPT, [MID], [MID], [MID]),  # stored, its queue record not removed: not twice
}


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(CHILD), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("point", list(CASES))
def test_crash_point(tmp_path, point):
    rcpt, main, view, sent = CASES[point]
    d = str(tmp_path / "data")
    p = run(d, "crash", point, rcpt)
    assert p.returncode == 77 and f"died at {point}" in p.stdout, p.stdout + p.stderr
    p = run(d, "finish", view_account(rcpt))
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out == {"queued": 0, "main": main, "view": view, "sent": sent, "hooks": [], "stray": []}, p.stderr[-3000:]


# point -> attempts of the webhook that reaches the receiver
HOOK_CASES = {"hook-put": 1, "hook-attempt": 2}


@pytest.mark.parametrize("point", list(HOOK_CASES))
def test_crash_point_webhook(tmp_path, point):
    from tests.hookreceiver import HookReceiver

    d = str(tmp_path / "data")
    with HookReceiver() as recv:
        p = run(d, "crash", point, RCPT, recv.url())
        assert p.returncode == 77 and f"died at {point}" in p.stdout, p.stdout + p.stderr
        assert recv.calls == []
        p = run(d, "finish", view_account(RCPT))
        assert p.returncode == 0, p.stdout + p.stderr
        out = json.loads(p.stdout.strip().splitlines()[-1])
        assert out == {
            "queued": 0, "main": [MID], "view": [MID], "sent": [MID], "hooks": [["delivered", HOOK_CASES[point], True]],
            "stray": [],
        }  # fmt: skip
        [call] = recv.calls
        assert (call.json["Event"], call.headers["x-mox-webhook-attempt"]) == ("delivered", str(HOOK_CASES[point]))
