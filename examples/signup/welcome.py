"""A tiny piece of "application code": sign a user up and send them a welcome mail.

It knows nothing about mox: it gets an SMTP server address and credentials, as it would in
production.
"""

from __future__ import annotations

import email.utils
import smtplib
from email.message import EmailMessage


def send_welcome(name: str, address: str, *, smtp: tuple[str, int], login: tuple[str, str],
                 sender: str = "mox@localhost") -> str:
    """Send the welcome mail; returns its Message-ID."""
    msg = EmailMessage()
    msg["From"] = f"Example Signup <{sender}>"
    msg["To"] = email.utils.formataddr((name, address))
    msg["Subject"] = f"Welcome to Example, {name}"
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = msgid = email.utils.make_msgid(domain="example.org")
    msg.set_content(f"Hi {name},\n\nyour account {address} is ready.\n")
    with smtplib.SMTP(*smtp, timeout=30) as client:
        client.login(*login)
        client.send_message(msg)
    return msgid
