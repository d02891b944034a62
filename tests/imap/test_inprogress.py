"""INPROGRESS (RFC 9585): a long SEARCH or ESEARCH tells the client how far it got, in untagged
OK responses with the command's tag, the items done and the goal, written while the command
runs. The interval (1 s by default) is lowered to 0 here, so every step reports."""

from __future__ import annotations

import pytest

from mox.imap import session
from mox.imap.responses import CodeInProgress, UntaggedResult


@pytest.fixture
def every_step(monkeypatch):
    monkeypatch.setattr(session, "INPROGRESS_INTERVAL", 0.0)


def progress(tc) -> list[CodeInProgress]:
    return [r.code for r, _ in tc.untagged if isinstance(r, UntaggedResult) and isinstance(r.code, CodeInProgress)]


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "INPROGRESS" in tc.untagged[0][1].decode().split()


def test_search_reports_progress(imap, every_step, monkeypatch):
    from mox.imap import cmd_search

    # Files are read in batches (a worker thread each), progress is told between batches.
    monkeypatch.setattr(cmd_search, "SEARCH_BATCH", {k: 1 for k in cmd_search.SEARCH_BATCH})
    for i in range(3):
        imap.deliver(b"Subject: x\r\n\r\nbody %d\r\n" % i)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "SEARCH BODY body")
    t = tc.result.tag
    assert progress(tc) == [CodeInProgress(t, 0, 3), CodeInProgress(t, 1, 3), CodeInProgress(t, 2, 3)]
    assert tc.untagged[0][1] == f'* OK [INPROGRESS ("{t}" 0 3)] still searching'.encode()
    assert tc.untagged[-1][1] == b"* SEARCH 1 2 3"  # the result after the progress
    # A tag with "]" cannot be quoted in a response code: NIL (RFC 9585 3, as mox).
    tc.write_line("a]1 SEARCH BODY body")
    lines = [tc.read_line() for _ in range(5)]
    assert lines[0] == "* OK [INPROGRESS (NIL 0 3)] still searching" and lines[-1] == "a]1 OK SEARCH done"


def test_esearch_reports_progress_over_mailboxes(imap, every_step):
    imap.deliver(b"Subject: a\r\n\r\nx\r\n")
    imap.deliver(b"Subject: b\r\n\r\nx\r\n", mailbox="Archive")
    tc = imap.connect()
    tc.transact("ok", "ESEARCH IN (mailboxes (Inbox Archive)) ALL")
    t = tc.result.tag
    assert progress(tc) == [CodeInProgress(t, 0, 2), CodeInProgress(t, 1, 2)]
