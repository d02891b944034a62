"""Session transcripts (mox.ci.transcript): recorded for every SMTP and IMAP session, passwords
redacted, linked from delivered messages, attached to failing test reports by the plugin."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
from pathlib import Path

from mox.testing import MoxServer

from .conftest import Line, deliver, imap, message, smtp


def test_smtp_transcript_redacts_auth_and_is_linked_from_the_message(srv: MoxServer) -> None:
    auth = base64.b64encode(b"\0mox@localhost\0moxmoxmox").decode()
    c = Line(srv.ports["submission"])
    c.reply()
    c.cmd("EHLO client.example")
    assert c.cmd(f"AUTH PLAIN {auth}") == "235 2.7.0 nice"
    assert c.cmd("MAIL FROM:<mox@localhost>") == "250 2.1.0 looking good"
    assert c.cmd("RCPT TO:<t1@example.org>") == "250 2.1.0 now on the list"
    assert c.cmd("DATA") == "354 see you at the bare dot"
    c.sock.sendall(message("t1@example.org", "transcribed", frm="mox@localhost") + b".\r\n")
    assert c.reply() == "250 2.2.0 it is done"
    assert c.cmd("QUIT") == "221 2.0.0 okay thanks bye"
    c.close()

    m = srv.address_inbox("t1@example.org").wait(subject="transcribed")
    text = srv.api("GET", f"messages/{m['id']}/transcript", raw=True).decode()
    lines = text.splitlines()
    assert lines[0].startswith("# smtp session ") and " from 127.0.0.1 at " in lines[0]
    assert "C: EHLO client.example" in lines
    assert "C: ***" in lines
    assert auth not in text and "moxmoxmox" not in text
    assert "C:   | Subject: transcribed" in lines
    assert lines[-2:] == ["C: QUIT", "S: 221 2.0.0 okay thanks bye"]

    listed = srv.transcripts("smtp")
    assert [t["user"] for t in listed] == ["mox"]
    assert srv.transcript(listed[0]["cid"]) == text


def test_imap_transcript_redacts_login(srv: MoxServer) -> None:
    c = imap(srv)
    c.send("a1 LOGIN mox@localhost moxmoxmox")
    assert c.line().startswith("a1 OK ")
    c.send("a2 LOGOUT")
    assert c.line() == "* BYE thanks"
    c.close()
    t = srv.transcripts("imap")
    assert len(t) == 1
    text = srv.transcript(t[0]["cid"])
    assert "moxmoxmox" not in text
    lines = text.splitlines()
    assert lines[1].startswith("S: * OK [CAPABILITY IMAP4rev2 ")
    assert lines[2:5] == ["C: a1 LOGIN ", "C: ***", lines[4]]
    assert "C: a2 LOGOUT" in lines


def test_transcript_on_disk_after_session(srv: MoxServer) -> None:
    deliver(srv, ["disk@example.org"], message("disk@example.org", "on disk"))
    cid = srv.transcripts("smtp")[0]["cid"]
    on_disk = (Path(srv.ports["dir"]) / "transcripts" / f"{cid}.txt").read_text(encoding="utf-8")
    assert on_disk == srv.transcript(cid)


def test_transcript_is_complete_right_after_quit(srv: MoxServer) -> None:
    """The moment the client has QUIT's 221, its session's transcript is complete (ended, every
    line through the 221), though the file is written in the background: served from memory
    until then, and on disk once listed."""
    c = smtp(srv)
    assert c.cmd("MAIL FROM:<sender@example.org>") == "250 2.1.0 looking good"
    assert c.cmd("RCPT TO:<quit@example.org>") == "250 2.1.0 now on the list"
    assert c.cmd("DATA") == "354 see you at the bare dot"
    c.sock.sendall(message("quit@example.org", "right after quit") + b".\r\n")
    assert c.reply() == "250 2.2.0 it is done"
    assert c.cmd("QUIT") == "221 2.0.0 okay thanks bye"
    listed = srv.transcripts("smtp")
    assert len(listed) == 1 and listed[0]["ended"] is not None
    text = srv.transcript(listed[0]["cid"])
    lines = text.splitlines()
    assert "C:   | Subject: right after quit" in lines
    assert lines[-3:] == ["S: 250 2.2.0 it is done", "C: QUIT", "S: 221 2.0.0 okay thanks bye"]
    on_disk = (Path(srv.ports["dir"]) / "transcripts" / f"{listed[0]['cid']}.txt").read_text(encoding="utf-8")
    assert on_disk == text
    m = srv.address_inbox("quit@example.org").wait(subject="right after quit")
    assert srv.api("GET", f"messages/{m['id']}/transcript", raw=True).decode() == text
    c.close()


def test_background_writer_serves_pending_transcripts_from_memory(tmp_path: Path) -> None:
    """With a background writer, a finished transcript and a delivery link are complete in
    memory at once; one writer run puts everything pending on disk; a listing writes first."""
    from mox.ci.transcript import DELIVERIES_FILE, TranscriptStore

    jobs: list = []
    ts = TranscriptStore(tmp_path, background=jobs.append)
    t = ts.start("b1", "smtp", "127.0.0.1")
    t.add("RC:", b"QUIT", "text")
    t.add("LS:", b"221 2.0.0 bye\r\n", "text")
    ts.finish(t)
    ts.record_delivery("mox", 7, "b1")
    assert len(jobs) == 1  # one writer run takes both
    assert not (ts.dir / "b1.txt").exists()
    text = ts.get("b1")
    assert text is not None and text.splitlines()[1:] == ["C: QUIT", "S: 221 2.0.0 bye"]
    assert ts.delivered_by("mox", 7) == "b1"
    jobs.pop()()
    assert (ts.dir / "b1.txt").read_text(encoding="utf-8") == text == ts.get("b1")
    assert (ts.dir / DELIVERIES_FILE).read_text(encoding="utf-8") == "b1\t7\tmox\n"
    assert TranscriptStore(tmp_path).delivered_by("mox", 7) == "b1"  # a restart reads the link

    t2 = ts.start("b2", "imap", "127.0.0.1")
    ts.finish(t2)
    assert len(jobs) == 1 and not (ts.dir / "b2.txt").exists()
    assert [x["cid"] for x in ts.list()] == ["b1", "b2"]
    assert (ts.dir / "b2.txt").read_text(encoding="utf-8") == ts.get("b2")
    jobs.pop()()  # nothing left for it

    t3 = ts.start("b3", "smtp", "127.0.0.1")
    ts.finish(t3)
    ts.clear()  # pending work is dropped with the rest
    jobs.pop()()
    assert sorted(p.name for p in ts.dir.iterdir()) == [] and ts.get("b3") is None


def test_plugin_attaches_transcripts_to_a_failing_test(tmp_path: Path) -> None:
    (tmp_path / "test_fails.py").write_text(
        textwrap.dedent(
            """
            def test_fails(mox_server):
                mox_server.send("who@example.org", "Hello there", "body")
                assert mox_server.address_inbox("who@example.org").wait()["subject"] == "Goodbye"
            """
        ),
        encoding="utf-8",
    )
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path / "test_fails.py")],
        capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=tmp_path,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "mox session transcripts" in out
    assert "C: rcpt TO:<who@example.org>" in out  # as smtplib sends it
    assert "C: ***" in out and "moxmoxmox" not in out.split("mox session transcripts", 1)[1]


def test_webmail_transcript_and_lint_links(srv: MoxServer) -> None:
    import http.client
    import json

    deliver(srv, ["mox@localhost"], message("mox@localhost", "webmail view"))
    with srv.imap() as client:
        client.select("INBOX")
        typ, data = client.uid("SEARCH", "ALL")
        uid = int(data[0].split()[-1])
    acc = srv.server.store.open_account("mox")
    try:
        mbid = acc.mailbox("Inbox").id
    finally:
        acc.close()
    conn = http.client.HTTPConnection("127.0.0.1", srv.ports["http"], timeout=30)
    conn.request("POST", "/webmail/login", json.dumps({"username": "mox@localhost", "password": "moxmoxmox"}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    cookie = resp.getheader("Set-Cookie").split(";")[0]
    conn.request("GET", f"/webmail/ci/{mbid}/{uid}/transcript", headers={"Cookie": cookie})
    resp = conn.getresponse()
    text = resp.read().decode()
    assert resp.status == 200 and text.startswith("# smtp session ")
    assert "C:   | Subject: webmail view" in text.splitlines()
    conn.request("GET", f"/webmail/ci/{mbid}/{uid}/lint", headers={"Cookie": cookie})
    resp = conn.getresponse()
    assert (resp.status, resp.read().decode()) == (200, "ok: 0 error(s), 0 warning(s)\n\n")
    conn.request("GET", f"/webmail/ci/{mbid}/{uid}/lint")  # no session
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 403
    conn.close()


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    import os

    from mox.ci.transcript import TranscriptStore

    ts = TranscriptStore(tmp_path)
    for i in range(5):
        t = ts.start(f"a{i}", "smtp", "127.0.0.1")
        t.add("RC:", b"NOOP", "text")
        ts.finish(t)
        os.utime(ts.dir / f"a{i}.txt", (1000 + i, 1000 + i))
    ts.prune(keep=2)
    assert sorted(p.name for p in ts.dir.iterdir()) == ["a3.txt", "a4.txt"]
    assert ts.get("a4").splitlines()[1:] == ["C: NOOP"]


def test_every_way_of_sending_a_password_is_redacted(srv: MoxServer) -> None:
    """SMTP AUTH LOGIN and PLAIN with the credentials on continuation lines, a failed AUTH,
    IMAP LOGIN with quoted strings and with (non-)synchronizing literals, AUTHENTICATE PLAIN
    after a continuation: the transcripts (in memory and on disk) hold none of the secrets."""

    def b64(s: bytes) -> str:
        return base64.b64encode(s).decode()

    secrets = ["moxmoxmox", "wrongpass1", b64(b"moxmoxmox"), b64(b"\0mox@localhost\0moxmoxmox"),
               b64(b"\0mox@localhost\0wrongpass1")]
    c = Line(srv.ports["submission"])
    c.reply()
    c.cmd("EHLO client.example")
    assert c.cmd("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    assert c.cmd(b64(b"mox@localhost")) == "334 UGFzc3dvcmQ6"
    assert c.cmd(b64(b"moxmoxmox")) == "235 2.7.0 nice"
    c.close()
    c = Line(srv.ports["submission"])
    c.reply()
    c.cmd("EHLO client.example")
    assert c.cmd("AUTH PLAIN") == "334 "
    assert c.cmd(b64(b"\0mox@localhost\0wrongpass1")) == "535 5.7.8 bad user/pass"
    assert c.cmd("AUTH PLAIN") == "334 "
    assert c.cmd(b64(b"\0mox@localhost\0moxmoxmox")) == "235 2.7.0 nice"
    c.close()
    for login in (["a1 LOGIN mox@localhost {9}", "moxmoxmox"], ["a1 LOGIN mox@localhost {9+}", "moxmoxmox"],
                  ['a1 LOGIN "mox@localhost" "moxmoxmox"'], ["a1 AUTHENTICATE PLAIN", secrets[3]]):
        c = imap(srv)
        c.send(login[0])
        if len(login) > 1:
            if not login[0].endswith("+}"):
                assert c.line() == "+ "
            c.send(login[1])
        assert c.line().startswith("a1 OK [CAPABILITY ")
        c.send("a2 LOGOUT")
        assert c.line() == "* BYE thanks"
        assert c.line() == "a2 OK LOGOUT done"
        c.close()
    listed = srv.transcripts()
    assert [t["proto"] for t in listed] == ["smtp"] * 2 + ["imap"] * 4
    for t in listed:
        text = srv.transcript(t["cid"])
        assert [s for s in secrets if s in text] == [], text
        assert "C: ***" in text.splitlines()
    for f in (Path(srv.ports["dir"]) / "transcripts").iterdir():
        text = f.read_text(encoding="utf-8")
        assert [s for s in secrets if s in text] == [], f.name
