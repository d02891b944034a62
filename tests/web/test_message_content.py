"""Message bytes never run as script in mox's origin: everywhere a message (or a part, or a
transcript holding message data) is served as it is, the response is sandboxed
(``Content-Security-Policy: sandbox; default-src 'none'``), ``nosniff``, and parts and raw
messages come as attachments. The app pages' CSP allows scripts and styles only from mox's own
files (no 'unsafe-inline'). A browser check is in test_browser.py."""

from __future__ import annotations

import json
from typing import Any

from tests.web.conftest import Client, smtp_deliver, wait_one
from tests.web.test_account_admin import login, tag

SCRIPT = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
CONTENT_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def html_mail(t: str) -> bytes:
    return (
        f"From: <a@example.org>\r\nTo: <html-{t}@example.org>\r\nSubject: html {t}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>{SCRIPT}\r\n"
        "--b\r\nContent-Type: image/svg+xml\r\nContent-Disposition: attachment; filename=\"x.svg\"\r\n\r\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>\r\n--b--\r\n"
    ).encode()


def assert_sandboxed(r: Any, *, attachment: bool = True) -> None:
    csp = r.header("Content-Security-Policy")
    assert csp == CONTENT_CSP, csp
    assert "allow-scripts" not in csp
    assert r.header("X-Content-Type-Options") == "nosniff"
    if attachment:
        assert (r.header("Content-Disposition") or "").startswith("attachment"), r.header("Content-Disposition")


def test_every_message_byte_is_sandboxed(server: Any, client: Any) -> None:
    t = tag()
    smtp_deliver(server, [f"html-{t}@example.org"], html_mail(t))
    c = client()
    m = wait_one(c, f"to=html-{t}@example.org")
    mid = m["id"]
    # Test API: raw message and parts.
    r = c.get(f"/api/v1/messages/{mid}/raw")
    assert r.status == 200 and SCRIPT.encode() in r.body
    assert_sandboxed(r)
    for part in ("1", "2"):
        r = c.get(f"/api/v1/messages/{mid}/parts/{part}")
        assert r.status == 200
        assert_sandboxed(r)
    # Transcripts hold message data (shown inline as text, still sandboxed).
    r = c.get(f"/api/v1/messages/{mid}/transcript")
    assert r.status == 200 and r.header("Content-Type") == "text/plain; charset=utf-8"
    assert_sandboxed(r, attachment=False)
    r = c.get(f"/api/v1/transcripts/{r.header('X-Mox-Transcript')}")
    assert_sandboxed(r, attachment=False)
    # Webapi: raw and the text/html part (mox's MessagePartGet), with basic auth.
    auth = ("mox@localhost", "moxmoxmox")
    r = c.post("/webapi/v0/MessageRawGet", form={"request": json.dumps({"MsgID": mid})}, auth=auth)
    assert r.status == 200
    assert_sandboxed(r)
    r = c.post("/webapi/v0/MessagePartGet", form={"request": json.dumps({"MsgID": mid, "PartPath": [1]})}, auth=auth)
    assert r.status == 200 and r.header("Content-Type") == "text/html; charset=utf-8" and SCRIPT.encode() in r.body
    assert_sandboxed(r)
    # Webmail: attachment download (its HTML view is sanitised and framed, test_webmail_api).
    wm = Client(server.ports["http"])
    csrf = login(wm, "webmail")
    msgs = wm.post("/webmail/api/Messages", json_body={"mailbox": m_mailbox(wm, csrf), "query": f"subject:{t}"},
                   headers={"x-mox-csrf": csrf}).json()["messages"]
    got = wm.post("/webmail/api/Message", json_body={"mailbox": msgs[0]["mailbox"], "uid": msgs[0]["uid"]},
                  headers={"x-mox-csrf": csrf}).json()
    svg = [a for a in got["attachments"] if a["filename"] == "x.svg"][0]
    r = wm.get(f"/webmail/part/{msgs[0]['mailbox']}/{msgs[0]['uid']}/{svg['index']}")
    assert r.status == 200 and r.header("Content-Type") == "image/svg+xml"
    assert_sandboxed(r)
    wm.close()


def m_mailbox(wm: Client, csrf: str) -> int:
    boxes = wm.post("/webmail/api/Mailboxes", json_body={}, headers={"x-mox-csrf": csrf}).json()["mailboxes"]
    return [b["id"] for b in boxes if b["name"] == "Inbox"][0]


def test_app_pages_allow_no_inline_script(client: Any) -> None:
    c = client()
    for path in ("/", "/webmail/", "/account/", "/admin/", "/webapi/v0/", "/webapi/v0/Send", "/api/v1/"):
        r = c.get(path)
        csp = r.header("Content-Security-Policy")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "<script>" not in r.body.decode() and " on" + "click=" not in r.body.decode(), path
        assert "<style" not in r.body.decode() and " style=" not in r.body.decode(), path
