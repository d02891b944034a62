"""Several sessions on one mailbox: what each client must be told, and when.

- A client may fetch any message it has not been told is expunged and gets its data (RFC 9051
  7.4.1, RFC 2180 4.1.1): the session holds the removal until it has sent the EXPUNGE, so the
  message's record and file are still there; then the file goes (store/changes.py).
- A message's flags and MODSEQ never go back for a client (RFC 7162 3.1), also when the changes
  of other sessions reach it after it read (or wrote) a newer state.
- Sequence numbers keep their meaning (RFC 9051 2.3.1.1, 7.4.1, 7.5.1): no EXPUNGE during FETCH,
  STORE and SEARCH; messages are announced in UID order, also around the session's own APPEND.
- A randomized test with many clients and a model of each session (tools/imap_stress.py).

The races are made deterministic with ``imap.hold_commit()``: one session's write is applied
to the index but held before it becomes durable and is broadcast, while other sessions go on.
"""

from __future__ import annotations

import importlib.util
import io
import os
import random
import sys
from pathlib import Path

import pytest

MSG1 = b"From: one@localhost\r\nSubject: one\r\n\r\nfirst body\r\n"
MSG2 = b"From: two@localhost\r\nSubject: two\r\n\r\nsecond body\r\n"
NEW = b"Subject: new\r\n\r\nnew\r\n"


def fetch_body(seq: int, uid: int, flags: str, data: bytes) -> str:
    n = len(data)
    return f"* {seq} FETCH (UID {uid} FLAGS ({flags}) RFC822.SIZE {n} BODY[] {{{n}}}\r\n{data.decode()})"


def session(imap, select: str | None = "inbox"):
    """A logged-in IMAP4rev2 session (\\Recent, IMAP4rev1 only, stays out of these transcripts;
    the randomized test below uses IMAP4rev1 sessions), with a mailbox selected."""
    tc = imap.connect()
    tc.transact("ok", "enable imap4rev2")
    if select is not None:
        tc.transact("ok", f"select {select}")
    return tc


def two_sessions(imap, flags=("\\Deleted",)):
    imap.start()
    imap.deliver(MSG1, flags=list(flags))
    imap.deliver(MSG2)
    return session(imap), session(imap)


def test_fetch_message_another_session_expunged(imap):
    a, b = two_sessions(imap)
    inbox = imap.account.mailbox("Inbox").id
    m1 = imap.account.message(inbox, 1)
    b.transact("ok", "expunge")
    b.expect_untagged("* 1 EXPUNGE")
    assert imap.account.message(inbox, 1) is None
    # a was not told yet: the message is still there for it, as it was, body and all.
    a.transact("ok", "fetch 1:2 (uid flags rfc822.size body.peek[])")
    a.expect_untagged(fetch_body(1, 1, "\\Deleted", MSG1), fetch_body(2, 2, "", MSG2))
    a.transact("ok", "uid fetch 1 (uid body.peek[header.fields (SUBJECT)])")
    a.expect_untagged("* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n)")
    tag = a.command("search subject one")  # the body keys read the file too
    a.response("ok")
    a.expect_untagged(f'* ESEARCH (TAG "{tag}") ALL 1')
    a.transact("ok", "store 1:2 +flags.silent (\\Seen)")  # the expunged one can't change
    a.expect_no_untagged()
    assert imap.account.message_path(m1).exists()
    assert imap.account.check_consistency() == []  # a file kept for a session is no stray
    a.transact("ok", "noop")
    a.expect_untagged("* 1 EXPUNGE")
    # Nobody shows it any more: its file goes right after that reply.
    imap.wait_until(lambda: not imap.account.message_path(m1).exists(), "the released file to be removed")
    a.transact("ok", "fetch 1 (uid body.peek[])")
    a.expect_untagged(f"* 1 FETCH (UID 2 BODY[] {{{len(MSG2)}}}\r\n{MSG2.decode()})")


def test_fetch_message_another_session_moved(imap):
    a, b = two_sessions(imap, flags=())
    a.transact("ok", "enable qresync")
    b.transact("ok", "move 1 Archive")
    a.transact("ok", "fetch 1 (uid flags rfc822.size body.peek[])")
    a.expect_untagged(fetch_body(1, 1, "", MSG1))
    a.transact("ok", "noop")
    a.expect_untagged("* VANISHED 1")


def test_fetch_after_other_session_closed_its_view(imap):
    # Every session that showed the message holds it; the last one to be told removes the file.
    a, b = two_sessions(imap)
    c = session(imap)
    inbox = imap.account.mailbox("Inbox").id
    m1 = imap.account.message(inbox, 1)
    c.transact("ok", "expunge")
    a.transact("ok", "noop")
    a.expect_untagged("* 1 EXPUNGE")
    assert imap.account.message_path(m1).exists()  # b still shows it
    b.transact("ok", "fetch 1 (uid body.peek[])")
    b.expect_untagged(f"* 1 FETCH (UID 1 BODY[] {{{len(MSG1)}}}\r\n{MSG1.decode()})")
    b.close()  # a connection that goes away releases what it held
    imap.wait_until(lambda: imap.account.removed_message(inbox, 1) is None, "b's session to end")
    a.transact("ok", "noop")  # commands remove released files right after they answer
    imap.wait_until(lambda: not imap.account.message_path(m1).exists(), "the released file to be removed")
    assert imap.account.check_consistency() == []


def test_fetch_after_other_session_deleted_the_mailbox(imap):
    imap.start()
    imap.run(imap.account.create_mailbox, "a")
    imap.deliver(MSG1, mailbox="a")
    a = session(imap, "a")
    b = session(imap, None)
    b.transact("ok", "delete a")
    # The first command after the deletion learns of it (RFC 9051 6.3.4, 7.1 NONEXISTENT).
    a.transact("no", "fetch 1 (uid body.peek[])")
    a.expect_code("NONEXISTENT")
    a.transact("ok", "close")


def test_store_does_not_report_older_modseq_afterwards(imap):
    # b's STORE is applied, then a's (a later modseq) while b's is still being made durable; b's
    # change reaches a only after a showed its own result. It is older: the client must not see
    # the flags and MODSEQ go back (RFC 7162 3.1).
    imap.start()
    imap.deliver(MSG1)
    inbox = imap.account.mailbox("Inbox").id
    a = session(imap, "inbox (condstore)")
    b = session(imap, "inbox (condstore)")
    gate = imap.hold_commit()
    b.command("store 1 +flags (\\Flagged)")
    gate.wait_held()
    m1 = imap.account.message(inbox, 1).modseq
    a.command("store 1 +flags (\\Answered)")
    imap.wait_until(lambda: imap.account.message(inbox, 1).modseq == m1 + 1, "a's store in the index")
    gate.release()
    b.response("ok")
    a.response("ok")
    a.expect_untagged(f"* 1 FETCH (FLAGS (\\Answered \\Flagged) MODSEQ ({m1 + 1}))")
    b.expect_untagged(f"* 1 FETCH (FLAGS (\\Answered \\Flagged) MODSEQ ({m1 + 1}))")  # read after its write
    a.transact("ok", "noop")
    a.expect_no_untagged()
    b.transact("ok", "noop")
    b.expect_no_untagged()
    a.transact("ok", "fetch 1 (flags modseq)")
    a.expect_untagged(f"* 1 FETCH (FLAGS (\\Answered \\Flagged) MODSEQ ({m1 + 1}))")


def test_fetch_does_not_report_older_modseq_afterwards(imap):
    # b's and c's STOREs are in the index, not yet durable; a FETCH shows the newest state. The
    # two changes arrive afterwards, both older than what a's client saw.
    imap.start()
    imap.deliver(MSG1)
    inbox = imap.account.mailbox("Inbox").id
    a, b, c = (session(imap, "inbox (condstore)") for _ in range(3))
    gate = imap.hold_commit()
    b.command("store 1 +flags.silent (\\Flagged)")
    gate.wait_held()
    m1 = imap.account.message(inbox, 1).modseq
    c.command("store 1 +flags.silent (\\Answered)")
    imap.wait_until(lambda: imap.account.message(inbox, 1).modseq == m1 + 1, "c's store in the index")
    a.transact("ok", "fetch 1 (flags modseq)")
    a.expect_untagged(f"* 1 FETCH (FLAGS (\\Answered \\Flagged) MODSEQ ({m1 + 1}))")
    gate.release()
    b.response("ok")
    c.response("ok")
    a.transact("ok", "noop")
    a.expect_no_untagged()
    # A change after those is reported as usual.
    b.transact("ok", "store 1 -flags.silent (\\Flagged)")
    a.transact("ok", "noop")
    a.expect_untagged(f"* 1 FETCH (UID 1 FLAGS (\\Answered) MODSEQ ({m1 + 2}))")


def test_own_append_announced_after_earlier_messages(imap):
    # b's APPEND gets uid 2 and is being made durable; a's APPEND gets uid 3, c's uid 4 (both
    # durable in one group commit after b's). a must hear of 2 before its own 3, and of 4 after:
    # sequence numbers follow UIDs and never change meaning (RFC 9051 2.3.1.1).
    imap.start()
    imap.deliver(MSG1)
    mb = imap.account.mailbox("Inbox")
    a, b, c = session(imap), session(imap, None), session(imap, None)
    gate = imap.hold_commit()
    b.command("append inbox ", NEW)
    gate.wait_held()
    a.command("append inbox ", NEW)
    imap.wait_until(lambda: imap.account.mailbox("Inbox").uidnext == 4, "a's append in the index")
    c.command("append inbox ", NEW)
    imap.wait_until(lambda: imap.account.mailbox("Inbox").uidnext == 5, "c's append in the index")
    gate.release()
    b.response("ok")
    a.response("ok")
    a.expect_code(f"APPENDUID {mb.uidvalidity} 3")
    a.expect_untagged_ordered(
        "* 2 EXISTS",
        "* 2 FETCH (UID 2 FLAGS ())",
        "* 3 EXISTS",  # its own, uid 3
        "* 4 EXISTS",
        "* 4 FETCH (UID 4 FLAGS ())",
    )
    c.response("ok")
    a.transact("ok", "fetch 1:* (uid)")
    a.expect_untagged("* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)")


def test_own_copy_announced_after_earlier_messages(imap):
    imap.start()
    imap.deliver(MSG1)
    a, b = session(imap), session(imap, None)
    gate = imap.hold_commit()
    b.command("append inbox ", NEW)
    gate.wait_held()
    a.command("copy 1 inbox")
    imap.wait_until(lambda: imap.account.mailbox("Inbox").uidnext == 4, "a's copy in the index")
    gate.release()
    b.response("ok")
    a.response("ok")
    a.expect_untagged_ordered("* 2 EXISTS", "* 2 FETCH (UID 2 FLAGS ())", "* 3 EXISTS")


def test_no_expunge_during_fetch_store_search(imap):
    # RFC 9051 7.5.1: expunges wait for a command that may send EXPUNGE; NOOP sends them.
    a, b = two_sessions(imap)
    b.transact("ok", "expunge")
    for cmd in ("fetch 1:* (uid)", "store 1:* +flags.silent (x)", "search all", "uid fetch 1:* (uid)"):
        a.transact("ok", cmd)
        assert not any("EXPUNGE" in line for line in a._transcript().splitlines()), cmd
    a.transact("ok", "noop")
    a.expect_untagged_some("* 1 EXPUNGE")


# ---------------------------------------------------------------------------------------------
# Randomized: many clients at once, a model of what each must have been told.


def _stress_module():
    path = Path(__file__).resolve().parents[2] / "tools" / "imap_stress.py"
    spec = importlib.util.spec_from_file_location("imap_stress", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("imap_stress", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("churn", [False, True], ids=["steady", "churn"])
def test_random_clients(imap, churn):
    """A few seconds of tools/imap_stress.py against the harness's server: any NO [SERVERBUG],
    server error line (the harness), MODSEQ going back or sequence-number inconsistency fails.
    ``MOX_STRESS_SEED`` reruns the same random command choices."""
    stress = _stress_module()
    imap.start()
    seed = int(os.environ.get("MOX_STRESS_SEED", random.randrange(1 << 32)))
    args = stress.parse_args(["--clients", "4", "--seconds", "2.5", "--min-ops", "101", "--timeout", str(imap.timeout)]
                             + (["--churn"] if churn else []))
    world = stress.stress("127.0.0.1", imap.ports["imap"], args, seed)
    out = io.StringIO()
    failed = stress.report(world, seed, out)
    print(out.getvalue())
    # The clients did work: a busy machine makes the run longer (--min-ops), an idle server fails.
    assert sum(world.ops.values()) > 100, out.getvalue()
    if failed:
        pytest.fail(f"stress test found violations (rerun with MOX_STRESS_SEED={seed}):\n{out.getvalue()}",
                    pytrace=False)
