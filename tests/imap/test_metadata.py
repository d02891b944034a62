"""METADATA (RFC 5464) and LIST-METADATA (RFC 9590): server ("") and mailbox entries, set and
got with the RFC's examples (sections 4.2.1-4.2.3, 4.3), DEPTH and MAXSIZE, the limits
(TOOMANY, MAXSIZE), binary values, entries that persist across a restart of the store and go
with a deleted mailbox, LIST RETURN (METADATA ...), the client's typed values, and imaplib."""

from __future__ import annotations

import imaplib

from mox.imap.responses import CodeMetadata, UntaggedMetadata
from mox.store import writes


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    caps = tc.untagged[0][1].decode().split()
    assert "METADATA" in caps and "LIST-METADATA" in caps


def test_rfc5464_examples(imap):
    tc = imap.connect()
    # 4.3: setting a mailbox's and the server's comment; NIL removes one.
    tc.transact("ok", 'SETMETADATA INBOX (/private/comment {33+}\r\nMy new comment across\r\ntwo lines.)')
    tc.transact("ok", 'SETMETADATA "" (/shared/comment "Shared comment" /private/comment "Mine")')
    # 4.2.1: GETMETADATA of one entry.
    tc.transact("ok", 'GETMETADATA "" /shared/comment')
    tc.expect_untagged('* METADATA "" (/shared/comment "Shared comment")')
    tc.transact("ok", "GETMETADATA INBOX /private/comment")
    tc.expect_untagged(UntaggedMetadata("Inbox", (("/private/comment", b"My new comment across\r\ntwo lines."),)))
    # Several entries, case-insensitive names; absent entries are left out.
    tc.transact("ok", 'GETMETADATA "" (/shared/Comment /private/comment /shared/nothing)')
    tc.expect_untagged('* METADATA "" (/private/comment "Mine" /shared/comment "Shared comment")')
    tc.transact("ok", "SETMETADATA INBOX (/private/comment NIL)")
    tc.transact("ok", "GETMETADATA INBOX /private/comment")
    tc.expect_no_untagged()
    tc.transact("ok", "SETMETADATA INBOX (/private/comment NIL)")  # removing what is not there


def test_depth_and_maxsize(imap):
    tc = imap.connect()
    tc.transact("ok", 'SETMETADATA "" (/private/a "1" /private/a/b "22" /private/a/b/c "333" /private/ab "x")')
    tc.transact("ok", 'GETMETADATA "" /private/a')
    tc.expect_untagged('* METADATA "" (/private/a "1")')
    # 4.2.2: DEPTH 1 adds the children, infinity every descendant ("/private/ab" is neither).
    tc.transact("ok", 'GETMETADATA (DEPTH 1) "" /private/a')
    tc.expect_untagged('* METADATA "" (/private/a "1" /private/a/b "22")')
    tc.transact("ok", 'GETMETADATA (DEPTH infinity) "" (/private/a)')
    tc.expect_untagged('* METADATA "" (/private/a "1" /private/a/b "22" /private/a/b/c "333")')
    tc.transact("ok", 'GETMETADATA (DEPTH infinity) "" /')
    tc.expect_untagged('* METADATA "" (/private/a "1" /private/a/b "22" /private/a/b/c "333" /private/ab "x")')
    # 4.2.1: MAXSIZE leaves out longer values; LONGENTRIES says the longest left out.
    tc.transact("ok", 'GETMETADATA (MAXSIZE 2 DEPTH infinity) "" /private/a')
    tc.expect_untagged('* METADATA "" (/private/a "1" /private/a/b "22")')
    assert tc.result.code == CodeMetadata("LONGENTRIES", 3)
    tc.transact("ok", 'GETMETADATA (MAXSIZE 0) "" /private/a')
    tc.expect_no_untagged()
    assert tc.result.code == CodeMetadata("LONGENTRIES", 1)


def test_errors(imap):
    tc = imap.connect()
    tc.transact("no", 'SETMETADATA nosuchbox (/private/comment "x")')
    tc.transact("no", "GETMETADATA nosuchbox /private/comment")
    tc.expect_code("NONEXISTENT")
    tc.transact("no", 'SETMETADATA "" (/comment "x")')  # neither /private nor /shared
    tc.transact("no", 'SETMETADATA "" (/private/vendor/x "x")')  # vendor entries need 4 levels
    tc.transact("ok", 'SETMETADATA "" (/private/vendor/example.org/x "x")')
    for bad in (
        'SETMETADATA "" (/private//x "x")', 'SETMETADATA "" (/private/x/ "x")', 'SETMETADATA "" (/private/* "x")',
        'SETMETADATA "" (private/x "x")', 'SETMETADATA "" ()', 'SETMETADATA "" (/private/x)',
        'GETMETADATA "" ()', 'GETMETADATA (DEPTH 2) "" /private/x', 'GETMETADATA (MAXSIZE 1 MAXSIZE 2) "" /x',
        'GETMETADATA (BOGUS) "" /x', 'GETMETADATA ""',
    ):
        tc.transact("bad", bad)
    # Nothing of a refused command was set.
    tc.transact("ok", 'GETMETADATA (DEPTH infinity) "" /')
    tc.expect_untagged('* METADATA "" (/private/vendor/example.org/x "x")')


def test_limits(imap, monkeypatch):
    monkeypatch.setattr(writes, "METADATA_MAX_ENTRIES", 3)
    monkeypatch.setattr(writes, "METADATA_MAX_SIZE", 100)
    tc = imap.connect()
    tc.transact("ok", 'SETMETADATA "" (/private/a "1" /private/b "2")')
    # RFC 5464 4.3: TOOMANY over the number of entries, MAXSIZE with the limit over the size;
    # nothing of the command is set.
    tc.transact("no", 'SETMETADATA INBOX (/private/c "3" /private/d "4")')
    assert tc.result.code == CodeMetadata("TOOMANY")
    tc.transact("no", 'SETMETADATA "" (/private/c "' + "x" * 100 + '")')
    assert tc.result.code == CodeMetadata("MAXSIZE", 100)
    tc.transact("ok", 'SETMETADATA "" (/private/a NIL /private/c "3" /private/d "4")')  # a removal makes room
    tc.transact("ok", 'GETMETADATA (DEPTH infinity) "" /')
    tc.expect_untagged('* METADATA "" (/private/b "2" /private/c "3" /private/d "4")')


def test_binary_values(imap):
    tc = imap.connect()
    tc.transact("ok", "SETMETADATA INBOX (/shared/blob ~{5+}\r\na\x00b\r\n)")
    tc.transact("ok", "GETMETADATA INBOX /shared/blob")
    tc.expect_untagged(UntaggedMetadata("Inbox", (("/shared/blob", b"a\x00b\r\n"),)))
    assert tc.untagged[0][1].startswith(b"* METADATA Inbox (/shared/blob ~{5}\r\n")


def test_persisted_and_deleted_with_mailbox(imap):
    tc = imap.connect()
    tc.transact("ok", "create Project")
    tc.transact("ok", 'SETMETADATA Project (/private/comment "keep")')
    tc.transact("ok", 'SETMETADATA "" (/private/comment "server")')
    tc.transact("ok", "rename Project Projects")
    tc.transact("ok", "GETMETADATA Projects /private/comment")
    tc.expect_untagged('* METADATA Projects (/private/comment "keep")')
    acc = imap.account
    mbid = acc.mailbox("Projects").id
    assert [(a.key, a.value) for a in acc.annotations(mbid)] == [("/private/comment", b"keep")]
    tc.transact("ok", "delete Projects")
    tc.transact("ok", "create Projects")
    tc.transact("ok", "GETMETADATA Projects /private/comment")
    tc.expect_no_untagged()  # RFC 5464 3.2: a deleted mailbox's entries are gone
    tc.transact("ok", 'GETMETADATA "" /private/comment')
    tc.expect_untagged('* METADATA "" (/private/comment "server")')


def test_list_metadata(imap):
    tc = imap.connect()
    tc.transact("ok", 'SETMETADATA INBOX (/shared/comment "inbox comment")')
    tc.transact("ok", 'SETMETADATA Drafts (/private/comment "drafts comment")')
    # RFC 9590 3: after each mailbox's LIST, a METADATA response with the entries asked for.
    tc.transact("ok", 'LIST "" (INBOX Drafts Sent) RETURN (METADATA (/shared/comment /private/comment))')
    tc.expect_untagged(
        '* LIST (\\Drafts) "/" Drafts', '* METADATA Drafts (/shared/comment NIL /private/comment "drafts comment")',
        '* LIST () "/" Inbox', '* METADATA Inbox (/shared/comment "inbox comment" /private/comment NIL)',
        '* LIST (\\Sent) "/" Sent', '* METADATA Sent (/shared/comment NIL /private/comment NIL)',
    )
    tc.transact("bad", 'LIST "" % RETURN (METADATA ())')
    tc.transact("bad", 'LIST "" % RETURN (METADATA /shared/comment)')


def test_imaplib(imap):
    imap.start()
    imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
    imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    m.login("mox@localhost", "moxmoxmox")
    assert "METADATA" in m.capabilities
    typ, data = m._simple_command("SETMETADATA", "INBOX", '(/private/comment "from imaplib")')
    assert typ == "OK", data
    typ, data = m._simple_command("GETMETADATA", "INBOX", "/private/comment")
    assert typ == "OK", data
    assert m.response("METADATA") == ("METADATA", [b'Inbox (/private/comment "from imaplib")'])
    m.logout()


def test_imapclient(imap):
    """imapclient has no METADATA methods: its raw command interface sends them (a binary value
    as a literal) and parses the untagged METADATA responses."""
    from imapclient import IMAPClient

    imap.start()
    c = IMAPClient("127.0.0.1", port=imap.ports["imap"], ssl=False, timeout=10)
    c.login("mox@localhost", "moxmoxmox")
    assert c.has_capability("METADATA") and c.has_capability("LIST-METADATA")
    c._raw_command_untagged(b"SETMETADATA", [b"INBOX", b'(/private/comment "from imapclient")'], uid=False)
    got = c._raw_command_untagged(b"GETMETADATA", [b"INBOX", b"/private/comment"], "METADATA", uid=False)
    assert got == [b'Inbox (/private/comment "from imapclient")']
    got = c._raw_command_untagged(b"GETMETADATA", [b"INBOX", b"/private/nothing"], "METADATA", uid=False)
    assert got == [None]  # no entry: no METADATA response
    c.logout()


def test_client_helpers(imap):
    from mox.imap.client import Conn

    imap.start()
    with Conn.connect("127.0.0.1", imap.ports["imap"], timeout=10) as c:
        c.login("mox@localhost", "moxmoxmox")
        c.setmetadata("", {"/private/comment": "server", "/shared/bin": b"\x00\x01\r\n"})
        c.setmetadata("Inbox", {"/private/comment": "inbox"})
        assert c.getmetadata("", "/private/comment", "/shared/bin", "/shared/none") == {
            "/private/comment": b"server", "/shared/bin": b"\x00\x01\r\n",
        }
        assert c.getmetadata("Inbox", "/private", depth="infinity") == {"/private/comment": b"inbox"}
        c.setmetadata("Inbox", {"/private/comment": None})
        assert c.getmetadata("Inbox", "/private/comment") == {}
