"""MULTIAPPEND (RFC 3502): several messages in one APPEND, stored all or none. The RFC's
examples (section 6.3.11) and what can fail after the first message arrived: a bad later
message, the quota, a full disk in a later literal or at the commit, a client that goes away;
APPENDUID with every UID (RFC 4315 3), EXISTS for the selected mailbox, the total size limit, and
the imapclient library's multiappend."""

from __future__ import annotations

import imaplib
import socket

from imapclient import IMAPClient

from mox.store import layout
from tests.diskspace import DiskSpace
from tests.imap.test_append_stream import big_message, raw, tmp_files, wait_closed

MSG1 = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    b"From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n"
    b"Subject: afternoon meeting\r\n"
    b"To: mooch@owatagu.example.net\r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
)
MSG2 = (
    b"Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n"
    b"From: Joe Mooch <mooch@OWaTaGu.example.net>\r\n"
    b"Subject: Re: afternoon meeting\r\n"
    b"To: foobar@Blurdybloop.example.com\r\n"
    b"Message-Id: <a0434793874930@OWaTaGu.example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    b"\r\n"
    b"3:30 is fine with me.\r\n"
)


def lit(data: bytes) -> bytes:
    return f"{{{len(data)}+}}\r\n".encode() + data


def messages(imap, mailbox: str = "Inbox") -> list[bytes]:
    acc = imap.account
    return [acc.read_message(m) for m in acc.messages(acc.mailbox(mailbox).id)]


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert "MULTIAPPEND" in tc.untagged[0][1].decode().split()


def test_rfc3502_example(imap):
    tc = imap.connect()
    tc.transact("ok", "create saved-messages")
    # RFC 3502 6.3.11, first example: two messages with synchronizing literals.
    tc.write_line(f"A003 APPEND saved-messages (\\Seen) {{{len(MSG1)}}}")
    assert tc.read_line() == "+ "
    tc.write(MSG1 + f' (\\Seen) " 7-Feb-1994 22:43:04 -0800" {{{len(MSG2)}}}\r\n'.encode())
    assert tc.read_line() == "+ "
    tc.write(MSG2 + b"\r\n")
    uidvalidity = imap.account.mailbox("saved-messages").uidvalidity
    assert tc.read_line() == f"A003 OK [APPENDUID {uidvalidity} 1:2] appended"
    assert messages(imap, "saved-messages") == [MSG1, MSG2]
    tc.transact("ok", "examine saved-messages")
    tc.transact("ok", "fetch 2 (flags internaldate)")
    tc.expect_untagged('* 2 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE " 8-Feb-1994 06:43:04 +0000")')
    # The second example: the mailbox does not exist; nothing is stored.
    tc.write_line("A004 APPEND bogusname (\\Flagged) {1}")
    assert tc.read_line() == "+ "
    tc.write(b"a (\\Flagged) {1}\r\n")
    assert tc.read_line() == "+ "
    tc.write(b"b\r\n")
    assert tc.read_line().startswith("A004 NO [TRYCREATE] ")
    assert imap.account.mailbox("bogusname") is None
    assert tmp_files(imap) == []


def test_selected_mailbox_sees_all(imap):
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    imap.deliver(b"Subject: before\r\n\r\nx\r\n")
    lines = raw(tc, "ok", b"a1 APPEND inbox (\\Seen $Label) " + lit(MSG1) + b" " + lit(MSG2) + b" () " + lit(b"x\r\n"))
    # The other session's message first, then ours, in one EXISTS; our three are \Recent here.
    assert lines[-1] == f"a1 OK [APPENDUID {imap.account.mailbox('Inbox').uidvalidity} 2:4] appended", lines
    assert "* 4 EXISTS" in lines and "* 4 RECENT" in lines
    assert [ln for ln in lines if "EXISTS" in ln][-1] == "* 4 EXISTS"
    tc.transact("ok", "fetch 2:4 (uid flags)")
    tc.expect_untagged(
        "* 2 FETCH (UID 2 FLAGS (\\Seen $label \\Recent))",
        "* 3 FETCH (UID 3 FLAGS (\\Recent))",
        "* 4 FETCH (UID 4 FLAGS (\\Recent))",
    )


def test_bad_later_message_stores_nothing(imap):
    tc = imap.connect()
    big = big_message(200_000)
    # A flag that is no flag in the second message: BAD, the first is not stored either.
    raw(tc, "bad", b"a1 APPEND inbox " + lit(big) + b" (\\Bogus) " + lit(MSG2))
    # Bad syntax after the first message (a date-time that is none).
    raw(tc, "bad", b"a2 APPEND inbox " + lit(big) + b' "yesterday" ' + lit(MSG2))
    # A missing message after the separating space; junk after the last message.
    raw(tc, "bad", b"a3 APPEND inbox " + lit(big) + b" ")
    raw(tc, "bad", b"a4 APPEND inbox " + lit(big) + b" " + lit(MSG2) + b" junk")
    assert messages(imap) == []
    assert tmp_files(imap) == []
    tc.transact("ok", "noop")


def test_quota_counts_all_messages(imap):
    imap.start(quota=300_000)
    tc = imap.connect()
    big = big_message(200_000)
    # Each fits alone; together they do not.
    assert raw(tc, "no", b"a1 APPEND inbox " + lit(big) + b" " + lit(big))[-1].startswith("a1 NO [OVERQUOTA]")
    assert messages(imap) == []
    assert tmp_files(imap) == []
    raw(tc, "ok", b"a2 APPEND inbox " + lit(big))


def test_full_disk_in_a_later_message(imap):
    tc = imap.connect()
    big = big_message(300_000)
    with DiskSpace(400_000):  # the first literal fits, the second fills the disk
        assert raw(tc, "no", b"a1 APPEND inbox " + lit(big) + b" " + lit(big))[-1].startswith("a1 NO [UNAVAILABLE]")
        assert tmp_files(imap) == []
    assert messages(imap) == []
    raw(tc, "ok", b"a2 APPEND inbox " + lit(big) + b" " + lit(big))  # space again
    assert messages(imap) == [big, big]


def test_full_disk_at_commit(imap):
    imap.start()
    journal = imap.account.path / layout.JOURNAL_NAME
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    with DiskSpace(0, only=lambda p: p == journal):  # message files fit, the journal frame not
        assert raw(tc, "no", b"a1 APPEND inbox " + lit(MSG1) + b" " + lit(MSG2))[-1].startswith("a1 NO [UNAVAILABLE]")
    assert messages(imap) == []
    assert tmp_files(imap) == []
    tc.transact("ok", "noop")
    tc.expect_no_untagged()  # no EXISTS for messages that were not stored
    assert imap.account.check_consistency() == []
    imap.allow_server_errors = False


def test_client_gone_in_a_later_message(imap):
    tc = imap.connect()
    big = big_message(100_000)
    tc.write(b"a1 APPEND inbox " + lit(big) + b" " + lit(big)[:50_000])
    tc.conn.sock.shutdown(socket.SHUT_WR)
    tc.expect_closed()
    wait_closed(imap)
    assert tmp_files(imap) == []
    assert messages(imap) == []


def test_total_size_limit(imap):
    imap.start(max_message_size=0)
    tc = imap.connect()
    limit = 1 << 30
    # Each message is under the limit, all of them together are not: the second is refused
    # before its data is invited (synchronizing literal), the command ends with BAD.
    tc.write_line(f"a1 APPEND inbox {{{limit // 2}}}")
    assert tc.read_line() == "+ "
    tc.write(b"x" * (limit // 2))
    tc.write(f" {{{limit // 2 + 1}}}\r\n".encode())
    assert tc.read_line() == "a1 BAD [TOOBIG] literal too big"
    assert tmp_files(imap) == []
    tc.transact("ok", "noop")
    assert messages(imap) == []


def test_imapclient_multiappend(imap):
    imap.start()
    c = IMAPClient("127.0.0.1", port=imap.ports["imap"], ssl=False, timeout=10)
    c.login("mox@localhost", "moxmoxmox")
    assert c.has_capability("MULTIAPPEND")
    c.create_folder("Saved")
    typ, data = c.multiappend("Saved", [MSG1, {"msg": MSG2, "flags": [b"\\Seen", b"$Label"]}])
    uidvalidity = imap.account.mailbox("Saved").uidvalidity
    assert (typ, data) == ("OK", [f"[APPENDUID {uidvalidity} 1:2] appended".encode()])
    c.select_folder("Saved", readonly=True)
    got = c.fetch([1, 2], ["FLAGS", "RFC822"])
    assert [got[u][b"RFC822"] for u in (1, 2)] == [MSG1, MSG2]
    assert set(got[2][b"FLAGS"]) == {b"\\Seen", b"$label", b"\\Recent"}
    c.logout()


def test_imaplib_multiappend(imap):
    # imaplib sends one synchronizing literal per command; with LITERAL+ (advertised) a client
    # can put several messages in the command's arguments.
    imap.start()
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    m.login("mox@localhost", "moxmoxmox")
    assert "MULTIAPPEND" in m.capabilities and "LITERAL+" in m.capabilities
    args = b"(\\Flagged) " + lit(MSG1) + b' "08-Feb-1994 06:43:04 +0000" ' + lit(MSG2)
    typ, data = m._simple_command("APPEND", "INBOX", args)
    assert typ == "OK", data
    uidvalidity = imap.account.mailbox("Inbox").uidvalidity
    assert m.response("APPENDUID") == ("APPENDUID", [f"{uidvalidity} 1:2".encode()])
    m.select("INBOX", readonly=True)
    typ, data = m.uid("SEARCH", "FLAGGED")
    assert data == [b"1"]
    assert messages(imap) == [MSG1, MSG2]
    m.logout()


def test_protocol_streams_each_message():
    # Sans-IO: each message literal (and each CATENATE TEXT part) is streamed on its own; a
    # CATENATE URL given as a literal and a mailbox name literal are not message data.
    from mox.imap.parse import is_append_message
    from mox.imap.protocol import NEED_DATA, AppendData, AppendLiteral, ImapServerConnection
    from mox.imap.types import MessageLiteral

    conn = ImapServerConnection()
    conn.ncommands = 1
    conn.stream_append = True
    conn.receive_data(b'a APPEND Inbox {3+}\r\nabc (\\Seen) " 7-Feb-1994 22:43:04 -0800" {2}\r\nde\r\n')
    evs = []
    while (ev := conn.next_event()) is not NEED_DATA:
        evs.append(ev)
    assert evs[:2] == [AppendLiteral("a", 3, False), AppendData(b"abc")]
    assert evs[2:4] == [AppendLiteral("a", 2, True), AppendData(b"de")]
    cmd = evs[4]
    assert [m.data for m in cmd.args["messages"]] == [MessageLiteral(3), MessageLiteral(2)]
    assert cmd.args["messages"][1].flags == ("\\Seen",)
    assert is_append_message(b"a APPEND {5}") is False  # the mailbox name
    assert is_append_message(b"a APPEND x (\\Seen) {5}") is True
    assert is_append_message(b"a APPEND x CATENATE (TEXT {5}") is True
    assert is_append_message(b"a APPEND x CATENATE (URL {5}") is False
    assert is_append_message(b'a APPEND x CATENATE (URL "/x" TEXT {5}') is True
    assert is_append_message(b"a APPEND x {3}\r\nabc {5}") is True  # buffered first message
    assert is_append_message(b"a APPEND x {3}\r\nabc junk {5}") is False
