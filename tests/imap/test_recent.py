"""\\Recent (RFC 3501 2.3.2, 6.3.1, 6.3.2, 6.3.10, 6.4.4, 7.3.2) for sessions that did not enable
IMAP4rev2: a message is \\Recent in the first session told of it. SELECT takes the messages
nobody took yet, as does a read-write session that hears of new ones (EXISTS); EXAMINE shows what
nobody took but takes nothing. Each message is \\Recent in exactly one read-write session. The
answers follow Dovecot's (RECENT only when the number changes, STATUS RECENT of the selected
mailbox is the session's own number). IMAP4rev2 removed \\Recent: such sessions neither see nor
take it."""

from __future__ import annotations

import threading

MSG = b"Subject: x\r\n\r\nbody\r\n"


def deliver(imap, n, mailbox="Inbox"):
    for _ in range(n):
        imap.deliver(MSG, mailbox=mailbox)


def select_lines(imap, exists, recent, uidnext, unseen=1, name="Inbox", examine=False):
    """The untagged responses of SELECT/EXAMINE of a mailbox without keywords (IMAP4rev1)."""
    flags = "\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent"
    mb = imap.account.mailbox(name)
    lines = [
        f"* FLAGS ({flags})",
        f"* OK [PERMANENTFLAGS ({flags} \\*)] x",
        f"* {recent} RECENT",
        f"* {exists} EXISTS",
        f"* OK [UIDVALIDITY {mb.uidvalidity}] x",
        f"* OK [UIDNEXT {uidnext}] x",
        f'* LIST () "/" {name}',
    ]
    if unseen:
        lines.append(f"* OK [UNSEEN {unseen}] x")
    return lines


def test_recent_select_examine_status_search(imap):
    # The sequence of Dovecot's answers in the same situation.
    imap.start()
    deliver(imap, 2)
    ex = imap.connect()
    other = imap.connect()
    # EXAMINE shows the messages nobody took as \Recent, and takes nothing (RFC 3501 6.3.2).
    ex.transact("ok", "examine inbox")
    ex.expect_untagged(*select_lines(imap, exists=2, recent=2, uidnext=3))
    ex.transact("ok", "fetch 1:* flags")
    ex.expect_untagged("* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))")
    ex.transact("ok", "search recent")
    ex.expect_untagged("* SEARCH 1 2")
    other.transact("ok", "status inbox (recent messages)")  # RFC 3501 6.3.10
    other.expect_untagged("* STATUS Inbox (RECENT 2 MESSAGES 2)")
    # SELECT takes them (RFC 3501 6.3.1).
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.expect_untagged(*select_lines(imap, exists=2, recent=2, uidnext=3))
    tc.transact("ok", "fetch 1:* (uid flags)")
    tc.expect_untagged("* 1 FETCH (UID 1 FLAGS (\\Recent))", "* 2 FETCH (UID 2 FLAGS (\\Recent))")
    tc.transact("ok", "status inbox (recent)")  # of the selected mailbox: this session's number
    tc.expect_untagged("* STATUS Inbox (RECENT 2)")
    other.transact("ok", "status inbox (recent messages)")
    other.expect_untagged("* STATUS Inbox (RECENT 0 MESSAGES 2)")
    ex.transact("ok", "noop")  # what a session saw as \Recent stays so in it
    ex.expect_no_untagged()
    ex.transact("ok", "fetch 1 flags")
    ex.expect_untagged("* 1 FETCH (FLAGS (\\Recent))")
    # A later SELECT finds none left.
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc2.expect_untagged(*select_lines(imap, exists=2, recent=0, uidnext=3))
    tc2.transact("ok", "fetch 1:* flags")
    tc2.expect_untagged("* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())")
    # A new message: the read-only session sees it \Recent while nobody took it; the first
    # read-write session told of it takes it; the other one learns of it without.
    deliver(imap, 1)
    ex.transact("ok", "noop")
    ex.expect_untagged("* 3 EXISTS", "* 3 RECENT", "* 3 FETCH (UID 3 FLAGS (\\Recent))")
    tc2.transact("ok", "noop")
    tc2.expect_untagged("* 3 EXISTS", "* 1 RECENT", "* 3 FETCH (UID 3 FLAGS (\\Recent))")
    tc.transact("ok", "noop")  # still two \Recent messages here: no RECENT response
    tc.expect_untagged("* 3 EXISTS", "* 3 FETCH (UID 3 FLAGS ())")
    other.transact("ok", "status inbox (recent)")
    other.expect_untagged("* STATUS Inbox (RECENT 0)")
    # SEARCH RECENT, NEW (RECENT UNSEEN), OLD (NOT RECENT) (RFC 3501 6.4.4).
    tc2.transact("ok", "search recent")
    tc2.expect_untagged("* SEARCH 3")
    tc.transact("ok", "store 1 +flags (\\Seen)")
    tc.expect_untagged("* 1 FETCH (FLAGS (\\Seen \\Recent))")
    for crit, want in [("recent", "1 2"), ("new", "2"), ("old", "3"), ("not recent", "3"), ("recent seen", "1"),
                       ("or new old", "2 3"), ("uid 2:3 recent", "2")]:
        tc.transact("ok", f"search {crit}")
        tc.expect_untagged(f"* SEARCH {want}")
    tc.transact("ok", "uid search return (all count) recent")
    tc.expect_untagged(f'* ESEARCH (TAG "{tc.result.tag}") UID COUNT 2 ALL 1:2')
    # \Recent is not a flag a client can set or clear (RFC 3501 2.3.2).
    tc.transact("ok", "store 2 flags ()")
    tc.expect_untagged("* 2 FETCH (FLAGS (\\Recent))")
    tc.transact("ok", "store 3 +flags (\\Recent)")
    tc.expect_untagged("* 3 FETCH (FLAGS ())")
    tc.transact("ok", "store 2 -flags (\\Recent)")
    tc.expect_untagged("* 2 FETCH (FLAGS (\\Recent))")
    # Expunging a \Recent message changes the number (as Dovecot reports it).
    tc.transact("ok", "store 1 +flags.silent (\\Deleted)")
    tc.transact("ok", "expunge")
    tc.expect_untagged("* 1 EXPUNGE", "* 1 RECENT")
    tc2.transact("ok", "noop")  # not \Recent in tc2: its number stays
    tc2.expect_untagged("* 1 FETCH (UID 1 FLAGS (\\Seen))", "* 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))", "* 1 EXPUNGE")
    # EXAMINE after all was taken.
    ex2 = imap.connect()
    ex2.transact("ok", "examine inbox")
    ex2.expect_untagged(*select_lines(imap, exists=2, recent=0, uidnext=4, unseen=1))


def test_recent_targets_of_copy_move_append(imap):
    # COPY, MOVE and APPEND make new messages: \Recent for the next session that selects the
    # target (RFC 3501 6.3.11, 6.4.7), and right away for the session that has it selected.
    imap.start()
    deliver(imap, 3)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "copy 1 Archive")
    tc.transact("ok", "move 2 Archive")
    tc.expect_untagged_some("* 2 EXPUNGE", "* 2 RECENT")
    tc.transact("ok", "append Archive ", MSG)
    other = imap.connect()
    other.transact("ok", "status Archive (messages recent)")
    other.expect_untagged("* STATUS Archive (MESSAGES 3 RECENT 3)")
    other.transact("ok", "select Archive")
    other.expect_untagged(*select_lines(imap, exists=3, recent=3, uidnext=4, name="Archive"))
    other.transact("ok", "fetch 1:* flags")
    other.expect_untagged("* 1 FETCH (FLAGS (\\Recent))", "* 2 FETCH (FLAGS (\\Recent))", "* 3 FETCH (FLAGS (\\Recent))")
    third = imap.connect()
    third.transact("ok", "select Archive")
    third.expect_untagged(*select_lines(imap, exists=3, recent=0, uidnext=4, name="Archive"))
    # Into the selected mailbox: the session itself is the first to see them.
    tc.transact("ok", "select Archive")
    tc.expect_untagged_some("* 0 RECENT")
    tc.transact("ok", "copy 1 Archive")
    tc.expect_untagged("* 4 EXISTS", "* 1 RECENT")
    tc.transact("ok", "append Archive ", MSG)
    tc.expect_untagged("* 5 EXISTS", "* 2 RECENT")
    archive = imap.account.mailbox("Archive")
    tc.transact("ok", "move 5 Archive")  # a \Recent one out, one in: still two, no RECENT (as Dovecot)
    tc.expect_untagged(f"* OK [COPYUID {archive.uidvalidity} 5 6] moved", "* 5 EXPUNGE", "* 5 EXISTS")
    tc.transact("ok", "uid fetch 3:* flags")
    tc.expect_untagged(
        "* 3 FETCH (UID 3 FLAGS ())", "* 4 FETCH (UID 4 FLAGS (\\Recent))", "* 5 FETCH (UID 6 FLAGS (\\Recent))"
    )
    other.transact("ok", "noop")  # told of them after tc took them: not \Recent there
    other.expect_untagged_some("* 5 EXISTS")
    assert not any(b"\\Recent" in raw or raw.endswith(b"RECENT") for _, raw in other.untagged)


def test_recent_imap4rev2_neither_sees_nor_takes(imap):
    imap.start()
    deliver(imap, 2)
    rev2 = imap.connect()
    rev2.transact("ok", "enable imap4rev2")
    rev2.transact("ok", "select inbox")
    assert not any(raw.endswith(b"RECENT") for _, raw in rev2.untagged)
    rev2.transact("ok", "fetch 1:* flags")
    rev2.expect_untagged("* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())")
    rev2.transact("ok", "search recent")
    rev2.expect_untagged(f'* ESEARCH (TAG "{rev2.result.tag}")')
    deliver(imap, 1)
    rev2.transact("ok", "noop")
    rev2.expect_untagged("* 3 EXISTS", "* 3 FETCH (UID 3 FLAGS ())")
    # The messages are still \Recent for the first IMAP4rev1 session.
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some("* 3 RECENT")


def test_recent_exactly_one_of_concurrent_sessions(imap):
    # Sessions selecting at the same moment, and sessions told of the same new messages at the
    # same moment: each message is \Recent in exactly one of them (RFC 3501 2.3.2).
    imap.start()
    deliver(imap, 20)
    sessions = [imap.connect() for _ in range(6)]
    for tc in sessions:
        tc.command("SELECT Inbox")  # all sent before any answer is read
    for tc in sessions:
        tc.response("ok")
    new_uids = list(range(21, 41))

    def deliver_more() -> None:
        deliver(imap, 20)

    t = threading.Thread(target=deliver_more)
    t.start()
    for i in range(5):  # NOOPs racing with the deliveries
        for tc in sessions:
            tc.command("NOOP")
        for tc in sessions:
            tc.response("ok")
    t.join()
    recent: list[set[int]] = []
    for tc in sessions:
        tc.transact("ok", "noop")
        tc.transact("ok", "uid search recent")
        recent.append({int(n) for n in tc.untagged[0][1].split()[2:]})
        tc.transact("ok", "uid fetch 1:* flags")
        flagged = {r.attrs[0].uid for r, raw in tc.untagged if b"\\Recent" in raw}
        assert flagged == recent[-1]
    everything = [u for r in recent for u in r]
    assert sorted(everything) == list(range(1, 21)) + new_uids  # each in exactly one session
    # The RECENT count each session was told matches what it sees.
    for tc, r in zip(sessions, recent):
        tc.transact("ok", "status inbox (recent)")
        tc.expect_untagged(f"* STATUS Inbox (RECENT {len(r)})")


def test_recent_survives_reconnect(imap):
    # Messages nobody selected stay \Recent for the next session, however many sessions came
    # and went meanwhile; the claim of a session stays after it logs out.
    imap.start()
    deliver(imap, 2)
    for _ in range(2):
        tc = imap.connect()
        tc.transact("ok", "examine inbox")
        tc.expect_untagged_some("* 2 RECENT")
        tc.transact("ok", "logout")
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some("* 2 RECENT")
    tc.transact("ok", "logout")
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.expect_untagged_some("* 0 RECENT")


def test_recent_imaplib(imap):
    import imaplib

    imap.start()
    deliver(imap, 2)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    c.login("mox@localhost", "moxmoxmox")
    assert c.select("Inbox") == ("OK", [b"2"])
    assert c.response("RECENT") == ("RECENT", [b"2"])
    assert c.search(None, "NEW") == ("OK", [b"1 2"])
    typ, data = c.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS (\\Recent))"]
    c.logout()
