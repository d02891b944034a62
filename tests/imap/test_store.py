"""STORE and UID STORE (RFC 9051 6.4.6), keywords, UNCHANGEDSINCE (RFC 7162 3.1.3)."""

FLAGS = "\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent"
MSG = b"Subject: x\r\n\r\nbody\r\n"


def setup(imap, n=2):
    imap.start()
    for _ in range(n):
        imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    return tc, tc2


def test_store(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "store 1 +flags (\\Seen)")
    tc.expect_untagged("* 1 FETCH (FLAGS (\\Seen \\Recent))")
    tc.transact("ok", "store 1:2 +flags.silent (\\Flagged)")
    tc.expect_no_untagged()
    tc.transact("ok", "uid store 1 -flags \\Flagged")
    tc.expect_untagged("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))")
    tc.transact("ok", "store 2 flags (\\Answered \\Draft)")
    tc.expect_untagged("* 2 FETCH (FLAGS (\\Answered \\Draft \\Recent))")
    tc.transact("ok", "store 2 flags ()")
    tc.expect_untagged("* 2 FETCH (FLAGS (\\Recent))")
    tc2.transact("ok", "noop")
    tc2.expect_untagged(
        "* 1 FETCH (UID 1 FLAGS (\\Seen))",
        "* 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged))",
        "* 2 FETCH (UID 2 FLAGS (\\Flagged))",
        "* 1 FETCH (UID 1 FLAGS (\\Seen))",
        "* 2 FETCH (UID 2 FLAGS (\\Answered \\Draft))",
        "* 2 FETCH (UID 2 FLAGS ())",
    )


def test_store_keywords(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "store 1 +flags ($Custom $Forwarded)")
    tc.expect_untagged(f"* FLAGS ({FLAGS} $custom)", "* 1 FETCH (FLAGS ($Forwarded $custom \\Recent))")
    tc.transact("ok", "store 2 +flags ($custom)")
    tc.expect_untagged("* 2 FETCH (FLAGS ($custom \\Recent))")  # known keyword: no new FLAGS
    tc2.transact("ok", "noop")
    tc2.expect_untagged(
        f"* FLAGS ({FLAGS} $custom)",
        "* 1 FETCH (UID 1 FLAGS ($Forwarded $custom))",
        "* 2 FETCH (UID 2 FLAGS ($custom))",
    )
    tc.transact("ok", "unselect")
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some(f"* FLAGS ({FLAGS} $custom)", f"* OK [PERMANENTFLAGS ({FLAGS} $custom \\*)] x")
    tc.transact("bad", "store 1 +flags (\\Bogus)")
    tc.transact("bad", "store 1 +flags (\\*)")
    tc.transact("bad", "store 3 +flags (\\Seen)")
    tc.transact("bad", "store 1 flagz (\\Seen)")


def test_store_readonly(imap):
    tc, _ = setup(imap)
    tc.transact("ok", "examine inbox")
    tc.transact("no", "store 1 +flags (\\Seen)")
    tc.expect_code("READ-ONLY")


def test_store_unchangedsince(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "enable condstore")
    msgs = imap.account.messages(imap.account.mailbox("Inbox").id)
    m1, m2 = msgs
    tc.transact("ok", f"store 1:2 (unchangedsince {m1.modseq}) +flags (\\Seen)")
    # Message 2 has a higher modseq: it fails the condition.
    new1 = imap.account.message(m1.mailbox_id, 1)
    # The failed message's current flags and modseq are sent too (RFC 7162 3.1.3).
    tc.expect_untagged(
        f"* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ({new1.modseq}))",
        f"* 2 FETCH (UID 2 FLAGS (\\Recent) MODSEQ ({m2.modseq}))",
    )
    tc.expect_code("MODIFIED 2")
    tc.transact("ok", "uid store 1:2 (unchangedsince 1) +flags.silent (\\Flagged)")
    tc.expect_code("MODIFIED 1:2")
    tc.transact("ok", "store 1 +flags.silent ($x)")  # .SILENT with CONDSTORE: still the new MODSEQ
    tc.expect_untagged(f"* FLAGS ({FLAGS} $x)", f"* 1 FETCH (MODSEQ ({imap.account.message(m1.mailbox_id, 1).modseq}))")
    tc.transact("ok", f"uid store 2 (unchangedsince {m2.modseq}) +flags.silent (\\Flagged)")
    new2 = imap.account.message(m1.mailbox_id, 2)
    tc.expect_untagged(f"* 2 FETCH (UID 2 MODSEQ ({new2.modseq}))")


def test_store_imaplib(imap):
    import imaplib

    setup(imap)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    c.select("Inbox")
    assert c.store("1:2", "+FLAGS", "(\\Flagged $Work)") == (
        "OK",
        [b"1 (FLAGS (\\Flagged $work))", b"2 (FLAGS (\\Flagged $work))"],
    )
    typ, data = c.store("1", "-FLAGS.SILENT", "(\\Flagged)")
    assert typ == "OK"
    c.logout()
    assert imap.account.message(imap.account.mailbox("Inbox").id, 1).flags == ("$work",)
