"""COPY, MOVE, UID forms (RFC 9051 6.4.7, 6.4.8; RFC 4315 COPYUID; RFC 6851)."""

MSG = b"Subject: x\r\n\r\nbody\r\n"


def setup(imap, n=3):
    imap.start()
    for _ in range(n):
        imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    return tc


def test_copy(imap):
    tc = setup(imap)
    tc2 = imap.connect()
    tc2.transact("ok", "select Archive")
    archive = imap.account.mailbox("Archive")
    tc.transact("ok", "copy 1,3 Archive")
    tc.expect_code(f"COPYUID {archive.uidvalidity} 1,3 1:2")
    assert tc.result.text == "copied"
    tc.expect_no_untagged()
    tc2.transact("ok", "noop")  # copies are new messages, \\Recent for the first to see them
    tc2.expect_untagged(
        "* 2 EXISTS", "* 2 RECENT", "* 1 FETCH (UID 1 FLAGS (\\Recent))", "* 2 FETCH (UID 2 FLAGS (\\Recent))"
    )
    tc.transact("ok", "uid copy 2:* Archive")
    tc.expect_code(f"COPYUID {archive.uidvalidity} 2:3 3:4")
    tc.transact("no", "copy 1 nonexistent")
    tc.expect_code("TRYCREATE")
    tc.transact("bad", "copy 9 Archive")
    tc.transact("ok", "uid copy 9 Archive")  # no such uid: nothing to do
    tc.transact("ok", "copy 1 Inbox")  # to the selected mailbox: we see it ourselves, \\Recent
    tc.expect_untagged("* 4 EXISTS", "* 4 RECENT")
    tc.transact("bad", "copy 1")


def test_move(imap):
    tc = setup(imap)
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    trash = imap.account.mailbox("Trash")
    tc.transact("ok", "move 1:2 Trash")  # two of the three \\Recent messages are gone (as Dovecot)
    tc.expect_untagged(f"* OK [COPYUID {trash.uidvalidity} 1:2 1:2] moved", "* 1 EXPUNGE", "* 1 EXPUNGE", "* 1 RECENT")
    assert tc.result.text == "MOVE done"
    tc2.transact("ok", "noop")
    tc2.expect_untagged("* 1 EXPUNGE", "* 1 EXPUNGE")
    tc.transact("ok", "enable qresync")
    tc.transact("ok", "uid move 3 Trash")
    hm = imap.account.mailbox("Inbox").highest_modseq
    tc.expect_untagged(f"* OK [COPYUID {trash.uidvalidity} 3 3] moved", "* VANISHED 3", "* 0 RECENT")
    tc.expect_code(f"HIGHESTMODSEQ {hm}")
    tc.transact("ok", "select Trash")
    tc.transact("no", "move 1 nonexistent")
    tc.expect_code("TRYCREATE")
    tc.transact("ok", "examine Trash")
    tc.transact("no", "move 1 Inbox")
    tc.expect_code("READ-ONLY")



def test_move_to_selected_mailbox(imap):
    # MOVE into the selected mailbox succeeds as COPY does (RFC 6851 3.3: COPYUID, then the
    # expunges): the messages get new UIDs; flags move along. Dovecot answers the same way.
    tc = setup(imap)
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    inbox = imap.account.mailbox("Inbox")
    tc.transact("ok", "store 1 +flags.silent (\\Flagged)")
    tc2.transact("ok", "noop")
    tc.transact("ok", "move 1:2 inbox")  # still three \\Recent messages: no RECENT (as Dovecot)
    tc.expect_untagged(
        f"* OK [COPYUID {inbox.uidvalidity} 1:2 4:5] moved", "* 1 EXPUNGE", "* 1 EXPUNGE", "* 3 EXISTS"
    )
    assert tc.result.text == "MOVE done"
    tc.transact("ok", "fetch 1:* (uid flags)")
    tc.expect_untagged(
        "* 1 FETCH (UID 3 FLAGS (\\Recent))",
        "* 2 FETCH (UID 4 FLAGS (\\Flagged \\Recent))",
        "* 3 FETCH (UID 5 FLAGS (\\Recent))",
    )
    tc2.transact("ok", "noop")  # the observer learns of the new messages before the expunges
    tc2.expect_untagged(
        "* 5 EXISTS", "* 4 FETCH (UID 4 FLAGS (\\Flagged))", "* 5 FETCH (UID 5 FLAGS ())", "* 1 EXPUNGE", "* 1 EXPUNGE"
    )
    tc.transact("ok", "enable qresync")
    tc.transact("ok", "uid move 3 inbox")
    hm = imap.account.mailbox("Inbox").highest_modseq
    tc.expect_untagged(f"* OK [COPYUID {inbox.uidvalidity} 3 6] moved", "* VANISHED 3", "* 3 EXISTS")
    tc.expect_code(f"HIGHESTMODSEQ {hm}")
    tc.transact("ok", "uid fetch 1:* uid")
    tc.expect_untagged("* 1 FETCH (UID 4)", "* 2 FETCH (UID 5)", "* 3 FETCH (UID 6)")
    assert [m.uid for m in imap.account.messages(inbox.id)] == [4, 5, 6]

def test_copy_move_imaplib(imap):
    import imaplib

    setup(imap)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    c.select("Inbox")
    typ, data = c.copy("1:2", "Archive")
    assert typ == "OK" and data[0].startswith(b"[COPYUID ")
    typ, data = c.uid("MOVE", "3", "Trash")
    assert typ == "OK"
    c.logout()
    assert len(imap.account.messages(imap.account.mailbox("Archive").id)) == 2
    assert len(imap.account.messages(imap.account.mailbox("Trash").id)) == 1
    assert len(imap.account.messages(imap.account.mailbox("Inbox").id)) == 2
