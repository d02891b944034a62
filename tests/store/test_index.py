"""The journal and snapshot: framing, recovery from torn or corrupt tails, snapshot + journal reload."""

from __future__ import annotations

import shutil
import struct
import zlib

import msgspec
import pytest
import trio
from storetest import msg

from mox.store import Store, StoreError
from mox.store.index import JOURNAL_MAGIC, SNAPSHOT_MAGIC, encode_txn, scan_journal
from mox.store.schema import Expunge, Mailbox, Txn


def state(acc):
    """Everything observable about an account's index, for comparing before and after reopening."""
    mbs = acc.mailboxes()
    return (
        mbs,
        {mb.id: [(m, bytes(m.part_raw)) for m in acc.messages(mb.id)] for mb in mbs},
        {mb.id: acc.expunged_uids(mb.id, 0) for mb in mbs},
        acc.disk_usage(),
        acc.highest_modseq(),
        acc.subscriptions(),
    )


def deliver(acc, n, **kw):
    return trio.run(lambda: acc.deliver("Inbox", msg(n), **kw))


def journal(acc):
    return acc.path / "index.journal"


def test_frame_layout():
    txn = Txn(7, 10, 3, 5, [Mailbox(1, "Inbox", 4), Expunge([8, 9], 3)])
    b = encode_txn(txn)
    n, crc = struct.unpack_from("<II", b)
    payload = b[8:]
    assert (n, crc) == (len(payload), zlib.crc32(payload))
    # Tagged, array-like msgpack records: ["txn", seq, next_id, ...].
    assert msgspec.msgpack.decode(payload)[:5] == ["txn", 7, 10, 3, 5]
    assert msgspec.msgpack.decode(payload)[5][1] == ["exp", [8, 9], 3]
    scan = scan_journal(JOURNAL_MAGIC + b + b)
    assert [t.seq for t, _ in scan.txns] == [7, 7]
    assert scan.valid_end == scan.size == len(JOURNAL_MAGIC) + 2 * len(b)
    assert scan.problem is None
    # Byte by byte: every prefix parses to the whole frames it contains, never raises.
    data = JOURNAL_MAGIC + b + b
    for cut in range(len(JOURNAL_MAGIC), len(data)):
        s = scan_journal(data[:cut])
        whole = (cut - len(JOURNAL_MAGIC)) // len(b)
        assert len(s.txns) == whole
        assert s.valid_end == len(JOURNAL_MAGIC) + whole * len(b)
        assert (s.problem is None) == (s.valid_end == cut)


def test_schema_evolution_new_field_with_default():
    """An old record decodes into a newer Struct that added a field with a default at the end."""

    class MailboxV2(Mailbox, tag="mb"):
        color: str = "none"

    old = msgspec.msgpack.encode(Mailbox(1, "Inbox", 4))
    assert msgspec.msgpack.decode(old, type=MailboxV2).color == "none"


def _account_with_journal(store, n):
    """Deliver n messages; return the account and the journal size after each delivery."""
    acc = store.open_account("mox")
    sizes = [journal(acc).stat().st_size]
    for i in range(n):
        deliver(acc, i)
        sizes.append(journal(acc).stat().st_size)
    return acc, sizes


@pytest.mark.parametrize("where", ["header", "payload", "last-byte"])
def test_recover_torn_tail(store, logs, where):
    acc, sizes = _account_with_journal(store, 4)
    acc.close()
    # What the account looked like with 3 messages: reopen a copy cut at the 3rd frame.
    start, end = sizes[3], sizes[4]
    cut = {"header": start + 3, "payload": (start + end) // 2, "last-byte": end - 1}[where]
    with open(journal(acc), "r+b") as f:
        f.truncate(cut)
    acc = store.open_account("mox")
    inbox = acc.mailbox("Inbox").id
    assert [m.uid for m in acc.messages(inbox)] == [1, 2, 3]  # only the torn, unacknowledged record is lost
    for m in acc.messages(inbox):
        assert acc.read_message(m) == msg(m.uid - 1)
    assert journal(acc).stat().st_size == start  # cut off at open
    line = [x for x in logs.getvalue().splitlines() if "journal tail cut off" in x]
    assert len(line) == 1
    assert line[0].startswith("warn: journal tail cut off; pkg=store; account=mox; reason=")
    assert f"valid_bytes={start}; dropped_bytes={cut - start}; seq=4" in line[0]
    assert acc.check_consistency() == []
    # The id of the lost message is handed out again; its stray file is replaced.
    m = deliver(acc, 99)
    assert m.uid == 4
    assert acc.read_message(m) == msg(99)
    assert acc.check_consistency() == []


def test_recover_corrupt_checksum(store, logs):
    acc, sizes = _account_with_journal(store, 4)
    acc.close()
    data = bytearray(journal(acc).read_bytes())
    data[sizes[2] + 20] ^= 0xFF  # inside the 3rd delivery's payload
    journal(acc).write_bytes(bytes(data))
    acc = store.open_account("mox")
    # Everything from the damaged frame on is dropped (it cannot be trusted), and logged.
    assert [m.uid for m in acc.messages(acc.mailbox("Inbox").id)] == [1, 2]
    assert "reason=\"checksum mismatch\"" in logs.getvalue()
    assert f"valid_bytes={sizes[2]}; dropped_bytes={len(data) - sizes[2]}" in logs.getvalue()
    assert acc.check_consistency() == []


def test_torn_journal_header(store, logs):
    acc = store.open_account("mox")
    deliver(acc, 1)
    acc.snapshot()
    acc.close()
    journal(acc).write_bytes(JOURNAL_MAGIC[:3])  # crashed while restarting the journal
    acc = store.open_account("mox")
    assert len(acc.messages(acc.mailbox("Inbox").id)) == 1
    assert "journal header incomplete" in logs.getvalue()
    assert journal(acc).read_bytes() == JOURNAL_MAGIC


def test_bad_magic(store):
    acc = store.open_account("mox")
    acc.close()
    journal(acc).write_bytes(b"NOTAJOURNAL")
    with pytest.raises(StoreError, match="bad magic"):
        store.open_account("mox")


def test_snapshot_and_journal_reload(store):
    acc = store.open_account("mox")
    inbox = acc.mailbox("Inbox").id

    async def work(first: int) -> None:
        for i in range(first, first + 5):
            await acc.deliver("Inbox", msg(i), flags=["k%d" % (i % 2)])
        await acc.store_flags(inbox, [first + 1, first + 2], "add", [r"\Seen"])
        await acc.expunge(inbox, [first + 3])
        await acc.create_mailbox(f"box{first}/sub")
        await acc.copy(inbox, [first + 1], acc.mailbox(f"box{first}/sub").id)
        await acc.set_password("secret%d" % first)
        await acc.set_subscribed(f"gone{first}/x", True)  # no such mailbox: a Subscription record
        await acc.set_subscribed(f"box{first}", False)

    trio.run(work, 1)
    acc.snapshot()
    snap = (acc.path / "index.snapshot").read_bytes()
    assert snap.startswith(SNAPSHOT_MAGIC)
    assert journal(acc).read_bytes() == JOURNAL_MAGIC  # restarted
    trio.run(work, 6)
    trio.run(lambda: acc.rename_mailbox("box1", "renamed"))
    before = state(acc)
    assert "gone1/x" in before[-1] and "gone6/x" in before[-1] and "box1" not in before[-1]
    assert scan_journal(journal(acc).read_bytes()).txns[0][0].seq == 14  # account creation, 10 writes, then the first after the snapshot
    acc.close()
    acc = store.open_account("mox")
    assert state(acc) == before
    assert acc.check_password("secret6")
    acc.close()


def test_crash_between_snapshot_and_journal_restart(store):
    """The snapshot is renamed into place before the journal restarts: an old journal next to a
    new snapshot must not apply its transactions twice."""
    acc = store.open_account("mox")
    for i in range(3):
        deliver(acc, i)
    old_journal = journal(acc).read_bytes()
    acc.snapshot()
    before = state(acc)
    acc.close()
    journal(acc).write_bytes(old_journal)
    acc = store.open_account("mox")
    assert state(acc) == before
    deliver(acc, 3)
    assert acc.check_consistency() == []
    acc.close()


def test_sequence_gap_is_cut(store, logs):
    acc = store.open_account("mox")
    deliver(acc, 1)
    acc.close()
    bogus = Txn(50, 100, 10, 100, [Mailbox(99, "Ghost", 1)])
    with open(journal(acc), "ab") as f:
        f.write(encode_txn(bogus))
    acc = store.open_account("mox")
    assert acc.mailbox("Ghost") is None
    assert "transaction sequence gap: 2 then 50" in logs.getvalue()
    acc.close()


def test_automatic_snapshot(data_dir, logs):
    with Store(data_dir, check_consistency_on_close=True, snapshot_threshold=4096) as s:
        s.create_account("mox")
        acc = s.open_account("mox")
        for i in range(40):
            deliver(acc, i)
        assert (acc.path / "index.snapshot").exists()
        assert journal(acc).stat().st_size < 8192
        before = state(acc)
        acc.close()
        acc = s.open_account("mox")
        assert state(acc) == before
        acc.close()


def test_second_opener_refused(store, data_dir):
    acc = store.open_account("mox")
    other = Store(data_dir)
    with pytest.raises(StoreError, match="in use"):
        other.open_account("mox")
    acc.close()
    other.open_account("mox").close()  # free again


def test_stray_tmp_files_removed(store, data_dir):
    (data_dir / "tmp" / "store-mox-7-123-abcd").write_bytes(b"partial")
    (data_dir / "tmp" / "queue-file").write_bytes(b"not ours")
    store.open_account("mox").close()
    assert sorted(p.name for p in (data_dir / "tmp").iterdir()) == ["queue-file"]


def test_copy_of_account_dir_opens(store, data_dir):
    """The account directory is self-contained (a backup is a copy)."""
    acc = store.open_account("mox")
    deliver(acc, 1)
    before = state(acc)
    acc.close()
    shutil.copytree(data_dir / "accounts" / "mox", data_dir / "accounts" / "copy")
    acc = store.open_account("copy")
    assert state(acc) == before
    acc.close()


def test_clean_close_marker_and_stray_sweep(store, logs):
    acc = store.open_account("mox")
    m = deliver(acc, 1)
    stray = acc.path / "msg" / "0" / "999"
    stray.write_bytes(b"left by a crashed write")
    (acc.path / "msg" / "0" / "notanid").write_bytes(b"x")
    assert acc.check_consistency() == ["stray file msg/0/999", "stray file msg/0/notanid"]
    stray.unlink()
    (acc.path / "msg" / "0" / "notanid").unlink()
    acc.close()
    # A clean close ends the journal with a Closed marker: no sweep at the next open.
    data = journal(acc).read_bytes()
    frames = scan_journal(data).txns
    assert type(frames[-1][0]).__name__ == "Closed"
    stray.write_bytes(b"x")
    acc = store.open_account("mox")
    assert stray.exists()
    stray.unlink()
    acc.close()
    assert journal(acc).read_bytes() == data  # opening and closing without writes adds nothing
    # Without the marker (a crash), stray files are removed at open, and logged.
    journal(acc).write_bytes(data[: frames[-2][1]])
    stray.write_bytes(b"x")
    acc = store.open_account("mox")
    assert not stray.exists()
    assert acc.read_message(m) == msg(1)
    assert "info: removed stray message files; pkg=store; account=mox; count=1" in logs.getvalue()
    acc.close()
