"""Delivery status notifications (RFC 3464, RFC 6533 for SMTPUTF8) for queue outcomes.

``compose_dsn`` builds a ``multipart/report; report-type=delivery-status`` message from
``postmaster@<hostname>``: a human-readable part, the ``message/delivery-status`` part (one
per-recipient block per failed/delivered recipient) and the original message
(``message/rfc822``, or only its header as ``text/rfc822-headers`` with RET=HDRS).
"""

from __future__ import annotations

import email.utils
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    action: str  # "failed" | "delayed" | "delivered"  (RFC 3464 2.3.3)
    status: str  # enhanced code, e.g. "5.0.0"
    diagnostic: str = ""  # e.g. "550 5.0.0 failure with code 550 ..."
    orcpt: str | None = None
    last_attempt: float | None = None


def _header_of(data: bytes) -> bytes:
    i = data.find(b"\r\n\r\n")
    return data if i < 0 else data[: i + 2]


def compose_dsn(
    *,
    hostname: str,
    to: str,
    original: bytes,
    statuses: list[RecipientStatus],
    arrival: float,
    envid: str | None = None,
    ret: str | None = None,
    smtputf8: bool = False,
    now: float | None = None,
) -> bytes:
    failed = [s for s in statuses if s.action == "failed"]
    delivered = [s for s in statuses if s.action == "delivered"]
    if failed:
        subject = "mail delivery failed"
        text = "Delivery has failed permanently for your email to:\r\n\r\n"
        text += "".join(f"\t{s.recipient}\r\n" for s in failed)
        text += "\r\nNo further deliveries will be attempted.\r\n\r\nError during the last delivery attempt:\r\n\r\n"
        text += "".join(f"\t{s.diagnostic}\r\n" for s in failed)
    elif delivered:
        subject = "mail delivery succeeded"
        text = "Your email was delivered to:\r\n\r\n" + "".join(f"\t{s.recipient}\r\n" for s in delivered)
    else:
        subject = "mail delivery delayed"
        text = "Delivery of your email has been delayed; more attempts will be made.\r\n"
    boundary = "mox-" + secrets.token_hex(12)
    date = email.utils.formatdate(now, localtime=False)
    ds_type = "message/global-delivery-status" if smtputf8 else "message/delivery-status"
    # RFC 3464 2.2 per-message fields
    ds = [f"Reporting-MTA: dns; {hostname}"]
    if envid:
        ds.append(f"Original-Envelope-Id: {envid}")
    ds.append(f"Arrival-Date: {email.utils.formatdate(arrival, localtime=False)}")
    ds.append("")
    for s in statuses:
        # RFC 3464 2.3 per-recipient fields
        if s.orcpt:
            ds.append(f"Original-Recipient: {s.orcpt}")
        ds.append(f"Final-Recipient: {'utf-8' if smtputf8 else 'rfc822'}; {s.recipient}")
        ds.append(f"Action: {s.action}")
        ds.append(f"Status: {s.status}")
        if s.diagnostic:
            ds.append(f"Diagnostic-Code: smtp; {s.diagnostic}")
        if s.last_attempt is not None:
            ds.append(f"Last-Attempt-Date: {email.utils.formatdate(s.last_attempt, localtime=False)}")
        ds.append("")
    if ret == "HDRS":
        orig_type = "text/rfc822-headers"
        orig = _header_of(original)
    else:
        orig_type = "message/global" if smtputf8 else "message/rfc822"
        orig = original
    msgid = f"<{secrets.token_urlsafe(18)}@{hostname}>"
    head = (
        f"From: postmaster <postmaster@{hostname}>\r\n"
        f"To: <{to}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {msgid}\r\n"
        f"Date: {date}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        "This is a MIME-formatted message.\r\n"
        f"--{boundary}\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{text}\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: {ds_type}\r\n"
        "\r\n" + "\r\n".join(ds) + "\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: {orig_type}\r\n"
        "\r\n"
    )
    if not orig.endswith(b"\r\n"):
        orig += b"\r\n"
    # The CRLF before a boundary delimiter belongs to the delimiter (RFC 2046 5.1.1).
    return head.encode("utf-8") + orig + f"\r\n--{boundary}--\r\n".encode()
