"""SAVEDATE (RFC 8514): FETCH SAVEDATE, SEARCH SAVEDBEFORE/SAVEDON/SAVEDSINCE and
SAVEDATESUPPORTED. The save date is when the message entered its mailbox (delivery, APPEND,
COPY, MOVE), kept in the index with the message; messages of an index written before we kept
it have none (FETCH gives NIL, SAVED* search their internal date, as mox does)."""

from __future__ import annotations

import datetime
import struct
import time
import zlib

import msgspec

from mox.imap import wire
from mox.store import Store, layout
from mox.store.index import JOURNAL_MAGIC, SNAPSHOT_MAGIC

DAY = 86400


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%d-%b-%Y")


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "SAVEDATE" in tc.untagged[0][1].decode().split()


def test_fetch_and_search(imap):
    long_ago = time.time() - 400 * DAY
    imap.deliver(b"Subject: old\r\n\r\nx\r\n", received=long_ago)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    acc = imap.account
    m = acc.messages(acc.mailbox("Inbox").id)[0]
    assert m.saved >= m.received + 399 * DAY  # saved now, received long ago
    # RFC 8514 3: FETCH SAVEDATE is a date-time like INTERNALDATE.
    tc.transact("ok", "fetch 1 (savedate internaldate)")
    tc.expect_untagged(
        f'* 1 FETCH (SAVEDATE "{wire.date_time(m.saved)}" INTERNALDATE "{wire.date_time(m.received)}")'
    )
    # RFC 8514 4: SAVED* compare the save date's calendar date, not the internal date.
    tc.transact("ok", f"search savedon {today()}")
    tc.expect_untagged("* SEARCH 1")
    tc.transact("ok", f"search savedsince {today()}")
    tc.expect_untagged("* SEARCH 1")
    tc.transact("ok", f"search savedbefore {today()}")
    tc.expect_untagged("* SEARCH")
    tc.transact("ok", f"search on {today()}")
    tc.expect_untagged("* SEARCH")
    tc.transact("ok", "search savedatesupported")
    tc.expect_untagged("* SEARCH 1")
    tc.transact("ok", 'search savedsince "1-Jan-2000" not savedsince 1-Jan-2100')
    tc.expect_untagged("* SEARCH 1")
    for bad in ("savedon", "savedon 32-Jan-2020", "savedbefore yesterday", "savedsince"):
        tc.transact("bad", f"search {bad}")


def test_copy_and_move_save_anew(imap):
    imap.deliver(b"Subject: a\r\n\r\nx\r\n")
    acc = imap.account
    first = acc.messages(acc.mailbox("Inbox").id)[0]
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    time.sleep(1.1)  # save dates have a resolution of seconds on the wire
    tc.transact("ok", "copy 1 Archive")
    tc.transact("ok", "move 1 Trash")
    for name in ("Archive", "Trash"):
        m = acc.messages(acc.mailbox(name).id)[0]
        assert m.saved > first.saved and m.received == first.received
        tc.transact("ok", f"examine {name}")
        tc.transact("ok", "fetch 1 savedate")
        tc.expect_untagged(f'* 1 FETCH (SAVEDATE "{wire.date_time(m.saved)}")')
    # APPEND saves now too, whatever internal date it gives.
    tc.transact("ok", 'append Drafts "01-Jan-2001 10:00:00 +0000" {3+}\r\nx\r\n')
    m = acc.messages(acc.mailbox("Drafts").id)[0]
    assert m.saved > time.time() - 60 and m.received == 978343200


def _downgrade(path, magic: bytes) -> None:
    """Rewrite an index file as an index of before SAVEDATE: message records without the
    save date (the last field of the array)."""
    data = path.read_bytes()
    assert data[:8] == magic
    out = bytearray(magic)
    pos = 8
    while pos < len(data):
        n, _crc = struct.unpack_from("<II", data, pos)
        payload = msgspec.msgpack.decode(data[pos + 8 : pos + 8 + n])
        pos += 8 + n

        def strip(v):
            if isinstance(v, list):
                if v and v[0] == "msg":
                    v = v[:-1]
                return [strip(x) for x in v]
            if isinstance(v, dict):
                return {k: strip(x) for k, x in v.items()}
            return v

        p = msgspec.msgpack.encode(strip(payload))
        out += struct.pack("<II", len(p), zlib.crc32(p)) + p
    path.write_bytes(bytes(out))


def test_index_from_before_savedate(imap):
    # An account written without save dates opens, its messages have none: FETCH gives NIL,
    # SAVEDATESUPPORTED leaves them out, SAVED* search their internal date (RFC 8514 4).
    received = time.time() - 10 * DAY
    store = Store(imap.data_dir, fsync=False)
    store.create_account("mox")
    acc = store.open_account("mox")
    acc.deliver_sync("Inbox", b"Subject: before\r\n\r\nx\r\n", received=received)
    acc.close()
    store.close()
    d = imap.data_dir / "accounts" / "mox"
    downgraded = 0
    for name, magic in ((layout.JOURNAL_NAME, JOURNAL_MAGIC), ("index.snapshot", SNAPSHOT_MAGIC)):
        if (d / name).exists():
            _downgrade(d / name, magic)
            downgraded += 1
    assert downgraded
    imap.deliver(b"Subject: after\r\n\r\ny\r\n")
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "fetch 1:2 (uid savedate)")
    m2 = imap.account.messages(imap.account.mailbox("Inbox").id)[1]
    tc.expect_untagged("* 1 FETCH (UID 1 SAVEDATE NIL)", f'* 2 FETCH (UID 2 SAVEDATE "{wire.date_time(m2.saved)}")')
    tc.transact("ok", "search savedatesupported")
    tc.expect_untagged("* SEARCH 2")
    tc.transact("ok", "search not savedatesupported")
    tc.expect_untagged("* SEARCH 1")
    day = datetime.datetime.fromtimestamp(received, datetime.timezone.utc).strftime("%d-%b-%Y")
    tc.transact("ok", f"search savedon {day}")
    tc.expect_untagged("* SEARCH 1")
