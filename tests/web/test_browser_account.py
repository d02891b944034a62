"""The account page's settings in a browser (Playwright with Debian's Chromium, as
test_browser.py): a full name and signature that the next webmail compose shows, and a ruleset
made in the rules editor that moves a matching message to another mailbox. Each test saves a
screenshot in its output directory."""

from __future__ import annotations

import email.policy
import smtplib
import uuid
from pathlib import Path
from typing import Any

from tests.web.test_admin_accounts import new_account
from tests.web.test_browser import base, browser, message, page, row, webmail_login  # noqa: F401

from playwright.sync_api import Page, expect  # noqa: E402  (after test_browser's chromium check)


def test_account_settings_in_webmail(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    _, _, name, address = new_account(client, "s", "settings pass")

    page.goto(base(server) + "/account/")
    page.fill("#username", address)
    page.fill("#password", "settings pass")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#acc-name")).to_have_text(name)

    # The settings fields open for editing only once the page's settings have loaded (a name
    # typed before that would be overwritten by the load, as a slow CI machine once showed).
    expect(page.locator("#full-name")).to_be_editable()
    page.fill("#full-name", "Tess Tester")
    page.click("#name-form button[type=submit]")
    expect(page.locator("#name-msg")).to_have_text("Name saved.")
    page.fill("#signature", "Cheers,\nTess")
    page.click("#signature-form button[type=submit]")
    expect(page.locator("#signature-msg")).to_have_text("Signature saved.")

    # A ruleset: mail from alerts@... goes to the mailbox Alerts.
    dest = page.locator(f"form.destination[data-address='{address}']")
    dest.locator("button.add-ruleset").click()
    rs = dest.locator("fieldset.ruleset").nth(0)
    rs.locator("[data-field=MsgFromRegexp]").fill("^alerts@")
    rs.locator("[data-field=Mailbox]").fill("Alerts")
    rs.locator("[data-field=Comment]").fill("monitoring")
    dest.locator("button[type=submit]").click()
    expect(dest.locator("p[role=status]")).to_have_text("Saved.")
    # A bad regexp is refused with the config's reason.
    dest.locator("button.add-ruleset").click()
    bad = dest.locator("fieldset.ruleset").nth(1)
    bad.locator("[data-field=MsgFromRegexp]").fill("(")
    bad.locator("[data-field=Mailbox]").fill("X")
    dest.locator("button[type=submit]").click()
    expect(dest.locator("p[role=status]")).to_contain_text("invalid MsgFromRegexp")
    bad.locator("button.remove").click()
    page.screenshot(path=str(tmp_path / "account-settings.png"), full_page=True)
    assert (tmp_path / "account-settings.png").stat().st_size > 0

    t = uuid.uuid4().hex[:8]
    m = message(f"disk full {t}", "The disk is full.\n")
    del m["From"], m["To"]
    m["From"], m["To"] = "Monitor <alerts@example.org>", address
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("alerts@example.org", [address], m.as_bytes(policy=email.policy.SMTP))

    # In the webmail: the message is in Alerts; compose shows the name and the signature.
    webmail_login(page, server, address, "settings pass")
    page.click("#mailboxes li[data-name=Alerts]")
    expect(row(page, f"disk full {t}")).to_have_count(1)
    page.click("#btn-compose")
    expect(page.locator("#c-body")).to_have_value("\n\n-- \nCheers,\nTess\n")
    expect(page.locator("#c-from option")).to_have_text(f"Tess Tester <{address}>")
    page.screenshot(path=str(tmp_path / "compose-signature.png"), full_page=True)
