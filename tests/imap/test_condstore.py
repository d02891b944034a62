"""CONDSTORE and QRESYNC (RFC 7162): MODSEQ, HIGHESTMODSEQ, CHANGEDSINCE, VANISHED, SELECT QRESYNC."""

MSG = b"Subject: x\r\n\r\nbody\r\n"


def inbox_msgs(imap):
    return {m.uid: m for m in imap.account.messages(imap.account.mailbox("Inbox").id)}


def test_condstore_fetch_changedsince(imap):
    imap.start()
    for _ in range(3):
        imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    m = inbox_msgs(imap)
    tc.transact("ok", "store 2 +flags.silent (\\Seen)")
    tc.expect_no_untagged()  # CONDSTORE not enabled yet: no MODSEQ
    m2 = inbox_msgs(imap)[2]
    tc.transact("ok", f"fetch 1:* (flags) (changedsince {m[3].modseq})")
    # CHANGEDSINCE enables CONDSTORE; the client learns the mailbox's HIGHESTMODSEQ (RFC 7162 3.1).
    tc.expect_untagged(f"* OK [HIGHESTMODSEQ {m2.modseq}] x", f"* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ({m2.modseq}))")
    tc.transact("ok", f"uid fetch 1:* (uid) (changedsince {m[1].modseq})")
    tc.expect_untagged(
        f"* 2 FETCH (UID 2 MODSEQ ({m2.modseq}))",
        f"* 3 FETCH (UID 3 MODSEQ ({m[3].modseq}))",
    )
    # CHANGEDSINCE enabled CONDSTORE: STORE now reports MODSEQ.
    tc.transact("ok", "store 1 +flags (\\Flagged)")
    m1 = inbox_msgs(imap)[1]
    tc.expect_untagged(f"* 1 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ({m1.modseq}))")


def test_qresync_vanished_and_select(imap):
    imap.start()
    for _ in range(4):
        imap.deliver(MSG)
    uv = imap.account.mailbox("Inbox").uidvalidity
    tc = imap.connect()
    tc.transact("ok", "enable qresync")
    tc.transact("ok", "select inbox")
    hm0 = max(m.modseq for m in inbox_msgs(imap).values())
    tc.expect_untagged_some(f"* OK [HIGHESTMODSEQ {hm0}] x")
    tc.transact("ok", "store 1,3 +flags.silent (\\Deleted)")
    tc.transact("ok", "uid expunge 3")
    tc.expect_untagged("* VANISHED 3", "* 3 RECENT")
    tc.transact("ok", "store 2 +flags.silent (\\Seen)")
    tc.transact("bad", f"fetch 1:* flags (changedsince {hm0} vanished)")  # needs UID FETCH
    tc.transact("ok", f"uid fetch 1:* flags (changedsince {hm0} vanished)")
    m = inbox_msgs(imap)
    tc.expect_untagged(
        "* VANISHED (EARLIER) 3",
        f"* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent) MODSEQ ({m[1].modseq}))",
        f"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) MODSEQ ({m[2].modseq}))",
    )
    # A new session resynchronizes with SELECT QRESYNC.
    tc2 = imap.connect()
    tc2.transact("bad", f"select inbox (qresync ({uv} {hm0}))")  # not enabled
    tc2.transact("ok", "enable qresync")
    tc2.transact("ok", f"select inbox (qresync ({uv} {hm0}))")
    tc2.expect_untagged_some(
        f"* 1 FETCH (UID 1 FLAGS (\\Deleted) MODSEQ ({m[1].modseq}))",
        f"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ({m[2].modseq}))",
        "* VANISHED (EARLIER) 3",
    )
    # Known uids limit what is reported.
    tc2.transact("ok", f"select inbox (qresync ({uv} {hm0} 2))")
    tc2.expect_untagged_some("* OK [CLOSED] x", f"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ({m[2].modseq}))")
    assert not any(b"VANISHED" in raw for _, raw in tc2.untagged)
    # Wrong uidvalidity: no resync data.
    tc2.transact("ok", f"select inbox (qresync ({uv + 1} {hm0}))")
    assert not any(b"VANISHED" in raw or b"FETCH" in raw for _, raw in tc2.untagged)
    tc2.transact("bad", f"select inbox (qresync ({uv} {hm0} 1:4 (1:2 1)))")  # unequal seq match lengths


def test_implicit_seen_reports_modseq(imap):
    imap.start()
    imap.deliver(MSG)
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "enable condstore")
    tc.transact("ok", "select inbox")
    tc.transact("ok", "fetch 1:2 rfc822.size")
    tc.transact("ok", "fetch 2 body[text]")
    m = inbox_msgs(imap)[2]
    tc.expect_untagged(f"* 2 FETCH (BODY[TEXT] {{6}}\r\nbody\r\n FLAGS (\\Seen \\Recent) MODSEQ ({m.modseq}))")
