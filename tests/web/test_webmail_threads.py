"""Webmail API against a running localserve: threads (a reply chain listed as one thread, with
messages from other mailboxes), collapse and mute, previews and attachment kinds in the list,
and mox's search syntax."""

from __future__ import annotations

import time
from email.message import EmailMessage
from typing import Any

from tests.web.test_webmail_api import ADDRESS, Webmail, simple, smtp_deliver, tag


def reply(to: EmailMessage, text: str, sender: str = "Bob <bob@example.org>") -> EmailMessage:
    m = simple("Re: " + str(to["Subject"]), text, sender)
    refs = (str(to["References"]) + " " if to["References"] else "") + str(to["Message-ID"])
    m["In-Reply-To"] = str(to["Message-ID"])
    m["References"] = refs
    return m


def wait_for(wm: Webmail, query: str, n: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        got = wm.find(query)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{query}: {len(got)} of {n} messages")


def test_thread_view_collapse_mute(server: Any, client: Any) -> None:
    wm = Webmail(client())
    t = tag()
    m1 = simple(f"plans {t}", "Shall we meet on Friday?\n\nAlice\n")
    m2 = reply(m1, "> Shall we meet\n\nFriday is fine.\n")
    m3 = reply(m2, "See you then.\n", "Alice <alice@example.org>")
    other = simple(f"unrelated {t}", "no thread\n")
    for m in (m1, m2, m3, other):
        smtp_deliver(server, m)
    wait_for(wm, f"{t}", 4)
    inbox = wm.mailbox("Inbox")["id"]

    # Off: four messages with previews (the text's first lines, a quote as "[...]").
    flat = wm.call("Messages", {"mailbox": inbox, "query": t})
    assert flat["total"] == 4 and flat["threading"] == "off"
    by_subject = {m["subject"]: m for m in flat["messages"]}
    assert by_subject[f"plans {t}"]["preview"] == "Shall we meet on Friday?\nAlice\n"
    assert by_subject[f"Re: plans {t}"]["preview"] == "[...]\nFriday is fine.\n"
    root = by_subject[f"plans {t}"]

    # On: two threads; the reply chain is one thread of three, parents from closest to root.
    threaded = wm.call("Messages", {"mailbox": inbox, "query": t, "threading": "on"})
    assert threaded["total"] == 2
    msgs = threaded["messages"]
    assert [m["subject"] for m in msgs] == [f"unrelated {t}", f"plans {t}", f"Re: plans {t}", f"Re: Re: plans {t}"]
    chain = msgs[1:]
    assert {m["thread_id"] for m in chain} == {root["id"]}
    assert chain[0]["thread_parent_ids"] == []
    assert chain[1]["thread_parent_ids"] == [chain[0]["id"]]
    assert chain[2]["thread_parent_ids"] == [chain[1]["id"], chain[0]["id"]]
    assert all(m["match"] for m in msgs)

    # A message of the thread in another mailbox comes with the thread, not matching the view.
    wm.call("Move", {"mailbox": inbox, "uids": [chain[1]["uid"]], "to": "Archive"})
    threaded = wm.call("Messages", {"mailbox": inbox, "threading": "on", "query": t})
    moved = next(m for m in threaded["messages"] if m["subject"] == f"Re: plans {t}")
    assert moved["mailbox"] == wm.mailbox("Archive")["id"] and moved["match"] is False
    assert moved["thread_id"] == root["id"]

    # Collapse and expand: the messages below the root.
    ids = [m["id"] for m in threaded["messages"] if m["thread_id"] == root["id"]]
    assert sorted(wm.call("ThreadCollapse", {"message_ids": [root["id"]], "collapse": True})["changed"]) == sorted(ids)
    got = wm.call("Messages", {"mailbox": inbox, "threading": "on", "query": t})["messages"]
    assert all(m["thread_collapsed"] for m in got if m["thread_id"] == root["id"])
    assert wm.call("ThreadCollapse", {"message_ids": [root["id"]], "collapse": False})["changed"]
    # Mute: collapses too, and a new message of the thread arrives read.
    wm.call("ThreadMute", {"message_ids": [root["id"]], "mute": True})
    got = wm.call("Messages", {"mailbox": inbox, "threading": "on", "query": t})["messages"]
    assert all(m["thread_muted"] and m["thread_collapsed"] for m in got if m["thread_id"] == root["id"])
    smtp_deliver(server, reply(m3, "One more thing.\n"))
    (m4,) = wait_for(wm, f"subject:\"Re: Re: Re: plans {t}\"", 1)
    assert "\\Seen" in m4["flags"] and m4["thread_muted"] and m4["thread_id"] == root["id"]
    wm.call("ThreadMute", {"message_ids": [root["id"]], "mute": False})
    assert not wm.find(f"subject:\"Re: Re: Re: plans {t}\"")[0]["thread_muted"]

    # Bad input: clear 400/404.
    assert wm.call("ThreadMute", {"message_ids": [], "mute": True}, status=400)["code"] == "user:badRequest"
    assert wm.call("ThreadMute", {"message_ids": [root["id"]]}, status=400)["code"] == "user:badRequest"
    assert wm.call("ThreadCollapse", {"message_ids": [10**9], "collapse": True}, status=404)["code"] == "user:notFound"
    assert wm.call("Messages", {"mailbox": inbox, "threading": "sideways"}, status=400)["code"] == "user:badRequest"


def test_attachment_kinds_and_search_syntax(server: Any, client: Any) -> None:
    wm = Webmail(client())
    t = tag()
    pic = simple(f"photo {t}", "a picture\n", "Carol <carol@example.org>")
    pic.add_attachment(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", filename="cat.png")
    doc = simple(f"report {t}", "the report\n")
    doc.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="octet-stream", filename="q3.PDF")
    doc["X-Team"] = "Platform"
    big = simple(f"big {t}", "x" * 40_000 + "\n")
    for m in (pic, doc, big):
        smtp_deliver(server, m)
    wait_for(wm, t, 3)

    def subjects(q: str) -> list[str]:
        return sorted(m["subject"].split()[0] for m in wm.find(q))

    got = {m["subject"].split()[0]: m for m in wm.find(t)}
    assert got["photo"]["attachment_types"] == ["image"] and got["photo"]["attachments"]
    assert got["report"]["attachment_types"] == ["pdf"]
    assert got["big"]["attachment_types"] == [] and not got["big"]["attachments"]
    assert subjects(f"{t} a:image") == ["photo"]
    assert subjects(f"{t} a:pdf") == ["report"]
    assert subjects(f"{t} a:any") == ["photo", "report"]
    assert subjects(f"{t} a:none") == ["big"]
    # Negation, tags with short names, quoted text.
    assert subjects(f"{t} -f:carol") == ["big", "report"]
    assert subjects(f"{t} f:carol") == ["photo"]
    assert subjects(f"{t} -picture") == ["big", "report"]
    assert subjects(f's:"report {t}"') == ["report"]
    assert subjects(f"t:{ADDRESS} {t} -s:big") == ["photo", "report"]
    # Sizes, headers, dates, mailboxes.
    assert subjects(f"{t} minsize:30kb") == ["big"]
    assert subjects(f"{t} maxsize:30k") == ["photo", "report"]
    assert subjects(f"{t} h:x-team:platform") == ["report"]
    assert subjects(f"{t} h:x-team:") == ["report"]
    assert subjects(f"{t} start:2000-01-01 end:2999-1-1") == ["big", "photo", "report"]
    assert subjects(f"{t} end:2000-01-01") == []
    assert subjects(f"{t} mb:Inbox") == ["big", "photo", "report"]
    assert subjects(f"{t} mb:Archive") == []
    assert wm.call("Messages", {"query": f"{t} mb:NoSuchBox"}, status=404)["code"] == "user:notFound"
    # Labels (keywords) and ours: is:.
    wm.call("FlagsAdd", {"mailbox": got["report"]["mailbox"], "uids": [got["report"]["uid"]], "flags": ["$Important"]})
    assert subjects(f"{t} l:$important") == ["report"]
    assert subjects(f"{t} -label:$Important") == ["big", "photo"]
    assert subjects(f"{t} is:unread") == ["big", "photo", "report"]
