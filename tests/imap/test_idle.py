"""IDLE (RFC 2177, RFC 9051 6.3.13) and unsolicited updates from other sessions and deliveries."""

MSG = b"Subject: x\r\n\r\nbody\r\n"


def test_idle(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc.command("idle")
    assert tc.read_line() == "+ waiting"
    imap.deliver(MSG)  # as SMTP delivery would
    # The idling session is the first to hear of it: \\Recent there (RFC 3501 2.3.2), not in tc2.
    tc.read_untagged("* 1 EXISTS", "* 1 RECENT", "* 1 FETCH (UID 1 FLAGS (\\Recent))")
    tc2.transact("ok", "store 1 +flags.silent (\\Seen)")  # new messages are announced first
    tc2.expect_untagged("* 1 EXISTS", "* 1 FETCH (UID 1 FLAGS ())")
    tc.read_untagged("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))")
    tc2.transact("ok", "create newbox")
    tc.read_untagged('* LIST (\\Subscribed) "/" newbox')
    tc2.transact("ok", "store 1 +flags.silent (\\Deleted)")
    tc.read_untagged("* 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted \\Recent))")
    tc2.transact("ok", "expunge")
    tc.read_untagged("* 1 EXPUNGE", "* 0 RECENT")
    tc.write_line("DONE")
    tc.response("ok")
    assert tc.result.text == "IDLE done"
    tc.transact("ok", "noop")
    tc.expect_no_untagged()


def test_idle_authenticated_and_bad_done(imap):
    tc = imap.connect()
    tc.command("idle")
    assert tc.read_line() == "+ waiting"
    tc.write_line("NOTDONE")
    tc.response("bad")
    tc.transact("ok", "noop")


def test_noop_polling(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    imap.deliver(MSG)
    imap.deliver(MSG)
    tc.transact("ok", "noop")
    tc.expect_untagged(
        "* 2 EXISTS", "* 2 RECENT", "* 1 FETCH (UID 1 FLAGS (\\Recent))", "* 2 FETCH (UID 2 FLAGS (\\Recent))"
    )
    tc.transact("ok", "enable condstore")
    imap.deliver(MSG)
    tc.transact("ok", "noop")
    m = imap.account.message(imap.account.mailbox("Inbox").id, 3)
    tc.expect_untagged("* 3 EXISTS", "* 3 RECENT", f"* 3 FETCH (UID 3 FLAGS (\\Recent) MODSEQ ({m.modseq}))")


def test_idle_qresync_vanished(imap):
    # A session with QRESYNC enabled hears of expunges as VANISHED (RFC 7162 3.2.10), during
    # IDLE as soon as they happen; flag changes come with their MODSEQ.
    imap.deliver(MSG)
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "enable qresync")
    tc.transact("ok", "select inbox")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc.command("idle")
    assert tc.read_line() == "+ waiting"
    tc2.transact("ok", "store 1 +flags.silent (\\Flagged)")
    m1 = imap.account.message(imap.account.mailbox("Inbox").id, 1)
    tc.read_untagged(f"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ ({m1.modseq}))")
    tc2.transact("ok", "uid move 1 Archive")
    tc.read_untagged("* VANISHED 1", "* 1 RECENT")
    tc.write_line("DONE")
    tc.response("ok")
    tc.transact("ok", "fetch 1 uid")  # the remaining message is number 1 now
    tc.expect_untagged("* 1 FETCH (UID 2)")


def test_connection_reset_during_idle(imap):
    """A client that goes away abruptly (TCP reset) during IDLE: the connection ends quietly, no
    error is logged (the harness checks)."""
    import socket
    import struct

    imap.start()
    refs = imap.account.references()
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.command("idle")
    assert tc.read_line() == "+ waiting"
    tc.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    tc.conn.sock.close()
    imap.deliver(MSG)
    imap.wait_until(lambda: imap.account.references() == refs, "the session to end")
