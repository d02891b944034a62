"""IMAP capability profiles (mox.imap.profiles): -imap-profile mox|full|dovecot|minimal-rev1."""

from __future__ import annotations

import imaplib

import pytest

from mox.testing import MoxServer

from .conftest import Line, imap


def _tagged(c: Line, tag: str) -> tuple[list[str], str]:
    untagged = []
    while not (line := c.line()).startswith(tag + " "):
        untagged.append(line)
    return untagged, line


@pytest.mark.mox(imap_profile="minimal-rev1")
def test_minimal_rev1(mox_server: MoxServer) -> None:
    c = Line(mox_server.ports["imap"])
    assert c.line() == "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] mox imap"
    c.send("a1 CAPABILITY")
    assert _tagged(c, "a1") == (["* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN"], "a1 OK CAPABILITY done")
    c.send("a2 AUTHENTICATE SCRAM-SHA-256")
    assert c.line() == "a2 BAD mechanism SCRAM-SHA-256 not offered"
    c.send("a3 ID NIL")
    assert c.line() == "a3 BAD unknown command ID (extension ID not offered)"
    c.send("a4 LOGIN mox@localhost moxmoxmox")
    assert _tagged(c, "a4")[1] == "a4 OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] login done"
    for line, want in [
        ("b1 ENABLE CONDSTORE", "b1 BAD unknown command ENABLE (extension ENABLE not offered)"),
        ("b2 NAMESPACE", "b2 BAD unknown command NAMESPACE (extension NAMESPACE not offered)"),
        ("b3 SELECT INBOX (CONDSTORE)", "b3 BAD CONDSTORE parameter not offered"),
        ("b4 STATUS INBOX (MESSAGES SIZE)", "b4 BAD STATUS SIZE not offered"),
        ("b5 GETQUOTAROOT INBOX", "b5 BAD unknown command GETQUOTAROOT (extension QUOTA not offered)"),
        ("b5b GETMETADATA INBOX /private/comment", "b5b BAD unknown command GETMETADATA (extension METADATA not offered)"),
        ('b5c LIST "" % RETURN (METADATA (/private/x))', "b5c BAD LIST RETURN (METADATA) needs LIST-METADATA (not offered)"),
        ("b6 APPEND INBOX {1+}\r\na {1+}\r\nb", "b6 BAD APPEND of several messages needs MULTIAPPEND (not offered)"),
    ]:
        c.send(line)
        assert _tagged(c, line.split()[0])[1] == want
    c.send("c1 SELECT INBOX")
    untagged, tagged = _tagged(c, "c1")
    assert tagged.startswith("c1 OK [READ-WRITE]") and "* 0 RECENT" in untagged  # RFC 3501 7.3.2
    for line, want in [
        ("c2 MOVE 1 Trash", "c2 BAD unknown command MOVE (extension MOVE not offered)"),
        ("c3 UNSELECT", "c3 BAD unknown command UNSELECT (extension UNSELECT not offered)"),
        ("c4 IDLE", "c4 BAD unknown command IDLE (extension IDLE not offered)"),
        ("c5 SEARCH RETURN (COUNT) ALL", "c5 BAD SEARCH RETURN needs ESEARCH (not offered)"),
        ("c6 UID FETCH 1:* FLAGS (CHANGEDSINCE 1)", "c6 BAD CHANGEDSINCE needs CONDSTORE (not offered)"),
        ("c8 SORT (SUBJECT) UTF-8 ALL", "c8 BAD unknown command SORT (extension SORT not offered)"),
        ("c9 THREAD REFS UTF-8 ALL", "c9 BAD unknown command THREAD REFS (extension THREAD=REFS not offered)"),
        ("c10 CANCELUPDATE \"x\"", "c10 BAD unknown command CANCELUPDATE (extension CONTEXT=SEARCH not offered)"),
        ("c6b SEARCH NOT (YOUNGER 5)", "c6b BAD OLDER/YOUNGER need WITHIN (not offered)"),
        ("c6c UID REPLACE 1 INBOX {1+}\r\nx", "c6c BAD unknown command REPLACE (extension REPLACE not offered)"),
        ("c6d SEARCH OR SAVEDATESUPPORTED ALL", "c6d BAD SAVED* search keys need SAVEDATE (not offered)"),
    ]:
        c.send(line)
        assert _tagged(c, line.split()[0])[1] == want
    c.send("c7 SEARCH ALL")
    assert _tagged(c, "c7") == (["* SEARCH"], "c7 OK SEARCH done")
    c.close()
    # An independent client copes with the profile.
    with imaplib.IMAP4("127.0.0.1", mox_server.imap_port, timeout=10) as client:
        assert client.capabilities == ("IMAP4REV1", "STARTTLS", "AUTH=PLAIN")
        client.login(mox_server.address, mox_server.password)
        assert client.select("INBOX") == ("OK", [b"0"])


@pytest.mark.mox(imap_profile="dovecot")
def test_dovecot(mox_server: MoxServer) -> None:
    c = imap(mox_server, "mox@localhost", "moxmoxmox")
    c.send("a1 CAPABILITY")
    caps = _tagged(c, "a1")[0][0]
    assert caps == (
        "* CAPABILITY IMAP4rev1 ENABLE LITERAL+ IDLE SASL-IR BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE "
        "LIST-EXTENDED SPECIAL-USE LIST-STATUS ID CONDSTORE QRESYNC STATUS=SIZE QUOTA QUOTA=RES-STORAGE SAVEDATE WITHIN "
        "NAMESPACE MULTIAPPEND PREVIEW NOTIFY SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS ESORT CONTEXT=SEARCH "
        "CATENATE URL-PARTIAL STARTTLS AUTH=PLAIN"
    )
    # IMAP4rev2 and UTF8=ACCEPT are not offered, so ENABLE leaves them off; CONDSTORE works.
    c.send("a2 ENABLE IMAP4rev2 UTF8=ACCEPT CONDSTORE")
    assert _tagged(c, "a2") == (["* ENABLED CONDSTORE"], "a2 OK ENABLE done")
    c.send("a3 STATUS INBOX (SIZE)")  # Dovecot 2.3 has STATUS=SIZE (RFC 8438)
    assert _tagged(c, "a3") == (["* STATUS Inbox (SIZE 0)"], "a3 OK STATUS done")
    c.send("a3b APPEND INBOX {21+}\r\nSubject: x\r\n\r\nhello\r\n")
    assert _tagged(c, "a3b")[1].startswith("a3b OK [APPENDUID ")
    c.send("a3c APPEND Trash {1+}\r\na {1+}\r\nb")  # Dovecot offers MULTIAPPEND
    assert _tagged(c, "a3c")[1].startswith("a3c OK [APPENDUID ")
    c.send("a4 SELECT INBOX (CONDSTORE)")
    untagged, tagged = _tagged(c, "a4")
    assert tagged.startswith("a4 OK [READ-WRITE]")
    # IMAP4rev1 only, so \Recent is there (RFC 3501 2.3.2): the new message is this session's.
    assert "* 1 RECENT" in untagged
    c.send("a5 FETCH 1 FLAGS")
    assert _tagged(c, "a5") == (["* 1 FETCH (FLAGS (\\Recent))"], "a5 OK FETCH done")
    # SORT, THREAD, ESORT and CONTEXT=SEARCH as Dovecot 2.3 has them; not CONTEXT=SORT, not PARTIAL.
    c.send("a6 SORT RETURN (COUNT) (DISPLAYFROM) UTF-8 ALL")
    assert _tagged(c, "a6") == (['* ESEARCH (TAG "a6") COUNT 1'], "a6 OK SORT done")
    c.send("a7 THREAD REFS UTF-8 ALL")
    assert _tagged(c, "a7") == (["* THREAD (1)"], "a7 OK THREAD done")
    c.send("a8 SEARCH RETURN (UPDATE PARTIAL 1:5) ALL")
    assert _tagged(c, "a8") == (['* ESEARCH (TAG "a8") PARTIAL (1:5 1)'], "a8 OK SEARCH done")
    for line, want in [
        ("b1 SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL", "b1 BAD CONTEXT/UPDATE need CONTEXT=SORT (not offered)"),
        ("b2 SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL", "b2 BAD PARTIAL range not offered"),
        ("b3 SEARCH RETURN (PARTIAL -1:-2) ALL", "b3 BAD PARTIAL range not offered"),
        ("b4 UID FETCH 1:* (UID) (PARTIAL 1:2)", "b4 BAD PARTIAL fetch modifier needs PARTIAL (not offered)"),
    ]:
        c.send(line)
        assert _tagged(c, line.split()[0])[1] == want
    c.send('b5 CANCELUPDATE "a8"')
    assert _tagged(c, "b5") == ([], "b5 OK CANCELUPDATE done")
    c.close()
    assert mox_server.api("GET", "ci")["imap_profile"] == "dovecot"


def test_mox_profile_is_the_default(mox_server: MoxServer) -> None:
    # mox (v0.0.17) has neither SORT nor THREAD nor the context extensions.
    assert mox_server.api("GET", "ci")["imap_profile"] == "mox"
    c = imap(mox_server, "mox@localhost", "moxmoxmox")
    c.send("a1 CAPABILITY")
    caps = _tagged(c, "a1")[0][0].split()
    assert caps[:4] == ["*", "CAPABILITY", "IMAP4rev2", "IMAP4rev1"]
    assert not [x for x in caps if x.startswith(("SORT", "THREAD", "CONTEXT")) or x in ("ESORT", "PARTIAL")]
    c.send("a2 SELECT INBOX")
    _tagged(c, "a2")
    for line, want in [
        ("b1 SORT (SUBJECT) UTF-8 ALL", "b1 BAD unknown command SORT (extension SORT not offered)"),
        ("b2 THREAD REFERENCES UTF-8 ALL",
         "b2 BAD unknown command THREAD REFERENCES (extension THREAD=REFERENCES not offered)"),
        ("b3 SEARCH RETURN (UPDATE) ALL", "b3 BAD CONTEXT/UPDATE need CONTEXT=SEARCH (not offered)"),
        ("b4 SEARCH RETURN (PARTIAL 1:2) ALL", "b4 BAD PARTIAL range not offered"),
        ('b5 CANCELUPDATE "x"', "b5 BAD unknown command CANCELUPDATE (extension CONTEXT=SEARCH not offered)"),
        ("b6 UID FETCH 1:* (UID) (PARTIAL 1:2)", "b6 BAD PARTIAL fetch modifier needs PARTIAL (not offered)"),
    ]:
        c.send(line)
        assert _tagged(c, line.split()[0])[1] == want
    c.send("b7 SEARCH RETURN (MIN) ALL")
    assert _tagged(c, "b7") == (['* ESEARCH (TAG "b7")'], "b7 OK SEARCH done")
    # Nor CATENATE (mox imapserver/server.go).
    assert "CATENATE" not in caps and "URL-PARTIAL" not in caps
    c.send("b8 APPEND INBOX CATENATE (TEXT {1+}\r\nx)")
    assert _tagged(c, "b8")[1] == "b8 BAD CATENATE not offered"
    c.close()


@pytest.mark.mox(imap_profile="full")
def test_full(mox_server: MoxServer) -> None:
    # Everything we implement: mox's extensions and SORT/THREAD/ESORT/CONTEXT/PARTIAL.
    c = Line(mox_server.ports["imap"])
    greeting = c.line()
    assert greeting.startswith("* OK [CAPABILITY IMAP4rev2 IMAP4rev1 ENABLE ")
    assert " SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS ESORT CONTEXT=SEARCH " \
        "CONTEXT=SORT PARTIAL CATENATE URL-PARTIAL " in greeting
    c.close()
    assert mox_server.api("GET", "ci")["imap_profile"] == "full"
    # An imapclient user sees them too (imapclient has sort() and thread()).
    import imapclient

    with imapclient.IMAPClient("127.0.0.1", port=mox_server.imap_port, ssl=False, timeout=10) as client:
        client.login(mox_server.address, mox_server.password)
        assert client.has_capability("SORT") and client.has_capability("THREAD=REFERENCES")
        client.select_folder("INBOX")
        assert client.sort(["ARRIVAL"]) == []
        assert client.thread() == ()


# mox v0.0.17's capability list, in its order (mox imapserver/server.go serverCapabilitiesList),
# without the AUTH=...-PLUS entries (not on a connection without TLS) and what the connection
# adds (STARTTLS, AUTH=PLAIN).
MOX_V0_0_17 = (
    "IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE SASL-IR BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE "
    "UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 "
    "AUTH=CRAM-MD5 ID APPENDLIMIT CONDSTORE QRESYNC STATUS=SIZE QUOTA QUOTA=RES-STORAGE METADATA SAVEDATE "
    "WITHIN NAMESPACE LIST-METADATA MULTIAPPEND REPLACE PREVIEW INPROGRESS MULTISEARCH NOTIFY UIDONLY"
).split()
# What we do not have yet of mox's list.
NOT_YET: set[str] = set()


def test_mox_profile_is_mox_v0_0_17(mox_server: MoxServer) -> None:
    c = Line(mox_server.ports["imap"])
    caps = c.line().split("[CAPABILITY ", 1)[1].split("]", 1)[0].split()
    c.close()
    assert caps[-2:] == ["STARTTLS", "AUTH=PLAIN"]
    # APPENDLIMIT with the limit we enforce (mox says 2^63-1 whatever it enforces).
    got = [x.split("=")[0] if x.startswith("APPENDLIMIT=") else x for x in caps[:-2]]
    assert got == [x for x in MOX_V0_0_17 if x not in NOT_YET]
