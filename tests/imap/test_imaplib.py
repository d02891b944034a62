"""An independent client: Python's imaplib runs whole scenarios against the server.

imaplib hands back raw response data; FETCH data is parsed again with our strict response parser
(``mox.imap.responses``) so the assertions stay exact.
"""

from __future__ import annotations

import imaplib
import re
import ssl

from mox.imap.client import Conn
from mox.imap.responses import (
    FetchBody,
    FetchFlags,
    FetchRFC822Size,
    FetchUID,
    UntaggedFetch,
)
from mox.imap.response_parse import parse_response

MSG1 = (
    b"From: mox@localhost\r\n"
    b"To: mox@localhost\r\n"
    b"Subject: first\r\n"
    b"Message-Id: <first@localhost>\r\n"
    b"\r\n"
    b"hello\r\n"
)
MSG2 = (
    b"From: other@localhost\r\n"
    b"To: mox@localhost\r\n"
    b"Subject: second\r\n"
    b"Message-Id: <second@localhost>\r\n"
    b"\r\n"
    b"world\r\n"
)
MAILBOX_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?:"(?P<sep>.)"|NIL) (?P<name>.*)$')


def list_names(data: list[bytes]) -> set[str]:
    names = set()
    for line in data:
        m = MAILBOX_RE.match(line)
        assert m, line
        assert m.group("sep") == b"/"
        name = m.group("name")
        if name.startswith(b'"'):
            name = name[1:-1]
        names.add(name.decode())
    return names


def fetch_responses(data: list) -> list[UntaggedFetch]:
    """Reassemble imaplib's FETCH data into wire bytes and parse each response strictly.

    imaplib gives ``(line-up-to-literal, literal)`` tuples for each literal, then the rest of the
    line as bytes; a response without literals is one bytes item.
    """
    parsed = []
    pending = b""
    for item in data:
        if isinstance(item, tuple):
            pending += item[0] + b"\r\n" + item[1]
            continue
        seq, rest = (pending + item).split(b" ", 1)  # imaplib drops the word FETCH
        wire = b"* " + seq + b" FETCH " + rest + b"\r\n"
        pending = b""
        resp, n = parse_response(wire)
        assert isinstance(resp, UntaggedFetch) and n == len(wire), wire
        parsed.append(resp)
    assert pending == b""
    return parsed


def test_imaplib_scenario(imap):
    imap.start()
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    assert "IMAP4REV2" in m.capabilities and "IDLE" in m.capabilities

    typ, data = m.login("mox@localhost", "moxmoxmox")
    assert typ == "OK" and m.state == "AUTH"

    typ, data = m.list()
    assert typ == "OK"
    assert list_names(data) == {"Inbox", "Archive", "Drafts", "Junk", "Sent", "Trash"}

    assert m.create("Work")[0] == "OK"
    assert list_names(m.list('""', "W*")[1]) == {"Work"}

    assert m.select("Inbox") == ("OK", [b"0"])
    assert m.response("EXISTS") == ("EXISTS", [b"0"])  # imaplib keeps untagged data until asked
    uidvalidity = int(m.response("UIDVALIDITY")[1][0])

    # APPEND with flags and a date; APPENDUID in the tagged OK (RFC 4315).
    typ, data = m.append("Inbox", r"(\Seen)", imaplib.Time2Internaldate(1700000000), MSG1)
    assert typ == "OK"
    assert re.match(rb"\[APPENDUID %d 1\]" % uidvalidity, data[0]), data
    # The new message is announced to the session that has Inbox selected.
    assert m.response("EXISTS") == ("EXISTS", [b"1"])

    # A delivery through the store shows up on the next NOOP (polling without IDLE).
    imap.deliver(MSG2)
    typ, _ = m.noop()
    assert typ == "OK"
    assert m.response("EXISTS") == ("EXISTS", [b"2"])
    # mox tells the UID and flags of new messages right away (as mox does).
    assert m.response("FETCH") == ("FETCH", [b"2 (UID 2 FLAGS (\\Recent))"])  # new to this session

    typ, data = m.fetch("1:2", "(UID FLAGS RFC822.SIZE)")
    assert typ == "OK"
    got = fetch_responses(data)
    assert [(f.seq, set(f.attrs)) for f in got] == [
        (1, {FetchUID(1), FetchFlags([r"\Seen", r"\Recent"]), FetchRFC822Size(len(MSG1))}),
        (2, {FetchUID(2), FetchFlags([r"\Recent"]), FetchRFC822Size(len(MSG2))}),
    ]

    typ, data = m.fetch("2", "(BODY.PEEK[])")
    assert typ == "OK"
    assert [f.attrs for f in fetch_responses(data)] == [(FetchBody("", None, MSG2),)]

    typ, data = m.store("2", "+FLAGS", r"(\Flagged $work)")
    assert typ == "OK"
    assert [set(f.attrs) for f in fetch_responses(data)] == [{FetchFlags([r"\Flagged", "$work", r"\Recent"])}]

    assert m.search(None, "FLAGGED") == ("OK", [b"2"])
    assert m.search(None, "UNSEEN") == ("OK", [b"2"])
    assert m.search(None, "SUBJECT", "first") == ("OK", [b"1"])
    assert m.uid("SEARCH", "SEEN") == ("OK", [b"1"])
    assert m.search(None, "KEYWORD", "$work") == ("OK", [b"2"])

    typ, data = m.copy("1:2", "Work")
    assert typ == "OK"
    assert re.match(rb"\[COPYUID \d+ 1:2 1:2\]", data[0]), data
    typ, data = m.status("Work", "(MESSAGES UNSEEN)")
    assert (typ, data) == ("OK", [b"Work (MESSAGES 2 UNSEEN 1)"])

    assert m.store("1", "+FLAGS.SILENT", r"(\Deleted)") == ("OK", [None])
    assert m.expunge() == ("OK", [b"1"])
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    assert [set(f.attrs) for f in fetch_responses(data)] == [{FetchUID(2), FetchFlags([r"\Flagged", "$work", r"\Recent"])}]

    assert m.uid("STORE", "2", "-FLAGS", r"(\Flagged)")[0] == "OK"
    typ, data = m.uid("FETCH", "2", "(FLAGS)")
    assert [set(f.attrs) for f in fetch_responses(data)] == [{FetchUID(2), FetchFlags(["$work", r"\Recent"])}]

    assert m.close()[0] == "OK"
    assert m.select("Work", readonly=True) == ("OK", [b"2"])
    typ, data = m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert [f.attrs for f in fetch_responses(data)] == [
        (FetchUID(1), FetchBody("HEADER.FIELDS (SUBJECT)", None, b"Subject: first\r\n\r\n")),
        (FetchUID(2), FetchBody("HEADER.FIELDS (SUBJECT)", None, b"Subject: second\r\n\r\n")),
    ]
    typ, _ = m.logout()
    assert typ == "BYE"

    # What the client saw is what the store has.
    inbox = imap.account.mailbox("Inbox")
    assert [(msg.uid, msg.flags) for msg in imap.account.messages(inbox.id)] == [(2, ("$work",))]
    work = imap.account.mailbox("Work")
    assert [msg.uid for msg in imap.account.messages(work.id)] == [1, 2]


def test_imaplib_tls(imap):
    imap.start()
    ctx = imap.client_tls_context()

    m = imaplib.IMAP4_SSL("localhost", imap.ports["imaps"], ssl_context=ctx, timeout=10)
    assert m.login("mox@localhost", "moxmoxmox")[0] == "OK"
    assert m.select("Inbox") == ("OK", [b"0"])
    assert m.logout()[0] == "BYE"

    m = imaplib.IMAP4("localhost", imap.ports["imap"], timeout=10)
    assert "STARTTLS" in m.capabilities
    assert m.starttls(ssl_context=ctx)[0] == "OK"
    assert isinstance(m.sock, ssl.SSLSocket)
    assert "STARTTLS" not in m.capabilities
    assert m.login("mox@localhost", "moxmoxmox")[0] == "OK"
    assert m.logout()[0] == "BYE"


def test_imaplib_login_failure(imap):
    imap.start()
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    try:
        m.login("mox@localhost", "wrong")
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATIONFAILED" in str(e)
    else:
        raise AssertionError("login with a wrong password succeeded")
    assert m.state == "NONAUTH"
    assert m.login("mox@localhost", "moxmoxmox")[0] == "OK"
    assert m.logout()[0] == "BYE"


def test_imaplib_data_integrity(imap):
    """Odd and large messages come back byte for byte: bare LF, 8-bit, NUL, long lines, 2 MB."""
    imap.start()
    big = b"Subject: big\r\n\r\n" + b"".join(b"line %07d " % i + b"x" * 60 + b"\r\n" for i in range(30000))
    messages = [
        b"Subject: bare lf\n\nbody\nwith bare LF\n",
        b"Subject: 8bit \xe2\x9c\x93\r\n\r\nlatin1 \xe9 and utf8 \xe2\x9c\x93 and \xff\xfe\r\n",
        b"Subject: nul\r\n\r\nbefore\x00after\r\n",
        b"Subject: long\r\n\r\n" + b"y" * 20000 + b"\r\n",
        b"Subject: no final newline\r\n\r\nend",
        big,
    ]
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=30)
    m.login("mox@localhost", "moxmoxmox")
    for msg in messages[1:]:
        typ, data = m.append("Inbox", None, None, msg)
        assert typ == "OK", data
    # imaplib turns bare LF into CRLF before sending; our client sends the bytes as they are.
    with Conn.connect("127.0.0.1", imap.ports["imap"], timeout=30) as c:
        c.login("mox@localhost", "moxmoxmox")
        c.append("Inbox", messages[0])
    messages = messages[1:] + messages[:1]
    assert m.select("Inbox") == ("OK", [str(len(messages)).encode()])
    for i, msg in enumerate(messages, start=1):
        typ, data = m.fetch(str(i), "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        (f,) = fetch_responses(data)
        assert set(f.attrs) == {FetchRFC822Size(len(msg)), FetchBody("", None, msg)}, i
    typ, data = m.fetch(str(len(messages) - 1), "(BODY.PEEK[]<1000000.100>)")
    assert [f.attrs for f in fetch_responses(data)] == [(FetchBody("", 1000000, big[1000000:1000100]),)]
    m.logout()
    acc = imap.account
    stored = [acc.read_message(x) for x in acc.messages(acc.mailbox("Inbox").id)]
    assert stored == messages
