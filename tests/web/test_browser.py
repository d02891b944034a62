"""End-to-end browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium,
installed by .ci/run; Playwright's own browser downloads are never used).

Webmail: log in, a message sent with smtplib appears live (no reload), open it, an HTML message
whose <script> does not run and whose remote image does not load (until "load external
content"), reply, find the reply in Sent, search, move to Archive, log out. Account page:
change the password and log in with the new one; add a TLS public key; webhook settings
with the "Test" button against a local receiver; add and remove a suppressed address. Admin
page: log in, the account list, add an account, the queue view (a held message is listed and
dropped), log out. Every page runs under
the app CSP without a refused inline script or style (checked on the console). Message HTML
fetched through the webapi or the test API never runs as script in mox's origin.
"""

from __future__ import annotations

import email.policy
import http.server
import re
import smtplib
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.web.test_account_admin import ADMIN_PASSWORD, call, login, self_signed_pem

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15000

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

# Assertions wait for a state as long as actions do (Playwright's own default is 5 s, which a
# loaded CI machine exceeds). They wait for what the page shows, never for time.
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(TIMEOUT_MS)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # The app CSP (script-src 'self', style-src 'self') must not break anything on the pages:
    # Chromium reports every refused inline script, handler or style on the console.
    pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    ctx.close()
    assert errors == [], errors


class PixelServer:
    """A local HTTP server that counts requests: stands in for a remote tracking image."""

    def __init__(self) -> None:
        hits: list[str] = []
        self.hits = hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
                self.send_header("Content-Length", str(len(gif)))
                self.end_headers()
                self.wfile.write(gif)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def smtp_send(server: Any, msg: EmailMessage, to: str = "mox@localhost") -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("alice@example.org", [to], msg.as_bytes(policy=email.policy.SMTP))


def message(subject: str, text: str | None = None, html: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Alice <alice@example.org>"
    m["To"] = "mox@localhost"
    m["Subject"] = subject
    m["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    if text is not None:
        m.set_content(text)
    if html is not None:
        if text is None:
            m.set_content(html, subtype="html")
        else:
            m.add_alternative(html, subtype="html")
    return m


def base(server: Any) -> str:
    # "localhost", not an IP: the page's origin for the WebSocket Origin check.
    return f"http://localhost:{server.ports['http']}"


def webmail_login(page: Page, server: Any, address: str = "mox@localhost", password: str = "moxmoxmox") -> None:
    page.goto(base(server) + "/webmail/")
    page.fill("#username", address)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")


def search(page: Page, query: str) -> None:
    """Search, and wait until the list shows the results (its title names the search). A row
    clicked before then may be replaced by the results between the mouse's down and up, and
    Chromium then drops the click: the message never opens."""
    page.fill("#search", query)
    page.press("#search", "Enter")
    expect(page.locator("#listtitle")).to_have_text(f"Search: {query}")


def row(page: Page, subject: str) -> Any:
    exact = re.compile("^" + re.escape(subject) + "$")
    return page.locator("#messages tr", has=page.locator("td.subject .subj", has_text=exact))


def test_webmail(server: Any, page: Page, tmp_path: Path) -> None:
    t = uuid.uuid4().hex[:8]
    webmail_login(page, server)
    expect(page.locator("#mailboxes li.sel")).to_have_attribute("data-name", "Inbox")
    page.evaluate("window.__noReload = 1")

    # A message sent with smtplib appears without reload, and the unread count follows.
    smtp_send(server, message(f"live {t}", "Hello from smtplib.\nSecond line.\n"))
    expect(row(page, f"live {t}")).to_be_visible()
    assert page.evaluate("window.__noReload") == 1
    expect(row(page, f"live {t}")).to_have_class("unread")
    unread = int(page.locator("#mailboxes li[data-name=Inbox] .count").inner_text())
    assert unread >= 1

    # Open it: text in the sandboxed iframe, marked read.
    row(page, f"live {t}").click()
    expect(page.locator("#msg-subject")).to_have_text(f"live {t}")
    expect(page.frame_locator("#msgframe").locator("pre")).to_have_text("Hello from smtplib.\nSecond line.\n")
    expect(row(page, f"live {t}")).not_to_have_class("unread")
    page.screenshot(path=str(tmp_path / "webmail.png"))

    # An HTML message: its script does not run, its remote image does not load.
    pixel = PixelServer()
    try:
        page.evaluate("window.__pwned = 0; window.addEventListener('message', () => { window.__pwned = 1; })")
        html = (
            f"<p id=greeting>HTML body {t}</p>"
            "<script>document.body.innerHTML = 'SCRIPT RAN'; parent.postMessage('x', '*');</script>"
            f'<img src="http://127.0.0.1:{pixel.port}/pixel.gif" alt="tracker">'
            '<a href="javascript:parent.postMessage(1, \'*\')">link</a>'
        )
        smtp_send(server, message(f"html {t}", html=html))
        row(page, f"html {t}").click()
        body = page.frame_locator("#msgframe").locator("body")
        expect(body).to_contain_text(f"HTML body {t}")
        expect(page.locator("#btn-external")).to_be_visible()
        assert "SCRIPT RAN" not in body.inner_text()
        assert page.frame_locator("#msgframe").locator("script").count() == 0
        assert page.evaluate("window.__pwned") == 0
        # The img element is there, without a source, and nothing reached the pixel server.
        expect(page.frame_locator("#msgframe").locator("img[alt=tracker]")).to_have_count(1)
        assert pixel.hits == []
        # After "load external content" the image loads: the check above could see a load.
        page.click("#btn-external")
        expect(page.frame_locator("#msgframe").locator("img[alt=tracker]")).to_have_attribute(
            "src", f"http://127.0.0.1:{pixel.port}/pixel.gif"
        )
        for _ in range(100):
            if pixel.hits:
                break
            page.wait_for_timeout(50)
        assert pixel.hits == ["/pixel.gif"]
        assert page.evaluate("window.__pwned") == 0
    finally:
        pixel.close()

    # Reply, then find the reply in Sent.
    row(page, f"live {t}").click()
    expect(page.locator("#msg-subject")).to_have_text(f"live {t}")
    page.keyboard.press("r")
    expect(page.locator("#compose")).to_be_visible()
    expect(page.locator("#c-subject")).to_have_value(f"Re: live {t}")
    expect(page.locator("#c-to")).to_have_value("Alice <alice@example.org>")
    page.locator("#c-body").press("Home")
    page.locator("#c-body").type("Thanks, got it.")
    page.click("#c-send")
    expect(page.locator("#compose")).to_be_hidden()
    page.click("#mailboxes li[data-name=Sent]")
    expect(row(page, f"Re: live {t}")).to_be_visible()
    row(page, f"Re: live {t}").click()
    expect(page.frame_locator("#msgframe").locator("pre")).to_contain_text("Thanks, got it.")
    expect(page.frame_locator("#msgframe").locator("pre")).to_contain_text("> Hello from smtplib.")

    # Search across mailboxes.
    page.keyboard.press("/")
    page.keyboard.type(f"subject:{t} from:alice")
    page.keyboard.press("Enter")
    expect(page.locator("#messages tr")).to_have_count(2)
    expect(row(page, f"live {t}")).to_be_visible()
    expect(row(page, f"html {t}")).to_be_visible()

    # Move to Archive (button), then see it there and not in the Inbox.
    row(page, f"live {t}").click()
    page.click("#btn-archive")
    expect(page.locator("#toast")).to_have_text("Moved to Archive.")
    page.click("#mailboxes li[data-name=Archive]")
    expect(row(page, f"live {t}")).to_be_visible()
    page.click("#mailboxes li[data-name=Inbox]")
    expect(row(page, f"html {t}")).to_be_visible()
    expect(row(page, f"live {t}")).to_have_count(0)

    # Log out: the login form again, and a reload stays logged out.
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text("Logged out.")
    page.reload()
    expect(page.locator("#login")).to_be_visible()


def test_account_page(server: Any, page: Page, client: Any) -> None:
    # A fresh account, so the shared server's mox account keeps its password.
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    name = "b" + uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (mox mox-/localserve.go)
    address = f"{name}@localhost"
    call(admin, "admin", csrf, "AccountAdd", {"account": name, "address": address, "password": "old password"})

    page.goto(base(server) + "/account/")
    page.fill("#username", address)
    page.fill("#password", "old password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#acc-name")).to_have_text(name)

    # Add a TLS public key from a PEM file.
    page.set_input_files("#key-file", files=[{"name": "laptop.pem", "mimeType": "application/x-pem-file", "buffer": self_signed_pem("laptop")}])
    page.click("#key-add")
    expect(page.locator("#key-msg")).to_contain_text("Added key laptop")
    expect(page.locator("#keys tbody tr")).to_have_count(1)
    expect(page.locator("#keys tbody tr td").nth(1)).to_have_text("ed25519")
    expect(page.locator("pre", has_text="mox config tlspubkey gen")).to_be_visible()

    # Change the password: logged out, the old one fails, the new one works.
    page.fill("#new-password", "new password 1")
    page.fill("#new-password2", "new password 1")
    page.click("#password-save")
    expect(page.locator("#login-error")).to_have_text("Password changed. Log in with the new password.")
    page.fill("#username", address)
    page.fill("#password", "old password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Login failed.")
    page.fill("#password", "new password 1")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#acc-name")).to_have_text(name)
    expect(page.locator("#keys tbody tr")).to_have_count(1)


def test_admin_page(server: Any, page: Page, client: Any, tmp_path: Path) -> None:
    """The admin page: a wrong password is refused; log in; the accounts are listed; an account
    added with the form exists for real (IMAP login with its password); a message held in the
    queue (submitted with HOLDFOR, RFC 4865) shows in the queue view and is dropped there, and
    the server's queue agrees; it is then in the retired messages; log out."""
    import imaplib

    t = uuid.uuid4().hex[:8]
    page.goto(base(server) + "/admin/")
    page.fill("#password", "not the password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Login failed.")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()

    # The account list: localserve's account with its address.
    expect(page.locator("#accounts tbody tr[data-account=mox] td").nth(1)).to_contain_text("mox@localhost")

    # Add an account with the form.
    name = "adm" + t
    page.fill("#acc-name", name)
    page.fill("#acc-address", f"{name}@localhost")
    page.fill("#acc-password", "made in the admin page")
    page.click("#account-form button[type=submit]")
    expect(page.locator("#msg")).to_have_text("Account added.")
    new_row = page.locator(f"#accounts tbody tr[data-account={name}]")
    expect(new_row.locator("td").nth(0)).to_have_text(name)
    expect(new_row.locator("td").nth(1)).to_contain_text(f"{name}@localhost")
    expect(page.locator(f"#addr-account option[value={name}]")).to_have_count(1)
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login(f"{name}@localhost", "made in the admin page")
        assert im.select("Inbox")[0] == "OK"

    # The queue view: a held submission appears after Refresh, and is dropped with its button.
    rcpt = f"held{t}x@example.org"  # no failure-simulation suffix
    m = message(f"held {t}", "later\n")
    del m["From"], m["To"]
    m["From"], m["To"] = "mox@localhost", rcpt
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", [rcpt], m.as_bytes(policy=email.policy.SMTP), mail_options=["HOLDFOR=3600"])
    page.click("#queue-refresh")
    held = page.locator("#queue tbody tr", has=page.locator("td", has_text=rcpt))
    expect(held).to_have_count(1)
    expect(held.locator("td").nth(1)).to_have_text("mox")
    expect(held.locator("td").nth(2)).to_have_text("mox@localhost")
    page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
    assert (tmp_path / "admin.png").stat().st_size > 0
    held.locator("button", has_text="Drop").click()
    expect(held).to_have_count(0)
    # The dropped message is a retired message now, in the read-only list.
    page.click("#retired-refresh")
    gone = page.locator("#retired tbody tr", has=page.locator("td", has_text=rcpt))
    expect(gone).to_have_count(1)
    expect(gone.locator("td.result")).to_have_text("failure")
    expect(gone.locator("td.error")).to_have_text("delivery canceled by admin")
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    assert [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == rcpt] == []

    # Log out: the login form, also after a reload.
    page.click("#logout")
    expect(page.locator("#login-error")).to_have_text("Logged out.")
    page.reload()
    expect(page.locator("#login")).to_be_visible()


def test_account_page_webhooks_and_suppressions(server: Any, page: Page, client: Any) -> None:
    """The account page's webhook settings (saved to the config), its "Test" button (one POST
    of the example payload to a receiver on 127.0.0.1, the answer shown), the keep periods of
    retired messages and webhooks, and the suppression list (add, shown, remove)."""
    from tests.hookreceiver import HookReceiver

    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    name = "h" + uuid.uuid4().hex[:8] + "x"
    address = f"{name}@localhost"
    call(admin, "admin", csrf, "AccountAdd", {"account": name, "address": address, "password": "old password"})
    page.goto(base(server) + "/account/")
    page.fill("#username", address)
    page.fill("#password", "old password")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#acc-name")).to_have_text(name)

    with HookReceiver(statuses=[200, 500]) as recv:
        page.fill("#outgoing-url", recv.url("/out"))
        page.fill("#outgoing-authz", "Bearer page")
        page.check("#outgoing-events input[value=delivered]")
        page.check("#outgoing-events input[value=failed]")
        page.click("#outgoing-save")
        expect(page.locator("#outgoing-msg")).to_have_text("Saved.")
        hook = server.ctx.config.accounts[name].outgoing_webhook
        assert (hook.url, hook.authorization, hook.events) == (recv.url("/out"), "Bearer page", ["delivered", "failed"])

        page.click("#outgoing-test")
        expect(page.locator("#outgoing-msg")).to_have_text("Test call succeeded.")
        expect(page.locator("#outgoing-result")).to_contain_text("HTTP status: 200")
        [t] = recv.wait(1)
        assert (t.path, t.headers["authorization"], t.json["Event"], t.json["Version"]) == ("/out", "Bearer page", "delivered", 0)

        page.fill("#incoming-url", recv.url("/in"))
        page.click("#incoming-test")
        expect(page.locator("#incoming-msg")).to_have_text("Test call failed.")
        expect(page.locator("#incoming-result")).to_contain_text('http status "500 Internal Server Error", expected 200 ok')
        assert recv.wait(2)[1].json["Meta"]["RcptTo"] == address
        assert server.ctx.config.accounts[name].incoming_webhook is None  # tested, not saved

    # The keep periods for retired messages and webhooks (mox's KeepRetiredMessagePeriod and
    # KeepRetiredWebhookPeriod), shown as mox writes durations.
    page.fill("#keep-messages", "24h")
    page.fill("#keep-webhooks", "90m")
    page.click("#keep-save")
    expect(page.locator("#keep-msg")).to_have_text("Saved.")
    acc = server.ctx.config.accounts[name]
    assert (acc.keep_retired_message_period, acc.keep_retired_webhook_period) == (86400, 5400)

    # After a reload the saved settings are shown.
    page.reload()
    expect(page.locator("#keep-messages")).to_have_value("24h0m0s")
    expect(page.locator("#keep-webhooks")).to_have_value("1h30m0s")
    expect(page.locator("#outgoing-url")).to_have_value(recv.url("/out"))
    expect(page.locator("#outgoing-events input[value=failed]")).to_be_checked()
    expect(page.locator("#outgoing-events input[value=delayed]")).not_to_be_checked()

    page.fill("#suppression-address", "Jane.Doe+x@example.org")
    page.fill("#suppression-reason", "asked us")
    page.click("#suppression-add")
    expect(page.locator("#suppression-msg")).to_have_text("Added.")
    row = page.locator("#suppression-table tbody tr[data-address='janedoe@example.org']")
    expect(row).to_contain_text("Jane.Doe+x@example.org")
    expect(row).to_contain_text("asked us")
    row.locator("button", has_text="Remove").click()
    expect(page.locator("#suppression-table tbody")).to_have_text("No suppressed addresses.")


def test_webmail_keyboard(server: Any, page: Page, client: Any) -> None:
    """Keyboard shortcuts: / search, Escape, j/k cursor, s flag, u read, Enter open, ? help, g a."""
    from tests.web.test_webmail_api import Webmail

    t = uuid.uuid4().hex[:8]
    smtp_send(server, message(f"key one {t}", "first\n"))
    smtp_send(server, message(f"key two {t}", "second\n"))
    webmail_login(page, server)
    page.keyboard.press("/")
    page.keyboard.type(f"subject:{t}")
    page.keyboard.press("Enter")
    expect(page.locator("#messages tr")).to_have_count(2)
    page.keyboard.press("Escape")  # leaves the search field
    rows = page.locator("#messages tbody tr")
    first = rows.nth(0).locator("td.subject .subj").inner_text()
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class("unread sel")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class("unread sel")
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class("unread sel")
    page.keyboard.press("s")
    expect(rows.nth(0).locator("td.flag")).to_have_text("★")
    page.keyboard.press("u")
    expect(rows.nth(0)).to_have_class("sel")
    # The server has the flags the keys set.
    wm = Webmail(client())
    (m,) = [x for x in wm.find(f"subject:{t}") if x["subject"] == first]
    assert {"\\Flagged", "\\Seen"} <= set(m["flags"])
    page.keyboard.press("Enter")
    expect(page.locator("#msg-subject")).to_have_text(first)
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("g")
    page.keyboard.press("a")
    expect(page.locator("#mailboxes li.sel")).to_have_attribute("data-name", "Archive")


def test_message_html_never_runs_in_mox_origin(server: Any, browser: Any) -> None:
    """The webapi's example form (a developer trying MessagePartGet in the browser, with basic
    auth) fetches a text/html part whose script would set the title and call a local server.
    mox sends it as an attachment; even shown inline (the route below drops the
    Content-Disposition, as a careless proxy or browser might), the sandbox CSP keeps the script
    from running. The test API's raw message downloads too."""
    import json as jsonmod

    t = uuid.uuid4().hex[:8]
    pixel = PixelServer()
    ctx = browser.new_context(http_credentials={"username": "mox@localhost", "password": "moxmoxmox"})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        script = (
            "<script>document.title='pwned';"
            f"new Image().src='http://127.0.0.1:{pixel.port}/script-ran';"
            f"fetch('/api/v1/ci').then(r => r.text()).then(x => {{ document.title = 'pwned ' + x; }});</script>"
            f"<img src=x onerror=\"new Image().src='http://127.0.0.1:{pixel.port}/onerror-ran'\">"
        )
        smtp_send(server, message(f"script {t}", "plain\n", html=f"<p id=p>html {t}</p>{script}"))
        page = ctx.new_page()
        page.goto(base(server) + f"/api/v1/wait?subject=script%20{t}&timeout=10")
        mid = jsonmod.loads(page.locator("body").inner_text())["messages"][0]["id"]

        # 1. As mox serves it: a download, the form page stays.
        page.goto(base(server) + "/webapi/v0/MessagePartGet")
        page.fill("textarea[name=request]", jsonmod.dumps({"MsgID": mid, "PartPath": [1]}))
        with page.expect_download() as dl:
            page.click("button[type=submit]")
        assert script.encode() in Path(dl.value.path()).read_bytes()
        assert page.title() == "MessagePartGet - mox webapi"

        # 2. Shown inline anyway: rendered, but its script does not run.
        def inline(route: Any) -> None:
            resp = route.fetch()
            headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-disposition"}
            route.fulfill(response=resp, headers=headers)

        page.route("**/webapi/v0/MessagePartGet", inline)
        page.goto(base(server) + "/webapi/v0/MessagePartGet")
        page.fill("textarea[name=request]", jsonmod.dumps({"MsgID": mid, "PartPath": [1]}))
        page.click("button[type=submit]")
        expect(page.locator("#p")).to_have_text(f"html {t}")  # the part is shown ...
        page.wait_for_load_state("load")
        assert not page.title().startswith("pwned")  # ... and its script did not run
        # The raw message from the test API downloads as well.
        page.goto(base(server) + "/readyz")
        with page.expect_download() as dl:
            page.evaluate(f"location.href = '/api/v1/messages/{mid}/raw'")
        assert f"html {t}".encode() in Path(dl.value.path()).read_bytes()
        # Give a script that did run every chance to be seen: a request to the pixel server
        # would arrive before this page's own next request is answered.
        page.goto(base(server) + "/readyz")
        assert pixel.hits == []
        assert not page.title().startswith("pwned")
    finally:
        ctx.close()
        pixel.close()


def test_pages_work_under_the_csp(server: Any, page: Page, client: Any) -> None:
    """A nested mailbox is indented (a style set through the CSSOM, allowed by style-src 'self')
    and the admin and index pages render; the fixture fails the test on any CSP refusal."""
    from tests.web.test_webmail_api import Webmail

    t = uuid.uuid4().hex[:8]
    wm = Webmail(client())
    wm.call("MailboxCreate", {"name": f"Parent{t}/Child"})
    webmail_login(page, server)
    child = page.locator(f"#mailboxes li[data-name='Parent{t}/Child']")
    expect(child).to_be_visible()
    assert child.evaluate("e => getComputedStyle(e).paddingLeft") == "24px"
    page.goto(base(server) + "/")
    expect(page.locator("h1")).to_have_text("mox")
    assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # /static/common/index.css
    page.goto(base(server) + "/admin/")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("text=mox@localhost").first).to_be_visible()


class AttackerSite:
    """Another origin (a page the developer happens to open) that tries to change the server:
    a form POST with enctype text/plain (JSON smuggled in a field name) and fetch in no-cors
    mode, neither of which needs a CORS preflight."""

    def __init__(self, target: str) -> None:
        rule = '{"stage": "rcpt", "action": "reply", "code": 451, "text": "x", "recipient": "evil@attack.example", "pad": "'
        page = (
            "<!doctype html><title>attacker</title>"
            f"<form id=f method=post action='{target}/api/v1/faults' enctype='text/plain'>"
            f"<input type=hidden name='{rule}' value='\"}}'></form>"
            "<script>"
            f"fetch('{target}/api/v1/reset', {{method: 'POST', mode: 'no-cors', body: '{{}}'}})"
            ".then(() => { document.title = 'fetched'; }, () => { document.title = 'fetch failed'; });"
            "</script>"
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_cross_site_page_cannot_reset_or_add_faults(server: Any, browser: Any, client: Any) -> None:
    from tests.web.conftest import wait_one

    t = uuid.uuid4().hex[:8]
    smtp_send(server, message(f"keep {t}", "keep me\n"), to=f"keep-{t}x@example.org")  # no failure-simulation suffix
    kept = wait_one(client(), f"to=keep-{t}x@example.org")
    site = AttackerSite(base(server))
    ctx = browser.new_context()
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        page.goto(site.url)
        expect(page).to_have_title(re.compile("^fetch"))  # the no-cors POST was sent (or refused)
        page.evaluate("document.getElementById('f').submit()")
        page.wait_for_url(base(server) + "/api/v1/faults")
        # The browser sent it, mox refused it: the answer names the cross-site check.
        assert '"code":"user:crossSite"' in page.locator("body").inner_text()
    finally:
        ctx.close()
        site.close()
    c = client()
    assert [r for r in c.get("/api/v1/faults").json()["rules"] if r.get("recipient") == "evil@attack.example"] == []
    assert c.get(f"/api/v1/messages/{kept['id']}").status == 200  # no reset happened
