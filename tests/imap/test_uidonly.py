"""UIDONLY (RFC 9586): once enabled, no message sequence numbers either way. Commands taking
them answer BAD [UIDREQUIRED] (also sequence numbers in a search and QRESYNC's sequence match
data); FETCH responses are UIDFETCH numbered by UID (for UID FETCH, UID STORE and unsolicited
flag changes and new messages); expunges are VANISHED; SELECT sends no UNSEEN. The RFC's
examples (section 3) and another session's changes."""

from __future__ import annotations

from mox.imap.responses import FetchFlags, UntaggedUIDFetch

MSG = b"Subject: x\r\n\r\nhello\r\n"


def test_advertised_and_enabled(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "UIDONLY" in tc.untagged[0][1].decode().split()
    tc.transact("ok", "ENABLE UIDONLY")
    tc.expect_untagged("* ENABLED UIDONLY")


def test_rfc9586_examples(imap):
    for _ in range(3):
        imap.deliver(MSG)
    imap.deliver(MSG, flags=["\\Seen"])
    tc = imap.connect()
    tc.transact("ok", "ENABLE UIDONLY")
    tc.transact("ok", "SELECT INBOX")  # IMAP4rev1: RECENT, and no UNSEEN with its sequence number
    got = [r[1].decode() for r in tc.untagged]
    assert "* 4 EXISTS" in got and not any("UNSEEN" in g for g in got)
    for cmd in ("FETCH 1 (FLAGS)", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "COPY 1 Archive", "MOVE 1 Archive",
                "UID SEARCH 1:2", "UID SEARCH OR UID 1 NOT 3", "REPLACE 1 Inbox {1+}\r\nx",
                "SORT (ARRIVAL) UTF-8 ALL", "THREAD REFS UTF-8 ALL", "UID SORT (ARRIVAL) UTF-8 1:2"):
        tc.transact("bad", cmd)
        tc.expect_code("UIDREQUIRED")
    # 3.3: UIDFETCH, numbered by UID; UID is no implied attribute.
    tc.transact("ok", "UID FETCH 3:4 (FLAGS)")
    tc.expect_untagged("* 3 UIDFETCH (FLAGS (\\Recent))", "* 4 UIDFETCH (FLAGS (\\Seen \\Recent))")
    tc.transact("ok", "UID FETCH 4 (UID RFC822.SIZE)")
    tc.expect_untagged(f"* 4 UIDFETCH (UID 4 RFC822.SIZE {len(MSG)})")
    tc.transact("ok", "UID STORE 2 +FLAGS (\\Deleted)")
    tc.expect_untagged("* 2 UIDFETCH (UID 2 FLAGS (\\Deleted \\Recent))")
    tc.transact("ok", "UID SEARCH UID 1:* DELETED")
    tc.expect_untagged("* SEARCH 2")
    tc.transact("ok", "UID SEARCH RETURN (SAVE) UNDELETED")
    tc.transact("ok", "UID SEARCH UID $")  # the saved result is UIDs: allowed
    tc.expect_untagged("* SEARCH 1 3 4")
    # Expunges are VANISHED (3.3), also without QRESYNC.
    tc.transact("ok", "EXPUNGE")
    tc.expect_untagged("* VANISHED 2", "* 3 RECENT")
    tc.transact("ok", "UID MOVE 1 Archive")
    assert "* VANISHED 1" in [r[1].decode() for r in tc.untagged]


def test_other_sessions_changes(imap):
    imap.deliver(MSG)
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "ENABLE IMAP4rev2 UIDONLY")
    tc.transact("ok", "SELECT INBOX")
    other = imap.connect()
    other.transact("ok", "SELECT INBOX")
    other.transact("ok", "STORE 2 +FLAGS.SILENT (\\Flagged)")
    other.transact("ok", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.transact("ok", "EXPUNGE")
    imap.deliver(MSG)
    tc.transact("ok", "NOOP")
    tc.expect_untagged(
        "* 2 UIDFETCH (FLAGS (\\Flagged))", "* 1 UIDFETCH (FLAGS (\\Deleted))", "* 3 EXISTS", "* 3 UIDFETCH (FLAGS ())",
        "* VANISHED 1",
    )
    assert any(isinstance(r, UntaggedUIDFetch) and r.uid == 3 and r.attr(FetchFlags) is not None for r, _ in tc.untagged)


def test_qresync_seq_match_refused(imap):
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "ENABLE QRESYNC UIDONLY")
    uv = imap.account.mailbox("Inbox").uidvalidity
    tc.transact("bad", f"SELECT INBOX (QRESYNC ({uv} 1 1:* (1 1)))")
    tc.expect_code("UIDREQUIRED")
    tc.transact("ok", f"SELECT INBOX (QRESYNC ({uv} 1 1:*))")
