"""The admin page's account details in a browser (Playwright with Debian's Chromium, as
test_browser.py): open an account, set its password and quota, show the config files. Saves a
screenshot in the test's output directory."""

from __future__ import annotations

import imaplib
import uuid
from pathlib import Path
from typing import Any

from tests.web.test_account_admin import ADMIN_PASSWORD, call, login
from tests.web.test_admin_accounts import new_account, submit_held
from tests.web.test_browser import base, browser, page  # noqa: F401

from playwright.sync_api import Page, expect  # noqa: E402  (after test_browser's chromium check)


def test_admin_account_details(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    admin, csrf, name, address = new_account(client, "g", "first password")

    page.goto(base(server) + "/admin/")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    page.locator(f"#accounts tbody tr[data-account={name}] a.account-link").click()
    expect(page.locator("#d-name")).to_have_text(name)
    expect(page.locator("#d-info")).to_contain_text(f"addresses {address}; 0 messages in 6 mailboxes")

    page.fill("#d-password", "set by the admin")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text(f"Password of {name} changed.")
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login(address, "set by the admin")

    page.fill("#d-quota", "2097152")
    page.click("#limits-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text(f"Limits of {name} saved.")
    assert call(admin, "admin", csrf, "Account", {"account": name})["quota"] == 2097152

    page.click("#config-show")
    expect(page.locator("#config-files [data-file='domains.conf'] pre")).to_contain_text(name)
    expect(page.locator("#config-files [data-file='mox.conf'] pre")).not_to_be_empty()
    page.screenshot(path=str(tmp_path / "admin-account.png"), full_page=True)
    assert (tmp_path / "admin-account.png").stat().st_size > 0
    call(admin, "admin", csrf, "AccountRemove", {"account": name})


def test_admin_queue_hold(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """A submitted message waiting in the queue is held and released from the queue view."""
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    rcpt = f"wait{t}@example.org"
    submit_held(server, rcpt, f"wait {t}")
    page.goto(base(server) + "/admin/")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    page.click("#queue-refresh")
    entry = page.locator("#queue tbody tr", has=page.locator("td", has_text=rcpt))
    expect(entry).to_have_count(1)
    entry.locator("button.hold").click()
    expect(entry.locator("td.next")).to_have_text("held")
    expect(entry.locator("td.requiretls")).to_have_text("default")
    expect(entry.locator("button.hold")).to_have_text("Release")
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    (e,) = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == rcpt]
    assert e["hold"] is True
    page.screenshot(path=str(tmp_path / "admin-queue-hold.png"), full_page=True)
    assert (tmp_path / "admin-queue-hold.png").stat().st_size > 0
    # Released and due now: delivered, the queue view empties after a refresh.
    entry.locator("button.hold").click()
    expect(entry.locator("button.hold")).to_have_text("Hold")
    entry.locator("button.now").click()
    for _ in range(20):
        page.click("#queue-refresh")
        if entry.count() == 0:
            break
        page.wait_for_timeout(250)
    expect(entry).to_have_count(0)


def test_admin_account_and_alias(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """An account made with the form, an alias with it and mox@localhost as members; a message
    to the alias reaches the new account."""
    import smtplib

    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    name = "a" + t + "x"
    page.goto(base(server) + "/admin/")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    page.fill("#acc-name", name)
    page.fill("#acc-address", f"{name}@localhost")
    page.fill("#acc-password", "alias member pw")
    page.click("#account-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text("Account added.")

    page.fill("#alias-address", f"crew{t}@localhost")
    page.fill("#alias-members", f"mox@localhost, {name}@localhost")
    page.check("#alias-public")
    page.click("#alias-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text(f"Alias crew{t}@localhost saved.")
    row = page.locator(f"#aliases tbody tr[data-alias='crew{t}@localhost']")
    expect(row.locator("td").nth(1)).to_have_text(f"mox@localhost, {name}@localhost")
    expect(row.locator("td").nth(2)).to_have_text("yes")
    page.screenshot(path=str(tmp_path / "admin-alias.png"), full_page=True)
    assert (tmp_path / "admin-alias.png").stat().st_size > 0

    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("x@example.org", [f"crew{t}@localhost"], f"From: x@example.org\r\nSubject: crew {t}\r\n\r\nhi\r\n".encode())
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login(f"{name}@localhost", "alias member pw")
        for _ in range(100):
            im.select("Inbox")
            typ, data = im.search(None, "SUBJECT", f'"crew {t}"')
            if data[0]:
                break
            page.wait_for_timeout(100)
        assert data[0]

    page.once("dialog", lambda d: d.accept())
    row.locator("button").click()
    expect(page.locator("#msg")).to_have_text(f"Alias crew{t}@localhost removed.")
    expect(row).to_have_count(0)
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    call(admin, "admin", csrf, "AccountRemove", {"account": name})


def test_admin_domain_and_disable(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """A domain added with the form is listed with its DKIM selectors and removed again; an
    account's logins are disabled and enabled from its details."""
    admin, csrf, name, address = new_account(client, "w", "disable pw")
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    domain = f"w{t}.example"
    page.goto(base(server) + "/admin/")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    page.fill("#domain-name", domain)
    page.fill("#domain-account", name)
    page.click("#domain-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text(f"Domain {domain} added.")
    drow = page.locator(f"#domains tbody tr[data-domain='{domain}']")
    expect(drow.locator("td").nth(2)).to_contain_text("(signs)")
    expect(drow.locator("td").nth(4)).to_have_text(f"postmaster@{domain}")

    page.locator(f"#accounts tbody tr[data-account={name}] a.account-link").click()
    page.fill("#d-disabled", "on holiday")
    page.click("#disable-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text(f"Logins of {name} disabled.")
    assert call(admin, "admin", csrf, "Account", {"account": name})["login_disabled"] == "on holiday"
    page.screenshot(path=str(tmp_path / "admin-domain.png"), full_page=True)
    assert (tmp_path / "admin-domain.png").stat().st_size > 0
    page.fill("#d-disabled", "")
    page.click("#disable-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text(f"Logins of {name} enabled.")

    call(admin, "admin", csrf, "AddressRemove", {"address": f"postmaster@{domain}"})
    page.reload()  # the session stays: the page shows the domain's addresses anew
    expect(page.locator(f"#domains tbody tr[data-domain='{domain}'] td").nth(4)).to_have_text("")
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#domains tbody tr[data-domain='{domain}'] button").click()
    expect(page.locator("#msg")).to_have_text(f"Domain {domain} removed.")
    expect(page.locator(f"#domains tbody tr[data-domain='{domain}']")).to_have_count(0)
    call(admin, "admin", csrf, "AccountRemove", {"account": name})


def test_admin_hold_rules_transport_cid(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """A hold rule added on the page holds the queued message it matches (its row shows its
    next attempt, transport and "held"); the rule is removed again; a connection's log lines are
    looked up by the id of a Received header field; the config shown hides nothing but secrets."""
    import re

    from tests.web.test_admin_server import delivered_received_id

    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    dom = f"rule{t}.example"
    submit_held(server, f"x@{dom}", f"rule {t}")
    page.goto(base(server) + "/admin/")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    entry = page.locator("#queue tbody tr", has=page.locator("td", has_text=f"x@{dom}"))
    expect(entry.locator("td.next")).to_have_text(re.compile(r"^in (59m|1h0m)$"))
    expect(entry.locator("td.transport")).to_have_text("(default)")

    page.fill("#hr-recipient", dom)
    page.click("#holdrule-form button[type=submit]")
    expect(page.locator("#msg")).to_contain_text(f'(recipient domain "{dom}"); 1 queued message(s) put on hold.')
    rule = page.locator("#holdrules tbody tr", has=page.locator("td", has_text=dom))
    expect(rule.locator("td").nth(1)).to_have_text("(any)")
    expect(entry.locator("td.next")).to_have_text("held")
    page.screenshot(path=str(tmp_path / "admin-holdrules.png"), full_page=True)
    assert (tmp_path / "admin-holdrules.png").stat().st_size > 0
    rule.locator("button").click()
    expect(page.locator("#msg")).to_contain_text("removed; held messages stay held.")
    expect(rule).to_have_count(0)
    expect(entry.locator("td.next")).to_have_text("held")
    entry.locator("button.drop").click()
    expect(entry).to_have_count(0)

    rid = delivered_received_id(server, f"cidpage {t}")
    page.fill("#cid", rid)
    page.click("#cid-form button[type=submit]")
    expect(page.locator("#cid-lines")).to_contain_text(f"info: message delivered; pkg=smtpserver; cid={rid}")

    page.click("#config-show")
    expect(page.locator("#config-files [data-file='domains.conf'] pre")).to_contain_text("Accounts:")
    page.screenshot(path=str(tmp_path / "admin-cid.png"), full_page=True)
    assert (tmp_path / "admin-cid.png").stat().st_size > 0
