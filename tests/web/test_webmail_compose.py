"""Webmail compose API against a running localserve: drafts (MessageCompose saves the form to
Drafts, each save replaces the last, sending removes it and keeps a reply's thread)."""

from __future__ import annotations

import time
from typing import Any

from tests.web.test_webmail_api import ADDRESS, Webmail, simple, smtp_deliver, tag
from tests.web.test_webmail_threads import wait_for as wait_find


def submit(wm: Webmail, fields: dict[str, str], status: int = 200) -> Any:
    boundary = "b" + tag()
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ) + f"--{boundary}--\r\n".encode()
    r = wm.c.post("/webmail/api/Submit", body=body, headers={"x-mox-csrf": wm.csrf, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == status, (r.status, r.body)
    return r.json()


def test_drafts(server: Any, client: Any) -> None:
    wm = Webmail(client())
    t = tag()
    drafts = wm.mailbox("Drafts")
    # An unfinished address is left out of a draft, not refused.
    d1 = wm.call("MessageCompose", {"to": "half@", "subject": f"draft {t}", "body": "Dear"})
    assert d1["mailbox"] == drafts["id"]
    (m,) = wm.find(f"subject:{t} mb:Drafts")
    assert m["id"] == d1["id"] and set(m["flags"]) >= {"\\Draft", "\\Seen"} and m["to"] == []
    # The next save replaces it.
    d2 = wm.call("MessageCompose", {"to": f"Rcpt <rcpt{t}@example.org>", "bcc": f"hidden{t}@example.org",
                                    "subject": f"draft {t}", "body": "Dear you,\n\nsee below.", "draft_id": d1["id"]})
    (m,) = wm.find(f"subject:{t} mb:Drafts")
    assert m["id"] == d2["id"] and m["to"] == [{"name": "Rcpt", "address": f"rcpt{t}@example.org"}]
    full = wm.call("Message", {"mailbox": drafts["id"], "uid": d2["uid"], "mark_read": False})
    assert ["Bcc", f"hidden{t}@example.org"] in full["headers"]
    assert full["text"] == "Dear you,\n\nsee below.\n"
    # A draft id that is no draft: 404; a bad one 400.
    inbox_msg = simple(f"not a draft {t}")
    smtp_deliver(server, inbox_msg)
    (other,) = wait_find(wm, f"subject:\"not a draft {t}\"")
    assert wm.call("MessageCompose", {"subject": "x", "draft_id": other["id"]}, status=404)["code"] == "user:notFound"
    assert wm.call("MessageCompose", {"subject": "x", "draft_id": "abc"}, status=400)["code"] == "user:badRequest"
    assert wm.call("MessageCompose", {"subject": ["x"]}, status=400)["code"] == "user:badRequest"
    # Sending with the draft id removes the draft.
    submit(wm, {"to": f"rcpt{t}@example.org", "subject": f"draft {t}", "body": "sent", "draft_id": str(d2["id"])})
    assert wm.find(f"subject:{t} mb:Drafts") == []
    assert submit(wm, {"to": f"rcpt{t}@example.org", "subject": "x", "body": "x", "draft_id": str(d2["id"])}, status=404)

    # A draft of a reply keeps the thread: saved, reopened and sent, the reply is in the thread.
    orig = simple(f"question {t}", "Are you there?\n")
    smtp_deliver(server, orig)
    (q,) = wait_find(wm, f"subject:\"question {t}\"")
    d = wm.call("MessageCompose", {"to": "sender@example.org", "subject": f"Re: question {t}", "body": "Yes.",
                                   "mode": "reply", "ref_mailbox": str(q["mailbox"]), "ref_uid": str(q["uid"])})
    d = wm.call("MessageCompose", {"to": "sender@example.org", "subject": f"Re: question {t}", "body": "Yes!", "draft_id": d["id"]})
    full = wm.call("Message", {"mailbox": drafts["id"], "uid": d["uid"], "mark_read": False})
    assert ["In-Reply-To", str(orig["Message-ID"])] in full["headers"]
    submit(wm, {"to": ADDRESS, "subject": f"Re: question {t}", "body": "Yes!", "draft_id": str(d["id"])})
    got = wait_find(wm, f"subject:\"Re: question {t}\" mb:Inbox")
    assert got[0]["thread_id"] == q["thread_id"]


def test_find_message_id(server: Any, client: Any) -> None:
    """MessageFindMessageID (mox's): the message a reopened draft replies to or forwards, by the
    Message-ID in the draft's In-Reply-To (any spelling of it); a draft itself never counts; 0
    when there is none."""
    wm = Webmail(client())
    t = tag()
    orig = simple(f"origin {t}")
    smtp_deliver(server, orig)
    (o,) = wait_find(wm, f"subject:\"origin {t}\"")
    mid = str(orig["Message-ID"])
    assert wm.call("MessageFindMessageID", {"message_id": mid}) == {"id": o["id"], "mailbox": o["mailbox"], "uid": o["uid"]}
    assert wm.call("MessageFindMessageID", {"message_id": " " + mid.upper() + " "})["id"] == o["id"]
    # A forward's draft keeps what it forwards too (mox MessageCompose with ResponseMessageID).
    d = wm.call("MessageCompose", {"to": "x@example.org", "subject": f"Fwd: origin {t}", "body": "FYI",
                                   "mode": "forward", "ref_mailbox": str(o["mailbox"]), "ref_uid": str(o["uid"])})
    full = wm.call("Message", {"mailbox": d["mailbox"], "uid": d["uid"], "mark_read": False})
    assert ["In-Reply-To", mid] in full["headers"]
    draft_mid = full["message_id"]
    assert wm.call("MessageFindMessageID", {"message_id": draft_mid}) == {"id": 0}
    assert wm.call("MessageFindMessageID", {"message_id": f"<nothing{t}@example.org>"}) == {"id": 0}
    assert wm.call("MessageFindMessageID", {"message_id": "no brackets"}, status=400)["message"] == "parsing message-id: missing <"
    assert wm.call("MessageFindMessageID", {"message_id": ""}, status=400)["code"] == "user:badRequest"


def test_settings_from_schedule_requiretls(server: Any, client: Any) -> None:
    from tests.web.test_account_admin import ADMIN_PASSWORD, call, login

    wm = Webmail(client())
    t = tag()
    # Settings: defaults, saved, refused when bad.
    got = wm.call("Settings")
    assert got["login_address"] == ADDRESS and ADDRESS in [a["address"] for a in got["addresses"]]
    assert set(got["settings"]) >= {"signature", "quoting", "show_html"}
    saved = wm.call("SettingsSave", {"settings": {**got["settings"], "signature": f"Mox {t}", "quoting": "top"}})
    assert saved["settings"]["signature"] == f"Mox {t}"
    assert wm.call("Settings")["settings"]["quoting"] == "top"
    assert wm.call("SettingsSave", {"settings": {"quoting": "sideways"}}, status=400)["code"] == "user:badRequest"
    assert wm.call("SettingsSave", {"settings": {"show_html": "yes"}}, status=400)["code"] == "user:badRequest"
    assert wm.call("SettingsSave", {"settings": None}, status=400)["code"] == "user:badRequest"
    wm.call("SettingsSave", {"settings": {**got["settings"]}})

    # From: one of the account's addresses, else 400.
    assert submit(wm, {"from": "boss@example.org", "to": ADDRESS, "subject": "x", "body": "x"}, status=400)["code"] == "user:badRequest"
    submit(wm, {"from": ADDRESS.upper(), "to": ADDRESS, "subject": f"from choice {t}", "body": "x"})
    (m,) = wait_find(wm, f"subject:\"from choice {t}\" mb:Inbox")
    assert m["from"] == [{"name": "", "address": ADDRESS}]

    # Schedule send with RequireTLS: held in the queue until then, REQUIRETLS recorded.
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    later = time.time() + 3600
    r = submit(wm, {"to": f"later{t}@example.org", "subject": f"later {t}", "body": "x", "send_at": str(later), "requiretls": "yes"})
    assert abs(r["send_at"] - later) < 1
    (e,) = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"later{t}@example.org"]
    assert abs(e["hold_until"] - later) < 1 and e["require_tls"] is True
    call(admin, "admin", csrf, "QueueDrop", {"ids": [e["id"]]})
    assert submit(wm, {"to": ADDRESS, "subject": "x", "body": "x", "send_at": str(time.time() + 90 * 86400)}, status=400)
    assert submit(wm, {"to": ADDRESS, "subject": "x", "body": "x", "send_at": "tomorrow"}, status=400)
    assert submit(wm, {"to": ADDRESS, "subject": "x", "body": "x", "requiretls": "maybe"}, status=400)
    # RequireTLS "no": the TLS-Required: No field (RFC 8689 5).
    submit(wm, {"to": ADDRESS, "subject": f"no tls {t}", "body": "x", "requiretls": "no"})
    (m,) = wait_find(wm, f"subject:\"no tls {t}\" mb:Inbox")
    full = wm.call("Message", {"mailbox": m["mailbox"], "uid": m["uid"]})
    assert ["TLS-Required", "No"] in full["headers"]


def test_complete_recipient(server: Any, client: Any) -> None:
    wm = Webmail(client())
    t = tag()
    smtp_deliver(server, simple(f"hello {t}", sender=f"Zed Zedson <zed{t}@example.org>"))
    wait_find(wm, f"subject:\"hello {t}\"")
    submit(wm, {"to": f"Yara <yara{t}@example.net>", "subject": f"to yara {t}", "body": "x"})
    wait_find(wm, f"subject:\"to yara {t}\" mb:Sent")
    assert wm.call("CompleteRecipient", {"search": f"zed{t}"}) == {"addresses": [f"Zed Zedson <zed{t}@example.org>"], "full": True}
    assert wm.call("CompleteRecipient", {"search": "YARA"})["addresses"][0] == f"Yara <yara{t}@example.net>"
    assert wm.call("CompleteRecipient", {"search": f"nobody{t}"}) == {"addresses": [], "full": True}
    assert wm.call("CompleteRecipient", {"search": 1}, status=400)["code"] == "user:badRequest"
