"""The webmail's deeper features in a browser (Playwright with Debian's Chromium, as
test_browser.py): the thread view (a three-message thread shown as one, collapsed, expanded,
muted), previews and attachment icons in the list, the list showing the answer to its latest
request only. Each test saves a screenshot in its output directory."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from tests.web.test_browser import browser, message, page, row, search, smtp_send, webmail_login  # noqa: F401

from playwright.sync_api import Page, expect  # noqa: E402  (after test_browser's chromium check)


def threaded(subject: str, text: str, parent: Any = None) -> Any:
    m = message(subject, text)
    if parent is not None:
        m["In-Reply-To"] = parent["Message-ID"]
        m["References"] = ((str(parent["References"]) + " ") if parent["References"] else "") + parent["Message-ID"]
    return m


def test_thread_view(server: Any, page: Page, tmp_path: Path) -> None:
    t = uuid.uuid4().hex[:8]
    m1 = threaded(f"trip {t}", "Where do we go this summer?\n")
    m2 = threaded(f"Re: trip {t}", "The mountains.\n", m1)
    m3 = threaded(f"Re: Re: trip {t}", "Agreed, the mountains.\n", m2)
    pic = message(f"photo {t}", "The view.\n")
    pic.add_attachment(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", filename="view.png")
    for m in (m1, m2, m3, pic):
        smtp_send(server, m)
    webmail_login(page, server)
    page.fill("#search", t)
    page.press("#search", "Enter")
    expect(page.locator("#messages tbody tr")).to_have_count(4)

    # The list shows previews and an attachment icon by kind.
    expect(row(page, f"photo {t}").locator(".preview")).to_have_text("The view.")
    expect(row(page, f"photo {t}").locator("td.flag .att")).to_have_attribute("data-kind", "image")
    expect(row(page, f"trip {t}").locator("td.flag .att")).to_have_count(0)

    # Thread view on: the three messages are one thread under its root, indented.
    expect(page.locator("#btn-threading")).to_have_text("Threads: off")
    page.click("#btn-threading")
    expect(page.locator("#btn-threading")).to_have_text("Threads: on")
    expect(page.locator("#range")).to_have_text(re.compile(r"of 2 threads$"))
    root = row(page, f"trip {t}")
    expect(root.locator(".count")).to_have_text("3")
    expect(root).to_have_attribute("data-depth", "0")
    expect(row(page, f"Re: trip {t}")).to_have_attribute("data-depth", "1")
    expect(row(page, f"Re: Re: trip {t}")).to_have_attribute("data-depth", "2")

    # Collapse: the replies are hidden; expand shows them again (stored: also after a reload).
    root.locator("button.toggle").click()
    expect(row(page, f"Re: trip {t}")).to_have_count(0)
    expect(page.locator("#messages tbody tr")).to_have_count(2)
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    page.fill("#search", t)
    page.press("#search", "Enter")
    expect(page.locator("#btn-threading")).to_have_text("Threads: on")
    expect(page.locator("#messages tbody tr")).to_have_count(2)
    row(page, f"trip {t}").locator("button.toggle").click()
    expect(page.locator("#messages tbody tr")).to_have_count(4)

    # Mute from the message view: the thread is marked muted (and collapsed), a new reply
    # arrives read.
    row(page, f"Re: trip {t}").click()
    expect(page.locator("#btn-mute")).to_have_text("Mute thread")
    page.click("#btn-mute")
    expect(page.locator("#btn-mute")).to_have_text("Unmute thread")
    expect(row(page, f"trip {t}").locator(".mute")).to_have_count(1)
    expect(page.locator("#messages tbody tr")).to_have_count(2)
    smtp_send(server, threaded(f"Re: Re: Re: trip {t}", "Bring boots.\n", m3))
    expect(row(page, f"trip {t}").locator(".count")).to_have_text("4")
    row(page, f"trip {t}").locator("button.toggle").click()
    expect(row(page, f"Re: Re: Re: trip {t}")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(row(page, f"Re: Re: Re: trip {t}")).to_have_attribute("data-depth", "3")
    page.screenshot(path=str(tmp_path / "threads.png"), full_page=True)
    assert (tmp_path / "threads.png").stat().st_size > 0

    # Back to a flat list (the setting is kept in the browser).
    page.click("#btn-threading")
    expect(page.locator("#btn-threading")).to_have_text("Threads: unread")
    page.click("#btn-threading")
    expect(page.locator("#btn-threading")).to_have_text("Threads: off")
    expect(page.locator("#messages tbody tr")).to_have_count(5)


def test_draft_saved_and_reopened(server: Any, page: Page, tmp_path: Path) -> None:
    """Compose saves a draft as you type; after a reload it is in Drafts, opens in compose with
    its fields, and sending it removes it."""
    t = uuid.uuid4().hex[:8]
    webmail_login(page, server)
    page.click("#btn-compose")
    page.fill("#c-to", f"friend{t}@example.org")
    page.fill("#c-subject", f"unfinished {t}")
    page.fill("#c-body", "First paragraph.\n\nSecond")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    page.reload()
    expect(page.locator("#app")).to_be_visible()
    page.click("#mailboxes li[data-name=Drafts]")
    draft = row(page, f"unfinished {t}")
    expect(draft).to_have_count(1)
    draft.click()
    expect(page.locator("#compose")).to_be_visible()
    expect(page.locator("#compose-title")).to_have_text("Draft")
    expect(page.locator("#c-to")).to_have_value(f"friend{t}@example.org")
    expect(page.locator("#c-subject")).to_have_value(f"unfinished {t}")
    expect(page.locator("#c-body")).to_have_value("First paragraph.\n\nSecond")
    # Typing more replaces the draft (one draft in Drafts).
    page.locator("#c-body").press_sequentially(" paragraph.")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved")
    expect(draft).to_have_count(1)
    page.screenshot(path=str(tmp_path / "draft.png"), full_page=True)
    assert (tmp_path / "draft.png").stat().st_size > 0
    page.click("#c-send")
    # Sent: the dialog closes (the toast may already tell of the copy localserve delivers back).
    expect(page.locator("#compose")).to_be_hidden()
    expect(page.locator("#compose-error")).to_have_text("")
    expect(draft).to_have_count(0)


def test_mailbox_actions(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """Create a mailbox with a submailbox, see its counts, make it the Archive and back, empty
    it and delete it with its submailbox (the browser's prompts and confirmations answered)."""
    from tests.web.test_webmail_api import Webmail

    t = uuid.uuid4().hex[:8]
    webmail_login(page, server)
    page.once("dialog", lambda d: d.accept(f"Box{t}/Sub"))
    page.click("#mb-create")
    expect(page.locator(f"#mailboxes li[data-name='Box{t}/Sub']")).to_have_count(1)
    for i in range(2):
        smtp_send(server, message(f"box {t} {i}", "x\n"))
    wm = Webmail(client())
    ids = [m["uid"] for m in wm.find(f"subject:{t}")]
    assert len(ids) == 2
    wm.call("Move", {"mailbox": wm.mailbox("Inbox")["id"], "uids": ids, "to": f"Box{t}"})
    box = page.locator(f"#mailboxes li[data-name='Box{t}']")
    expect(box).to_have_attribute("title", re.compile(r": 2 messages, 2 unread, "))
    box.click()
    expect(page.locator("#messages tbody tr")).to_have_count(2)

    page.select_option("#mb-special", "\\Archive")
    expect(page.locator("#toast")).to_have_text(f"Box{t} is now the Archive mailbox.")
    expect(box).to_have_attribute("title", re.compile(r"\(Archive\)"))
    assert wm.mailbox("Archive")["special_use"] is None
    page.click("#mailboxes li[data-name=Archive]")
    page.select_option("#mb-special", "\\Archive")
    expect(page.locator("#mailboxes li[data-name=Archive]")).to_have_attribute("title", re.compile(r"\(Archive\)"))
    assert wm.mailbox(f"Box{t}")["special_use"] is None

    box.click()
    page.once("dialog", lambda d: d.accept())
    page.click("#mb-empty")
    expect(page.locator("#toast")).to_have_text("Removed 2 message(s).")
    expect(page.locator("#messages tbody tr")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "mailboxes.png"), full_page=True)
    assert (tmp_path / "mailboxes.png").stat().st_size > 0
    page.once("dialog", lambda d: d.accept())
    page.click("#mb-delete")
    expect(page.locator(f"#mailboxes li[data-name='Box{t}']")).to_have_count(0)
    expect(page.locator(f"#mailboxes li[data-name='Box{t}/Sub']")).to_have_count(0)
    expect(page.locator("#mailboxes li.sel")).to_have_attribute("data-name", "Inbox")


def test_compose_features(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """Settings (signature, quoting above), a reply quoting the message with the cursor above
    the quote, recipient completion from correspondents, and schedule send."""
    from tests.web.test_account_admin import ADMIN_PASSWORD, call, login

    t = uuid.uuid4().hex[:8]
    m = message(f"question {t}", "Is the build green?\nThanks.\n")
    del m["From"]
    m["From"] = f"Quinn Q <quinn{t}@example.org>"
    smtp_send(server, m)
    webmail_login(page, server)
    page.click("#btn-settings")
    saved = {"sig": page.locator("#s-signature").input_value(), "quoting": page.locator("#s-quoting").input_value()}
    page.fill("#s-signature", f"Sig {t}")
    page.select_option("#s-quoting", "top")
    page.click("#s-save")
    expect(page.locator("#toast")).to_have_text("Settings saved.")

    search(page, f"question {t}")  # the results are shown before a row is clicked
    row(page, f"question {t}").click()
    expect(page.locator("#msg-subject")).to_have_text(f"question {t}")
    page.click("#btn-reply")
    body = page.locator("#c-body")
    expect(body).to_have_value(re.compile(rf"^\n\n-- \nSig {t}\n\nOn .*, Quinn Q wrote:\n> Is the build green\?\n> Thanks\.\n$"))
    assert page.evaluate("document.querySelector('#c-body').selectionStart") == 0
    expect(page.locator("#c-to")).to_have_value(f"Quinn Q <quinn{t}@example.org>")
    page.keyboard.type("Yes, green.")
    # Recipient completion: the sender is offered for a part of the address.
    page.fill("#c-to", "")
    page.locator("#c-to").press_sequentially(f"quinn{t[:4]}")
    expect(page.locator("#c-complete option").first).to_have_attribute("value", f"Quinn Q <quinn{t}@example.org>")
    page.fill("#c-to", f"quinn{t}@example.org")
    # Schedule send: an hour from now; the message waits in the queue.
    page.fill("#c-send-at-local", page.evaluate("new Date(Date.now() + 3600e3 - new Date().getTimezoneOffset() * 60e3).toISOString().slice(0, 16)"))
    page.screenshot(path=str(tmp_path / "compose.png"), full_page=True)
    page.click("#c-send")
    expect(page.locator("#toast")).to_contain_text("Message scheduled for")
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    (e,) = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"quinn{t}@example.org"]
    assert e["hold_until"] is not None
    call(admin, "admin", csrf, "QueueDrop", {"ids": [e["id"]]})

    page.click("#btn-settings")
    page.fill("#s-signature", saved["sig"])
    page.select_option("#s-quoting", saved["quoting"])
    page.click("#s-save")
    expect(page.locator("#toast")).to_have_text("Settings saved.")


def test_list_shows_the_latest_request_only(server: Any, page: Page, tmp_path: Path) -> None:
    """Two list requests under way at once (a search typed while a reload was still waiting for
    its answer): the list shows the answer to the latest, whatever order the answers come in,
    never the earlier one's rows under the latest one's title."""
    t = uuid.uuid4().hex[:8] + "x"
    smtp_send(server, message(f"earlier {t}", "One.\n"))
    smtp_send(server, message(f"latest {t}", "Two.\n"))
    webmail_login(page, server)
    # Count the list loads that ended (answer used or left aside) in an attribute, to wait on.
    page.evaluate("""() => {
        const load = window.loadMessages;
        let done = 0;
        window.loadMessages = async (...a) => { try { return await load(...a); } finally { document.body.dataset.loadsDone = ++done; } };
    }""")
    held = []

    def hold_first(route: Any) -> None:
        if not held and f"earlier {t}" in (route.request.post_data or ""):
            held.append(route)
        else:
            route.continue_()

    page.route("**/webmail/api/Messages", hold_first)
    with page.expect_request(lambda r: r.url.endswith("/webmail/api/Messages")):
        page.fill("#search", f"earlier {t}")
        page.press("#search", "Enter")
    search(page, f"latest {t}")
    expect(row(page, f"latest {t}")).to_have_count(1)
    assert len(held) == 1
    held[0].continue_()  # the earlier answer comes last
    # Both loads ended (a reload after a live change may add more, each for the latest search).
    expect(page.locator("body")).to_have_attribute("data-loads-done", re.compile(r"^([2-9]|\d\d+)$"))
    expect(page.locator("#listtitle")).to_have_text(f"Search: latest {t}")
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    expect(row(page, f"latest {t}")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "latest.png"), full_page=True)
    assert (tmp_path / "latest.png").stat().st_size > 0
