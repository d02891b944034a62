"""Webmail compose in a browser (Playwright with Debian's Chromium, as test_browser.py): a
reply to an HTML message sent to an alias goes out from the alias (which the account may send
as) with the original's HTML quoted; the account page lists the alias with its members and
saves the account's FromIDLoginAddresses; a reply saved as a draft and opened again later still
answers its message. Saves screenshots in the test's output directory."""

from __future__ import annotations

import email
import email.policy
import re
import uuid
from pathlib import Path
from typing import Any

from tests.web.conftest import Client
from tests.web.test_account_admin import call
from tests.web.test_admin_accounts import new_account
from tests.web.test_browser import base, browser, message, page, row, search, smtp_send, webmail_login  # noqa: F401

from playwright.sync_api import Page, expect  # noqa: E402  (after test_browser's chromium check)


def test_reply_from_alias_quoting_html(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    admin, csrf, name, address = new_account(client, "q", "quote pass")
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    alias = f"crew{t}@localhost"
    call(admin, "admin", csrf, "AliasSave", {"address": alias, "alias": {"Addresses": [address], "PostPublic": True, "AllowMsgFrom": True, "ListMembers": True}})
    m = message(f"agenda {t}", "Agenda: ship it.\n", '<p>Agenda: <b style="color: green">ship it</b>.</p><script>alert(1)</script>')
    m.replace_header("To", alias)
    smtp_send(server, m, to=alias)

    webmail_login(page, server, address, "quote pass")
    search(page, f"agenda {t}")  # the results are shown before a row is clicked
    row(page, f"agenda {t}").click()
    expect(page.locator("#msg-subject")).to_have_text(f"agenda {t}")
    page.click("#btn-reply")
    # Written to the alias: the reply is from the alias; the original's HTML is quoted too.
    expect(page.locator("#c-from")).to_have_value(alias)
    expect(page.locator(f"#c-from option[value='{alias}']")).to_have_text(f"{alias} (alias)")
    expect(page.locator("#c-quote-html-label")).to_be_visible()
    expect(page.locator("#c-quote-html")).to_be_checked()
    expect(page.locator("#c-body")).to_have_value(re.compile(r"> Agenda: ship it\.\n"))
    page.keyboard.type("Shipped.")
    page.screenshot(path=str(tmp_path / "reply-html-alias.png"), full_page=True)
    assert (tmp_path / "reply-html-alias.png").stat().st_size > 0
    page.click("#c-send")
    expect(page.locator("#toast")).to_have_text("Message sent.")

    # The sent message: From the alias, text and HTML with the original's (cleaned) HTML quoted.
    c = Client(server.ports["http"])
    try:
        r = c.post("/webmail/login", json_body={"username": address, "password": "quote pass"})
        wcsrf = r.json()["csrf"]
        found = c.post("/webmail/api/Messages", json_body={"query": f'subject:"Re: agenda {t}" mb:Sent'}, headers={"x-mox-csrf": wcsrf}).json()["messages"]
        (sent,) = found
        raw = c.get(f"/webmail/msg/{sent['mailbox']}/{sent['uid']}/raw").body
    finally:
        c.close()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["From"] == alias and msg.get_content_type() == "multipart/alternative"
    h = msg.get_body(("html",)).get_content()
    assert "Shipped." in h and '<b style="color: green">ship it</b>' in h and "<script" not in h

    # The account page lists the alias: send as alias, the members shown.
    page.goto(base(server) + "/account/")
    page.fill("#username", address)
    page.fill("#password", "quote pass")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#acc-name")).to_have_text(name)
    arow = page.locator(f"#aliases tbody tr[data-alias='{alias}']")
    expect(arow.locator("td.sendas")).to_have_text("Yes")
    expect(arow.locator("td.members")).to_have_text(address)
    # FromIDLoginAddresses: editable once the settings loaded, saved to the account's config.
    expect(page.locator("#fromid-addresses")).to_be_enabled()
    page.fill("#fromid-addresses", address)
    page.click("#fromid-form button[type=submit]")
    expect(page.locator("#fromid-msg")).to_have_text("Saved.")
    assert f"FromIDLoginAddresses:\n\t\t\t- {address}" in call(admin, "admin", csrf, "Config")["files"]["domains.conf"]
    page.screenshot(path=str(tmp_path / "account-aliases.png"), full_page=True)
    assert (tmp_path / "account-aliases.png").stat().st_size > 0
    call(admin, "admin", csrf, "AliasRemove", {"address": alias})


def test_reopened_reply_draft_keeps_what_it_replies_to(server: Any, page: Page, client: Any) -> None:
    """A reply saved as a draft and opened again later (after a reload) still answers its
    message, as mox's webmail finds it by the draft's In-Reply-To: sent, it has the original's
    In-Reply-To and References, its HTML quoted, and the original is marked answered."""
    admin, csrf, name, address = new_account(client, "d", "draft pass")
    t = uuid.uuid4().hex[:8] + "x"
    m = message(f"plan {t}", "Plan: test it.\n", '<p>Plan: <i style="color: blue">test it</i>.</p>')
    m.replace_header("To", address)
    m["References"] = f"<root{t}@example.org>"
    smtp_send(server, m, to=address)

    webmail_login(page, server, address, "draft pass")
    search(page, f"plan {t}")
    row(page, f"plan {t}").click()
    expect(page.locator("#msg-subject")).to_have_text(f"plan {t}")
    page.click("#btn-reply")
    expect(page.locator("#c-body")).to_have_value(re.compile(r"> Plan: test it\.\n"))
    page.keyboard.type("Agreed.")
    page.click("#c-cancel")  # saves the draft, then closes
    expect(page.locator("#compose")).to_be_hidden()

    page.reload()  # later: nothing of the compose form left in the page
    expect(page.locator("#live")).to_have_text("live")
    page.click("#mailboxes li[data-name=Drafts]")
    expect(page.locator("#listtitle")).to_have_text("Drafts")
    row(page, f"Re: plan {t}").click()
    expect(page.locator("#compose-title")).to_have_text("Draft")
    expect(page.locator("#c-body")).to_have_value(re.compile(r"> Plan: test it\.\n\nAgreed\.$"))
    expect(page.locator("#c-quote-html-label")).to_be_visible()
    expect(page.locator("#c-quote-html")).to_be_checked()
    page.keyboard.type(" Tomorrow.")
    page.click("#c-send")
    expect(page.locator("#toast")).to_have_text("Message sent.")
    expect(row(page, f"Re: plan {t}")).to_have_count(0)  # sending removed the draft

    c = Client(server.ports["http"])
    try:
        wcsrf = c.post("/webmail/login", json_body={"username": address, "password": "draft pass"}).json()["csrf"]
        h = {"x-mox-csrf": wcsrf}
        (sent,) = c.post("/webmail/api/Messages", json_body={"query": f'subject:"Re: plan {t}" mb:Sent'}, headers=h).json()["messages"]
        raw = c.get(f"/webmail/msg/{sent['mailbox']}/{sent['uid']}/raw").body
        (orig,) = c.post("/webmail/api/Messages", json_body={"query": f'subject:"plan {t}" mb:Inbox'}, headers=h).json()["messages"]
        drafts = c.post("/webmail/api/Messages", json_body={"query": f"mb:Drafts plan {t}"}, headers=h).json()["messages"]
    finally:
        c.close()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["In-Reply-To"] == m["Message-ID"]
    assert msg["References"].split() == [f"<root{t}@example.org>", m["Message-ID"]]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().endswith("> Plan: test it.\r\n\r\nAgreed. Tomorrow.\r\n")
    h = msg.get_body(("html",)).get_content()
    assert "Agreed. Tomorrow." in h and '<i style="color: blue">test it</i>' in h
    assert "\\Answered" in orig["flags"]
    assert drafts == []


def test_draft_with_a_strange_in_reply_to_still_opens(server: Any, page: Page, client: Any) -> None:
    """A draft another client saved, whose In-Reply-To is no Message-ID (or names a message
    that is gone), opens as it is: a draft without a message it answers."""
    import imaplib

    admin, csrf, name, address = new_account(client, "s", "strange pass")
    t = uuid.uuid4().hex[:8] + "x"
    for i, irt in enumerate(("not a message-id", f"<gone{t}@example.org>")):
        draft = (f"From: {address}\r\nTo: friend{t}@example.org\r\nSubject: odd {i} {t}\r\nIn-Reply-To: {irt}\r\n"
                 f"Message-ID: <odd{i}{t}@example.org>\r\n\r\nHalf a thought {i}.\r\n").encode()
        with imaplib.IMAP4("127.0.0.1", server.ports["imap"]) as c:
            c.login(address, "strange pass")
            assert c.append("Drafts", "(\\Draft \\Seen)", None, draft)[0] == "OK"
    webmail_login(page, server, address, "strange pass")
    page.click("#mailboxes li[data-name=Drafts]")
    expect(page.locator("#listtitle")).to_have_text("Drafts")
    for i in range(2):
        row(page, f"odd {i} {t}").click()
        expect(page.locator("#compose-title")).to_have_text("Draft")
        expect(page.locator("#c-body")).to_have_value(f"Half a thought {i}.")
        expect(page.locator("#c-subject")).to_have_value(f"odd {i} {t}")
        expect(page.locator("#c-mode")).to_have_value("")
        expect(page.locator("#c-quote-html-label")).to_be_hidden()
        page.click("#c-cancel")
        expect(page.locator("#compose")).to_be_hidden()
