"""The junk filter seen in the webmail (Playwright with Debian's Chromium, as test_browser.py),
on a localserve of its own (training changes what the filter says about later mail): after
spam was put in Junk and ham in Archive, a twin of the spam arrives in Junk, a twin of the ham
in Inbox. Saves a screenshot in the test's output directory."""

from __future__ import annotations

import imaplib
import random
import smtplib
from pathlib import Path
from typing import Any

from tests.web.test_browser import browser, page, row, webmail_login  # noqa: F401

from playwright.sync_api import Page, expect  # noqa: E402  (after test_browser's chromium check)

SPAM = "cheap pills casino winner prize claim bitcoin lottery urgent offer discount".split()
HAM = "meeting project schedule review agenda notes team budget report quarter release".split()


def msg(subject: str, words: list[str], rnd: random.Random) -> bytes:
    body = " ".join(rnd.choice(words) for _ in range(40))
    return f"From: someone@example.org\r\nTo: mox@localhost\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def test_junk_twin_in_junk(server: Any, page: Page, tmp_path: Path) -> None:
    rnd = random.Random(7)
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login("mox@localhost", "moxmoxmox")
        # Junk makes $Junk, Archive $NotJunk (localserve's automatic junk flags, as mox); the
        # filter's verdicts count after 50 not-junk messages (mox).
        for i in range(20):
            assert im.append("Junk", None, None, msg(f"spam {i}", SPAM, rnd))[0] == "OK"
        for i in range(50):
            assert im.append("Archive", None, None, msg(f"ham {i}", HAM, rnd))[0] == "OK"
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("someone@example.org", ["mox@localhost"], msg("spam twin", SPAM, rnd))
        s.sendmail("someone@example.org", ["mox@localhost"], msg("ham twin", HAM, rnd))
    webmail_login(page, server)
    expect(row(page, "ham twin")).to_have_count(1)
    expect(row(page, "spam twin")).to_have_count(0)
    page.click("#mailboxes li[data-name=Junk]")
    expect(row(page, "spam twin")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "junk.png"), full_page=True)
    assert (tmp_path / "junk.png").stat().st_size > 0
