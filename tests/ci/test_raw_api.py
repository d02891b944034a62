"""Every test and CI capability through the raw HTTP API of a real `mox localserve` process:
plain http.client requests and raw SMTP/IMAP lines, none of the pytest plugin's helpers.
(The other tests in this directory use the plugin; together they cover both ways in.)"""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path

from .conftest import Line

EIGHTBIT = b"From: <s@example.org>\nTo: <x@example.org>\nSubject: lf\n\nbare LF\n"


class Http:
    def __init__(self, port: int) -> None:
        self.port = port

    def __call__(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body)
            r = c.getresponse()
            return r.status, r.getheader("Content-Type") or "", r.read()
        finally:
            c.close()

    def json(self, method: str, path: str, body: bytes | None = None, status: int = 200):
        got, ctype, data = self(method, path, body)
        assert (got, ctype) == (status, "application/json; charset=utf-8"), data
        return json.loads(data)


def _send(port: int, rcpts: list[str], subject: str, *, token: str = "") -> list[str]:
    """One transaction on port 25; the replies to RCPT, DATA end."""
    c = Line(port)
    try:
        c.reply()
        assert c.cmd(f"EHLO {token or 'client'}.example").startswith("250-localhost")
        assert c.cmd("MAIL FROM:<s@example.org>") == "250 2.1.0 looking good"
        out = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        if all(r.startswith("250 ") for r in out):
            assert c.cmd("DATA") == "354 see you at the bare dot"
            c.sock.sendall(
                (f"From: <s@example.org>\r\nTo: {', '.join(f'<{r}>' for r in rcpts)}\r\nSubject: {subject}\r\n"
                 f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.org>\r\n\r\nhi\r\n.\r\n").encode()
            )
            out.append(c.reply())
        assert c.cmd("QUIT") == "221 2.0.0 okay thanks bye"
        return out
    finally:
        c.close()


def _tagged(c: Line, tag: str) -> tuple[list[str], str]:
    untagged = []
    while not (line := c.line()).startswith(tag + " "):
        untagged.append(line)
    return untagged, line


def test_every_capability_over_raw_http(tmp_path: Path, mox_process) -> None:
    p = mox_process(
        "localserve", "-dir", str(tmp_path / "mox"), "-port-base", "0",
        "-imap-profile", "dovecot", "-shared-password", "raw-pass", "-deterministic",
    )
    info = p.wait_ready()
    api = Http(info["http"])

    # Settings (capability profile, shared password, deterministic clock) as the server sees them.
    ci = api.json("GET", "/api/v1/ci")
    assert (ci["imap_profile"], ci["shared_password"], ci["deterministic"], ci["views"]) == ("dovecot", "raw-pass", 946684800.0, True)

    # --- per-address inboxes: exact recipient, not a substring ---
    assert _send(info["smtp"], ["w+one@example.org"], "one") == ["250 2.1.0 now on the list", "250 2.2.0 it is done"]
    assert _send(info["smtp"], ["xw+one@example.org"], "other")[-1] == "250 2.2.0 it is done"
    got = api.json("GET", "/api/v1/wait?to=w%2Bone@example.org&subject=one&timeout=20")["messages"]
    assert [m["subject"] for m in got] == ["one"]
    listed = api.json("GET", "/api/v1/messages?to=w%2Bone@example.org")
    assert (listed["total"], [m["subject"] for m in listed["messages"]]) == (1, ["one"])
    assert listed["messages"][0]["received"] == "2000-01-01T00:00:00Z"  # the fixed clock
    msg_id = listed["messages"][0]["id"]
    assert api.json("GET", "/api/v1/inboxes") == {
        "inboxes": [
            {"account": "view-w+one@example.org", "messages": 1},
            {"account": "view-xw+one@example.org", "messages": 1},
        ]
    }

    # IMAP as the address with the shared password (AUTHENTICATE PLAIN, initial response):
    # a view of just its mail, under the dovecot profile.
    c = Line(info["imap"])
    assert c.line().startswith("* OK [CAPABILITY IMAP4rev1 ")
    cred = base64.b64encode(b"\0w+one@example.org\0raw-pass").decode()
    c.send(f"a1 AUTHENTICATE PLAIN {cred}")
    assert _tagged(c, "a1")[1].startswith("a1 OK ")
    c.send("a2 SELECT INBOX")
    untagged, done = _tagged(c, "a2")
    assert "* 1 EXISTS" in untagged and done.startswith("a2 OK [READ-WRITE]")
    c.send("a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    untagged, done = _tagged(c, "a3")
    assert untagged[1:] == ["Subject: one", "", ")"] and done == "a3 OK FETCH done"
    c.send("a4 LOGOUT")
    assert c.line() == "* BYE thanks"
    c.close()

    # --- transcripts: listed, per session as text, linked from the message; IMAP redacted ---
    smtp_t = api.json("GET", "/api/v1/transcripts?proto=smtp")["transcripts"]
    assert [t["cid"] for t in smtp_t] == ["d1", "d2"]  # deterministic connection ids
    status, ctype, text = api("GET", "/api/v1/messages/%d/transcript" % msg_id)
    assert (status, ctype.split(";")[0]) == (200, "text/plain")
    assert api("GET", "/api/v1/transcripts/d1")[2] == text
    lines = text.decode().splitlines()
    assert lines[0] == "# smtp session d1 from 127.0.0.1"  # no start time in deterministic mode
    assert "C: RCPT TO:<w+one@example.org>" in lines and "S: 250 2.2.0 it is done" in lines
    (imap_t,) = api.json("GET", "/api/v1/transcripts?proto=imap")["transcripts"]
    assert imap_t["user"] == "w+one@example.org"
    itext = api("GET", f"/api/v1/transcripts/{imap_t['cid']}")[2].decode()
    assert cred not in itext and "raw-pass" not in itext and "C: ***" in itext.splitlines()
    assert api.json("GET", "/api/v1/transcripts/nope", status=404)["code"] == "user:notFound"

    # --- lint: a raw message, and a received one ---
    assert api.json("POST", "/api/v1/lint", EIGHTBIT) == {
        "ok": False, "errors": 3, "warnings": 1,
        "findings": [
            {"id": "bare-lf", "severity": "error", "message": "5 bare LF line ending(s) (without CR); SMTP requires CRLF"},
            {"id": "missing-date", "severity": "error", "message": "no Date header field"},
            {"id": "missing-message-id", "severity": "warning", "message": "no Message-ID header field"},
            {"id": "malformed-mime", "severity": "error", "message": "malformed message: invalid bare line feed at offset 21"},
        ],
    }
    report = api.json("GET", f"/api/v1/messages/{msg_id}/lint")
    assert (report["ok"], report["findings"], report["transcript"]) == (True, [], "d1")

    # --- fault rules: add, see it fire (scoped by EHLO token), counters, delete ---
    rule = api.json("POST", "/api/v1/faults",
                    b'{"stage": "rcpt", "token": "rawtok", "action": "reply", "code": 451, "text": "later", "owner": "raw"}',
                    status=201)
    assert rule == {"id": 1, "proto": "smtp", "stage": "rcpt", "action": "reply", "code": 451, "text": "later",
                    "token": "rawtok", "owner": "raw", "matched": 0, "fired": 0}
    assert _send(info["smtp"], ["y@example.org"], "x", token="rawtok") == ["451 4.0.0 later"]
    assert _send(info["smtp"], ["y@example.org"], "not mine")[-1] == "250 2.2.0 it is done"  # other token
    got = api.json("GET", "/api/v1/faults/1")
    assert (got["matched"], got["fired"]) == (1, 1)
    assert [r["id"] for r in api.json("GET", "/api/v1/faults?owner=raw")["rules"]] == [1]
    assert api.json("DELETE", "/api/v1/faults/1") == {"deleted": 1}
    assert api.json("GET", "/api/v1/faults/1", status=404) == {"code": "user:notFound", "message": "no rule 1"}
    assert api.json("POST", "/api/v1/faults", b"{not json", status=400)["code"] == "user:badJSON"
    assert _send(info["smtp"], ["y@example.org"], "through", token="rawtok")[-1] == "250 2.2.0 it is done"

    # --- clearing one address's inbox leaves the others' ---
    assert api.json("DELETE", "/api/v1/inboxes/w%2Bone@example.org") == {"deleted": 2}  # view + mox copy
    assert api.json("GET", "/api/v1/messages?to=w%2Bone@example.org")["total"] == 0
    assert [m["subject"] for m in api.json("GET", "/api/v1/messages?to=xw%2Bone@example.org")["messages"]] == ["other"]

    # --- reset: all mail, rules, transcripts ---
    api.json("POST", "/api/v1/faults", b'{"stage": "mail", "token": "never", "action": "drop"}', status=201)
    assert api.json("POST", "/api/v1/reset") == {"deleted": 6, "rules": 1}  # mox: other, not mine, through; 3 views
    assert api.json("GET", "/api/v1/messages")["total"] == 0
    assert api.json("GET", "/api/v1/faults") == {"rules": []}
    assert api.json("GET", "/api/v1/transcripts") == {"transcripts": []}
    assert api.json("GET", "/api/v1/inboxes")["inboxes"] == [
        {"account": "view-w+one@example.org", "messages": 0},
        {"account": "view-xw+one@example.org", "messages": 0},
        {"account": "view-y@example.org", "messages": 0},
    ]

    p.terminate()
    assert p.wait() == 0
