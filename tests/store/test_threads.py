"""Threads in the store (mox store/threads.go): assigned at delivery from Message-ID,
References/In-Reply-To and the subject, kept on copy and move, muted and collapsed per thread,
reassigned from the message files; old indexes get threads at open."""

from __future__ import annotations

import msgspec
import pytest

from mox.store import ChangeThread, MessageGone, Store
from mox.store import layout
from mox.store.index import encode_txn
from mox.store.schema import Message, Txn


def mail(mid: str, subject: str, *, refs: str = "", irt: str = "", body: str = "text", date: str = "") -> bytes:
    h = f"From: a@mox.example\r\nTo: mox@localhost\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
    if refs:
        h += f"References: {refs}\r\n"
    if irt:
        h += f"In-Reply-To: {irt}\r\n"
    return (h + f"\r\n{body}\r\n").encode()


def chain(acc, mailbox="Inbox"):
    m1 = acc.deliver_sync(mailbox, mail("1@x", "Hello"))
    m2 = acc.deliver_sync(mailbox, mail("2@x", "Re: Hello", refs="<1@x>", irt="<1@x>"))
    m3 = acc.deliver_sync(mailbox, mail("3@x", "Re: Re: hello", refs="<1@x> <2@x>", irt="<2@x>"))
    return m1, m2, m3


def test_reply_chain(acc):
    m1, m2, m3 = chain(acc)
    assert (m1.thread_id, m1.thread_parent_ids, m1.thread_missing_link) == (m1.id, (), False)
    assert (m2.thread_id, m2.thread_parent_ids, m2.thread_missing_link) == (m1.id, (m1.id,), False)
    assert (m3.thread_id, m3.thread_parent_ids, m3.thread_missing_link) == (m1.id, (m2.id, m1.id), False)
    assert (m3.message_id, m3.subject_base) == ("3@x", "hello")
    assert [m.id for m in acc.thread_messages(m1.id)] == [m1.id, m2.id, m3.id]
    # A reply that changes the subject starts its own thread (mox: base subjects must match).
    other = acc.deliver_sync("Inbox", mail("4@x", "Something else", refs="<1@x>"))
    assert (other.thread_id, other.thread_missing_link) == (other.id, True)
    # The parent arrives later than the reply: missing link, own thread (matching is at delivery).
    late = acc.deliver_sync("Inbox", mail("6@x", "Re: later", refs="<5@x>"))
    assert (late.thread_id, late.thread_missing_link) == (late.id, True)
    # A missing intermediate message: the ancestor before it is found, the link is missing.
    m7 = acc.deliver_sync("Inbox", mail("7@x", "Re: hello", refs="<1@x> <2@x> <gone@x>"))
    assert (m7.thread_id, m7.thread_parent_ids, m7.thread_missing_link) == (m1.id, (m2.id, m1.id), True)
    # In-Reply-To alone.
    m8 = acc.deliver_sync("Inbox", mail("8@x", "Re: hello", irt="<3@x>"))
    assert m8.thread_parent_ids == (m3.id, m2.id, m1.id)
    # The same Message-ID again (a duplicate): in the thread of the first.
    dup = acc.deliver_sync("Archive", mail("1@x", "Hello"))
    assert (dup.thread_id, dup.thread_parent_ids, dup.thread_missing_link) == (m1.id, (m1.id,), True)


def test_subject_only(acc):
    m1 = acc.deliver_sync("Inbox", mail("a@x", "Report"), received=1_000_000)
    m2 = acc.deliver_sync("Inbox", mail("b@x", "Re: Report"), received=1_000_100)
    m3 = acc.deliver_sync("Inbox", mail("c@x", "RE: [list] report"), received=1_000_200)
    assert (m2.thread_id, m2.thread_parent_ids, m2.thread_missing_link) == (m1.id, (m1.id,), True)
    # The most recent message with the base subject is the parent.
    assert (m3.thread_id, m3.thread_parent_ids) == (m1.id, (m2.id, m1.id))
    # Not a response: its own thread, even with the same base subject.
    same = acc.deliver_sync("Inbox", mail("d@x", "report"), received=1_000_300)
    assert same.thread_id == same.id
    # Other mailbox, or more than 4 weeks later: no match.
    other_mb = acc.deliver_sync("Archive", mail("e@x", "Re: Report"), received=1_000_400)
    assert other_mb.thread_id == other_mb.id
    late = acc.deliver_sync("Inbox", mail("f@x", "Re: Report"), received=1_000_000 + 29 * 86400)
    assert late.thread_id == late.id


def test_copy_move_keep_thread(acc):
    m1, m2, m3 = chain(acc)
    arch = acc.mailbox("Archive")
    inbox = acc.mailbox("Inbox")
    [(_, cuid)] = acc.copy_sync(inbox.id, [m2.uid], arch.id)
    c2 = acc.message(arch.id, cuid)
    assert (c2.thread_id, c2.thread_parent_ids, c2.preview) == (m1.id, (m1.id,), "text\n")
    # Moving the root: the thread id stays, children point at its new id.
    [(_, nuid)] = acc.move_sync(inbox.id, [m1.uid], arch.id)
    n1 = acc.message(arch.id, nuid)
    assert n1.thread_id == m1.id and n1.id != m1.id
    assert acc.message(inbox.id, m2.uid).thread_parent_ids == (n1.id,)
    assert acc.message(inbox.id, m3.uid).thread_parent_ids == (m2.id, n1.id)
    assert acc.message(arch.id, cuid).thread_parent_ids == (n1.id,)
    # A new reply finds the moved root through its Message-ID.
    r = acc.deliver_sync("Inbox", mail("9@x", "Re: hello", refs="<1@x>"))
    assert (r.thread_id, r.thread_parent_ids) == (m1.id, (n1.id,))
    assert acc.check_consistency() == []


def test_mute_and_collapse(acc):
    m1, m2, m3 = chain(acc)
    sub = acc.subscribe()
    # Muting a message mutes it and its descendants, and collapses them (mox ThreadMute).
    changed = acc.set_thread_muted_sync([m2.id], True)
    assert [m.id for m in changed] == [m2.id, m3.id]
    assert sub.pending() == [ChangeThread((m2.id,), True, True), ChangeThread((m3.id,), True, True)]
    assert not acc.message_by_id(m1.id).thread_muted
    # A new message of the muted (sub)thread arrives \Seen, muted and collapsed.
    m4 = acc.deliver_sync("Inbox", mail("4@x", "Re: hello", refs="<1@x> <2@x> <3@x>"))
    assert "\\Seen" in m4.flags and m4.thread_muted and m4.thread_collapsed
    assert acc.mailbox("Inbox").unseen == 3
    # Not below the muted message: not muted.
    m5 = acc.deliver_sync("Inbox", mail("5@x", "Re: hello", refs="<1@x>"))
    assert "\\Seen" not in m5.flags and not m5.thread_muted
    acc.set_thread_muted_sync([m1.id], True)
    acc.set_thread_muted_sync([m1.id], False)
    assert all(not m.thread_muted and m.thread_collapsed for m in acc.thread_messages(m1.id))
    acc.set_thread_collapsed_sync([m1.id], False)
    assert not any(m.thread_collapsed for m in acc.thread_messages(m1.id))
    assert acc.set_thread_collapsed_sync([m1.id], False) == []  # nothing to change
    with pytest.raises(MessageGone):
        acc.set_thread_muted_sync([12345], True)
    acc.expunge_sync(acc.mailbox("Inbox").id, [m5.uid])
    with pytest.raises(MessageGone):
        acc.set_thread_collapsed_sync([m5.id], True)
    sub.close()


def test_thread_settings_durable(data_dir, store):
    acc = store.open_account("mox")
    m1, m2, m3 = chain(acc)
    acc.set_thread_muted_sync([m1.id], True)
    acc.close()
    store.close()
    s2 = Store(data_dir, check_consistency_on_close=True)
    acc = s2.open_account("mox")
    assert all(m.thread_muted for m in acc.thread_messages(m1.id))
    m4 = acc.deliver_sync("Inbox", mail("4@x", "Re: hello", refs="<3@x>"))
    assert "\\Seen" in m4.flags
    acc.close()
    s2.close()


def test_reassign(acc):
    m1, m2, m3 = chain(acc)
    # The child arrived before its parent, so matching at delivery could not link it.
    c = acc.deliver_sync("Inbox", mail("11@x", "Re: news", refs="<10@x>"))
    p = acc.deliver_sync("Inbox", mail("10@x", "News"))
    assert c.thread_id == c.id and p.thread_id == p.id
    acc.set_thread_muted_sync([m1.id], True)
    lines: list[str] = []
    n, changed = acc.reassign_threads_sync(lines.append)
    assert (n, changed) == (5, 1)
    assert lines == [
        "New thread base subject assigned to 5 message(s), starting to reassign threads...",
        "assigning threads, done: 5 messages",
    ]
    c2 = acc.message_by_id(c.id)
    assert (c2.thread_id, c2.thread_parent_ids, c2.thread_missing_link) == (p.id, (p.id,), False)
    # Unchanged: the chain, and its mute setting.
    assert acc.message_by_id(m3.id).thread_parent_ids == (m2.id, m1.id)
    assert acc.message_by_id(m3.id).thread_muted
    assert acc.reassign_threads_sync() == (5, 0)


def test_reassign_cycle(acc):
    # Two messages that reference each other: the first by Message-ID becomes the root.
    a = acc.deliver_sync("Inbox", mail("a@x", "Loop", refs="<b@x>"))
    b = acc.deliver_sync("Inbox", mail("b@x", "Loop", refs="<a@x>"))
    acc.reassign_threads_sync()
    a2, b2 = acc.message_by_id(a.id), acc.message_by_id(b.id)
    assert a2.thread_id == b2.thread_id == a.id
    assert (a2.thread_parent_ids, b2.thread_parent_ids) == ((), (a.id,))
    assert acc.check_consistency() == []


def test_old_index_gets_threads(data_dir, logs):
    """An index written before threads (messages without the new fields, as msgpack arrays
    that end at part_raw) loads, and the messages get threads at open."""
    s = Store(data_dir, check_consistency_on_close=False)
    s.create_account("mox")
    acc = s.open_account("mox")
    m1, m2, m3 = chain(acc)
    inbox = acc.mailbox("Inbox")
    acc.close()
    s.close()
    # Rewrite the journal as an older version wrote it: message records with 10 fields.
    jpath = data_dir / "accounts" / "mox" / layout.JOURNAL_NAME
    from mox.store.index import JOURNAL_MAGIC, scan_journal

    scan = scan_journal(jpath.read_bytes())
    enc = msgspec.msgpack.Encoder()
    frames = []
    for txn, _ in scan.txns:
        if not isinstance(txn, Txn):
            continue
        recs = []
        for r in txn.records:
            if isinstance(r, Message):
                r = ["msg", r.id, r.mailbox_id, r.uid, r.modseq, r.createseq, list(r.flags), r.size, r.received,
                     r.expunged, msgspec.Raw(bytes(r.part_raw))]  # fmt: skip
            else:
                r = msgspec.msgpack.decode(enc.encode(r))
            recs.append(r)
        payload = enc.encode(["txn", txn.seq, txn.next_id, txn.last_modseq, txn.next_uidvalidity, recs, []])
        import struct
        import zlib

        frames.append(struct.pack("<II", len(payload), zlib.crc32(payload)) + payload)
    jpath.write_bytes(JOURNAL_MAGIC + b"".join(frames))
    (data_dir / "accounts" / "mox" / layout.SNAPSHOT_NAME).unlink(missing_ok=True)
    s = Store(data_dir, check_consistency_on_close=True)
    acc = s.open_account("mox")
    old3 = acc.message(inbox.id, m3.uid)
    assert (old3.thread_id, old3.thread_parent_ids, old3.message_id) == (m1.id, (m2.id, m1.id), "3@x")
    # No preview was stored; it is made on first use.
    assert old3.preview is None
    assert acc.preview(old3) == "text\n"
    assert acc.message(inbox.id, m3.uid).preview == "text\n"
    acc.close()
    s.close()
    s = Store(data_dir, check_consistency_on_close=True)
    acc = s.open_account("mox")
    assert acc.message(inbox.id, m3.uid).preview == "text\n"  # stored with the close
    acc.close()
    s.close()
    assert "assigned threads to messages stored before threads" in logs.getvalue()
