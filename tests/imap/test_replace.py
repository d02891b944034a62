"""REPLACE and UID REPLACE (RFC 8508): a new message appended and the old one expunged in one
transaction. The RFC's examples (section 3.5: a draft replaced in the selected mailbox, and in
another mailbox; with QRESYNC) and the edge cases: "*", a missing mailbox, a read-only
mailbox, sequence numbers and UIDs that name no message, a message another session expunged,
bad syntax after the literal, the quota, and what another session sees."""

from __future__ import annotations

from tests.imap.test_append_stream import big_message, raw, tmp_files

DRAFT1 = b"Subject: draft\r\nFrom: me@example.org\r\n\r\nfirst version\r\n"
DRAFT2 = b"Subject: draft\r\nFrom: me@example.org\r\n\r\nsecond version, longer\r\n"


def lit(data: bytes) -> bytes:
    return f"{{{len(data)}+}}\r\n".encode() + data


def bodies(imap, mailbox: str) -> dict[int, bytes]:
    acc = imap.account
    return {m.uid: acc.read_message(m) for m in acc.messages(acc.mailbox(mailbox).id)}


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "REPLACE" in tc.untagged[0][1].decode().split()


def test_rfc8508_same_mailbox(imap):
    tc = imap.connect()
    raw(tc, "ok", b"A003 APPEND Drafts (\\Seen \\Draft) " + lit(DRAFT1))
    v = imap.account.mailbox("Drafts").uidvalidity
    tc.transact("ok", "SELECT Drafts")
    # RFC 8508 3.5: the replacement's APPENDUID in an untagged OK, its EXISTS, then the
    # expunge of the old message; the new message gets the flags given, not the old ones.
    lines = raw(tc, "ok", b"A005 REPLACE 1 Drafts (\\Seen \\Draft) " + lit(DRAFT2))
    assert lines == [f"* OK [APPENDUID {v} 2] replacement message", "* 2 EXISTS", "* 1 EXPUNGE", "A005 OK REPLACE done"]
    assert bodies(imap, "Drafts") == {2: DRAFT2}
    tc.transact("ok", "fetch 1 (uid flags)")
    tc.expect_untagged("* 1 FETCH (UID 2 FLAGS (\\Seen \\Draft \\Recent))")


def test_rfc8508_other_mailbox_and_uid(imap):
    tc = imap.connect()
    raw(tc, "ok", b"a1 APPEND Drafts " + lit(DRAFT1) + b" " + lit(DRAFT1))
    tc.transact("ok", "SELECT Drafts")
    v = imap.account.mailbox("Sent").uidvalidity
    # UID REPLACE into another mailbox: no EXISTS here, the old message is expunged here.
    lines = raw(tc, "ok", b"a2 UID REPLACE 2 Sent " + lit(DRAFT2))
    assert lines == [f"* OK [APPENDUID {v} 1] replacement message", "* 2 EXPUNGE", "* 1 RECENT", "a2 OK REPLACE done"]
    assert bodies(imap, "Drafts") == {1: DRAFT1}
    assert bodies(imap, "Sent") == {1: DRAFT2}


def test_qresync_vanished_and_highestmodseq(imap):
    tc = imap.connect()
    raw(tc, "ok", b"a1 APPEND Drafts " + lit(DRAFT1))
    tc.transact("ok", "enable qresync")
    tc.transact("ok", "select Drafts")
    v = imap.account.mailbox("Drafts").uidvalidity
    lines = raw(tc, "ok", b"a2 UID REPLACE 1 Drafts " + lit(DRAFT2))
    hm = max(m.modseq for m in imap.account.messages(imap.account.mailbox("Drafts").id))
    assert lines == [
        f"* OK [APPENDUID {v} 2] replacement message", "* 2 EXISTS", "* VANISHED 1",
        f"a2 OK [HIGHESTMODSEQ {hm}] replaced",
    ]


def test_star_and_other_session(imap):
    tc = imap.connect()
    other = imap.connect()
    raw(tc, "ok", b"a1 APPEND inbox " + lit(b"one\r\n") + b" " + lit(b"two\r\n"))
    tc.transact("ok", "select inbox")
    other.transact("ok", "select inbox")
    lines = raw(tc, "ok", b"a2 REPLACE * inbox " + lit(b"three\r\n"))
    assert lines[1:] == ["* 3 EXISTS", "* 2 EXPUNGE", "a2 OK REPLACE done"]
    lines = raw(tc, "ok", b"a3 UID REPLACE * inbox " + lit(b"four\r\n"))
    assert lines[1:] == ["* 3 EXISTS", "* 2 EXPUNGE", "a3 OK REPLACE done"]
    assert bodies(imap, "Inbox") == {1: b"one\r\n", 4: b"four\r\n"}
    # The other session hears of both changes, each message once.
    other.transact("ok", "noop")
    got = [r[1].decode().strip() for r in other.untagged]
    assert got == ["* 3 EXISTS", "* 3 FETCH (UID 3 FLAGS ())", "* 4 EXISTS", "* 4 FETCH (UID 4 FLAGS ())", "* 2 EXPUNGE", "* 2 EXPUNGE"]
    other.transact("ok", "uid search all")
    other.expect_untagged("* SEARCH 1 4")


def test_failures_store_nothing(imap):
    imap.start(quota=150_000)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    # "*" on an empty mailbox.
    raw(tc, "bad", b"a0 REPLACE * inbox " + lit(b"x\r\n"))
    raw(tc, "bad", b"a0b UID REPLACE * inbox " + lit(b"x\r\n"))
    raw(tc, "ok", b"a1 APPEND inbox " + lit(b"one\r\n"))
    tc.transact("ok", "noop")
    # A missing mailbox: TRYCREATE, and the old message stays.
    assert raw(tc, "no", b"a2 REPLACE 1 nosuchbox " + lit(b"x\r\n"))[-1].startswith("a2 NO [TRYCREATE]")
    # Sequence numbers beyond the mailbox, UIDs that name no message.
    raw(tc, "bad", b"a3 REPLACE 2 inbox " + lit(b"x\r\n"))
    assert raw(tc, "no", b"a4 UID REPLACE 7 inbox " + lit(b"x\r\n"))[-1].startswith("a4 NO [NONEXISTENT]")
    # Junk after the message; a second message (REPLACE takes one); a bad flag.
    raw(tc, "bad", b"a5 REPLACE 1 inbox " + lit(b"x\r\n") + b" junk")
    raw(tc, "bad", b"a6 REPLACE 1 inbox " + lit(b"x\r\n") + b" " + lit(b"y\r\n"))
    raw(tc, "bad", b"a7 REPLACE 1 inbox (\\Bogus) " + lit(b"x\r\n"))
    # Over quota with the new message (the old one's size counts as freed).
    assert raw(tc, "no", b"a8 REPLACE 1 inbox " + lit(big_message(200_000)))[-1].startswith("a8 NO [OVERQUOTA]")
    assert bodies(imap, "Inbox") == {1: b"one\r\n"}
    assert tmp_files(imap) == []
    # Read-only.
    tc.transact("ok", "examine inbox")
    assert raw(tc, "no", b"a9 REPLACE 1 inbox " + lit(b"x\r\n"))[-1].startswith("a9 NO [READ-ONLY]")
    assert bodies(imap, "Inbox") == {1: b"one\r\n"}
    # Not in the authenticated state.
    tc.transact("ok", "unselect")
    raw(tc, "no", b"a10 REPLACE 1 inbox " + lit(b"x\r\n"))


def test_message_expunged_by_another_session(imap):
    tc = imap.connect()
    other = imap.connect()
    raw(tc, "ok", b"a1 APPEND inbox " + lit(b"one\r\n"))
    tc.transact("ok", "select inbox")
    other.transact("ok", "select inbox")
    other.transact("ok", "store 1 +flags.silent (\\Deleted)")
    other.transact("ok", "expunge")
    lines = raw(tc, "no", b"a2 REPLACE 1 inbox " + lit(b"two\r\n"))
    assert lines[-1].startswith("a2 NO [EXPUNGEISSUED]") and "* 1 EXPUNGE" in lines
    assert bodies(imap, "Inbox") == {}
    assert tmp_files(imap) == []
