"""`mox deliver`, `mox webapi`, `mox message parse`, `mox verifydata`, `mox clientconfig` and
`mox cid` against a running localserve, run as users run them (a `mox` subprocess)."""

from __future__ import annotations

import imaplib
import json
import re
import smtplib

import pytest

from mox.testing import LocalServer

from ..conftest import run_mox


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


def inbox_messages(srv) -> list[bytes]:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        c.login("mox@localhost", "moxmoxmox")
        c.select("Inbox", readonly=True)
        _, data = c.uid("search", None, "ALL")
        out = []
        for uid in data[0].split():
            _, d = c.uid("fetch", uid, "(BODY.PEEK[])")
            out.append(d[0][1])
        return out
    finally:
        c.logout()


def test_help_lists_the_commands():
    r = run_mox("help")
    for cmd in ("deliver", "webapi", "message", "verifydata", "clientconfig", "cid"):
        assert f"\n  {cmd} " in r.stdout, cmd
    assert run_mox("help", "message", "parse").stdout.startswith("Usage: mox message parse [OPTIONS] FILE\n")
    assert "-fix, --fix" in run_mox("help", "verifydata").stdout


def test_deliver(server):
    msg = b"From: x@example.org\nSubject: via ctl deliver\n\nbody line\n"
    r = run_mox("deliver", "-dir", str(server.dir), "mox@localhost", input=msg.decode())
    assert (r.returncode, r.stdout, r.stderr) == (0, "message delivered\n", "")
    got = [m for m in inbox_messages(server) if b"Subject: via ctl deliver" in m]
    assert got == [b"From: x@example.org\r\nSubject: via ctl deliver\r\n\r\nbody line\r\n"]  # as mox: LF -> CRLF, nothing added
    # Only configured addresses, as mox (not localserve's catch-all for SMTP).
    r = run_mox("deliver", "-dir", str(server.dir), "nobody@example.org", input="Subject: x\n\nx\n")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "mox: lookup destination address: no account for address 'nobody@example.org'\n"
    r = run_mox("deliver", "-dir", str(server.dir), "mox@localhost", input="")
    assert (r.returncode, r.stderr) == (1, "mox: deliver: delivering message: empty message\n")
    r = run_mox("deliver", "-dir", str(server.dir))
    assert r.returncode == 2 and "Missing argument 'ADDRESS'" in r.stderr


def test_webapi(server):
    r = run_mox("webapi")
    assert r.returncode == 0
    names = r.stdout.split()
    assert names == sorted(names) and {"Send", "MessageGet", "MessageRawGet", "MessageDelete", "MessageMove"} <= set(names)
    r = run_mox("webapi", "Send")
    assert r.stdout.startswith("# Example request\n\n\t{\n\t\t\"To\": [\n")
    assert "# Example response\n\n\t{\n\t\t\"MessageID\"" in r.stdout
    assert run_mox("webapi", "MessageRawGet").stdout.endswith("Output is non-JSON data.\n")
    r = run_mox("webapi", "Bogus")
    assert (r.returncode, r.stderr) == (1, "mox: unknown method 'Bogus'\n")

    base = f"http://mox%40localhost:moxmoxmox@localhost:{server.ports['http']}/webapi/v0/"
    # SaveSent: a copy in Sent when Send returns (the delivery to the inbox goes through the queue).
    req = {"To": [{"Address": "mox@localhost"}], "Subject": "from the webapi cli", "Text": "hi there", "SaveSent": True}
    r = run_mox("webapi", "Send", base, input=json.dumps(req))
    assert r.returncode == 0, r.stderr
    assert r.stderr == "reading request from stdin...\n"
    res = json.loads(r.stdout)
    assert res["MessageID"].startswith("<") and [s["Address"] for s in res["Submissions"]] == ["mox@localhost"]
    assert r.stdout.startswith('{\n\t"MessageID": ')  # tab-indented as mox prints it
    # An API error: mox's JSON error, exit 1.
    r = run_mox("webapi", "MessageGet", base, input='{"MsgID": 99999}')
    assert r.returncode == 1
    err = json.loads(r.stdout)
    assert set(err) == {"Code", "Message"} and err["Code"] == "messageNotFound"  # mox webapisrv MessageGet
    # Raw output as is.
    for msgid in range(1, 20):  # the Sent copy (ids are the store's, not IMAP UIDs)
        r = run_mox("webapi", "MessageRawGet", base, input=json.dumps({"MsgID": msgid}))
        if "Subject: from the webapi cli\n" in r.stdout:
            break
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("Received: ") and r.stdout.endswith("\n\nhi there\n")
    # Wrong password: HTTP 401 on stderr, exit 1.
    bad = base.replace("moxmoxmox", "wrong")
    r = run_mox("webapi", "MessageGet", bad, input='{"MsgID": 1}')
    assert r.returncode == 1 and r.stderr.splitlines()[1].startswith("http response 401")
    # mox's webapi metric counted each call: by method and result.
    from tests.metrics.test_metrics import scrape, value

    text = scrape(server.ports["metrics"])[2]
    assert value(text, "mox_webapi_results_total", method="Send", result="ok") == 1
    assert value(text, "mox_webapi_results_total", method="MessageGet", result="messageNotFound") == 1
    assert value(text, "mox_webapi_results_total", method="MessageGet", result="badauth") == 1
    r = run_mox("webapi", "MessageGet", base, input="not json")
    assert r.returncode == 1 and r.stderr.splitlines()[-1].startswith("mox: parsing request: ")


MESSAGE = (
    b'From: "Jo =?utf-8?q?M=C3=BCller?=" <Jo@Example.ORG>\r\n'
    b"To: a@b.example\r\n"
    b"Subject: =?utf-8?q?h=C3=A9llo?=\r\n"
    b"Date: Mon, 2 Jan 2006 15:04:05 +0100\r\n"
    b"Message-Id: <m1@x>\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"hi=3D\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"body\r\n"
    b"--b1--\r\n"
)


def test_message_parse(tmp_path):
    p = tmp_path / "m.eml"
    p.write_bytes(MESSAGE)
    r = run_mox("message", "parse", str(p))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('{\n\t"BoundaryOffset": -1,\n\t"HeaderOffset": 0,\n')
    top = json.loads(r.stdout)
    assert list(top) == [
        "BoundaryOffset", "HeaderOffset", "BodyOffset", "EndOffset", "RawLineCount", "DecodedSize", "MediaType",
        "MediaSubType", "ContentTypeParams", "Envelope", "Parts", "Message",
    ]
    body = MESSAGE.index(b"\r\n\r\n") + 4
    assert (top["BodyOffset"], top["EndOffset"], top["MediaType"], top["MediaSubType"]) == (body, len(MESSAGE), "MULTIPART", "MIXED")
    assert top["ContentTypeParams"] == {"boundary": "b1"}
    assert top["Envelope"] == {
        "Date": "2006-01-02T15:04:05+01:00", "Subject": "héllo",
        "From": [{"Name": "Jo Müller", "User": "Jo", "Host": "example.org"}], "Sender": None, "ReplyTo": None,
        "To": [{"Name": "", "User": "a", "Host": "b.example"}], "CC": None, "BCC": None,
        "InReplyTo": "", "MessageID": "<m1@x>",
    }
    text, msg = top["Parts"]
    assert text["BoundaryOffset"] == MESSAGE.index(b"--b1")
    assert MESSAGE[text["BodyOffset"] : text["EndOffset"]] == b"hi=3D"
    assert (text["ContentTransferEncoding"], text["DecodedSize"], text["Parts"], text["Message"]) == ("QUOTED-PRINTABLE", 3, None, None)
    assert "Envelope" not in text and "ContentID" not in text
    inner = msg["Message"]
    assert (inner["HeaderOffset"], inner["BodyOffset"], inner["MediaType"], inner["ContentTypeParams"]) == (0, 18, "", None)
    assert inner["Envelope"]["Subject"] == "inner" and inner["Envelope"]["Date"] == "0001-01-01T00:00:00Z"
    r = run_mox("message", "parse", "-smtputf8", str(p))
    assert r.stdout.endswith("}\nmessage needs smtputf8: false\n")
    p.write_bytes("Subject: ünïcode\r\n\r\nx\r\n".encode())
    assert run_mox("message", "parse", "-smtputf8", str(p)).stdout.endswith("}\nmessage needs smtputf8: true\n")
    r = run_mox("message", "parse", str(tmp_path / "missing.eml"))
    assert (r.returncode, r.stderr) == (1, f"mox: open: No such file or directory: {tmp_path / 'missing.eml'}\n")


def test_clientconfig(server):
    r = run_mox("clientconfig", "-dir", str(server.dir), "localhost")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Protocol", "Host", "Port", "Listener", "Note"]
    assert [" ".join(line.split()) for line in lines[1:5]] == [
        "Submission (SMTP) localhost 1465 local with TLS",
        "IMAP localhost 1993 local with TLS",
        "Submission (SMTP) localhost 1587 local STARTTLS optional",
        "IMAP localhost 1143 local STARTTLS optional",
    ]
    assert "the first of: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS" in r.stdout
    r = run_mox("clientconfig", "-dir", str(server.dir), "example.org")
    assert (r.returncode, r.stderr) == (1, "mox: getting client config: unknown domain\n")


def test_cid(server):
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("remote@example.org", ["mox@localhost"], b"Subject: cid test\r\n\r\nx\r\n")
    m = [m for m in inbox_messages(server) if b"Subject: cid test" in m][0]
    rid = re.search(rb"Received: from .*? id ([0-9a-z]+)", m, re.S).group(1).decode()
    r = run_mox("cid", "-dir", str(server.dir), rid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == rid
    assert any(line.startswith("info: message delivered;") and f"cid={rid}" in line for line in lines[1:]), lines
    assert all(f"cid={rid}" in line for line in lines[1:])
    r = run_mox("cid", "-dir", str(server.dir), "not-a-cid!")
    assert (r.returncode, r.stderr) == (1, "mox: received id to cid: invalid id 'not-a-cid!' (a hexadecimal connection id)\n")


def test_verifydata(tmp_path, server):
    # A running mox's dir is refused; a stopped one (a backup) is checked.
    r = run_mox("verifydata", str(server.dir))
    assert r.returncode == 1 and "mox is running with data dir" in r.stderr
    d = tmp_path / "d"
    with LocalServer(dir=d) as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as s:
            s.sendmail("remote@example.org", ["mox@localhost"], b"Subject: v\r\n\r\nx\r\n")
    r = run_mox("verifydata", str(d))
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{d}: OK\n", "")
    # A stray file in an account's message dir, and a missing message file.
    msgdir = d / "accounts" / "mox" / "msg"
    files = sorted(p for p in msgdir.rglob("*") if p.is_file())
    stray = files[0].parent / "999999"
    stray.write_bytes(b"x")
    r = run_mox("verifydata", str(d))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"error: accounts/mox: stray file msg/{stray.parent.name}/999999",
        "mox: errors were found",
    ]
    r = run_mox("verifydata", "-fix", str(d))
    assert r.returncode == 0, r.stderr
    assert "warning: moved accounts/mox/msg/" in r.stderr
    assert (d / "moved" / "accounts" / "mox" / "msg" / stray.parent.name / "999999").is_file()
    files[0].unlink()
    r = run_mox("verifydata", str(d))
    assert r.returncode == 1 and ": file missing" in r.stderr
