"""EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, RFC 4315 2.1), seen by a second session."""

MSG = b"Subject: x\r\n\r\nbody\r\n"


def setup(imap):
    imap.start()
    for flags in (["\\Deleted"], [], ["\\Deleted"], ["\\Deleted"]):
        imap.deliver(MSG, flags=flags)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    return tc, tc2


def test_expunge(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "uid expunge 3:4")
    tc.expect_untagged("* 3 EXPUNGE", "* 3 EXPUNGE", "* 2 RECENT")  # tc took all four as \\Recent
    assert tc.result.text == "EXPUNGE done"
    tc.transact("ok", "expunge")
    tc.expect_untagged("* 1 EXPUNGE", "* 1 RECENT")
    tc.transact("ok", "expunge")
    tc.expect_no_untagged()
    tc.transact("ok", "fetch 1 uid")
    tc.expect_untagged("* 1 FETCH (UID 2)")
    tc2.transact("ok", "noop")
    tc2.expect_untagged("* 3 EXPUNGE", "* 3 EXPUNGE", "* 1 EXPUNGE")
    tc.transact("bad", "uid expunge")
    tc.transact("ok", "examine inbox")
    tc.transact("no", "expunge")
    tc.expect_code("READ-ONLY")


def test_expunge_deferred_during_fetch(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "expunge")
    # Expunges are held back during FETCH/SEARCH/STORE (RFC 9051 7.5.1): sequence number 4 is
    # still valid, and until the session is told, the message is still there for it, as it was
    # (RFC 2180 4.1.1): FETCH and SEARCH see it.
    tc2.transact("ok", "fetch 4 (uid flags)")
    tc2.expect_untagged("* 4 FETCH (UID 4 FLAGS (\\Deleted))")
    tc2.transact("ok", "fetch 2 uid")
    tc2.expect_untagged("* 2 FETCH (UID 2)")
    tc2.transact("ok", "search all")
    tc2.expect_untagged("* SEARCH 1 2 3 4")
    tc2.transact("ok", "search deleted")
    tc2.expect_untagged("* SEARCH 1 3 4")
    tc2.transact("ok", "noop")
    tc2.expect_untagged("* 1 EXPUNGE", "* 2 EXPUNGE", "* 2 EXPUNGE")


def test_expunge_qresync_condstore(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "enable qresync")
    tc2.transact("ok", "enable qresync")
    tc.transact("ok", "expunge")
    hm = imap.account.mailbox("Inbox").highest_modseq
    tc.expect_untagged("* VANISHED 1,3:4", "* 1 RECENT")
    tc.expect_code(f"HIGHESTMODSEQ {hm}")
    assert tc.result.text == "expunged"
    tc2.transact("ok", "noop")
    tc2.expect_untagged("* VANISHED 1,3:4")


def test_expunge_imaplib(imap):
    import imaplib

    setup(imap)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    c.select("Inbox")
    assert c.expunge() == ("OK", [b"1", b"2", b"2"])
    c.logout()
