"""Webmail compose API against a running localserve: drafts (MessageCompose saves the form to
Drafts, each save replaces the last, sending removes it and keeps a reply's thread)."""

from __future__ import annotations

import time
from typing import Any

from tests.web.test_webmail_api import ADDRESS, Webmail, simple, smtp_deliver, tag


def wait_find(wm: Webmail, query: str, n: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        got = wm.find(query)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{query}: {len(got)} of {n}")


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
