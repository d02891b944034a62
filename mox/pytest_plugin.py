"""pytest plugin: a real mail server for your tests (fixture ``mox_server``).

Installed with mox (entry point ``pytest11``), so the fixture is there as soon as mox is::

    def test_welcome_mail(mox_server):
        signup("alice@example.org", smtp=mox_server.smtp_address,
               login=(mox_server.address, mox_server.password))
        msg = mox_server.inbox.wait_for(to="alice@example.org", subject="Welcome", timeout=10)
        assert "alice" in msg.text

``mox_server`` runs the whole localserve (SMTP, submission, IMAP) in-process on free ports of
127.0.0.1 with a throwaway data dir under pytest's ``tmp_path``. In localserve every recipient is
delivered to the one account's Inbox, so mail "to anyone" ends up in ``mox_server.inbox``.

``inbox.wait_for`` blocks on the store's change subscription (no polling) until a matching message
is in the Inbox. Without pytest, use ``MoxServer.open()`` (or ``mox.testing.LocalServer``)::

    with MoxServer.open() as srv:
        ...

Importing this module is cheap: the server code is imported when a server starts.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ACCOUNT = "mox"
INBOX = "Inbox"
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")


@dataclass(frozen=True)
class ReceivedMessage:
    """A message in the Inbox: ``raw`` bytes as stored, ``message`` parsed with the stdlib."""

    uid: int
    raw: bytes
    message: EmailMessage = field(repr=False)

    @classmethod
    def parse(cls, uid: int, raw: bytes) -> ReceivedMessage:
        return cls(uid, raw, email.message_from_bytes(raw, policy=email.policy.default))

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def sender(self) -> str:
        """The From address (without display name)."""
        return email.utils.parseaddr(str(self.message.get("From", "")))[1]

    @property
    def recipients(self) -> list[str]:
        """Addresses from To, Cc and the delivery's envelope recipient (Delivered-To), lower case."""
        values = [str(v) for h in RECIPIENT_HEADERS for v in self.message.get_all(h, [])]
        seen: dict[str, None] = {}
        for _, addr in email.utils.getaddresses(values):
            if addr:
                seen.setdefault(addr.lower(), None)
        return list(seen)

    @property
    def text(self) -> str:
        """The text/plain body (the first one in a multipart message), or ""."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def matches(self, to: str | None = None, subject: str | None = None) -> bool:
        """`to`: one of the recipients (case-insensitive); `subject`: a substring of the Subject."""
        if to is not None and to.lower() not in self.recipients:
            return False
        if subject is not None and subject not in self.subject:
            return False
        return True


class Inbox:
    """The Inbox of the localserve account, read through the store (thread-safe reads)."""

    def __init__(self, store: Any, account: str = ACCOUNT) -> None:
        self._store = store
        self._account_name = account

    @contextmanager
    def _account(self) -> Iterator[Any]:
        acc = self._store.open_account(self._account_name)
        try:
            yield acc
        finally:
            acc.close()

    @staticmethod
    def _read(acc: Any) -> list[ReceivedMessage]:
        mb = acc.mailbox(INBOX)
        return [ReceivedMessage.parse(m.uid, acc.read_message(m)) for m in acc.messages(mb.id)]

    def messages(self) -> list[ReceivedMessage]:
        """Every message in the Inbox, oldest first."""
        with self._account() as acc:
            return self._read(acc)

    def clear(self) -> None:
        """Remove every message from the Inbox (durable when this returns)."""
        with self._account() as acc:
            mb = acc.mailbox(INBOX)
            uids = [m.uid for m in acc.messages(mb.id)]
            if uids:
                acc.expunge_sync(mb.id, uids)

    def wait_for(self, to: str | None = None, subject: str | None = None, timeout: float = 10.0) -> ReceivedMessage:
        """The oldest Inbox message matching `to` and `subject` (see ReceivedMessage.matches),
        waiting up to `timeout` seconds for it to arrive. Raises TimeoutError listing what the
        Inbox does hold. (In an async trio test, ``await inbox.wait_for_async(...)``.)"""
        import functools

        import trio

        return trio.run(functools.partial(self.wait_for_async, to=to, subject=subject, timeout=timeout))

    async def wait_for_async(
        self, to: str | None = None, subject: str | None = None, timeout: float = 10.0
    ) -> ReceivedMessage:
        """wait_for, for trio code."""
        import trio

        with self._account() as acc:
            # Subscribe before looking, so a delivery between the look and the wait wakes us.
            with acc.subscribe() as sub, trio.move_on_after(timeout):
                while True:
                    for msg in self._read(acc):
                        if msg.matches(to=to, subject=subject):
                            return msg
                    await sub.wait()
                    sub.pending()
            held = [f"{m.subject!r} to {', '.join(m.recipients) or '(nobody)'}" for m in self._read(acc)]
        want = " and ".join(w for w in (to and f"to={to!r}", subject is not None and f"subject~{subject!r}") if w)
        raise TimeoutError(
            f"no message {want or 'at all'} in the Inbox after {timeout:g}s; "
            f"it holds {len(held)}: {'; '.join(held) if held else 'nothing'}"
        )


class MoxServer:
    """A running localserve: addresses, credentials, clients and the Inbox."""

    host = HOST

    def __init__(self, server: Any) -> None:
        self.server = server  # mox.testing.LocalServer
        self.ports: dict[str, Any] = dict(server.ports)
        self.dir = Path(server.dir)
        self.address: str = server.address
        self.password: str = server.password
        self.inbox = Inbox(server.store)

    @classmethod
    @contextmanager
    def open(cls, dir: Any = None) -> Iterator[MoxServer]:
        """Start localserve (data in `dir`, default a temporary dir) and stop it afterwards."""
        from mox.testing import LocalServer

        with LocalServer(dir=dir) as srv:
            yield cls(srv)

    @property
    def smtp_port(self) -> int:
        """Submission port (AUTH PLAIN/LOGIN allowed without TLS in localserve)."""
        return self.ports["submission"]

    @property
    def smtp_address(self) -> tuple[str, int]:
        return (HOST, self.smtp_port)

    @property
    def imap_port(self) -> int:
        return self.ports["imap"]

    @property
    def imap_address(self) -> tuple[str, int]:
        return (HOST, self.imap_port)

    def smtp(self) -> smtplib.SMTP:
        """An smtplib client connected to submission and logged in; use it with `with`."""
        client = smtplib.SMTP(HOST, self.smtp_port, timeout=30)
        try:
            client.login(self.address, self.password)
        except BaseException:
            client.close()
            raise
        return client

    def imap(self) -> imaplib.IMAP4:
        """An imaplib client connected to IMAP and logged in; use it with `with`."""
        client = imaplib.IMAP4(HOST, self.imap_port, timeout=30)
        try:
            client.login(self.address, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def send(self, to: str | list[str], subject: str, body: str, *, sender: str | None = None) -> None:
        """Submit a plain-text message through SMTP submission."""
        msg = EmailMessage()
        msg["From"] = sender or self.address
        msg["To"] = to if isinstance(to, str) else ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate()
        msg["Message-ID"] = email.utils.make_msgid(domain="localhost")
        msg.set_content(body)
        with self.smtp() as client:
            client.send_message(msg)


try:
    import pytest
except ImportError:  # usable without pytest: MoxServer.open()
    pytest = None

if pytest is not None:

    @pytest.fixture
    def mox_server(tmp_path: Path) -> Iterator[MoxServer]:
        """A running mox localserve on free 127.0.0.1 ports with a fresh data dir (see MoxServer)."""
        with MoxServer.open(tmp_path / "mox") as srv:
            yield srv
