"""Webmail compose against a running localserve: a reply to or forward of an HTML message
quotes its HTML (cleaned) in an HTML alternative; From may be an alias the account may send
as (AllowMsgFrom), never one it may not; the account page lists the account's aliases, with
members only where ListMembers allows."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

from tests.web.test_account_admin import ADMIN_PASSWORD, call, login
from tests.web.test_webmail_api import ADDRESS, PASSWORD, Webmail, smtp_deliver, tag
from tests.web.test_webmail_compose import submit
from tests.web.test_webmail_threads import wait_for as wait_find

ORIGINAL_HTML = (
    '<html><head><style>p {color: red}</style><script>alert(1)</script></head><body>'
    '<p style="color: blue">The <b>plan</b> is <a href="https://example.org/plan" onclick="x()">here</a>.</p>'
    '<img src="https://tracker.example/pixel.gif"><img src="cid:logo@x" alt="logo"></body></html>'
)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


def html_message(subject: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Planner <planner@example.org>"
    m["To"] = ADDRESS
    m["Subject"] = subject
    m.set_content("The plan is here.\n")
    m.add_alternative(ORIGINAL_HTML, subtype="html")
    m.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@x>")
    return m


def sent_raw(wm: Webmail, query: str) -> email.message.EmailMessage:
    (m,) = wm.find(query, "Sent")
    r = wm.c.get(f"/webmail/msg/{m['mailbox']}/{m['uid']}/raw")
    assert r.status == 200
    msg = email.message_from_bytes(r.body, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_reply_and_forward_quote_html(server: Any, client: Any) -> None:
    wm = Webmail(client())
    t = tag() + "x"  # no failure-simulation suffix (three digits)
    smtp_deliver(server, html_message(f"plan {t}"))
    (orig,) = wait_find(wm, f'subject:"plan {t}"')
    ref = {"ref_mailbox": str(orig["mailbox"]), "ref_uid": str(orig["uid"])}

    body = "Sounds good.\n\nOn Monday, Planner wrote:\n> The plan is here.\n\n-- \nMox"
    submit(wm, {"to": "planner@example.org", "subject": f"Re: plan {t}", "body": body, "mode": "reply", "quote_html": "yes", **ref})
    msg = sent_raw(wm, f'subject:"Re: plan {t}"')
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == body + "\n"
    h = html.get_content().replace("\r\n", "\n")
    # The user's text and the attribution stay text; the quote is the original's HTML, cleaned.
    assert '<div style="white-space: pre-wrap">Sounds good.\n\nOn Monday, Planner wrote:</div>' in h
    assert '<blockquote type="cite"' in h and '<p style="color: blue">The <b>plan</b> is' in h
    assert 'href="https://example.org/plan"' in h
    assert "<script" not in h and "alert(1)" not in h and "onclick" not in h and "color: red" not in h
    assert "tracker.example" not in h  # no external resources
    assert 'src="data:image/png;base64,' in h and "cid:" not in h  # the inline image kept
    assert "&gt; The plan is here." not in h and '<div style="white-space: pre-wrap">-- \nMox</div>' in h

    # Forward: the header block stays text, the forwarded text becomes the original's HTML.
    body = "FYI\n\n---------- Forwarded message ----------\nFrom: Planner <planner@example.org>\nSubject: plan\n\nThe plan is here.\n"
    submit(wm, {"to": ADDRESS, "subject": f"Fwd: plan {t}", "body": body, "mode": "forward", "quote_html": "yes", **ref})
    msg = sent_raw(wm, f'subject:"Fwd: plan {t}"')
    assert msg.get_content_type() == "multipart/mixed"  # the original attached, as before
    html = msg.get_body(("html",))
    assert html is not None
    h = html.get_content().replace("\r\n", "\n")
    assert "---------- Forwarded message ----------\nFrom: Planner &lt;planner@example.org&gt;\nSubject: plan</div>" in h
    assert '<p style="color: blue">The <b>plan</b>' in h and "<script" not in h
    assert [p.get_content_type() for p in msg.iter_attachments()] == ["message/rfc822"]

    # Without quote_html, or with the quote removed from the text: text only.
    submit(wm, {"to": "planner@example.org", "subject": f"Re: plain {t}", "body": "> The plan\n", "mode": "reply", **ref})
    assert sent_raw(wm, f'subject:"Re: plain {t}"').get_content_type() == "text/plain"
    submit(wm, {"to": "planner@example.org", "subject": f"Re: noquote {t}", "body": "Yes.", "mode": "reply", "quote_html": "yes", **ref})
    assert sent_raw(wm, f'subject:"Re: noquote {t}"').get_content_type() == "text/plain"
    # A text-only original: no HTML to quote.
    smtp_deliver(server, f"From: a@example.org\r\nSubject: textonly {t}\r\n\r\nhi\r\n".encode())
    (plain,) = wait_find(wm, f'subject:"textonly {t}"')
    submit(wm, {"to": "a@example.org", "subject": f"Re: textonly {t}", "body": "> hi\n", "mode": "reply", "quote_html": "yes",
                "ref_mailbox": str(plain["mailbox"]), "ref_uid": str(plain["uid"])})
    assert sent_raw(wm, f'subject:"Re: textonly {t}"').get_content_type() == "text/plain"


def test_from_alias_and_account_aliases(server: Any, client: Any) -> None:
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    t = tag() + "x"  # no failure-simulation suffix (three digits)
    sendas, listonly, other = f"team{t}@localhost", f"list{t}@localhost", f"other{t}@localhost"
    call(admin, "admin", csrf, "AliasSave", {"address": sendas, "alias": {"Addresses": [ADDRESS], "AllowMsgFrom": True, "ListMembers": True}})
    call(admin, "admin", csrf, "AliasSave", {"address": listonly, "alias": {"Addresses": [ADDRESS], "PostPublic": True}})
    try:
        wm = Webmail(client())
        got = wm.call("Settings")["addresses"]
        assert {"address": sendas, "name": "", "alias": True} in got
        assert listonly not in [a["address"] for a in got] and got[0]["alias"] is False
        # Sent from the alias (as SMTP submission allows it).
        submit(wm, {"from": sendas.upper(), "to": f"rcpt{t}@example.org", "subject": f"as alias {t}", "body": "x"})
        msg = sent_raw(wm, f'subject:"as alias {t}"')
        assert msg["From"] == sendas
        # An alias without AllowMsgFrom, or one the account is no member of: refused.
        r = submit(wm, {"from": listonly, "to": f"rcpt{t}@example.org", "subject": "x", "body": "x"}, status=400)
        assert r["message"] == f"{listonly!r} is not an address of this account or an alias it may send as"
        stranger = f"s{t}x"
        call(admin, "admin", csrf, "AccountAdd", {"account": stranger, "address": f"{stranger}@localhost"})
        call(admin, "admin", csrf, "AliasSave", {"address": other, "alias": {"Addresses": [f"{stranger}@localhost"], "AllowMsgFrom": True}})
        assert submit(wm, {"from": other, "to": f"rcpt{t}@example.org", "subject": "x", "body": "x"}, status=400)["code"] == "user:badRequest"

        # The account page: the aliases the account is in; members shown only with ListMembers.
        acc = client()
        r = acc.post("/account/login", json_body={"username": ADDRESS, "password": PASSWORD})
        assert r.status == 200
        aliases = call(acc, "account", r.json()["csrf"], "Account")["aliases"]
        by = {a["address"]: a for a in aliases}
        assert by[sendas] == {"address": sendas, "subscription_address": ADDRESS, "post_public": False, "list_members": True,
                              "allow_msg_from": True, "members": [ADDRESS]}
        assert by[listonly]["members"] is None and by[listonly]["post_public"] is True
        assert other not in by
    finally:
        for a in (sendas, listonly, other):
            admin.post("/admin/api/AliasRemove", json_body={"address": a}, headers={"x-mox-csrf": csrf})


def test_no_file_chosen_is_no_attachment(server: Any, client: Any) -> None:
    """A browser sends a file input with no file chosen as an empty part with filename="": the
    message gets no attachment from it."""
    from tests.web.test_webmail_api import _multipart

    wm = Webmail(client())
    t = tag() + "x"  # no failure-simulation suffix (three digits)
    body, ctype = _multipart({"to": f"rcpt{t}@example.org", "subject": f"nofile {t}", "body": "x"}, [("files", "", "application/octet-stream", b"")])
    r = wm.c.post("/webmail/api/Submit", body, headers={"Content-Type": ctype, "x-mox-csrf": wm.csrf})
    assert r.status == 200, r.body
    msg = sent_raw(wm, f'subject:"nofile {t}"')
    assert msg.get_content_type() == "text/plain" and list(msg.iter_attachments()) == []
