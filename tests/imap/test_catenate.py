"""CATENATE (RFC 4469): APPEND with a message put together from TEXT literals and IMAP URLs
(RFC 5092) of messages and sections in the account, with URL-PARTIAL (RFC 5550). The RFC's
example (section 5: a draft rebuilt from a header, a MIME header and a body part of an old one
and a forwarded message), the URL forms (absolute, server-relative, relative to the selected
mailbox), [BADURL] for what can't be resolved (nothing stored), with MULTIAPPEND and REPLACE."""

from __future__ import annotations

import pytest

from tests.imap.test_append_stream import raw, tmp_files

BOUNDARY = b"--------------030308070208000400050907"
OLD = (
    b"From: Mox <mox@localhost>\r\nSubject: draft\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="' + BOUNDARY[2:] + b'"\r\n\r\n'
    b"--" + BOUNDARY[2:] + b"\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
    b"--" + BOUNDARY[2:] + b"\r\nContent-Type: text/plain; name=x.txt\r\n\r\nsecond part\r\n"
    b"--" + BOUNDARY[2:] + b"--\r\n"
)
FORWARD = b"From: other@example.org\r\nSubject: forwarded\r\n\r\nforwarded text\r\n"


def lit(data: bytes) -> bytes:
    return f"{{{len(data)}+}}\r\n".encode() + data


def fetch_section(tc, uid: int, section: str) -> bytes:
    tc.transact("ok", f"uid fetch {uid} body.peek[{section}]")
    r = tc.untagged[-1][0]
    return r.attrs[-1].data


@pytest.fixture
def drafts(imap):
    imap.deliver(OLD, mailbox="Drafts")
    imap.deliver(FORWARD, mailbox="Drafts")
    return imap.account.mailbox("Drafts").uidvalidity


def test_advertised(imap):
    tc = imap.connect()
    tc.transact("ok", "capability")
    caps = tc.untagged[0][1].decode().split()
    assert "CATENATE" in caps and "URL-PARTIAL" in caps


def test_rfc4469_example(imap, drafts):
    tc = imap.connect()
    tc.transact("ok", "examine Drafts")
    header = fetch_section(tc, 1, "HEADER")
    mime1 = fetch_section(tc, 1, "1.MIME")
    part1 = fetch_section(tc, 1, "1")
    sep = b"\r\n" + BOUNDARY + b"\r\n"
    end = b"\r\n" + BOUNDARY + b"--\r\n"
    v = drafts
    cmd = (
        b"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE ("
        + b'URL "/Drafts;UIDVALIDITY=%d/;UID=1/;section=HEADER" TEXT ' % v + lit(sep)
        + b' URL "/Drafts;UIDVALIDITY=%d/;UID=1/;section=1.MIME" URL "/Drafts;UIDVALIDITY=%d/;UID=1/;section=1" TEXT ' % (v, v)
        + lit(sep)
        + b' URL "/Drafts;UIDVALIDITY=%d/;UID=2" TEXT ' % v + lit(end)
        + b")"
    )
    assert raw(tc, "ok", cmd)[-1] == f"A003 OK [APPENDUID {v} 3] appended"
    acc = imap.account
    m = acc.message(acc.mailbox("Drafts").id, 3)
    want = header + sep + mime1 + part1 + sep + FORWARD + end
    assert acc.read_message(m) == want
    assert set(m.flags) == {"\\Seen", "\\Draft", "$MDNSent"}
    assert m.part is not None and m.part.media_type.upper() == "MULTIPART"
    assert tmp_files(imap) == []


def test_url_forms_and_partial(imap, drafts):
    tc = imap.connect()
    tc.transact("ok", "select Drafts")
    cases = [
        (f'URL "imap://mox%40localhost@127.0.0.1/Drafts;UIDVALIDITY={drafts}/;UID=2"', FORWARD),
        ('URL "imap://127.0.0.1/Drafts/;UID=2/;SECTION=TEXT"', b"forwarded text\r\n"),
        ('URL "/Drafts/;UID=2/;PARTIAL=6.5"', FORWARD[6:11]),
        ('URL "/Drafts/;UID=2/;SECTION=HEADER.FIELDS%20(SUBJECT)/;PARTIAL=9"', b"forwarded\r\n\r\n"),
        ('URL ";UID=2/;SECTION=TEXT"', b"forwarded text\r\n"),  # relative to the selected mailbox
        ("TEXT " + "{3+}\r\nabc" + ' URL "/Drafts/;UID=2/;SECTION=TEXT" TEXT ~{2+}\r\n\x00!', b"abcforwarded text\r\n\x00!"),
    ]
    acc = imap.account
    for i, (parts, want) in enumerate(cases):
        lines = raw(tc, "ok", f"c{i} APPEND Archive CATENATE ({parts})".encode("latin-1"))
        uid = int(lines[-1].split("]")[0].split()[-1])
        assert acc.read_message(acc.message(acc.mailbox("Archive").id, uid)) == want, parts


def test_badurl(imap, drafts):
    tc = imap.connect()
    bad = [
        f'"/Drafts;UIDVALIDITY={drafts + 1}/;UID=1"',  # another uidvalidity
        '"/Drafts/;UID=99"',  # no such message
        '"/NoSuchBox/;UID=1"',
        '"imap://other@localhost@127.0.0.1/Drafts/;UID=1"',  # another user
        '";UID=1"',  # relative, but nothing selected
        '"/Drafts/;UID=1/;SECTION=7"',  # no such part
        '"/Drafts/;UID=1/;SECTION=BOGUS"',
        '"/Drafts"',
        '"http://example.org/"',
    ]
    for i, url in enumerate(bad):
        lines = raw(tc, "no", f"b{i} APPEND Archive CATENATE (TEXT {{1+}}\r\nx URL {url})".encode())
        assert lines[-1].startswith(f"b{i} NO [BADURL "), lines
        assert "]" not in lines[-1].split("[BADURL ", 1)[1].split("]")[0]
    assert imap.account.messages(imap.account.mailbox("Archive").id) == []
    assert tmp_files(imap) == []
    for i, parts in enumerate(["", "TEXT", "URL", "BOGUS {1+}\r\nx", 'URL "/Drafts/;UID=1" junk']):
        raw(tc, "bad", f"s{i} APPEND Archive CATENATE ({parts})".encode())


def test_with_multiappend_and_replace(imap, drafts):
    tc = imap.connect()
    tc.transact("ok", "select Drafts")
    cmd = (
        b'a1 APPEND Archive CATENATE (URL "/Drafts/;UID=2" TEXT ' + lit(b"-- sig\r\n") + b") " + lit(b"plain\r\n")
        + b" CATENATE (TEXT " + lit(b"x") + b")"
    )
    assert raw(tc, "ok", cmd)[-1].endswith(" 1:3] appended")
    acc = imap.account
    assert [acc.read_message(m) for m in acc.messages(acc.mailbox("Archive").id)] == [
        FORWARD + b"-- sig\r\n", b"plain\r\n", b"x",
    ]
    # A bad URL in a later message stores none of them.
    raw(tc, "no", b"a2 APPEND Archive " + lit(b"ok\r\n") + b' CATENATE (URL "/Drafts/;UID=9")')
    assert len(acc.messages(acc.mailbox("Archive").id)) == 3
    # REPLACE with CATENATE: the new draft made from the old one, which is expunged.
    lines = raw(tc, "ok", b'a3 UID REPLACE 2 Drafts CATENATE (URL "/Drafts/;UID=2/;SECTION=HEADER" TEXT ' + lit(b"new body\r\n") + b")")
    assert "* 2 EXPUNGE" in lines
    msgs = acc.messages(acc.mailbox("Drafts").id)
    assert acc.read_message(msgs[-1]) == b"From: other@example.org\r\nSubject: forwarded\r\n\r\nnew body\r\n"
    assert tmp_files(imap) == []
