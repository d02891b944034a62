"""The response parser on exact wire lines (whole and one byte at a time), the serializer, and the
client against a scripted server over real sockets."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mox.imap import responses as r
from mox.imap.client import Conn, ImapBad, ImapClosed, ImapError, ImapNo
from mox.imap.responses import (
    Address,
    BodyFields,
    BodyTypeBasic,
    BodyTypeMpart,
    BodyTypeMsg,
    BodyTypeText,
    CodeAppendUID,
    CodeBadCharset,
    CodeCapability,
    CodeCopyUID,
    CodeHighestModSeq,
    CodeModified,
    CodeNoUpdate,
    CodeOther,
    CodePermanentFlags,
    CodeUIDNext,
    CodeUIDValidity,
    CodeUnseen,
    CodeWord,
    Continuation,
    Envelope,
    EsearchPartial,
    EsearchUpdate,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchBodystructure,
    FetchEnvelope,
    FetchFlags,
    FetchInternalDate,
    FetchModSeq,
    FetchRFC822,
    FetchRFC822Header,
    FetchRFC822Size,
    FetchRFC822Text,
    FetchUID,
    NamespaceDescr,
    QuotaResource,
    Tagged,
    ThreadNode,
    UntaggedBye,
    UntaggedCapability,
    UntaggedEnabled,
    UntaggedEsearch,
    UntaggedExists,
    UntaggedExpunge,
    UntaggedFetch,
    UntaggedFlags,
    UntaggedID,
    UntaggedList,
    UntaggedLsub,
    UntaggedNamespace,
    UntaggedPreauth,
    UntaggedQuota,
    UntaggedQuotaroot,
    UntaggedRecent,
    UntaggedResult,
    UntaggedSearch,
    UntaggedSearchModSeq,
    UntaggedSort,
    UntaggedStatus,
    UntaggedThread,
    UntaggedVanished,
)
from mox.imap.response_parse import parse_response
from mox.imap.response_reader import RemoteProtocolError
from mox.imap.response_write import serialize

ENV = Envelope(
    date="Mon, 7 Feb 1994 21:52:25 -0800",
    subject="afternoon meeting",
    from_=(Address("Fred Foobar", None, "foobar", "blurdybloop.example"),),
    sender=(Address("Fred Foobar", None, "foobar", "blurdybloop.example"),),
    reply_to=(Address("Fred Foobar", None, "foobar", "blurdybloop.example"),),
    to=(Address(None, None, "mooch", "owatagu.siam.example"),),
    cc=(),
    bcc=(),
    in_reply_to=None,
    message_id="<B27397-0100000@cac.washington.example>",
)
ENV_WIRE = (
    b'("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" (("Fred Foobar" NIL "foobar" "blurdybloop.example"))'
    b' (("Fred Foobar" NIL "foobar" "blurdybloop.example")) (("Fred Foobar" NIL "foobar" "blurdybloop.example"))'
    b' ((NIL NIL "mooch" "owatagu.siam.example")) NIL NIL NIL "<B27397-0100000@cac.washington.example>")'
)

# (wire bytes, parsed value): the serializer must produce exactly these bytes again.
CASES: list[tuple[bytes, object]] = [
    (
        b"* OK [CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ IDLE] mox imap\r\n",
        UntaggedResult("OK", CodeCapability(["IMAP4rev2", "IMAP4rev1", "LITERAL+", "IDLE"]), "mox imap"),
    ),
    (b"* PREAUTH [CAPABILITY IMAP4rev2] mox imap welcomes mox@localhost\r\n",
     UntaggedPreauth(CodeCapability(["IMAP4rev2"]), "mox imap welcomes mox@localhost")),
    (b"* BYE mox shutting down\r\n", UntaggedBye(None, "mox shutting down")),
    (b"* BYE [ALERT] too many\r\n", UntaggedBye(CodeWord("ALERT"), "too many")),
    (b"* NO [ALERT] careful\r\n", UntaggedResult("NO", CodeWord("ALERT"), "careful")),
    (b"* BAD bad\r\n", UntaggedResult("BAD", None, "bad")),
    (b"* OK [PERMANENTFLAGS (\\Seen \\Deleted $Junk \\*)] x\r\n",
     UntaggedResult("OK", CodePermanentFlags(["\\Seen", "\\Deleted", "$Junk", "\\*"]), "x")),
    (b"* OK [UIDVALIDITY 1] x\r\n", UntaggedResult("OK", CodeUIDValidity(1), "x")),
    (b"* OK [UIDNEXT 5] x\r\n", UntaggedResult("OK", CodeUIDNext(5), "x")),
    (b"* OK [UNSEEN 2] x\r\n", UntaggedResult("OK", CodeUnseen(2), "x")),
    (b"* OK [HIGHESTMODSEQ 12] x\r\n", UntaggedResult("OK", CodeHighestModSeq(12), "x")),
    (b"* OK [CLOSED] x\r\n", UntaggedResult("OK", CodeWord("CLOSED"), "x")),
    (b"* OK [COPYUID 1 1:3 4:6] moved\r\n", UntaggedResult("OK", CodeCopyUID(1, "1:3", "4:6"), "moved")),
    (b"* CAPABILITY IMAP4rev2 AUTH=PLAIN\r\n", UntaggedCapability(["IMAP4rev2", "AUTH=PLAIN"])),
    (b"* ENABLED QRESYNC CONDSTORE\r\n", UntaggedEnabled(["QRESYNC", "CONDSTORE"])),
    (b"* FLAGS (\\Seen \\Answered $Forwarded)\r\n", UntaggedFlags(["\\Seen", "\\Answered", "$Forwarded"])),
    (b"* FLAGS ()\r\n", UntaggedFlags([])),
    (b"* 3 EXISTS\r\n", UntaggedExists(3)),
    (b"* 0 EXISTS\r\n", UntaggedExists(0)),
    (b"* 0 RECENT\r\n", UntaggedRecent(0)),
    (b"* 2 EXPUNGE\r\n", UntaggedExpunge(2)),
    (b'* LIST (\\Subscribed) "/" Inbox\r\n', UntaggedList(["\\Subscribed"], "/", "Inbox")),
    (b'* LIST () "/" ""\r\n', UntaggedList([], "/", "")),
    (b'* LIST (\\NonExistent) NIL "a b"\r\n', UntaggedList(["\\NonExistent"], None, "a b")),
    (b'* LIST () "/" Entw&APw-rfe\r\n', UntaggedList([], "/", "Entwürfe")),
    (b'* LIST () "/" a ("CHILDINFO" ("SUBSCRIBED"))\r\n', UntaggedList([], "/", "a", [("CHILDINFO", ("SUBSCRIBED",))])),
    (b'* LIST () "/" b ("OLDNAME" ("a"))\r\n', UntaggedList([], "/", "b", oldname="a")),
    (b'* LSUB () "/" Sent\r\n', UntaggedLsub([], "/", "Sent")),
    (b"* STATUS Inbox (MESSAGES 2 UIDNEXT 3 APPENDLIMIT NIL)\r\n",
     UntaggedStatus("Inbox", {"MESSAGES": 2, "UIDNEXT": 3, "APPENDLIMIT": None})),
    (b"* STATUS Archive ()\r\n", UntaggedStatus("Archive", {})),
    (b"* SEARCH\r\n", UntaggedSearch([])),
    (b"* SEARCH 1 3 4\r\n", UntaggedSearch([1, 3, 4])),
    (b"* SEARCH 1 2 (MODSEQ 7)\r\n", UntaggedSearchModSeq([1, 2], 7)),
    (b'* ESEARCH (TAG "x001") UID MIN 1 MAX 5 COUNT 4 ALL 1:3,5\r\n',
     UntaggedEsearch(tag="x001", uid=True, min=1, max=5, all="1:3,5", count=4)),
    (b'* ESEARCH (TAG "t") COUNT 0\r\n', UntaggedEsearch(tag="t", count=0)),
    (b"* ESEARCH\r\n", UntaggedEsearch()),
    # RFC 5267, RFC 9394: PARTIAL, ADDTO, REMOVEFROM (one pair each, in order).
    (b'* ESEARCH (TAG "A02") UID PARTIAL (23500:24000 23501:23764)\r\n',
     UntaggedEsearch(tag="A02", uid=True, partial=EsearchPartial("23500:24000", "23501:23764"))),
    (b'* ESEARCH (TAG "A04") UID PARTIAL (24000:24500 NIL)\r\n',
     UntaggedEsearch(tag="A04", uid=True, partial=EsearchPartial("24000:24500", None))),
    (b'* ESEARCH (TAG "A01") UID PARTIAL (-1:-100 5:9,1)\r\n',
     UntaggedEsearch(tag="A01", uid=True, partial=EsearchPartial("-1:-100", "5:9,1"))),
    (b'* ESEARCH (TAG "B01") UID ADDTO (0 32768:32769)\r\n',
     UntaggedEsearch(tag="B01", uid=True, updates=[EsearchUpdate("ADDTO", 0, "32768:32769")])),
    (b'* ESEARCH (TAG "C01") UID ADDTO (1 2733 1 2732 1 2731)\r\n',
     UntaggedEsearch(tag="C01", uid=True, updates=[EsearchUpdate("ADDTO", 1, "2733"), EsearchUpdate("ADDTO", 1, "2732"),
                                                   EsearchUpdate("ADDTO", 1, "2731")])),
    (b'* ESEARCH (TAG "C01") REMOVEFROM (0 3) ADDTO (0 4:5) REMOVEFROM (2 7)\r\n',
     UntaggedEsearch(tag="C01", updates=[EsearchUpdate("REMOVEFROM", 0, "3"), EsearchUpdate("ADDTO", 0, "4:5"),
                                         EsearchUpdate("REMOVEFROM", 2, "7")])),
    (b'* NO [NOUPDATE "B02"] Too many contexts\r\n', UntaggedResult("NO", CodeNoUpdate("B02"), "Too many contexts")),
    # RFC 5256: SORT and THREAD (the RFC's examples); RFC 7162 3.1.9: SORT with MODSEQ.
    (b"* SORT 2 3 6\r\n", UntaggedSort([2, 3, 6])),
    (b"* SORT\r\n", UntaggedSort([])),
    (b"* SORT 5 3 4 1 2 (MODSEQ 917162500)\r\n", UntaggedSort([5, 3, 4, 1, 2], 917162500)),
    (b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n", UntaggedThread([
        ThreadNode(2), ThreadNode(3, [ThreadNode(6, [ThreadNode(4, [ThreadNode(23)]),
                                                     ThreadNode(44, [ThreadNode(7, [ThreadNode(96)])])])])])),
    (b"* THREAD ((3)(5))\r\n", UntaggedThread([ThreadNode(None, [ThreadNode(3), ThreadNode(5)])])),
    (b"* THREAD (1 ((2)(3))(4))\r\n", UntaggedThread([ThreadNode(1, [ThreadNode(None, [ThreadNode(2), ThreadNode(3)]),
                                                                     ThreadNode(4)])])),
    (b"* THREAD\r\n", UntaggedThread([])),
    (b"* VANISHED 1:2,5\r\n", UntaggedVanished(False, "1:2,5")),
    (b"* VANISHED (EARLIER) 3\r\n", UntaggedVanished(True, "3")),
    (b'* NAMESPACE (("" "/")) NIL NIL\r\n', UntaggedNamespace([NamespaceDescr("", "/")], [], [])),
    (b'* QUOTAROOT Inbox ""\r\n', UntaggedQuotaroot("Inbox", [""])),
    (b'* QUOTA "" (STORAGE 10 1024)\r\n', UntaggedQuota("", [QuotaResource("STORAGE", 10, 1024)])),
    (b'* QUOTA "" ()\r\n', UntaggedQuota("", [])),
    (b'* ID ("name" "mox" "version" "0.1.0")\r\n', UntaggedID({"name": "mox", "version": "0.1.0"})),
    (b"* ID NIL\r\n", UntaggedID(None)),
    (b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n", UntaggedFetch(1, [FetchUID(1), FetchFlags(["\\Seen"])])),
    (b'* 2 FETCH (INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286)\r\n',
     UntaggedFetch(2, [FetchInternalDate("17-Jul-1996 02:44:25 -0700"), FetchRFC822Size(4286)])),
    (b"* 1 FETCH (MODSEQ (5) UID 3)\r\n", UntaggedFetch(1, [FetchModSeq(5), FetchUID(3)])),
    # RFC 7377 MULTISEARCH: the mailbox and its UIDVALIDITY in the correlator.
    (b'* ESEARCH (TAG "t1" MAILBOX "folder2/salmon" UIDVALIDITY 1111111) UID ALL 50003,50006\r\n',
     UntaggedEsearch(tag="t1", uid=True, all="50003,50006", mailbox="folder2/salmon", uidvalidity=1111111)),
    # RFC 9586 UIDONLY: FETCH responses numbered by UID.
    (b"* 42 UIDFETCH (FLAGS (\\Seen) MODSEQ (7))\r\n", r.UntaggedUIDFetch(42, [FetchFlags(["\\Seen"]), FetchModSeq(7)])),
    # RFC 9585 INPROGRESS, with NIL parts and bare.
    (b'* OK [INPROGRESS ("A1" 10 100)] still searching\r\n',
     UntaggedResult("OK", r.CodeInProgress("A1", 10, 100), "still searching")),
    (b"* OK [INPROGRESS (NIL NIL NIL)] working\r\n", UntaggedResult("OK", r.CodeInProgress(None, None, None), "working")),
    (b"* OK [INPROGRESS] working\r\n", UntaggedResult("OK", r.CodeInProgress(bare=True), "working")),
    # RFC 8970 PREVIEW, RFC 8514 SAVEDATE.
    (b'* 2 FETCH (UID 4 PREVIEW "Hello there" SAVEDATE "17-Jul-1996 02:44:25 -0700")\r\n',
     UntaggedFetch(2, [FetchUID(4), r.FetchPreview("Hello there"), r.FetchSaveDate("17-Jul-1996 02:44:25 -0700")])),
    (b"* 2 FETCH (PREVIEW NIL SAVEDATE NIL)\r\n", UntaggedFetch(2, [r.FetchPreview(None), r.FetchSaveDate(None)])),
    # RFC 5464 4.4 METADATA: values (strings, literal8 binary data, NIL), the unsolicited list of
    # names, and the response codes of 4.2.1 and 4.3.
    (b'* METADATA "" (/shared/comment "Shared comment" /private/x NIL)\r\n',
     r.UntaggedMetadata("", [("/shared/comment", b"Shared comment"), ("/private/x", None)])),
    (b"* METADATA Inbox (/private/comment {5}\r\na\r\nbc /shared/bin ~{2}\r\n\x00\x01)\r\n",
     r.UntaggedMetadata("Inbox", [("/private/comment", b"a\r\nbc"), ("/shared/bin", b"\x00\x01")])),
    (b"* METADATA Inbox /shared/comment /private/comment\r\n",
     r.UntaggedMetadata("Inbox", [("/shared/comment", None), ("/private/comment", None)], values=False)),
    (b"a1 OK [METADATA LONGENTRIES 2199] GETMETADATA done\r\n", Tagged("a1", "OK", r.CodeMetadata("LONGENTRIES", 2199), "GETMETADATA done")),
    (b"a1 NO [METADATA MAXSIZE 1024] too large\r\n", Tagged("a1", "NO", r.CodeMetadata("MAXSIZE", 1024), "too large")),
    (b"a1 NO [METADATA TOOMANY] too many\r\n", Tagged("a1", "NO", r.CodeMetadata("TOOMANY"), "too many")),
    (
        b"a1 NO [BADEVENT (MessageNew MessageExpunge FlagChange)] unsupported event\r\n",
        Tagged("a1", "NO", r.CodeBadEvent(("MessageNew", "MessageExpunge", "FlagChange")), "unsupported event"),
    ),
    (b"* 1 FETCH (BODY[] {5}\r\nhello)\r\n", UntaggedFetch(1, [FetchBody("", None, b"hello")])),
    (b"* 1 FETCH (BODY[1.2]<10> {3}\r\nabc)\r\n", UntaggedFetch(1, [FetchBody("1.2", 10, b"abc")])),
    (b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {14}\r\nSubject: a\r\n\r\n)\r\n",
     UntaggedFetch(1, [FetchBody("HEADER.FIELDS (SUBJECT FROM)", None, b"Subject: a\r\n\r\n")])),
    (b"* 1 FETCH (BODY[TEXT] NIL)\r\n", UntaggedFetch(1, [FetchBody("TEXT", None, None)])),
    (b"* 1 FETCH (BINARY[1] ~{3}\r\na\x00b)\r\n", UntaggedFetch(1, [FetchBinary("1", None, b"a\x00b")])),
    (b"* 1 FETCH (BINARY[] {2}\r\nhi)\r\n", UntaggedFetch(1, [FetchBinary("", None, b"hi")])),
    (b"* 1 FETCH (BINARY.SIZE[1] 12)\r\n", UntaggedFetch(1, [FetchBinarySize("1", 12)])),
    (b"* 1 FETCH (RFC822 {2}\r\nhi)\r\n", UntaggedFetch(1, [FetchRFC822(b"hi")])),
    (b"* 1 FETCH (RFC822.HEADER {5}\r\na\r\n\r\n)\r\n", UntaggedFetch(1, [FetchRFC822Header(b"a\r\n\r\n")])),
    (b"* 1 FETCH (RFC822.TEXT {0}\r\n)\r\n", UntaggedFetch(1, [FetchRFC822Text(b"")])),
    (b"* 12 FETCH (ENVELOPE " + ENV_WIRE + b")\r\n", UntaggedFetch(12, [FetchEnvelope(ENV)])),
    (
        b'* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL))\r\n',
        UntaggedFetch(1, [FetchBodystructure(BodyTypeText(
            "TEXT", "PLAIN", BodyFields([("CHARSET", "US-ASCII")], None, None, "7BIT", 3028), 92,
            (None, None, None, None)))]),
    ),
    (
        b'* 1 FETCH (BODY ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 3 1))\r\n',
        UntaggedFetch(1, [FetchBodystructure(BodyTypeText(
            "TEXT", "PLAIN", BodyFields(None, None, None, "7BIT", 3), 1), ext=False)]),
    ),
    (
        b'* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 3 1 NIL NIL NIL NIL)'
        b'("APPLICATION" "PDF" ("NAME" "a.pdf") "<id@x>" "doc" "BASE64" 10 NIL ("attachment" ("filename" "a.pdf")) NIL NIL)'
        b' "MIXED" ("BOUNDARY" "x") NIL NIL NIL))\r\n',
        UntaggedFetch(1, [FetchBodystructure(BodyTypeMpart(
            [
                BodyTypeText("TEXT", "PLAIN", BodyFields(None, None, None, "7BIT", 3), 1, (None,) * 4),
                BodyTypeBasic("APPLICATION", "PDF", BodyFields([("NAME", "a.pdf")], "<id@x>", "doc", "BASE64", 10),
                              (None, ("attachment", ("filename", "a.pdf")), None, None)),
            ],
            "MIXED",
            (("BOUNDARY", "x"), None, None, None),
        ))]),
    ),
    (
        b'* 1 FETCH (BODY ("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 100 ' + ENV_WIRE
        + b' ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1) 7))\r\n',
        UntaggedFetch(1, [FetchBodystructure(BodyTypeMsg(
            "MESSAGE", "RFC822", BodyFields(None, None, None, "7BIT", 100), ENV,
            BodyTypeText("TEXT", "PLAIN", BodyFields(None, None, None, "7BIT", 5), 1), 7), ext=False)]),
    ),
    (b"+ \r\n", Continuation("")),
    (b"+ waiting\r\n", Continuation("waiting")),
    (b"x001 OK [READ-WRITE] x\r\n", Tagged("x001", "OK", CodeWord("READ-WRITE"), "x")),
    (b"x001 OK [APPENDUID 7 3] appended\r\n", Tagged("x001", "OK", CodeAppendUID(7, "3"), "appended")),
    (b"x001 OK [COPYUID 7 1,3 4:5] copied\r\n", Tagged("x001", "OK", CodeCopyUID(7, "1,3", "4:5"), "copied")),
    (b"x001 OK [MODIFIED 2,4] x\r\n", Tagged("x001", "OK", CodeModified("2,4"), "x")),
    (b"x001 NO [TRYCREATE] no such mailbox\r\n", Tagged("x001", "NO", CodeWord("TRYCREATE"), "no such mailbox")),
    (b"x001 NO [BADCHARSET (UTF-8 US-ASCII)] x\r\n", Tagged("x001", "NO", CodeBadCharset(["UTF-8", "US-ASCII"]), "x")),
    (b"x001 NO [BADCHARSET] x\r\n", Tagged("x001", "NO", CodeBadCharset(), "x")),
    (b"x001 NO [SOMETHING 1 2] x\r\n", Tagged("x001", "NO", CodeOther("SOMETHING", "1 2"), "x")),
    (b"x001 BAD unknown command\r\n", Tagged("x001", "BAD", None, "unknown command")),
]


def feed_bytewise(data: bytes) -> object:
    """Feed one byte at a time: no response until the last byte, then all of it."""
    buf = bytearray()
    for i, c in enumerate(data):
        buf.append(c)
        resp, n = parse_response(buf)
        if i < len(data) - 1:
            assert (resp, n) == (None, 0), f"response complete after {i + 1} of {len(data)} bytes"
    assert n == len(data)
    return resp


@pytest.mark.parametrize("wire,value", CASES, ids=[c[0][:40].decode("latin-1") for c in CASES])
def test_parse_and_serialize(wire: bytes, value: object) -> None:
    assert parse_response(wire) == (value, len(wire))
    assert feed_bytewise(wire) == value
    assert serialize(value) == wire
    # Followed by more data: only the first response is consumed.
    assert parse_response(wire + b"* 1 EXISTS\r\n") == (value, len(wire))


@pytest.mark.parametrize(
    "wire,value",
    [
        # Other valid spellings than the ones the writer chooses (RFC 5258 item names and RFC 9051
        # OLDNAME as atoms; RFC 4731 return data in any order).
        (b'* LIST () "/" a (CHILDINFO ("SUBSCRIBED"))\r\n', UntaggedList([], "/", "a", [("CHILDINFO", ("SUBSCRIBED",))])),
        (b'* LIST () "/" b (OLDNAME (a))\r\n', UntaggedList([], "/", "b", oldname="a")),
        (b'* ESEARCH (TAG "x001") UID MIN 1 MAX 5 ALL 1:3,5 COUNT 4\r\n',
         UntaggedEsearch(tag="x001", uid=True, min=1, max=5, all="1:3,5", count=4)),
        (b'* ESEARCH (TAG "t") PARTIAL (1:2 1) COUNT 3\r\n',
         UntaggedEsearch(tag="t", count=3, partial=EsearchPartial("1:2", "1"))),
        (b'* ESEARCH (TAG "t") ADDTO (1 3 2 4)\r\n',  # one item with two pairs, or two items
         UntaggedEsearch(tag="t", updates=[EsearchUpdate("ADDTO", 1, "3"), EsearchUpdate("ADDTO", 2, "4")])),
        (b'* ESEARCH (TAG "t") ADDTO (1 3) ADDTO (2 4)\r\n',
         UntaggedEsearch(tag="t", updates=[EsearchUpdate("ADDTO", 1, "3"), EsearchUpdate("ADDTO", 2, "4")])),
        (b"* thread (1 2)\r\n", UntaggedThread([ThreadNode(1, [ThreadNode(2)])])),
    ],
)
def test_parse_other_spellings(wire: bytes, value: object) -> None:
    assert parse_response(wire) == (value, len(wire))
    assert parse_response(serialize(value))[0] == value


def test_lists_and_tuples_compare_equal() -> None:
    assert UntaggedFlags(["\\Seen"]) == UntaggedFlags(("\\Seen",))
    assert hash(UntaggedList(["\\Subscribed"], "/", "a")) == hash(UntaggedList(("\\Subscribed",), "/", "a"))
    assert {UntaggedStatus("a", {"MESSAGES": 1}), UntaggedID(None)}


def test_case_insensitive_keywords() -> None:
    assert parse_response(b"* 1 exists\r\n")[0] == UntaggedExists(1)
    assert parse_response(b"a1 ok done\r\n")[0] == Tagged("a1", "OK", None, "done")
    assert parse_response(b"* 1 fetch (uid 2 flags ())\r\n")[0] == UntaggedFetch(1, [FetchUID(2), FetchFlags([])])


def test_utf8_mailbox_names() -> None:
    wire = '* LIST () "/" "Entwürfe"\r\n'.encode()
    with pytest.raises(RemoteProtocolError):
        parse_response(wire)  # 8-bit in a quoted string needs UTF8=ACCEPT
    assert parse_response(wire, utf8=True)[0] == UntaggedList([], "/", "Entwürfe")
    assert serialize(UntaggedList([], "/", "Entwürfe"), utf8=True) == wire
    assert serialize(UntaggedList([], "/", "Entwürfe")) == b'* LIST () "/" Entw&APw-rfe\r\n'


def test_literal_text_not_literal() -> None:
    # A status response never carries a literal, even if its text ends in "{5}".
    assert parse_response(b"* OK see {5}\r\n") == (UntaggedResult("OK", None, "see {5}"), 14)
    assert parse_response(b"x BAD bad {5}\r\n")[0] == Tagged("x", "BAD", None, "bad {5}")


@pytest.mark.parametrize(
    "wire",
    [
        b"* 1 EXITS\r\n",
        b"* 0 EXPUNGE\r\n",
        b"* 0 FETCH (UID 1)\r\n",
        b"* FLAGS (\\Seen\r\n",
        b"* 1 FETCH (UID 0)\r\n",
        b"* 1 FETCH (BOGUS 1)\r\n",
        b"* 1 FETCH (UID 1) extra\r\n",
        b"* 1 FETCH (BODY[] {5}\r\nhello\r\n",
        b'* LIST () "ab" x\r\n',
        b'* LIST () "/" "bad&-name&Jjo"\r\n',
        b"* SEARCH 0\r\n",
        b"* STATUS Inbox (MESSAGES x)\r\n",
        b"* WHATEVER\r\n",
        b"x001 MAYBE done\r\n",
        b'* OK [UIDNEXT x] y\r\n',
        b'* ID ("a")\r\n',
        b'* NAMESPACE () NIL NIL\r\n',
        b'* 1 FETCH (ENVELOPE (NIL NIL () NIL NIL NIL NIL NIL NIL NIL))\r\n',
        b'* LIST () "/" "a\nb"\r\n',
        b"* SORT 0\r\n",
        b"* SORT 1 (MODSEQ x)\r\n",
        b"* THREAD ()\r\n",
        b"* THREAD (1 (2))\r\n",  # a single nested list (thread-nested needs two)
        b"* THREAD (1 (2)(3) 4)\r\n",
        b"* THREAD (1 2\r\n",
        b"* THREAD (1)) \r\n",
        b"* THREAD 1\r\n",
        b"* THREAD (0)\r\n",
        b'* ESEARCH (TAG "t") PARTIAL (1:-2 1)\r\n',
        b'* ESEARCH (TAG "t") PARTIAL (0:2 1)\r\n',
        b'* ESEARCH (TAG "t") PARTIAL (1:2)\r\n',
        b'* ESEARCH (TAG "t") ADDTO ()\r\n',
        b'* ESEARCH (TAG "t") ADDTO (1)\r\n',
        b"* OK [NOUPDATE B02] x\r\n",
    ],
)
def test_parse_errors(wire: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_response(wire)


def test_incomplete() -> None:
    assert parse_response(b"") == (None, 0)
    assert parse_response(b"* 1 EXISTS") == (None, 0)
    assert parse_response(b"* 1 FETCH (BODY[] {10}\r\nabc") == (None, 0)
    assert parse_response(b"* 1 FETCH (BODY[] {3}\r\nabc") == (None, 0)


# ---------------------------------------------------------------------------------------------
# The client against a scripted server: a thread that reads lines and answers from a script.


class Scripted:
    """A one-connection server on 127.0.0.1:0 that follows ``script(conn_file_like)``."""

    def __init__(self, script: Callable[[socket.socket], None], tls: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.tls = tls
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            s, _ = self.listener.accept()
            s.settimeout(5)
            if self.tls is not None:
                s = self.tls.wrap_socket(s, server_side=True)
            with s:
                self.script(s)
        except BaseException as e:  # reported by join()
            self.error = e
        finally:
            self.listener.close()

    def join(self) -> None:
        self.thread.join(5)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


class Peer:
    def __init__(self, s: socket.socket) -> None:
        self.s = s
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise EOFError
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self.s.recv(4096)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data: bytes) -> None:
        self.s.sendall(data)


GREETING = b"* OK [CAPABILITY IMAP4rev2 IDLE SASL-IR] hi\r\n"


def test_client_sync_literal_and_errors() -> None:
    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(GREETING)
        assert p.line() == b'x001 LOGIN "mox@localhost" "pass \\"word\\""'
        p.send(b"x001 OK [CAPABILITY IMAP4rev2 IDLE SASL-IR] login done\r\n")
        assert p.line() == b'x002 SELECT "Entw&APw-rfe"'
        p.send(b"* 2 EXISTS\r\n* OK [UIDNEXT 3] x\r\nx002 OK [READ-WRITE] x\r\n")
        assert p.line() == b'x003 APPEND "Inbox" (\\Seen) {5}'
        p.send(b"* 3 EXISTS\r\n+ \r\n")
        assert p.exactly(7) == b"hello\r\n"
        p.send(b"x003 OK [APPENDUID 1 3] appended\r\n")
        assert p.line() == b'x004 APPEND "Inbox" {3}'
        p.send(b"x004 NO [OVERQUOTA] over quota\r\n")
        assert p.line() == b"x005 FETCH 1 BODY[]"
        p.send(b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n* 1 EXPUNGE\r\nx005 OK done\r\n")
        assert p.line() == b"x006 BOGUS"
        p.send(b"x006 BAD unknown command\r\n")
        assert p.line() == b"x007 LOGOUT"
        p.send(b"* BYE thanks\r\nx007 OK LOGOUT done\r\n")

    srv = Scripted(script)
    c = Conn.connect("127.0.0.1", srv.port, timeout=5)
    assert c.capabilities == {"IMAP4REV2", "IDLE", "SASL-IR"}
    c.login("mox@localhost", 'pass "word"')
    assert c.select("Entwürfe") == [UntaggedExists(2), UntaggedResult("OK", CodeUIDNext(3), "x")]
    assert c.append("Inbox", b"hello", flags=["\\Seen"]) == Tagged("x003", "OK", CodeAppendUID(1, "3"), "appended")
    with pytest.raises(ImapNo) as e:
        c.append("Inbox", b"abc")
    assert e.value.code == CodeWord("OVERQUOTA")
    assert c.fetch("1", "BODY[]") == [UntaggedFetch(1, [FetchBody("", None, b"abc")])]
    with pytest.raises(ImapBad):
        c.transact("BOGUS")
    c.logout()
    srv.join()


def test_client_literal_plus_idle_and_close() -> None:
    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(b"* OK hi\r\n")
        assert p.line() == b"x001 CAPABILITY"
        p.send(b"* CAPABILITY IMAP4rev2 LITERAL+ IDLE\r\nx001 OK done\r\n")
        assert p.line() == b"x002 AUTHENTICATE PLAIN"
        p.send(b"+ \r\n")
        assert p.line() == b"AG1veEBsb2NhbGhvc3QAc2VjcmV0"
        p.send(b"x002 OK done\r\n")
        assert p.line() == b'x003 APPEND "Inbox" {2+}'
        assert p.exactly(4) == b"hi\r\n"
        p.send(b"x003 OK [APPENDUID 1 1] appended\r\n")
        assert p.line() == b"x004 ENABLE UTF8=ACCEPT"
        p.send(b"* ENABLED UTF8=ACCEPT\r\nx004 OK done\r\n")
        assert p.line() == b"x005 IDLE"
        p.send(b"+ waiting\r\n* 1 EXISTS\r\n")
        p.send('* LIST () "/" "Entwürfe"\r\n'.encode())
        assert p.line() == b"DONE"
        p.send(b"x005 OK IDLE done\r\n")
        assert p.line() == b"x006 NOOP"
        p.send(b"* BYE going away\r\n")

    srv = Scripted(script)
    c = Conn.connect("127.0.0.1", srv.port, timeout=5)
    assert "LITERAL+" in c.capabilities
    c.authenticate_plain("mox@localhost", "secret")
    c.append("Inbox", b"hi")
    assert c.enable("UTF8=ACCEPT") == ["UTF8=ACCEPT"]
    c.idle()
    assert c.read_untagged() == UntaggedExists(1)
    assert c.read_untagged() == UntaggedList([], "/", "Entwürfe")
    assert c.idle_done() == ([], Tagged("x005", "OK", None, "IDLE done"))
    with pytest.raises(ImapClosed) as e:
        c.noop()
    assert e.value.bye == UntaggedBye(None, "going away")
    srv.join()


def test_client_implicit_tls(tmp_path: Path) -> None:
    from tests.imap.conftest import make_cert  # noqa: PLC0415

    cert, key = make_cert(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(b"* PREAUTH [CAPABILITY IMAP4rev2] welcome\r\n")
        assert p.line() == b"x001 NOOP"
        p.send(b"x001 OK done\r\n")

    srv = Scripted(script, tls=server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    c = Conn.connect("127.0.0.1", srv.port, tls=True, ssl_context=client_ctx, server_hostname="localhost", timeout=5)
    assert c.tls_active()
    assert c.greeting == UntaggedPreauth(CodeCapability(["IMAP4rev2"]), "welcome")
    assert c.noop() == []
    c.close()
    srv.join()


def test_client_bye_greeting() -> None:
    def script(s: socket.socket) -> None:
        Peer(s).send(b"* BYE mox shutting down\r\n")

    srv = Scripted(script)
    with pytest.raises(ImapClosed) as e:
        Conn.connect("127.0.0.1", srv.port, timeout=5)
    assert e.value.bye == UntaggedBye(None, "mox shutting down")
    srv.join()


def b64(s: str) -> bytes:
    import base64

    return base64.b64encode(s.encode())


# RFC 7677 section 3 and RFC 5802 section 5 example exchanges (user "user", password "pencil").
SCRAM_VECTORS = {
    "sha256": (
        "SCRAM-SHA-256",
        "rOprNGfwEbeRWgbNEkqO",
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    ),
    "sha1": (
        "SCRAM-SHA-1",
        "fyko+d2lbbFgONRv9qkxdawL",
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    ),
}


@pytest.mark.parametrize("hash_name", ["sha256", "sha1"])
@pytest.mark.parametrize("sasl_ir", [True, False])
def test_client_scram(hash_name: str, sasl_ir: bool) -> None:
    mech, nonce, server_first, client_final, server_final = SCRAM_VECTORS[hash_name]

    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(b"* OK [CAPABILITY IMAP4rev2 " + (b"SASL-IR " if sasl_ir else b"") + b"AUTH=" + mech.encode() + b"] hi\r\n")
        if sasl_ir:
            assert p.line() == b"x001 AUTHENTICATE " + mech.encode() + b" " + b64(f"n,,n=user,r={nonce}")
        else:
            assert p.line() == b"x001 AUTHENTICATE " + mech.encode()
            p.send(b"+ \r\n")
            assert p.line() == b64(f"n,,n=user,r={nonce}")
        p.send(b"+ " + b64(server_first) + b"\r\n")
        assert p.line() == b64(client_final)
        p.send(b"+ " + b64(server_final) + b"\r\n")
        assert p.line() == b""
        p.send(b"x001 OK authenticate done\r\n")

    srv = Scripted(script)
    c = Conn.connect("127.0.0.1", srv.port, timeout=5)
    assert c.authenticate_scram("user", "pencil", hash_name=hash_name, client_nonce=nonce) == Tagged(
        "x001", "OK", None, "authenticate done"
    )
    c.close()
    srv.join()


def test_client_scram_bad_server_signature() -> None:
    mech, nonce, server_first, client_final, _ = SCRAM_VECTORS["sha256"]

    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(b"* OK [CAPABILITY IMAP4rev2 SASL-IR] hi\r\n")
        p.line()
        p.send(b"+ " + b64(server_first) + b"\r\n")
        assert p.line() == b64(client_final)
        p.send(b"+ " + b64("v=AAAA") + b"\r\n")
        assert p.line() == b"*"  # the client aborts
        p.send(b"x001 BAD authenticate aborted by client\r\n")
        assert p.line() == b"x002 NOOP"  # the connection stays usable
        p.send(b"x002 OK done\r\n")

    srv = Scripted(script)
    c = Conn.connect("127.0.0.1", srv.port, timeout=5)
    with pytest.raises(ImapError, match="bad server signature"):
        c.authenticate_scram("user", "pencil", client_nonce=nonce)
    assert c.noop() == []
    c.close()
    srv.join()


def test_client_cram_md5() -> None:
    # RFC 2195 section 2 example.
    challenge = "<1896.697170952@postoffice.reston.mci.net>"

    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(b"* OK [CAPABILITY IMAP4rev2 AUTH=CRAM-MD5] hi\r\n")
        assert p.line() == b"x001 AUTHENTICATE CRAM-MD5"
        p.send(b"+ " + b64(challenge) + b"\r\n")
        assert p.line() == b64("tim b913a602c7eda7a495b4e6e7334d3890")
        p.send(b"x001 OK done\r\n")

    srv = Scripted(script)
    c = Conn.connect("127.0.0.1", srv.port, timeout=5)
    assert c.authenticate_cram_md5("tim", "tanstaaftanstaaf").status == "OK"
    c.close()
    srv.join()


def test_client_trace_log() -> None:
    import io

    from mox import mlog

    def script(s: socket.socket) -> None:
        p = Peer(s)
        p.send(GREETING)
        p.line()
        p.send(b"x001 OK login done\r\n")
        p.line()
        p.send(b"* 1 FETCH (BODY[] {4}\r\nab\r\n)\r\nx002 OK done\r\n")

    out = io.StringIO()
    saved_out, saved_levels = getattr(mlog, "_out"), mlog.levels()
    mlog.set_output(out)
    mlog.set_level("trace", "imapclient")
    try:
        srv = Scripted(script)
        c = Conn.connect("127.0.0.1", srv.port, timeout=5, log=mlog.get_logger("imapclient"))
        c.login("mox@localhost", "secret")
        c.fetch("1", "BODY[]")
        c.close()
        srv.join()
    finally:
        mlog.set_output(saved_out)
        mlog.set_level(saved_levels.get("imapclient", ""), "imapclient")
    assert out.getvalue().splitlines() == [
        "trace: S: " + GREETING.decode().strip() + "; pkg=imapclient",
        "trace: C: ***; pkg=imapclient",  # the password is not logged below traceauth
        "trace: S: x001 OK login done; pkg=imapclient",
        "trace: C: x002 FETCH 1 BODY[]; pkg=imapclient",
        "trace: S: ...; pkg=imapclient",  # message data only at tracedata
        "trace: S: x002 OK done; pkg=imapclient",
    ]


def test_all_exports_are_responses() -> None:
    # Every Untagged*/Fetch*/Code* struct round-trips through the serializer somewhere above.
    seen = {type(v).__name__ for _, v in CASES}
    for _, v in CASES:
        if isinstance(v, UntaggedFetch):
            seen |= {type(a).__name__ for a in v.attrs}
        if getattr(v, "code", None) is not None:
            seen.add(type(v.code).__name__)
    names = {n for n in dir(r) if n.startswith(("Untagged", "Code", "Fetch")) and isinstance(getattr(r, n), type)}
    missing = names - seen - {"FetchAttr", "Code", "Untagged"}
    assert not missing


# ---------------------------------------------------------------------------------------------
# The client against the real server (the harness)


def test_client_against_server(imap):
    imap.start()
    ctx = imap.client_tls_context()
    msg = b"From: mox@localhost\r\nSubject: hi\r\n\r\nhello\r\n"

    with Conn.connect("127.0.0.1", imap.ports["imap"], timeout=10) as c:
        assert {"IMAP4REV2", "LITERAL+", "IDLE", "STARTTLS"} <= c.capabilities
        with pytest.raises(ImapNo) as e:
            c.login("mox@localhost", "wrong")
        assert e.value.code == CodeWord("AUTHENTICATIONFAILED")
        c.login("mox@localhost", "moxmoxmox")
        untagged = c.select("Inbox")
        assert UntaggedExists(0) in untagged
        assert UntaggedResult("OK", CodeUIDNext(1), "x") in untagged

        c.literal_plus = False  # a synchronizing literal: waits for "+"
        res = c.append("Inbox", msg, flags=["\\Seen"])
        assert res.status == "OK" and isinstance(res.code, CodeAppendUID) and res.code.uids == "1"
        c.literal_plus = True
        untagged, res = c.transact("APPEND Inbox ", msg)
        assert res.code.uids == "2"
        assert UntaggedExists(2) in untagged
        with pytest.raises(ImapNo) as e:
            c.append("nonexistent", msg)
        assert e.value.code == CodeWord("TRYCREATE")

        got = c.fetch("1:2", "(UID FLAGS BODY.PEEK[])")
        assert [set(f.attrs) for f in got] == [
            {FetchUID(1), FetchFlags(["\\Seen", "\\Recent"]), FetchBody("", None, msg)},
            {FetchUID(2), FetchFlags(["\\Recent"]), FetchBody("", None, msg)},
        ]  # appended to the selected mailbox: \\Recent in this session (RFC 3501 2.3.2)
        assert c.store("2", "+", ["\\Flagged"]) == [UntaggedFetch(2, [FetchFlags(["\\Flagged", "\\Recent"])])]
        assert c.search("FLAGGED") == [2]
        assert c.search("ALL", uid=True) == [1, 2]
        res = c.copy("1", "Archive")
        assert res.code == CodeCopyUID(res.code.uidvalidity, "1", "1")
        with pytest.raises(ImapBad):
            c.transact("FETCH")

        c.idle()
        imap.deliver(msg)
        assert c.read_untagged() == UntaggedExists(3)
        c.idle_done()
        c.logout()

    with Conn.connect("localhost", imap.ports["imap"], tls="starttls", ssl_context=ctx, timeout=10) as c:
        assert c.tls_active() and "STARTTLS" not in c.capabilities
        c.authenticate_plain("mox@localhost", "moxmoxmox")
        assert c.enable("UTF8=ACCEPT") == ["UTF8=ACCEPT"]
        c.create("Entwürfe")
        assert UntaggedList([], "/", "Entwürfe") in c.list("", "Entw*")
        c.logout()

    with Conn.connect("127.0.0.1", imap.ports["imaps"], tls=True, ssl_context=ctx, server_hostname="localhost",
                      timeout=10) as c:
        assert c.tls_active()
        c.login("mox@localhost", "moxmoxmox")
        assert UntaggedList([], "/", "Entwürfe") in c.list("", "Entw*")  # modified UTF-7 decoded
        st = c.status("Inbox", "(MESSAGES UNSEEN)")
        assert st == [UntaggedStatus("Inbox", {"MESSAGES": 3, "UNSEEN": 2})]
        c.logout()


def test_harness_connections(imap):
    """The harness's own connection kinds: plain, STARTTLS, implicit TLS, not logged in."""
    for kwargs, tls in (({}, False), ({"starttls": True}, True), ({"tls": True}, True)):
        tc = imap.connect(**kwargs)
        assert tc.conn.tls_active() == tls
        tc.transact("ok", "select inbox")
        tc.expect_untagged_some(UntaggedExists(0))
        tc.expect_untagged_some("* 0 EXISTS")  # the same response, as a raw line
        tc.transact("ok", "noop")
        tc.expect_no_untagged()
    tc = imap.connect(login=False)
    tc.transact("no", "select inbox")
    tc.write_line("x1 logout")
    tc.read_line_prefix("* BYE")
    tc.read_line_prefix("x1 OK")
    tc.expect_closed()


@pytest.mark.parametrize("mech", ["scram-sha256", "scram-sha1", "cram-md5", "plain"])
def test_client_sasl_against_server(imap, mech: str) -> None:
    imap.start()
    with Conn.connect("127.0.0.1", imap.ports["imap"], timeout=10) as c:
        if mech == "plain":
            with pytest.raises(ImapNo) as e:
                c.authenticate_plain("mox@localhost", "wrong")
            c.authenticate_plain("mox@localhost", "moxmoxmox")
        elif mech == "cram-md5":
            with pytest.raises(ImapNo) as e:
                c.authenticate_cram_md5("mox@localhost", "wrong")
            c.authenticate_cram_md5("mox@localhost", "moxmoxmox")
        else:
            hash_name = mech.split("-")[1]
            with pytest.raises(ImapNo) as e:
                c.authenticate_scram("mox@localhost", "wrong", hash_name=hash_name)
            c.authenticate_scram("mox@localhost", "moxmoxmox", hash_name=hash_name)
        assert e.value.code == CodeWord("AUTHENTICATIONFAILED")
        assert UntaggedExists(0) in c.select("Inbox")
        c.logout()


# ---------------------------------------------------------------------------------------------
# Property: whatever the serializer writes, the parser reads back as the same value (whole and
# split at a random point).

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ATOM_CHARS = "".join(
    c for c in map(chr, range(0x21, 0x7F)) if c not in '(){ %*"\\]'
)
atoms = st.text(ATOM_CHARS, min_size=1, max_size=12).filter(lambda s: s.upper() != "NIL")
flags = st.lists(st.one_of(atoms, atoms.map(lambda a: "\\" + a)), max_size=4).map(tuple)
nz = st.integers(1, 2**32 - 1)
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
nstrings = st.one_of(st.none(), any_text)
line_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30).filter(
    lambda s: not s.startswith("[") and s == s.strip(" ") and s != ""
)
seqsets = st.lists(st.tuples(nz, st.one_of(st.none(), nz)), min_size=1, max_size=4).map(
    lambda ranges: ",".join(str(a) if b is None else f"{a}:{b}" for a, b in ranges)
)
mailboxes = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=20)
addresses = st.lists(st.builds(Address, nstrings, nstrings, nstrings, nstrings), max_size=3).map(tuple)
envelopes = st.builds(
    Envelope, nstrings, nstrings, addresses, addresses, addresses, addresses, addresses, addresses, nstrings, nstrings
)
codes = st.one_of(
    st.none(),
    atoms.filter(lambda a: a.upper() not in {
        "CAPABILITY", "PERMANENTFLAGS", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "APPENDUID", "COPYUID",
        "HIGHESTMODSEQ", "MODIFIED", "BADCHARSET"}).map(lambda a: CodeWord(a.upper())),
    st.builds(CodeUIDNext, nz),
    st.builds(CodeUIDValidity, nz),
    st.builds(CodeAppendUID, nz, seqsets),
    st.builds(CodeCopyUID, nz, seqsets, seqsets),
    st.builds(CodeHighestModSeq, nz),
    st.builds(CodeModified, seqsets),
    st.builds(CodePermanentFlags, flags),
    st.builds(CodeCapability, st.lists(atoms, max_size=4).map(tuple)),
)
fetch_attrs = st.one_of(
    st.builds(FetchFlags, flags),
    st.builds(FetchUID, nz),
    st.builds(FetchRFC822Size, st.integers(0, 2**40)),
    st.builds(FetchModSeq, nz),
    st.builds(FetchEnvelope, envelopes),
    st.builds(FetchBody, st.sampled_from(["", "1", "1.2.TEXT", "HEADER.FIELDS (SUBJECT)", "TEXT"]),
              st.one_of(st.none(), st.integers(0, 1000)), st.one_of(st.none(), st.binary(max_size=40))),
    st.builds(FetchBinary, st.sampled_from(["", "1", "2.1"]), st.one_of(st.none(), st.integers(0, 9)),
              st.one_of(st.none(), st.binary(max_size=40))),
    st.builds(FetchBinarySize, st.sampled_from(["", "1"]), st.integers(0, 10**9)),
    st.builds(FetchRFC822, st.one_of(st.none(), st.binary(max_size=40))),
)
# THREAD members: a message number with no, one or two+ children, or a dummy with two or more. A
# dummy as the only child of a message has no wire form of its own (its children would be the
# message's), so it is not generated.
threads = st.recursive(
    st.builds(ThreadNode, nz),
    lambda inner: st.one_of(
        st.builds(ThreadNode, nz, st.lists(inner, min_size=1, max_size=3).map(tuple)).filter(
            lambda n: len(n.children) != 1 or n.children[0].num is not None),
        st.builds(ThreadNode, st.none(), st.lists(inner, min_size=2, max_size=3).map(tuple)),
    ),
    max_leaves=8,
)
responses = st.one_of(
    st.builds(Tagged, st.text(ATOM_CHARS.replace("+", ""), min_size=1, max_size=8),
              st.sampled_from(["OK", "NO", "BAD"]), codes, line_text),
    st.builds(UntaggedResult, st.sampled_from(["OK", "NO", "BAD"]), codes, line_text),
    st.builds(UntaggedBye, codes, line_text),
    st.builds(UntaggedList, flags, st.sampled_from(["/", ".", None]), mailboxes),
    st.builds(UntaggedLsub, flags, st.sampled_from(["/", None]), mailboxes),
    st.builds(UntaggedStatus, mailboxes, st.dictionaries(
        st.sampled_from(["MESSAGES", "UIDNEXT", "UNSEEN", "SIZE", "HIGHESTMODSEQ"]), st.integers(0, 2**40))),
    st.builds(UntaggedSearch, st.lists(nz, max_size=5).map(tuple)),
    st.builds(UntaggedEsearch, st.one_of(st.none(), atoms), st.booleans(), st.one_of(st.none(), nz),
              st.one_of(st.none(), nz), st.one_of(st.none(), seqsets), st.one_of(st.none(), st.integers(0, 99)),
              partial=st.one_of(st.none(), st.builds(EsearchPartial, st.sampled_from(["1:5", "-1:-100", "7:3"]),
                                                     st.one_of(st.none(), seqsets))),
              updates=st.lists(st.builds(EsearchUpdate, st.sampled_from(["ADDTO", "REMOVEFROM"]), st.integers(0, 99),
                                         seqsets), max_size=4).map(tuple)),
    st.builds(UntaggedSort, st.lists(nz, max_size=5).map(tuple), st.one_of(st.none(), nz)),
    st.builds(UntaggedThread, st.lists(threads, max_size=4).map(tuple)),
    st.builds(UntaggedVanished, st.booleans(), seqsets),
    st.builds(UntaggedFlags, flags),
    st.builds(UntaggedExists, st.integers(0, 2**32)),
    st.builds(UntaggedExpunge, nz),
    st.builds(UntaggedID, st.one_of(st.none(), st.dictionaries(any_text, nstrings, max_size=3))),
    st.builds(UntaggedQuota, atoms, st.lists(st.builds(QuotaResource, st.sampled_from(["STORAGE", "MESSAGE"]),
                                                       st.integers(0, 10**9), st.integers(0, 10**9)), max_size=2)),
    st.builds(UntaggedFetch, nz, st.lists(fetch_attrs, min_size=1, max_size=4).map(tuple)),
)


@settings(max_examples=300, deadline=None)
@given(resp=responses, utf8=st.booleans(), split=st.floats(0, 1))
def test_property_serialize_parse(resp, utf8: bool, split: float) -> None:
    wire = serialize(resp, utf8=utf8)
    assert parse_response(wire, utf8=utf8) == (resp, len(wire))
    cut = int(len(wire) * split)
    if cut < len(wire):
        assert parse_response(wire[:cut], utf8=utf8) == (None, 0)


RESPONSE_TOKENS = [
    b"* ", b"x1 ", b"+ ", b"OK", b"NO", b"BYE", b" ", b"[", b"]", b"(", b")", b"{3}\r\n", b"~{2}\r\n", b"{0}\r\n",
    b"{99999999999999999999}\r\n", b'"', b"\\", b"\r\n", b"NIL", b"1", b"0", b"FETCH", b"BODY[", b"BODY", b"UID",
    b"BODYSTRUCTURE", b"ENVELOPE", b"LIST", b"STATUS", b"ESEARCH", b"SEARCH", b"CAPABILITY", b"UIDNEXT",
    b"COPYUID", b"1:*", b"\xff", b"&-", b"&AGE", b"MODSEQ", b"<1>", b"\x00", b"THREAD", b"SORT", b"PARTIAL",
    b"ADDTO", b"REMOVEFROM", b"-1:-2", b"NOUPDATE",
]


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(st.binary(max_size=200), st.lists(st.sampled_from(RESPONSE_TOKENS), max_size=20).map(b"".join)))
def test_property_parser_robust(data: bytes) -> None:
    """Whatever a server sends: a response, "need more data" or RemoteProtocolError, nothing else."""
    for utf8 in (False, True):
        try:
            resp, n = parse_response(data, utf8=utf8)
        except RemoteProtocolError:
            continue
        if resp is None:
            assert n == 0
        else:
            assert 0 < n <= len(data)
