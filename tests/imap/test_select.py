"""SELECT, EXAMINE, UNSELECT, CLOSE, CHECK and the state table (RFC 9051 6.3.2, 6.3.3, 6.4)."""

FLAGS = "\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent"
MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def select_lines(tc, imap, exists=0, uidnext=1, unseen=None, name="Inbox", keywords="", recent=0):
    mb = imap.account.mailbox(name)
    lines = [
        f"* FLAGS ({FLAGS}{keywords})",
        f"* OK [PERMANENTFLAGS ({FLAGS} \\*)] x",
        f"* {recent} RECENT",
        f"* {exists} EXISTS",
        f"* OK [UIDVALIDITY {mb.uidvalidity}] x",
        f"* OK [UIDNEXT {uidnext}] x",
        f'* LIST () "/" {name}',
    ]
    if unseen:
        lines.append(f"* OK [UNSEEN {unseen}] x")
    return lines


def test_select_examine(imap):
    imap.start()
    imap.deliver(MSG, flags=["\\Seen"])
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.expect_untagged(*select_lines(tc, imap, exists=2, uidnext=3, unseen=2, recent=2))
    assert tc.result.text == "x"
    tc.expect_code("READ-WRITE")
    tc.transact("ok", "examine Inbox")
    # The first SELECT took both messages as \Recent: none is left for this EXAMINE.
    tc.expect_untagged("* OK [CLOSED] x", *select_lines(tc, imap, exists=2, uidnext=3, unseen=2))
    tc.expect_code("READ-ONLY")
    tc.transact("no", "select nonexistent")
    tc.expect_code("NONEXISTENT")
    tc.expect_untagged("* OK [CLOSED] x")
    tc.transact("no", "fetch 1 flags")  # the failed select left no mailbox selected
    tc.transact("bad", "select")
    tc.transact("bad", "select inbox (qresync (1 1))")  # QRESYNC not enabled


def test_select_imap4rev2_condstore(imap):
    imap.start()
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "enable imap4rev2")
    tc.transact("ok", "select inbox (condstore)")
    mb = imap.account.mailbox("Inbox")
    msg = imap.account.message(mb.id, 1)
    tc.expect_untagged(
        f"* FLAGS ({FLAGS})",
        f"* OK [PERMANENTFLAGS ({FLAGS} \\*)] x",
        "* 1 EXISTS",
        f"* OK [UIDVALIDITY {mb.uidvalidity}] x",
        "* OK [UIDNEXT 2] x",
        '* LIST () "/" Inbox',
        f"* OK [HIGHESTMODSEQ {msg.modseq}] x",
    )


def test_unselect_close_check(imap):
    imap.start()
    imap.deliver(MSG, flags=["\\Deleted"])
    imap.deliver(MSG)
    tc = imap.connect()
    for cmd in ["check", "close", "unselect", "expunge", "uid expunge 1", "search all", "fetch 1 flags",
                "store 1 +flags (\\Seen)", "copy 1 Archive", "move 1 Archive"]:
        tc.transact("no", cmd)
        assert tc.result.text.endswith("not allowed in this connection state")
    tc.transact("ok", "examine inbox")
    tc.transact("ok", "check")
    assert tc.result.text == "CHECK done"
    tc.transact("ok", "close")  # read-only: nothing expunged
    tc.expect_no_untagged()
    assert len(imap.account.messages(imap.account.mailbox("Inbox").id)) == 2
    tc.transact("ok", "select inbox")
    tc.transact("ok", "unselect")
    tc.expect_no_untagged()
    assert len(imap.account.messages(imap.account.mailbox("Inbox").id)) == 2
    tc.transact("ok", "select inbox")
    tc.transact("ok", "close")
    tc.expect_no_untagged()
    assert [m.uid for m in imap.account.messages(imap.account.mailbox("Inbox").id)] == [2]
    tc.transact("no", "close")


def test_selected_mailbox_deleted(imap):
    imap.start()
    tc = imap.connect()
    tc.transact("ok", "create x")
    tc.transact("ok", "append x ", MSG)
    tc.transact("ok", "select x")
    tc2 = imap.connect()
    tc2.transact("ok", "delete x")
    tc.transact("ok", "noop")
    tc.transact("no", "fetch 1 flags")
    tc.expect_code("NONEXISTENT")
    tc.transact("no", "store 1 +flags (\\Seen)")
    tc.transact("ok", "close")
    tc.transact("ok", "select inbox")
    # Deleting the selected mailbox from the same session.
    tc.transact("ok", "create y")
    tc.transact("ok", "select y")
    tc.transact("ok", "delete y")
    tc.transact("no", "search all")
    tc.expect_code("NONEXISTENT")
    tc.transact("ok", "unselect")
