"""Fixtures in and out (mox.ci.fixtures): preload .eml/Maildir/mbox, export as Maildir, reset."""

from __future__ import annotations

from pathlib import Path

import pytest

from mox.testing import MoxServer

from .conftest import imap, message

EML = b"From: a@example.org\nTo: mox@localhost\nSubject: from eml\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\nline endings get CRLF\n"


def _preload_dir(root: Path) -> Path:
    d = root / "preload"
    (d / "Projects").mkdir(parents=True)
    (d / "a.eml").write_bytes(EML)
    (d / "Projects" / "p.eml").write_bytes(message(subject="in projects"))
    md = d / "Archive"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.host:2,FS").write_bytes(message(subject="seen and flagged"))
    (md / "new" / "2.host").write_bytes(message(subject="new one"))
    (md / ".Old.2019" / "cur").mkdir(parents=True)
    (md / ".Old.2019" / "cur" / "3.host:2,R").write_bytes(message(subject="answered"))
    (d / "lists.mbox").write_bytes(
        b"From someone@example.org Thu Nov 26 10:00:00 2026\n"
        + message(subject="first in mbox").replace(b"\r\n", b"\n")
        + b">From the quoted line\n\n"
        + b"From other@example.org Thu Nov 26 10:00:01 2026\n"
        + message(subject="second in mbox").replace(b"\r\n", b"\n")
        + b"\n"
    )
    return d


def _status(c, mailbox: str) -> str:
    c.send(f'x STATUS "{mailbox}" (MESSAGES)')
    line = c.line()
    assert c.line() == "x OK STATUS done"
    return line


@pytest.fixture
def preloaded(tmp_path: Path):
    d = _preload_dir(tmp_path)
    with MoxServer.open(tmp_path / "mox", preload=d, export_on_exit=tmp_path / "export") as s:
        yield s, tmp_path


def test_preload_and_export(preloaded) -> None:
    srv, tmp = preloaded
    c = imap(srv, "mox@localhost", "moxmoxmox")
    assert _status(c, "Inbox") == "* STATUS Inbox (MESSAGES 1)"
    assert _status(c, "Projects") == "* STATUS Projects (MESSAGES 1)"
    assert _status(c, "Archive") == "* STATUS Archive (MESSAGES 2)"
    assert _status(c, "Archive/Old/2019") == "* STATUS Archive/Old/2019 (MESSAGES 1)"
    assert _status(c, "lists") == "* STATUS lists (MESSAGES 2)"
    c.send("s1 SELECT Archive")
    while not c.line().startswith("s1 OK"):
        pass
    c.send("s2 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    got = []
    while not (line := c.line()).startswith("s2 "):
        got.append(line)
    # Preloaded messages are new: \\Recent for the first session that selects their mailbox.
    # Archive is neither junk nor neutral for localserve's automatic junk flags: $NotJunk (mox).
    assert got[0].startswith("* 1 FETCH (FLAGS (\\Seen \\Flagged $NotJunk \\Recent) BODY[HEADER.FIELDS (SUBJECT)] {")
    assert got[1] == "Subject: seen and flagged"
    second = got.index("Subject: new one")
    assert got[second - 1].startswith("* 2 FETCH (FLAGS ($NotJunk \\Recent) BODY[HEADER.FIELDS (SUBJECT)] {")
    c.close()
    inbox = srv.api("GET", "messages?mailbox=Inbox")["messages"]
    raw = srv.api("GET", f"messages/{inbox[0]['id']}/raw", raw=True)
    assert raw == EML.replace(b"\n", b"\r\n")
    mbox = srv.api("GET", "messages?mailbox=lists")["messages"]
    raw = srv.api("GET", f"messages/{[m for m in mbox if m['subject'] == 'first in mbox'][0]['id']}/raw", raw=True)
    assert raw.endswith(b"hello\r\nFrom the quoted line\r\n")

    srv.server.stop()
    export = tmp / "export"
    files = sorted(p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file())
    archive = [f for f in files if f.startswith("mox/Archive/cur/")]
    assert len(archive) == 2 and archive[0].endswith(":2,FS") and archive[1].endswith(":2,")
    assert (export / "EXPORTED").is_file()
    (inbox_file,) = [f for f in files if f.startswith("mox/Inbox/cur/")]
    assert (export / inbox_file).read_bytes() == EML.replace(b"\n", b"\r\n")


def test_reset(mox_server: MoxServer) -> None:
    mox_server.send("r@example.org", "to be reset", "x")
    mox_server.address_inbox("r@example.org").wait()
    with mox_server.faults.add(stage="rcpt", action="delay", seconds=1, token="neverused"):
        assert mox_server.reset() == {"deleted": 3, "rules": 1}  # Inbox, Sent and the view copy
    assert mox_server.api("GET", "messages") == {"total": 0, "offset": 0, "limit": 50, "messages": []}
    assert mox_server.transcripts() == []
    with mox_server.imap() as client:
        assert client.select("INBOX") == ("OK", [b"0"])
