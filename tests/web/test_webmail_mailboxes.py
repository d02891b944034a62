"""Webmail mailbox actions against a running localserve: create with parents, rename and delete
with submailboxes, empty, special use (one mailbox per use), and the counts in the list."""

from __future__ import annotations

from typing import Any

from tests.web.test_webmail_api import Webmail, simple, smtp_deliver, tag
from tests.web.test_webmail_compose import wait_find


def names(wm: Webmail) -> list[str]:
    return [m["name"] for m in wm.call("Mailboxes")["mailboxes"]]


def test_mailbox_actions(server: Any, client: Any) -> None:
    wm = Webmail(client())
    t = tag()
    created = wm.call("MailboxCreate", {"name": f"Proj{t}/a/b"})["created"]
    assert [m["name"] for m in created] == [f"Proj{t}", f"Proj{t}/a", f"Proj{t}/a/b"]
    wm.call("MailboxRename", {"name": f"Proj{t}", "new": f"Work{t}"})
    assert [n for n in names(wm) if t in n] == [f"Work{t}", f"Work{t}/a", f"Work{t}/a/b"]

    # Counts: total, unread and size per mailbox; empty removes every message.
    for i in range(2):
        smtp_deliver(server, simple(f"count {t} {i}"))
    msgs = wait_find(wm, f"subject:\"count {t}\"", 2)
    wm.call("Move", {"mailbox": msgs[0]["mailbox"], "uids": [m["uid"] for m in msgs], "to": f"Work{t}/a"})
    box = wm.mailbox(f"Work{t}/a")
    assert (box["total"], box["unread"]) == (2, 2) and box["size"] == sum(m["size"] for m in msgs)
    assert wm.call("MailboxEmpty", {"mailbox": box["id"]}) == {"removed": 2}
    box = wm.mailbox(f"Work{t}/a")
    assert (box["total"], box["unread"], box["size"]) == (0, 0, 0)
    assert wm.call("MailboxEmpty", {"mailbox": box["id"]}) == {"removed": 0}

    # Special use: one mailbox per use.
    archive = wm.mailbox("Archive")
    r = wm.call("MailboxSetSpecialUse", {"mailbox": box["id"], "special_use": "\\Archive"})
    assert sorted(m["name"] for m in r["changed"]) == ["Archive", f"Work{t}/a"]
    assert wm.mailbox(f"Work{t}/a")["special_use"] == "\\Archive" and wm.mailbox("Archive")["special_use"] is None
    wm.call("MailboxSetSpecialUse", {"mailbox": archive["id"], "special_use": "\\Archive"})
    assert wm.mailbox("Archive")["special_use"] == "\\Archive" and wm.mailbox(f"Work{t}/a")["special_use"] is None
    assert wm.call("MailboxSetSpecialUse", {"mailbox": box["id"], "special_use": "\\Important"}, status=400)
    assert wm.call("MailboxSetSpecialUse", {"mailbox": box["id"]}, status=400)["code"] == "user:badRequest"

    # Delete with submailboxes, deepest first.
    assert wm.call("MailboxDelete", {"name": f"Work{t}"}) == {"deleted": [f"Work{t}/a/b", f"Work{t}/a", f"Work{t}"]}
    assert [n for n in names(wm) if t in n] == []
    assert wm.call("MailboxDelete", {"name": f"Work{t}"}, status=404)["code"] == "user:notFound"
