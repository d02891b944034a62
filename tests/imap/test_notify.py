"""NOTIFY (RFC 5465): SET and NONE, the mailbox filters (selected, selected-delayed, inboxes,
personal, subscribed, subtree, mailboxes), the events (MessageNew with FETCH attributes,
MessageExpunge, FlagChange, MailboxName, SubscriptionChange, MailboxMetadataChange,
ServerMetadataChange), STATUS for other mailboxes, BADEVENT and NOTIFICATIONOVERFLOW, and how it
goes with IDLE and the selected mailbox's usual untagged responses. Two sessions: one asks to be
notified, the other changes things; notifications arrive between commands (``read_untagged``)."""

from __future__ import annotations

import imaplib

import pytest

from mox.imap import cmd_notify
from mox.imap.responses import CodeBadEvent, CodeWord, UntaggedList, UntaggedMetadata, UntaggedResult, UntaggedStatus

MSG = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: good morning\r\n\r\nhello\r\n"
EVENTS = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange"


def modseq(imap, mailbox: str, uid: int) -> int:
    acc = imap.account
    m = acc.message(acc.mailbox(mailbox).id, uid)
    assert m is not None
    return m.modseq


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "NOTIFY" in tc.untagged[0][1].decode().split()


def test_syntax_and_bad_events(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    for bad in [
        "notify",
        "notify bogus",
        "notify none ",
        "notify set",
        "notify set ",
        "notify set status",
        "notify set status ()",
        "notify set (unknownfilter (MessageNew MessageExpunge))",
        "notify set (personal MessageNew)",  # events need parentheses
        "notify set (personal (MessageNew MessageExpunge) )",
        "notify set (personal (MessageNew MessageExpunge)) ",
        "notify set (subtree (MessageNew MessageExpunge))",  # subtree needs mailboxes
        "notify set (personal ())",
        # RFC 5465 5: MessageNew and MessageExpunge together; FlagChange needs both.
        "notify set (selected (MessageNew))",
        "notify set (personal (MessageExpunge))",
        "notify set (selected (FlagChange))",
        "notify set (personal (MessageNew MessageExpunge MessageNew))",
        # RFC 5465 6.1: only message events with selected; one selected filter.
        "notify set (selected (MailboxName))",
        "notify set (selected-delayed (MessageNew MessageExpunge SubscriptionChange))",
        "notify set (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))",
        "notify set (personal (MessageNew (bogus) MessageExpunge))",
    ]:
        tc.transact("bad", bad)
    # RFC 5465 3.1: an event we don't support is NO (not BAD) with BADEVENT listing ours.
    supported = CodeBadEvent(tuple(EVENTS.split()))
    tc.transact("no", "notify set (selected (MessageNew MessageExpunge AnnotationChange))")
    tc.expect_code(supported)
    tc.transact("no", "notify set (personal (SomethingElse))")
    tc.expect_code(supported)
    tc.transact("no", "notify set status (personal (MailboxName)) (inboxes (Unknown))")
    tc.expect_code(supported)
    # Case does not matter (RFC 5465 8), and a non-existent mailbox is no error (6.6).
    tc.transact("ok", "NOTIFY SET (Personal (messagenew MESSAGEEXPUNGE)) (MAILBOXES (nosuch Inbox) NONE)")
    tc.transact("ok", "notify none")


def test_rfc5465_example(imap):
    """RFC 5465 3.1's example (corrected by its errata): new messages in the selected mailbox
    with the attributes asked for, STATUS for the mailboxes of a subtree."""
    tc = imap.connect()
    tc.transact("ok", "create Lists/Lemonade")
    tc.transact("ok", "select inbox")
    imap.deliver(MSG, mailbox="Lists")
    imap.deliver(MSG, mailbox="Lists/Lemonade")
    imap.deliver(MSG, mailbox="Lists/Lemonade")
    lists, lemonade = imap.account.mailbox("Lists"), imap.account.mailbox("Lists/Lemonade")
    tc.transact(
        "ok",
        "notify set status (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge))"
        " (subtree Lists (MessageNew MessageExpunge))",
    )
    tc.expect_untagged(
        UntaggedStatus("Lists", {"MESSAGES": 1, "UIDNEXT": 2, "UIDVALIDITY": lists.uidvalidity, "UNSEEN": 1}),
        UntaggedStatus("Lists/Lemonade", {"MESSAGES": 2, "UIDNEXT": 3, "UIDVALIDITY": lemonade.uidvalidity, "UNSEEN": 2}),
    )
    # A delivery to the selected mailbox: EXISTS and a FETCH with the attributes, at once.
    imap.deliver(MSG)
    hdr = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: good morning\r\n\r\n"
    tc.read_untagged("* 1 EXISTS", "* 1 RECENT", f'* 1 FETCH (UID 1 BODY[HEADER.FIELDS (from to subject)] {{{len(hdr)}}}\r\n{hdr.decode()})')
    # One to a mailbox of the subtree: STATUS.
    imap.deliver(MSG, mailbox="Lists/Lemonade")
    tc.read_untagged(UntaggedStatus("Lists/Lemonade", {"UIDNEXT": 4, "MESSAGES": 3, "UNSEEN": 3}))
    # Archive is not watched: nothing; the next notification is Lists'.
    imap.deliver(MSG, mailbox="Archive")
    imap.deliver(MSG, mailbox="Lists")
    tc.read_untagged(UntaggedStatus("Lists", {"UIDNEXT": 3, "MESSAGES": 2, "UNSEEN": 2}))
    # The peeked header left \Seen alone.
    tc.transact("ok", "uid fetch 1 flags")
    tc.expect_untagged("* 1 FETCH (UID 1 FLAGS (\\Recent))")
    # NOTIFY NONE: nothing any more, also not at the end of commands.
    tc.transact("ok", "notify none")
    imap.deliver(MSG, mailbox="Lists")
    imap.deliver(MSG)
    tc.transact("ok", "noop")
    tc.expect_no_untagged()


def test_selected_events_between_commands(imap):
    """SELECTED: another session's append, flag change and expunge are told at once (RFC 5465
    5.1-5.3), with MODSEQ when CONDSTORE is on; our own changes are not told again."""
    tc = imap.connect()
    tc.transact("ok", "enable condstore imap4rev2")  # no \\Recent: which session claims it is a race
    tc.transact("ok", "select inbox")
    tc.transact("ok", "notify set (selected (MessageNew MessageExpunge FlagChange))")
    tc.expect_no_untagged()
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc2.transact("ok", "append inbox {%d+}\r\n%s" % (len(MSG), MSG.decode()))
    tc.read_untagged("* 1 EXISTS", f"* 1 FETCH (UID 1 FLAGS () MODSEQ ({modseq(imap, 'Inbox', 1)}))")
    tc2.transact("ok", "uid store 1 +flags.silent (\\Flagged)")
    tc.read_untagged(f"* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ ({modseq(imap, 'Inbox', 1)}))")
    tc2.transact("ok", "append inbox {%d+}\r\n%s" % (len(MSG), MSG.decode()))
    tc.read_untagged("* 2 EXISTS", f"* 2 FETCH (UID 2 FLAGS () MODSEQ ({modseq(imap, 'Inbox', 2)}))")
    tc2.transact("ok", "uid store 1 +flags.silent (\\Deleted)")
    tc.read_untagged(f"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Deleted) MODSEQ ({modseq(imap, 'Inbox', 1)}))")
    tc2.transact("ok", "expunge")
    tc.read_untagged("* 1 EXPUNGE")
    # Our own flag change comes only with our STORE's answer.
    tc.transact("ok", "uid store 2 +flags (\\Seen)")
    tc.expect_untagged(f"* 1 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ({modseq(imap, 'Inbox', 2)}))")
    tc.transact("ok", "noop")
    tc.expect_no_untagged()
    # Without FlagChange, flag changes are not told; new messages still are.
    tc.transact("ok", "notify set (selected (MessageNew MessageExpunge))")
    tc2.transact("ok", "uid store 2 +flags.silent (\\Answered)")
    imap.deliver(MSG)
    tc.read_untagged("* 2 EXISTS", f"* 2 FETCH (UID 3 FLAGS () MODSEQ ({modseq(imap, 'Inbox', 3)}))")
    tc.transact("ok", "noop")
    tc.expect_no_untagged()


def test_uidonly_vanished_and_uidfetch(imap):
    """With UIDONLY (RFC 9586 3.3) the pushed responses are UIDFETCH and VANISHED."""
    tc = imap.connect()
    tc.transact("ok", "enable uidonly")
    tc.transact("ok", "select inbox")
    tc.transact("ok", "notify set (selected (MessageNew (uid flags) MessageExpunge FlagChange))")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    imap.deliver(MSG)
    tc.read_untagged("* 1 EXISTS", "* 1 RECENT", "* 1 UIDFETCH (UID 1 FLAGS (\\Recent))")
    tc2.transact("ok", "uid store 1 +flags.silent (\\Deleted)")
    tc.read_untagged("* 1 UIDFETCH (FLAGS (\\Deleted \\Recent))")
    tc2.transact("ok", "expunge")
    tc.read_untagged("* VANISHED 1", "* 0 RECENT")


def test_expunge_during_fetch_and_delete_of_selected(imap):
    """An expunge while a FETCH runs waits until after it (RFC 9051 7.5.1) and the message can
    still be fetched; one between commands is told at once. Deleting the selected mailbox is a
    MailboxName event, after which commands on it are refused."""
    tc = imap.connect()
    tc.transact("ok", "create work")
    tc.transact("ok", "select work")
    for _ in range(3):
        imap.deliver(MSG, mailbox="work")
    tc.transact("ok", "noop")
    tc.transact("ok", "notify set (selected (MessageNew MessageExpunge FlagChange)) (personal (MailboxName))")
    tc2 = imap.connect()
    tc2.transact("ok", "select work")
    tc2.transact("ok", "uid store 1 +flags.silent (\\Deleted)")
    tc.read_untagged("* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))")
    tc2.transact("ok", "uid expunge 1")
    tc.read_untagged("* 1 EXPUNGE", "* 2 RECENT")
    tc.transact("ok", "fetch 1:* (uid)")
    tc.expect_untagged("* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)")
    tc2.transact("ok", "delete work")
    tc.read_untagged('* LIST (\\NonExistent) "/" work')
    tc.transact("no", "fetch 1 uid")
    tc.expect_code("NONEXISTENT")


def test_selected_delayed_and_idle(imap):
    """SELECTED-DELAYED (RFC 5465 6.1.2): the selected mailbox's events wait for a command (or
    go out at once during IDLE); other mailboxes' events are told between commands."""
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "notify set (selected-delayed (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge))")
    imap.deliver(MSG)  # waits
    imap.deliver(MSG, mailbox="Archive")  # told now
    tc.read_untagged(UntaggedStatus("Archive", {"UIDNEXT": 2, "MESSAGES": 1, "UNSEEN": 1}))
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 1 EXISTS", "* 1 RECENT", "* 1 FETCH (UID 1 FLAGS (\\Recent))")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc2.transact("ok", "uid store 1 +flags.silent (\\Deleted)")
    tc2.transact("ok", "expunge")
    imap.deliver(MSG, mailbox="Archive")
    tc.read_untagged(UntaggedStatus("Archive", {"UIDNEXT": 3, "MESSAGES": 2, "UNSEEN": 2}))
    # A FETCH still sees the message; the expunge comes after it.
    tc.transact("ok", "fetch 1 (uid flags)")
    tc.expect_untagged_ordered("* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))", "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 1 EXPUNGE", "* 0 RECENT")
    # In IDLE they are told at once.
    tc.command("idle")
    assert tc.read_line() == "+ waiting"
    imap.deliver(MSG)
    tc.read_untagged("* 1 EXISTS", "* 1 RECENT", "* 1 FETCH (UID 2 FLAGS (\\Recent))")
    imap.deliver(MSG, mailbox="Archive")
    tc.read_untagged(UntaggedStatus("Archive", {"UIDNEXT": 4, "MESSAGES": 3, "UNSEEN": 3}))
    tc.write_line("DONE")
    tc.response("ok")
    tc.expect_no_untagged()


def test_selected_none_keeps_the_view(imap):
    """Without a SELECTED group the client wants no message events for the selected mailbox
    (RFC 5465 3.1): the view stays as it was (a snapshot); a new SELECT shows what changed."""
    imap.deliver(MSG)
    imap.deliver(MSG)
    tc = imap.connect()
    tc.transact("ok", "enable imap4rev2")
    tc.transact("ok", "select inbox")
    tc.transact("ok", "notify set (personal (MessageNew MessageExpunge FlagChange))")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc2.transact("ok", "uid store 1 +flags.silent (\\Deleted)")
    tc2.transact("ok", "expunge")
    imap.deliver(MSG)
    tc.transact("ok", "noop")
    tc.expect_no_untagged()  # also no STATUS: the selected mailbox is not "personal" for message events
    tc.transact("ok", "fetch 1:* (uid)")
    tc.expect_untagged("* 2 FETCH (UID 2)")  # message 1 is gone, its number stays
    tc.transact("ok", "uid search all")
    tc.expect_untagged("* ESEARCH (TAG \"x007\") UID ALL 2")
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some("* 2 EXISTS")
    tc.transact("ok", "notify set (selected (MessageNew MessageExpunge))")
    imap.deliver(MSG)
    tc.read_untagged("* 3 EXISTS", "* 3 FETCH (UID 4 FLAGS ())")


def test_other_mailboxes_status(imap):
    """STATUS for the other mailboxes (RFC 5465 5.1-5.3): MessageNew/MessageExpunge give
    UIDNEXT and MESSAGES, FlagChange UIDVALIDITY; HIGHESTMODSEQ with CONDSTORE; UNSEEN as mox."""
    tc = imap.connect()
    tc.transact("ok", "enable condstore")
    tc.transact("ok", "notify set status (personal (MessageNew MessageExpunge FlagChange))")
    archive = imap.account.mailbox("Archive")
    tc.expect_untagged_some(
        UntaggedStatus("Archive", {"MESSAGES": 0, "UIDNEXT": 1, "UIDVALIDITY": archive.uidvalidity, "UNSEEN": 0, "HIGHESTMODSEQ": max(archive.highest_modseq, 1)})
    )
    assert len(tc.untagged) == len(imap.account.mailboxes())  # nothing selected: every mailbox
    imap.deliver(MSG, mailbox="Archive")
    hm = imap.account.mailbox("Archive").highest_modseq
    tc.read_untagged(UntaggedStatus("Archive", {"UIDNEXT": 2, "MESSAGES": 1, "UNSEEN": 1, "HIGHESTMODSEQ": hm}))
    tc2 = imap.connect()
    tc2.transact("ok", "select Archive")
    tc2.transact("ok", "store 1 +flags.silent (\\Seen)")
    hm = imap.account.mailbox("Archive").highest_modseq
    tc.read_untagged(UntaggedStatus("Archive", {"UIDVALIDITY": archive.uidvalidity, "UNSEEN": 0, "HIGHESTMODSEQ": hm}))
    tc2.transact("ok", "move 1 Trash")
    hm_a, hm_t = imap.account.mailbox("Archive").highest_modseq, imap.account.mailbox("Trash").highest_modseq
    tc.read_untagged(
        UntaggedStatus("Archive", {"UIDNEXT": 2, "MESSAGES": 0, "UNSEEN": 0, "HIGHESTMODSEQ": hm_a}),
        UntaggedStatus("Trash", {"UIDNEXT": 2, "MESSAGES": 1, "UNSEEN": 0, "HIGHESTMODSEQ": hm_t}),
    )


def test_mailbox_events(imap):
    """MailboxName (RFC 5465 5.4), SubscriptionChange (5.5), MailboxMetadataChange and
    ServerMetadataChange (5.6, 5.7)."""
    tc = imap.connect()
    tc.transact("ok", f"notify set (personal ({EVENTS}))")
    tc2 = imap.connect()
    tc2.transact("ok", "create newbox")
    tc.read_untagged('* LIST (\\Subscribed) "/" newbox')
    tc2.transact("ok", "rename newbox oldbox")
    tc.read_untagged(UntaggedList((), "/", "oldbox", oldname="newbox"))
    tc2.transact("ok", "unsubscribe oldbox")
    tc.read_untagged('* LIST () "/" oldbox')
    tc2.transact("ok", "delete oldbox")
    tc.read_untagged('* LIST (\\NonExistent) "/" oldbox')
    tc2.transact("ok", "subscribe doesnotexist")
    tc.read_untagged('* LIST (\\Subscribed \\NonExistent) "/" doesnotexist')
    tc2.transact("ok", "unsubscribe doesnotexist")
    tc.read_untagged('* LIST (\\NonExistent) "/" doesnotexist')
    tc2.transact("ok", 'setmetadata Archive (/private/comment "x")')
    tc.read_untagged(UntaggedMetadata("Archive", (("/private/comment", None),), values=False))
    tc2.transact("ok", 'setmetadata "" (/shared/comment "y" /private/comment "z")')
    tc.read_untagged(
        UntaggedMetadata("", (("/shared/comment", None),), values=False),
        UntaggedMetadata("", (("/private/comment", None),), values=False),
    )
    # Only what was asked for: no MailboxName events now; a matching NONE group stops the search.
    tc.transact("ok", "notify set (mailboxes Archive NONE) (personal (SubscriptionChange MailboxMetadataChange))")
    tc2.transact("ok", "create other")
    tc2.transact("ok", 'setmetadata Archive (/private/comment NIL)')
    tc2.transact("ok", 'setmetadata Trash (/private/comment "t")')
    tc.read_untagged(UntaggedMetadata("Trash", (("/private/comment", None),), values=False))
    tc.transact("ok", "noop")
    tc.expect_no_untagged()


def test_filters(imap):
    """inboxes, subscribed, subtree, subtree-one and mailboxes (RFC 5465 6.3-6.6, RFC 7377)."""
    setup = imap.connect()
    for name in ("Inbox/a/b", "other/a/b", "other/c"):
        setup.transact("ok", f"create {name}")
    setup.transact("ok", "unsubscribe other/a/b")
    sessions = {}
    for spec in [
        "inboxes", "subscribed", "subtree (nosuch other/a)", "subtree-one (Inbox/a other)", "mailboxes (other/c INBOX)",
    ]:
        tc = imap.connect()
        tc.transact("ok", f"notify set ({spec} (MessageNew MessageExpunge))")
        sessions[spec] = tc
    imap.deliver(MSG, mailbox="other/a/b")
    imap.deliver(MSG, mailbox="Inbox/a/b")
    imap.deliver(MSG, mailbox="other/c")
    imap.deliver(MSG)
    got = {spec: set() for spec in sessions}
    expect = {
        "inboxes": {"Inbox/a/b", "Inbox"},
        "subscribed": {"Inbox/a/b", "other/c", "Inbox"},
        "subtree (nosuch other/a)": {"other/a/b"},
        "subtree-one (Inbox/a other)": {"Inbox/a/b", "other/c"},
        "mailboxes (other/c INBOX)": {"other/c", "Inbox"},
    }
    for spec, tc in sessions.items():
        for _ in expect[spec]:
            r = tc.read_untagged()
            assert isinstance(r, UntaggedStatus)
            got[spec].add(r.mailbox)
        tc.transact("ok", "noop")
        tc.expect_no_untagged()
    assert got == expect


def test_messagenew_fetch_attributes(imap):
    """MessageNew with FETCH attributes (RFC 5465 5.2): MODSEQ makes the command CONDSTORE
    enabling (RFC 7162 3.1); an attribute that can't be made gives an untagged NO and the UID."""
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "notify set (selected (MessageNew (uid modseq preview rfc822.size) MessageExpunge))")
    tc.expect_untagged("* OK [HIGHESTMODSEQ 1] x")  # CONDSTORE now on, for the selected mailbox
    imap.deliver(MSG)
    ms = modseq(imap, "Inbox", 1)
    tc.read_untagged("* 1 EXISTS", "* 1 RECENT", f"* 1 FETCH (UID 1 MODSEQ ({ms}) PREVIEW {{6}}\r\nhello\n RFC822.SIZE {len(MSG)})")
    tc.transact("ok", "notify set (selected (MessageNew (binary.peek[2]) MessageExpunge))")
    imap.deliver(MSG)
    tc.read_untagged("* 2 EXISTS", "* 2 RECENT", "* NO generating notify fetch response: part does not exist", "* 2 FETCH (UID 2)")
    tc.transact("ok", "notify set (selected (MessageNew (body[text]) MessageExpunge))")
    imap.deliver(MSG)
    tc.read_untagged("* 3 EXISTS", "* 3 RECENT", "* 3 FETCH (UID 3 BODY[TEXT] {7}\r\nhello\r\n)")
    tc.transact("ok", "uid fetch 3 flags")  # not \Seen: the client SHOULD NOT ask, we don't set it
    tc.expect_untagged("* 3 FETCH (UID 3 FLAGS (\\Recent))")


def test_overflow(imap, monkeypatch):
    """RFC 5465 5.8: too many changes at once end the setting with NOTIFICATIONOVERFLOW; the
    session then behaves as after NOTIFY NONE until the next NOTIFY SET."""
    monkeypatch.setattr(cmd_notify, "MAX_DELAYED", 2)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "notify set (selected-delayed (MessageNew MessageExpunge FlagChange)) (personal (MailboxName))")
    for _ in range(3):
        imap.deliver(MSG)  # each its own transaction: the third one overflows
    tc.read_untagged(UntaggedResult("OK", CodeWord("NOTIFICATIONOVERFLOW"), "out of sync after too many pending changes"))
    tc2 = imap.connect()
    tc2.transact("ok", "create x")
    tc.transact("ok", "noop")
    tc.expect_no_untagged()
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some("* 3 EXISTS")
    # More changes at once than MAX_PENDING: one MOVE is four (expunge and counts of the
    # source, new message and counts of the destination).
    monkeypatch.setattr(cmd_notify, "MAX_PENDING", 3)
    tc.transact("ok", "notify set (personal (MessageNew MessageExpunge))")
    tc2.transact("ok", "select inbox")
    tc2.transact("ok", "move 1 Archive")
    tc.read_untagged(UntaggedResult("OK", CodeWord("NOTIFICATIONOVERFLOW"), "out of sync after too many pending changes"))
    imap.deliver(MSG, mailbox="Archive")
    tc.transact("ok", "noop")
    tc.expect_no_untagged()


def test_imaplib(imap, monkeypatch):
    """One scenario through the standard library's client."""
    imap.start()
    monkeypatch.setitem(imaplib.Commands, "NOTIFY", ("AUTH", "SELECTED"))
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=imap.timeout)
    try:
        c.login("mox@localhost", "moxmoxmox")
        typ, _ = c.select("INBOX")
        assert typ == "OK"
        typ, data = c._simple_command("NOTIFY", "SET", "STATUS", "(personal (MessageNew MessageExpunge))")
        assert typ == "OK", data
        assert any(b"Archive" in d for d in c.untagged_responses.get("STATUS", []))
        typ, data = c._simple_command("NOTIFY", "SET", "(personal (Unknown))")
        assert typ == "NO" and data[0].startswith(b"[BADEVENT (MessageNew ")
        imap.deliver(MSG, mailbox="Archive")
        typ, _ = c.noop()
        assert typ == "OK"
        assert any(d.startswith(b"Archive (UIDNEXT 2 MESSAGES 1") for d in c.untagged_responses.get("STATUS", []))
    finally:
        c.logout()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_client_gone_while_notifying(imap, tls):
    """A client that drops the connection (no LOGOUT, no TLS close) while NOTIFY is set ends its
    connection quietly: the end of a connection, not a server error (the harness fails on one)."""
    tc = imap.connect(tls=tls)
    tc.transact("ok", "notify set (personal (MessageNew MessageExpunge))")
    tc.close()
    imap.wait_until(lambda: any("connection closed" in line for line in imap.log.lines), "the server to see the close")
    assert imap.log.errors == []


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_pushed_while_reading(imap, tls):
    """The notifications are written while the server waits for the next command, also on a
    TLS stream (one writer and one reader at once); a command sent meanwhile is answered."""
    tc = imap.connect(tls=tls)
    tc.transact("ok", "notify set (personal (MessageNew MessageExpunge MailboxName))")
    for i in range(1, 4):
        imap.deliver(MSG, mailbox="Archive")
        tc.read_untagged(UntaggedStatus("Archive", {"UIDNEXT": i + 1, "MESSAGES": i, "UNSEEN": i}))
        tc.transact("ok", "noop")
        tc.expect_no_untagged()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_connection_reset_while_waiting(imap, tls):
    """A client that goes away abruptly (TCP reset) while the server waits for its next command
    with NOTIFY set: the connection ends quietly, no error is logged (the harness checks)."""
    import socket
    import struct

    imap.start()
    refs = imap.account.references()
    tc = imap.connect(tls=tls)
    tc.transact("ok", "notify set (personal (MessageNew MessageExpunge MailboxName))")
    sock = tc.conn.sock
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    imap.deliver(MSG, mailbox="Archive")  # the server notices the reset or writes into it
    imap.wait_until(lambda: imap.account.references() == refs, "the session to end")
def test_select_keeps_other_mailboxes_events(imap, monkeypatch):
    """Changes waiting when the client SELECTs: those of the selected mailbox are in its listing,
    those of other mailboxes are still told (SELECT drops only the former)."""
    from mox.imap.session import Session

    select_view = Session.select_view

    def select_view_after_changes(self, mailbox_id):
        # Another session's changes, waiting for this one as the listing is made.
        self.acc.create_mailbox_sync("newbox")
        self.acc.deliver_sync("Inbox", MSG)
        self.acc.deliver_sync("Archive", MSG)
        return select_view(self, mailbox_id)

    monkeypatch.setattr(Session, "select_view", select_view_after_changes)
    tc = imap.connect()
    tc.transact("ok", "notify set (selected (MessageNew MessageExpunge)) (personal (MessageNew MessageExpunge MailboxName))")
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some(
        "* 1 EXISTS", '* LIST (\\Subscribed) "/" newbox', UntaggedStatus("Archive", {"UIDNEXT": 2, "MESSAGES": 1, "UNSEEN": 1})
    )
    assert sum(1 for _, raw in tc.untagged if raw.endswith(b" EXISTS")) == 1  # the new message only in the listing


def test_update_with_fetch_attributes(imap):
    """RFC 5465 7: UPDATE with FETCH attributes: a new message that enters the result comes with
    a FETCH of them, after its EXISTS and before the ESEARCH ADDTO; one a flag change brings in
    does not."""
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    t = tc.transact("ok", "SEARCH RETURN (COUNT UPDATE (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])) UNSEEN FROM alice").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") COUNT 0')
    imap.deliver(MSG)  # from alice
    imap.deliver(b"From: carol@example.org\r\nSubject: other\r\n\r\nx\r\n")
    imap.deliver(MSG, flags=["\\Seen"])  # from alice, but seen
    tc.transact("ok", "noop")
    hdr = "Subject: good morning\r\n\r\n"
    tc.expect_untagged_ordered(
        "* 3 EXISTS", "* 3 RECENT",
        "* 1 FETCH (UID 1 FLAGS (\\Recent))", "* 2 FETCH (UID 2 FLAGS (\\Recent))", "* 3 FETCH (UID 3 FLAGS (\\Seen \\Recent))",
        f"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {{{len(hdr)}}}\r\n{hdr})",
        f'* ESEARCH (TAG "{t}") ADDTO (0 1)',
    )  # fmt: skip
    other = imap.connect()
    other.transact("ok", "select inbox")
    other.transact("ok", "store 3 -flags.silent (\\Seen)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 3 FETCH (UID 3 FLAGS (\\Recent))", f'* ESEARCH (TAG "{t}") ADDTO (0 3)')
    tc.transact("bad", "SEARCH RETURN (UPDATE ()) ALL")
    tc.transact("bad", "SEARCH RETURN (UPDATE (bogus)) ALL")
