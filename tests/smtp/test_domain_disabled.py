"""A disabled domain (domains.conf Disabled, mox config.Domain): incoming mail for it gets a
temporary error outside localserve, submissions from it get 451 4.3.0 (mox smtpserver/server.go)."""

from __future__ import annotations

from typing import Any

from mox.config import DomainConfig


def _disabled() -> dict[str, DomainConfig]:
    return {"localhost": DomainConfig(disabled=True, localpart_catchall_separator="+")}


def test_incoming_for_disabled_domain(smtp: Any) -> None:
    smtp.start(localserve=False, domains=_disabled())
    c = smtp.connect(submission=False)
    c.transact("MAIL FROM:<someone@example.org>", "250 2.1.0 looking good")
    c.transact("RCPT TO:<mox@localhost>", "450 4.2.1 recipient domain temporarily disabled (ID)")
    c.transact("RCPT TO:<nobody@example.org>", "550 5.1.1 no such user (ID)")


def test_incoming_for_disabled_domain_localserve(smtp: Any, msg: str) -> None:
    """mox's localserve treats the address as unknown and delivers to its catch-all account."""
    smtp.start(domains=_disabled())
    c = smtp.connect(submission=False)
    c.transact("MAIL FROM:<someone@example.org>", "250 2.1.0 looking good")
    c.transact("RCPT TO:<mox@localhost>", "250 2.1.0 now on the list")


def test_submission_from_disabled_domain(smtp: Any, msg: str) -> None:
    smtp.start(domains=_disabled())
    c = smtp.connect(login=True)
    c.transact("MAIL FROM:<mox@localhost>", "451 4.3.0 domain of smtp mail from is temporarily disabled (ID)")
