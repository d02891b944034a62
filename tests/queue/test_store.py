"""The queue's durable store: journal replay, torn tails, compaction, orphan message files."""

from __future__ import annotations

import email
import email.policy
import errno

from mox.message import check_message
from mox.queue import Entry, QueueStore, RecipientStatus, compose_dsn


def entry(i: int, file: str, rcpt: str = "a@example.com") -> Entry:
    return Entry(id=i, account="mox", mail_from="mox@localhost", recipient=rcpt, file=file, size=5, queued=1.0, next_attempt=1.0)


def test_put_remove_reopen(tmp_path):
    qs = QueueStore(tmp_path)
    ids = qs.allocate_ids(2)
    assert ids == [1, 2]
    qs.write_message("1", b"hello")
    qs.put([entry(1, "1"), entry(2, "1", "b@example.com")])
    qs.close()

    qs = QueueStore(tmp_path)
    assert sorted(qs.entries) == [1, 2]
    assert qs.read_message(qs.entries[2]) == b"hello"
    assert qs.allocate_ids(1) == [3]
    qs.remove([1])
    assert (tmp_path / "queue" / "msg" / "1").exists()  # still used by entry 2
    qs.remove([2, 99])
    assert not (tmp_path / "queue" / "msg" / "1").exists()
    qs.close()
    qs = QueueStore(tmp_path)
    assert qs.entries == {}
    qs.close()


def test_sent_copy_record_keeps_the_file(tmp_path):
    """A Sent copy still to be stored keeps the queue file after its entries are gone, also
    across reopening (replay and compaction); its removal removes the file."""
    from mox.queue.store import Changes, SentCopy

    qs = QueueStore(tmp_path)
    qs.allocate_ids(1)
    qs.write_message("1", b"hello")
    ch = Changes(puts=[entry(1, "1")], sent_copies=[SentCopy(id=1, account="mox", file="1", prefix=b"Bcc: x\r\n")])
    qs.write_journal(ch)
    qs.remove_files(qs.apply(ch))
    qs.remove([1])
    assert (tmp_path / "queue" / "msg" / "1").exists()
    qs.close()
    qs = QueueStore(tmp_path)
    assert qs.entries == {}
    assert qs.sent_copies == {1: SentCopy(id=1, account="mox", file="1", prefix=b"Bcc: x\r\n")}
    assert qs.read_file("1") == b"hello"
    ch = Changes(sent_copies_done=[1])
    qs.write_journal(ch)
    qs.remove_files(qs.apply(ch))
    assert not (tmp_path / "queue" / "msg" / "1").exists()
    qs.close()
    qs = QueueStore(tmp_path)
    assert qs.sent_copies == {}
    qs.close()


def test_torn_journal_tail_and_orphans(tmp_path):
    qs = QueueStore(tmp_path)
    qs.write_message("1", b"one")
    qs.put([entry(1, "1")])
    qs.write_message("2", b"two")  # crash before its journal record: an orphan file
    qs.close()
    journal = tmp_path / "queue" / "index.journal"
    data = journal.read_bytes()
    # A crash in the middle of appending the next record leaves half a line.
    journal.write_bytes(data + data[: len(data) // 2])
    qs = QueueStore(tmp_path)
    assert list(qs.entries) == [1]
    assert not (tmp_path / "queue" / "msg" / "2").exists()
    assert qs.allocate_ids(1) == [2]
    qs.close()
    # Reopening compacted the journal: the id counter and exactly one complete entry record.
    import json

    assert [json.loads(line)["op"] for line in journal.read_bytes().splitlines()] == ["next", "put"]
    assert journal.read_bytes().endswith(b"}\n")


def test_update_record_wins(tmp_path):
    qs = QueueStore(tmp_path)
    qs.write_message("1", b"x")
    qs.put([entry(1, "1")])
    e = entry(1, "1")
    e.attempts = 2
    e.last_error = "451 4.0.0 later"
    qs.put([e])
    qs.close()
    qs = QueueStore(tmp_path)
    assert qs.entries[1].attempts == 2 and qs.entries[1].last_error == "451 4.0.0 later"
    qs.close()


def test_compose_dsn():
    orig = b"Subject: hi\r\nFrom: mox@localhost\r\n\r\nbody\r\n"
    dsn = compose_dsn(
        hostname="localhost",
        to="mox@localhost",
        original=orig,
        statuses=[RecipientStatus("x@example.com", "failed", "5.1.1", "550 5.1.1 no such user", orcpt="rfc822;x@example.com", last_attempt=0)],
        arrival=0,
        envid="e1",
        now=0,
    )
    check_message(dsn)  # a DSN we generate passes our own pedantic checks
    m = email.message_from_bytes(dsn, policy=email.policy.default)
    assert m["From"] == "postmaster <postmaster@localhost>"
    assert m["Subject"] == "mail delivery failed"
    assert m.get_content_type() == "multipart/report"
    text, status, original = m.iter_parts()
    assert "x@example.com" in text.get_content()
    s = status.as_bytes()
    for field in (
        b"Reporting-MTA: dns; localhost",
        b"Original-Envelope-Id: e1",
        b"Original-Recipient: rfc822;x@example.com",
        b"Final-Recipient: rfc822; x@example.com",
        b"Action: failed",
        b"Status: 5.1.1",
        b"Diagnostic-Code: smtp; 550 5.1.1 no such user",
    ):
        assert field in s
    assert original.get_content_type() == "message/rfc822"
    assert dsn.endswith(orig + b"\r\n--" + m.get_boundary().encode() + b"--\r\n")
    assert original.get_content().as_bytes().endswith(b"\n\nbody\n")
    hdrs = compose_dsn(hostname="localhost", to="a@b", original=orig, statuses=[], arrival=0, ret="HDRS", smtputf8=True)
    assert b"Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\nFrom: mox@localhost\r\n\r\n--mox-" in hdrs
    assert b"Content-Type: message/global-delivery-status" in hdrs


def test_sent_records_and_ids_survive_reopen(tmp_path):
    """Recipients submitted in the last 24 h (daily limits) and the id counter outlive a restart,
    also when the queue was empty; older records leave the window at compaction, but the first
    one of each recipient stays (first-time recipients), twice over."""
    import time

    qs = QueueStore(tmp_path)
    now = time.time()
    sent = [(now - 26 * 3600, "old", "a@x"), (now - 25 * 3600, "old", "a@x"), (now, "mox", "b@x")]
    qs.write_message("1", b"hello")
    qs.write_journal(puts=[entry(1, "1")], sent=sent)
    qs.apply(puts=[entry(1, "1")], sent=sent)
    qs.remove([1])
    qs.close()

    for _ in range(2):  # the second time from the compacted journal
        qs = QueueStore(tmp_path)
        assert qs.entries == {}
        assert list(qs.sent) == [(now, "mox", "b@x")]
        assert qs.first_sent == {("old", "a@x"): now - 26 * 3600, ("mox", "b@x"): now}
        assert qs.allocate_ids(1) == [2]  # not 1 again
        qs.close()


# --- a full disk -------------------------------------------------------------------------------


def test_disk_full_message_file(tmp_path):
    from tests.diskspace import DiskSpace

    qs = QueueStore(tmp_path)
    with DiskSpace(3):
        try:
            qs.write_message("1", b"hello")
        except OSError as e:
            assert e.errno == errno.ENOSPC
        else:
            raise AssertionError("no ENOSPC")
    assert list((tmp_path / "queue" / "msg").iterdir()) == []  # no torn file, temporary or not
    qs.write_message("1", b"hello")
    qs.close()


def test_disk_full_journal_append_cut_back(tmp_path):
    """A journal append that does not fit is cut back: no torn line stays in front of the next
    record (a line appended after a torn one would be unreadable), nothing of it is applied."""
    from tests.diskspace import DiskSpace

    qs = QueueStore(tmp_path)
    qs.write_message("1", b"one")
    qs.put([entry(1, "1")])
    journal = tmp_path / "queue" / "index.journal"
    size = journal.stat().st_size
    with DiskSpace(20, only=lambda p: p.name == "index.journal"):
        try:
            qs.put([entry(2, "1", "b@example.com")])
        except OSError as e:
            assert e.errno == errno.ENOSPC
        else:
            raise AssertionError("no ENOSPC")
    assert journal.stat().st_size == size
    assert sorted(qs.entries) == [1]
    qs.put([entry(3, "1", "c@example.com")])  # space again
    qs.close()
    qs = QueueStore(tmp_path)
    assert sorted(qs.entries) == [1, 3]
    qs.close()


def test_disk_full_compaction_keeps_old_journal(tmp_path):
    """Opening compacts the journal through a new file; when that does not fit, the old journal
    stays (a torn last line cut off) and the queue works on."""
    from tests.diskspace import DiskSpace

    qs = QueueStore(tmp_path)
    token = qs.token
    qs.write_message("1", b"one")
    qs.put([entry(1, "1"), entry(2, "1", "b@example.com")])
    qs.remove([2])
    qs.close()
    journal = tmp_path / "queue" / "index.journal"
    journal.write_bytes(journal.read_bytes() + b'{"op":"put","ent')  # a crash mid-append
    with DiskSpace(0, only=lambda p: p.name == "index.journal.tmp"):
        qs = QueueStore(tmp_path)
    assert sorted(qs.entries) == [1] and qs.token == token
    assert not (tmp_path / "queue" / "index.journal.tmp").exists()
    assert journal.read_bytes().endswith(b"\n")  # the torn line is gone
    qs.put([entry(4, "1", "d@example.com")])
    qs.close()
    qs = QueueStore(tmp_path)  # now it compacts
    assert sorted(qs.entries) == [1, 4] and qs.token == token
    qs.close()


def test_token_survives_and_is_new_for_a_new_queue(tmp_path):
    qs = QueueStore(tmp_path / "a")
    t = qs.token
    qs.close()
    qs = QueueStore(tmp_path / "a")
    assert qs.token == t and len(t) == 12
    qs.close()
    other = QueueStore(tmp_path / "b")
    assert other.token != t
    other.close()


def test_delivered_message_files_removed_off_the_event_loop(tmp_path, monkeypatch):
    """The queue's files of delivered messages are removed in a worker thread, after the
    journal record that dequeued them (a crash in between leaves them to the next start:
    tests/queue/test_crash_points.py, point queue-unlink)."""
    import smtplib
    import threading
    import time

    from mox.testing import LocalServer

    calls: list[tuple[threading.Thread, list[str]]] = []
    remove_files = QueueStore.remove_files

    def recording(self, paths):
        calls.append((threading.current_thread(), [p.name for p in paths]))
        remove_files(self, paths)

    monkeypatch.setattr(QueueStore, "remove_files", recording)
    with LocalServer(tmp_path / "data") as srv:
        loop_thread = srv.run_sync_in_server(threading.current_thread)
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as c:
            c.login("mox@localhost", "moxmoxmox")
            msg = b"From: <mox@localhost>\r\nTo: <mox@localhost>\r\nSubject: x\r\nMessage-ID: <x@localhost>\r\n\r\nhello\r\n"
            c.sendmail("mox@localhost", ["mox@localhost"], msg)
        q = srv.ctx.queue
        deadline = time.monotonic() + 30
        # The file goes with the journal write after the last record naming it (its entry's
        # removal, the Sent copy's record), at most a second later (the timer's).
        while (q.list() or list(q.store.msg_dir.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert q.list() == []
        assert list(q.store.msg_dir.iterdir()) == []
    assert [names for _, names in calls] == [["1"]]
    assert all(t is not loop_thread for t, _ in calls)


def test_send_limits_per_account(tmp_path):
    """Each account's window counts only its own recipients, also after reopening; records
    older than a day leave the window."""
    import time

    from mox.queue.store import SENT_KEEP, Changes

    t0 = time.time() - 100  # reopening drops what is older than a day by the clock
    qs = QueueStore(tmp_path)
    ch = Changes(sent=[(t0, "a", "x@example.org"), (t0 + 1, "b", "y@example.org"), (t0 + 2, "a", "z@example.org")])
    qs.write_journal(ch)
    qs.apply(ch)
    assert qs.send_limit_reached("a", ["w@example.org"], 3, None, t0 + 50) == (None, None)
    assert qs.send_limit_reached("a", ["w@example.org", "v@example.org"], 3, None, t0 + 50) == (3, None)
    assert qs.send_limit_reached("b", ["w@example.org", "v@example.org"], 3, None, t0 + 50) == (None, None)
    qs.close()
    qs = QueueStore(tmp_path)
    assert qs.send_limit_reached("a", ["w@example.org", "v@example.org"], 3, None, t0 + 50) == (3, None)
    # A day after the first: x is out of the window, z still in it.
    later = t0 + SENT_KEEP + 1
    assert qs.send_limit_reached("a", ["w@example.org", "v@example.org"], 3, None, later) == (None, None)
    assert qs.send_limit_reached("a", ["w@example.org", "v@example.org", "u@example.org"], 3, None, later) == (3, None)
    qs.close()


def test_unsynced_removal_keeps_file_until_fsync(tmp_path, monkeypatch):
    """A removal appended without fsync (sync=False) is fsynced by the next fsynced append; the
    file its records no longer name is removed only then (a crash of the machine before it
    brings the record back, with its file)."""
    import os

    from mox.queue import store as store_mod
    from mox.queue.store import Changes

    fsyncs: list[int] = []
    real = os.fsync
    monkeypatch.setattr(store_mod.os, "fsync", lambda fd: (fsyncs.append(fd), real(fd)))
    qs = QueueStore(tmp_path)
    qs.allocate_ids(2)
    qs.write_message("1", b"one")
    qs.put([entry(1, "1")])
    fsyncs.clear()
    ch = Changes(removes=[1])
    qs.write_journal(ch, sync=False)
    qs.defer_removal(qs.apply(ch))
    assert fsyncs == [] and qs.unsynced
    assert (tmp_path / "queue" / "msg" / "1").exists()
    qs.write_message("2", b"two")
    ch = Changes(puts=[entry(2, "2")])
    qs.write_journal(ch)  # fsynced: the earlier removal with it
    qs.defer_removal(qs.apply(ch))
    assert not qs.unsynced
    assert not (tmp_path / "queue" / "msg" / "1").exists()
    # An fsync of its own when nothing else comes (the Queue's timer writes no records).
    ch = Changes(removes=[2])
    qs.write_journal(ch, sync=False)
    qs.defer_removal(qs.apply(ch))
    assert (tmp_path / "queue" / "msg" / "2").exists()
    qs.write_journal(Changes())
    assert not qs.unsynced and not (tmp_path / "queue" / "msg" / "2").exists()
    qs.close()
    qs = QueueStore(tmp_path)
    assert qs.entries == {}
    qs.close()
