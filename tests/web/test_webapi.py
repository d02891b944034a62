"""The webapi v0 (mox ``webapi/webapi.go``) over real sockets: basic auth, form-encoded JSON requests,
the message methods and Send through the queue."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import mox

from tests.web.conftest import Client, expunged_on_lookup, smtp_deliver, wait_one

AUTH = ("mox@localhost", "moxmoxmox")

MSG = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: webapi-get@localhost\r\n"
    b"Subject: webapi get\r\n"
    b"Message-ID: <get-1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"hello text\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf\r\n"
    b'Content-Disposition: attachment; filename="doc.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--b1--\r\n"
)


def call(c: Client, method: str, request: Any, *, auth: tuple[str, str] | None = AUTH) -> Any:
    return c.post(f"/webapi/v0/{method}", form={"request": json.dumps(request)}, auth=auth)


def test_index_and_redirect(client):
    c = client()
    r = c.get("/webapi/")
    assert (r.status, r.header("Location")) == (303, "/webapi/v0/")
    r = c.get("/webapi")
    assert (r.status, r.header("Location")) == (303, "/webapi/")
    r = c.get("/webapi/v0/")
    assert r.status == 200
    for name in (
        "Send",
        "MessageGet",
        "MessageRawGet",
        "MessagePartGet",
        "MessageDelete",
        "MessageFlagsAdd",
        "MessageFlagsRemove",
        "MessageMove",
    ):
        assert f'<li><a href="{name}">{name}</a></li>'.encode() in r.body
    r = c.get("/webapi/v0/Send")
    assert r.status == 200 and b'<textarea name=request' in r.body
    assert r.header("X-Frame-Options") == "deny"


def test_auth_and_request_errors(client):
    c = client()
    r = call(c, "MessageGet", {"MsgID": 1}, auth=None)
    assert (r.status, r.json()) == (401, {"Code": "user", "Message": "missing http basic authentication"})
    assert r.header("WWW-Authenticate") == 'Basic realm="mox webapi"'
    r = call(c, "MessageGet", {"MsgID": 1}, auth=("mox@localhost", "wrong"))
    assert (r.status, r.json()) == (401, {"Code": "user", "Message": "bad credentials"})
    r = c.post("/webapi/v0/MessageGet", form={"other": "x"}, auth=AUTH)
    assert (r.status, r.json()) == (400, {"Code": "protocol", "Message": 'missing form field "request" with the JSON request'})
    r = c.post("/webapi/v0/MessageGet", form={"request": "{bad"}, auth=AUTH)
    assert r.status == 400
    assert r.json()["Code"] == "protocol"
    assert r.json()["Message"].startswith('malformed JSON in "request": ')
    r = call(c, "MessageGet", {"MsgID": "one"})
    assert (r.status, r.json()) == (400, {"Code": "protocol", "Message": "field MsgID: expected int"})
    r = call(c, "MessageGet", {"MsgID": 999999})  # mox webapisrv xmessageGet
    assert (r.status, r.json()) == (400, {"Code": "messageNotFound", "Message": "message not found"})
    r = call(c, "MessageGet", {"MsgID": 1, "Bogus": 1})  # mox decodes with DisallowUnknownFields
    assert (r.status, r.json()) == (400, {"Code": "protocol", "Message": 'parsing request: json: unknown field "Bogus"'})
    r = call(c, "MessageGet", {"msgid": 999999})  # Go's JSON field names match case-insensitively
    assert (r.status, r.json()) == (400, {"Code": "messageNotFound", "Message": "message not found"})
    r = call(c, "NoSuchMethod", {})
    assert (r.status, r.json()) == (404, {"Code": "notFound", "Message": "unknown method 'NoSuchMethod'"})


def test_message_expunged_while_read(client, server):
    # Expunged by another session between the look-up and the read of its file: notFound, as
    # for any message that is gone, not a server error.
    c = client()
    for i, method in enumerate(("MessageGet", "MessageRawGet", "MessagePartGet")):
        rcpt = f"webapi-gone{i}@localhost"
        smtp_deliver(server, [rcpt], MSG.replace(b"webapi-get@localhost", rcpt.encode()))
        msgid = wait_one(c, f"to={rcpt}")["id"]
        with expunged_on_lookup(server, "message_by_id"):
            r = call(c, method, {"MsgID": msgid, **({"PartPath": [0]} if method == "MessagePartGet" else {})})
        assert (r.status, r.json()) == (400, {"Code": "messageNotFound", "Message": "message not found"}), method


def test_message_methods(client, server):
    c = client()
    smtp_deliver(server, ["webapi-get@localhost"], MSG)
    msgid = wait_one(c, "to=webapi-get@localhost")["id"]

    r = call(c, "MessageGet", {"MsgID": msgid})
    assert r.status == 200, r.body
    got = r.json()
    m = got["Message"]
    assert m["From"] == [{"Name": "Alice", "Address": "alice@example.org"}]
    assert m["To"] == [{"Name": "", "Address": "webapi-get@localhost"}]
    assert (m["Subject"], m["MessageID"], m["Text"], m["HTML"]) == ("webapi get", "<get-1@example.org>", "hello text", "")
    # mox webhook.Structure: ContentDisposition and Filename too.
    assert got["Structure"] == {
        "ContentType": "multipart/mixed",
        "ContentTypeParams": {"boundary": "b1"},
        "ContentID": "",
        "ContentDisposition": "",
        "Filename": "",
        "DecodedSize": 0,
        "Parts": [
            {"ContentType": "text/plain", "ContentTypeParams": {"charset": "utf-8"}, "ContentID": "", "ContentDisposition": "", "Filename": "", "DecodedSize": 10, "Parts": []},
            {"ContentType": "application/pdf", "ContentTypeParams": {}, "ContentID": "", "ContentDisposition": "attachment", "Filename": "doc.pdf", "DecodedSize": 9, "Parts": []},
        ],
    }
    meta = got["Meta"]
    # mox webapi.MessageMeta, every field.
    assert meta == {
        "Size": meta["Size"],
        "DSN": False,
        "Flags": [],
        "MailFrom": "sender@example.org",
        "MailFromValidated": False,  # example.org has no SPF record mox can check here
        "RcptTo": "webapi-get@localhost",
        "MsgFrom": "alice@example.org",
        "MsgFromValidated": False,
        "DKIMVerifiedDomains": [],
        "RemoteIP": "127.0.0.1",
        "MailboxName": "Inbox",
    }
    assert m["ReplyTo"] == [] and m["References"] == [] and m["Date"] is None  # no such fields in MSG

    r = call(c, "MessageRawGet", {"MsgID": msgid})
    assert r.status == 200 and r.body.endswith(MSG)
    r = call(c, "MessagePartGet", {"MsgID": msgid, "PartPath": [1]})
    assert (r.status, r.header("Content-Type"), r.body) == (200, "application/pdf", b"%PDF-1.4\n")
    r = call(c, "MessagePartGet", {"MsgID": msgid, "PartPath": [5]})
    assert (r.status, r.json()) == (400, {"Code": "partNotFound", "Message": "part 5 at index 0 not found"})

    assert call(c, "MessageFlagsAdd", {"MsgID": msgid, "Flags": ["\\Seen", "custom"]}).json() == {}
    assert call(c, "MessageGet", {"MsgID": msgid}).json()["Meta"]["Flags"] == ["\\seen", "custom"]  # lower case, as mox
    assert call(c, "MessageFlagsRemove", {"MsgID": msgid, "Flags": ["\\Seen"]}).json() == {}
    assert call(c, "MessageGet", {"MsgID": msgid}).json()["Meta"]["Flags"] == ["custom"]
    r = call(c, "MessageFlagsAdd", {"MsgID": msgid, "Flags": ["bad flag"]})
    assert (r.status, r.json()) == (400, {"Code": "user", "Message": "invalid flag 'bad flag'"})

    r = call(c, "MessageMove", {"MsgID": msgid, "DestMailboxName": "Nope"})  # mox webops MessageMove
    assert (r.status, r.json()) == (400, {"Code": "user", "Message": "looking up mailbox name: not found"})
    assert call(c, "MessageMove", {"MsgID": msgid, "DestMailboxName": "Archive"}).json() == {}
    moved = c.get("/api/v1/messages?to=webapi-get@localhost").json()["messages"]
    assert [(x["mailbox"], x["subject"]) for x in moved] == [("Archive", "webapi get")]
    new_id = moved[0]["id"]
    assert call(c, "MessageGet", {"MsgID": new_id}).json()["Meta"]["MailboxName"] == "Archive"

    assert call(c, "MessageDelete", {"MsgID": new_id}).json() == {}
    r = call(c, "MessageGet", {"MsgID": new_id})
    assert (r.status, r.json()) == (400, {"Code": "messageNotFound", "Message": "message not found"})


def test_send_urlencoded(client):
    c = client()
    r = call(
        c,
        "Send",
        {"To": [{"Name": "Carol", "Address": "webapi-send@localhost"}], "Subject": "webapi send", "Text": "hi\nthere"},
    )
    assert r.status == 200, r.body
    got = r.json()
    assert got["MessageID"].startswith("<") and got["MessageID"].endswith("@localhost>")
    [sub] = got["Submissions"]
    assert sub["Address"] == "webapi-send@localhost" and sub["FromID"] == "" and isinstance(sub["QueueMsgID"], int)
    m = wait_one(c, "to=webapi-send@localhost")
    assert (m["from"], m["subject"], m["message_id"], m["text"]) == (
        "mox@localhost",
        "webapi send",
        got["MessageID"],
        "hi\r\nthere\r\n",
    )
    hdrs = dict((k.lower(), v) for k, v in m["headers"])
    assert hdrs["to"] == "Carol <webapi-send@localhost>"
    assert hdrs.get("delivered-to") == "webapi-send@localhost", m["headers"]


def test_send_multipart_with_attachment(client):
    c = client()
    boundary = "formboundary42"
    req = {
        "To": [{"Address": "webapi-attach@localhost"}],
        "Subject": "with files",
        "Text": "see attached",
        "HTML": "<p>see attached</p>",
        "AttachedFiles": [{"Name": "a.txt", "ContentType": "text/plain", "Data": base64.b64encode(b"file a").decode()}],
    }
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{json.dumps(req)}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachedfile\"; filename=\"b.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\nfile b\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    r = c.post(
        "/webapi/v0/Send", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, auth=AUTH
    )
    assert r.status == 200, r.body
    m = wait_one(c, "to=webapi-attach@localhost")
    assert (m["text"], m["html"]) == ("see attached\r\n", "<p>see attached</p>\r\n")
    assert [(a["filename"], a["content_type"], a["size"]) for a in m["attachments"]] == [
        ("a.txt", "text/plain", 6),
        ("b.bin", "application/octet-stream", 6),
    ]


def test_send_errors(client):
    # mox webapisrv Send: its error codes and messages.
    c = client()
    r = call(c, "Send", {"To": [{"Address": "not an address"}], "Text": "x"})
    assert (r.status, r.json()["Code"]) == (400, "badAddress")
    assert r.json()["Message"].startswith("parsing address 'not an address': ")
    r = call(c, "Send", {"Text": "x"})
    assert (r.status, r.json()) == (400, {"Code": "noRecipients", "Message": "no recipients"})
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}]})
    assert (r.status, r.json()) == (400, {"Code": "missingBody", "Message": "at least text or html body required"})
    r = call(c, "Send", {"From": [{"Address": "someone@example.org"}], "To": [{"Address": "a@localhost"}], "Text": "x"})
    assert (r.status, r.json()) == (400, {"Code": "badFrom", "Message": "from-address not configured for account"})
    two = [{"Address": "mox@localhost"}, {"Address": "mox@localhost"}]
    r = call(c, "Send", {"From": two, "To": [{"Address": "a@localhost"}], "Text": "x"})
    assert (r.status, r.json()) == (400, {"Code": "multipleFrom", "Message": "multiple from-addresses not allowed"})
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "MessageID": "no-brackets@x"})
    assert (r.status, r.json()) == (400, {"Code": "malformedMessageID", "Message": "missing <> in message-id"})
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "Subject": "a\r\nBcc: x@y"})
    assert (r.status, r.json()) == (400, {"Code": "user", "Message": "checking header values: control characters not allowed"})
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "FutureRelease": "2999-01-01T00:00:00Z"})
    assert (r.status, r.json()) == (
        400, {"Code": "user", "Message": "scheduling delivery: date/time can not be further than 1440h0m0s in the future"}
    )
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "Unknown": 1})
    assert (r.status, r.json()) == (400, {"Code": "protocol", "Message": 'parsing request: json: unknown field "Unknown"'})


def test_send_non_ascii(client):
    c = client()
    r = call(
        c,
        "Send",
        {
            "To": [{"Name": "Jörg", "Address": "webapi-utf8@localhost"}],
            "Subject": "Grüße ✓",
            "Text": "Schöne Grüße\n",
            "Headers": [["X-Test", "yes"]],
        },
    )
    assert r.status == 200, r.body
    m = wait_one(c, "to=webapi-utf8@localhost")
    assert (m["subject"], m["text"]) == ("Grüße ✓", "Schöne Grüße\r\n")
    hdrs = {k.lower(): v for k, v in m["headers"]}
    assert (hdrs["to"], hdrs["x-test"], hdrs["user-agent"]) == ("Jörg <webapi-utf8@localhost>", "yes", f"mox/{mox.__version__}")
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "Headers": [["Bad Name", "v"]]})
    assert (r.status, r.json()) == (400, {"Code": "user", "Message": "invalid header 'Bad Name'"})


def test_send_daily_limits(tmp_path):
    """Send checks the account's daily limits as mox's webapi does (webapisrv/server.go), with
    mox's error codes; webapi and SMTP submission count together. Limits here: 3 recipients and 2
    first-time recipients in 24 hours (domains.conf max_outgoing_messages_per_day and
    max_first_time_recipients_per_day, mox's MaxOutgoingMessagesPerDay and
    MaxFirstTimeRecipientsPerDay)."""
    import smtplib

    from mox import localserve
    from mox.testing import LocalServer

    d = tmp_path / "data"
    localserve.prepare(d, port_base=0)
    from mox import config as mconfig

    mconfig.edit_file(d, mconfig.DOMAINS_CONF, lambda x: x["Accounts"]["mox"].update(
        MaxOutgoingMessagesPerDay=3, MaxFirstTimeRecipientsPerDay=2))
    rcpt_limit = {"Code": "recipientLimitReached", "Message": "outgoing new recipient rate limit reached"}
    msg_limit = {"Code": "messageLimitReached", "Message": "outgoing message rate limit reached"}
    with LocalServer(d) as srv:
        c = Client(srv.ports["http"])

        def send(*to: str) -> tuple[int, Any]:
            r = call(c, "Send", {"To": [{"Address": a} for a in to], "Text": "x"})
            return r.status, r.json()

        assert send("a@example.org", "b@example.org")[0] == 200  # 2 recipients, both first-time
        assert send("c@example.org") == (400, rcpt_limit)  # c would be the 3rd first-time one
        assert send("a@example.org")[0] == 200  # the 3rd recipient, not a first-time one
        assert send("a@example.org") == (400, msg_limit)  # would be the 4th
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as s:  # the same count
            s.login(srv.address, srv.password)
            with pytest.raises(smtplib.SMTPDataError) as e:
                s.sendmail("mox@localhost", ["a@example.org"], b"From: mox@localhost\r\nSubject: x\r\n\r\nx\r\n")
            assert (e.value.smtp_code, e.value.smtp_error.rsplit(b" (", 1)[0]) == (  # without the connection id
                451,
                b"4.7.1 max number of messages (3) over past 24h reached, try increasing per-account setting "
                b"MaxOutgoingMessagesPerDay",
            )
        c.close()


def test_localserve_account_has_no_daily_limits(server):
    # README: localserve's own account is never throttled; other accounts get mox's defaults.
    assert server.ctx.config.send_limits("mox") == (None, None)
    assert server.ctx.config.send_limits("added-later") == (1000, 200)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PDF = b"%PDF-1.4\n%fake\n"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_send_every_field(client, server):
    """Send with every field of mox's SendRequest: the message has mox's MIME structure
    (multipart/mixed > related > alternative), Reply-To and the extra headers; SaveSent keeps a
    copy in Sent with the Bcc field; the recipients get the message (Bcc not in it)."""
    c = client()
    req = {
        "To": [{"Name": "To One", "Address": "webapi-all@localhost"}],
        "CC": [{"Address": "webapi-all-cc@localhost"}],
        "BCC": [{"Address": "webapi-all-bcc@localhost"}],
        "ReplyTo": [{"Name": "Replies", "Address": "replies@example.org"}],
        "MessageID": "<all-fields@example.org>",
        "References": ["<root@example.org>", "<parent@example.org>"],
        "Date": "2024-05-06T07:08:09+02:00",
        "Subject": "every field",
        "Text": "the text \u2713",
        "HTML": '<p>the html <img src="cid:logo@example.org"></p>',
        "Extra": {"order": "42"},
        "Headers": [["X-Order", "42"], ["User-Agent", "shop/1.0"]],
        "AlternativeFiles": [{"Name": "invite.ics", "ContentType": "text/calendar", "Data": _b64(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")}],
        "InlineFiles": [{"Name": "logo.png", "ContentType": "image/png", "ContentID": "<logo@example.org>", "Data": _b64(PNG)}],
        "AttachedFiles": [{"Name": "invoice.pdf", "Data": _b64(PDF)}],  # type sniffed, as mox
        "RequireTLS": True,
        "SaveSent": True,
    }
    r = call(c, "Send", req)
    assert r.status == 200, r.body
    got = r.json()
    assert got["MessageID"] == "<all-fields@example.org>"
    assert [s["Address"] for s in got["Submissions"]] == ["webapi-all@localhost", "webapi-all-cc@localhost", "webapi-all-bcc@localhost"]

    def leaf(ct: str, params: dict[str, str], size: int, disp: str = "", name: str = "", cid: str = "") -> dict[str, Any]:
        return {"ContentType": ct, "ContentTypeParams": params, "ContentID": cid, "ContentDisposition": disp, "Filename": name, "DecodedSize": size, "Parts": []}

    def multi(ct: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"ContentType": ct, "ContentTypeParams": {}, "ContentID": "", "ContentDisposition": "", "Filename": "", "DecodedSize": 0, "Parts": parts}

    expected = multi("multipart/mixed", [
        multi("multipart/related", [
            multi("multipart/alternative", [
                leaf("text/plain", {"charset": "utf-8"}, len("the text \u2713\r\n".encode())),
                leaf("text/html", {"charset": "utf-8"}, len(req["HTML"]) + 2),
                leaf("text/calendar", {}, 32, "inline", "invite.ics"),
            ]),
            leaf("image/png", {}, len(PNG), "inline", "logo.png", "<logo@example.org>"),
        ]),
        leaf("application/pdf", {}, len(PDF), "attachment", "invoice.pdf"),
    ])

    def without_boundaries(s: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in s["ContentTypeParams"].items() if k != "boundary"}
        return {**s, "ContentTypeParams": params, "Parts": [without_boundaries(p) for p in s["Parts"]]}

    for rcpt, mailbox in (("webapi-all@localhost", "Inbox"), ("webapi-all-bcc@localhost", "Inbox"), ("webapi-all@localhost", "Sent")):
        q = f"to={rcpt}" if mailbox == "Inbox" else f"to={rcpt}&mailbox=Sent"
        m = wait_one(c, q)
        g = call(c, "MessageGet", {"MsgID": m["id"]}).json()
        assert without_boundaries(g["Structure"]) == expected, g["Structure"]
        msg = g["Message"]
        assert (msg["Subject"], msg["MessageID"], msg["References"], msg["Date"]) == (
            "every field", "<all-fields@example.org>", ["<root@example.org>", "<parent@example.org>"], "2024-05-06T07:08:09+02:00"
        )
        assert msg["ReplyTo"] == [{"Name": "Replies", "Address": "replies@example.org"}]
        assert msg["To"] == [{"Name": "To One", "Address": "webapi-all@localhost"}]
        assert msg["CC"] == [{"Name": "", "Address": "webapi-all-cc@localhost"}]
        assert g["Meta"]["MailboxName"] == mailbox
        raw = call(c, "MessageRawGet", {"MsgID": m["id"]}).body
        head = raw.split(b"\r\n\r\n", 1)[0].decode()
        assert "\r\nX-Order: 42\r\n" in head and "\r\nUser-Agent: shop/1.0\r\n" in head
        assert head.count("User-Agent:") == 1  # given, so not mox's own
        assert "In-Reply-To: <parent@example.org>" in head
        # Bcc only in the Sent copy (mox prepends it there).
        assert ("Bcc: webapi-all-bcc@localhost" in head) == (mailbox == "Sent"), head


def test_send_future_release_and_require_tls(client, server):
    """FutureRelease holds the message in the queue until then (mox: NextAttempt, and
    FutureReleaseRequest "until;<time>" for DSNs); RequireTLS and Extra are kept with it."""
    import datetime

    c = client()
    release = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)).replace(microsecond=0)
    r = call(c, "Send", {
        "To": [{"Address": "webapi-later@localhost"}], "Subject": "later", "Text": "x",
        "FutureRelease": release.isoformat().replace("+00:00", "Z"), "RequireTLS": False, "Extra": {"a": "b"},
    })
    assert r.status == 200, r.body
    [sub] = r.json()["Submissions"]
    e = server.run_sync_in_server(lambda: server.ctx.queue.store.entries.get(sub["QueueMsgID"]))
    assert e is not None  # still queued
    assert (e.next_attempt, e.hold_until, e.future_release_request) == (
        release.timestamp(), release.timestamp(), "until;" + release.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert (e.require_tls, e.extra, e.subject) == (False, {"a": "b"}, "later")
    assert c.get("/api/v1/messages?to=webapi-later@localhost").json()["messages"] == []
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "RequireTLS": "yes"})
    assert r.status == 400 and r.json()["Code"] == "protocol"
    r = call(c, "Send", {"To": [{"Address": "a@localhost"}], "Text": "x", "FutureRelease": "tomorrow"})
    assert r.status == 400 and r.json()["Code"] == "protocol"
