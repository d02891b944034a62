"""MoxServer: a whole localserve for tests, with helpers to send mail and wait for it.

The pytest fixture ``mox_server`` (:mod:`mox.testing.pytest_plugin`) hands out one per test;
without pytest, use ``MoxServer.open()`` (or ``mox.testing.LocalServer`` for the bare server)::

    from mox.testing import MoxServer

    with MoxServer.open() as srv:
        srv.send("alice@example.org", "hi", "hello")
        msg = srv.inbox.wait_for(to="alice@example.org", subject="hi", timeout=10)

It runs the whole localserve (SMTP, submission, IMAP) in-process on free ports of 127.0.0.1 with a
throwaway data dir. In localserve every recipient is delivered to the one account's Inbox, so mail
"to anyone" ends up in ``inbox``. ``inbox.wait_for`` blocks on the store's change subscription (no
polling) until a matching message is in the Inbox.

Importing this module is cheap (no pytest, no server code): the server is imported when it starts.
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
        from mox.store.errors import MessageGone

        mb = acc.mailbox(INBOX)
        out = []
        for m in acc.messages(mb.id):
            try:
                out.append(ReceivedMessage.parse(m.uid, acc.read_message(m)))
            except MessageGone:
                continue  # expunged since the listing
        return out

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
                    sub.clear_overflow()  # everything is read again anyway
            held = [f"{m.subject!r} to {', '.join(m.recipients) or '(nobody)'}" for m in self._read(acc)]
        want = " and ".join(w for w in (to and f"to={to!r}", subject is not None and f"subject~{subject!r}") if w)
        raise TimeoutError(
            f"no message {want or 'at all'} in the Inbox after {timeout:g}s; "
            f"it holds {len(held)}: {'; '.join(held) if held else 'nothing'}"
        )


class MoxServer:
    """A running localserve: addresses, credentials, clients and the Inbox.

    Test and CI helpers (README "Testing with mox"): ``api()`` (the test API), ``faults``
    (scoped fault rules), ``address_inbox(address)`` (per-test inboxes), ``transcripts()``,
    ``lint(id)``, ``reset()``. They talk HTTP, so they also work with a server started
    elsewhere: ``MoxServer.attach(ready_info)`` with the ``mox: ready`` JSON.
    """

    host = HOST

    def __init__(self, server: Any) -> None:
        self.server = server  # mox.testing.LocalServer
        self.ports: dict[str, Any] = dict(server.ports)
        self.dir = Path(server.dir)
        self.address: str = server.address
        self.password: str = server.password
        self.inbox = Inbox(server.store)
        self.shared_password = (getattr(server, "ci", None) or {}).get("shared_password") or "moxmoxmox"
        self.faults = Faults(self)

    @classmethod
    @contextmanager
    def open(cls, dir: Any = None, *, allow_server_errors: bool = False, **ci: Any) -> Iterator[MoxServer]:
        """Start localserve (data in `dir`, default a temporary dir) and stop it afterwards.
        Keyword arguments are test and CI settings: ``imap_profile``, ``deterministic``,
        ``preload``, ``export_on_exit``, ``shared_password``. Stopping raises
        ``mox.testing.ServerErrors`` when the server logged an error line (an unhandled
        exception, a server bug), unless ``allow_server_errors`` is true."""
        from mox.testing import LocalServer

        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in ci.items()} or None
        with LocalServer(dir=dir, ci=settings, allow_server_errors=allow_server_errors) as srv:
            yield cls(srv)

    @classmethod
    def attach(cls, info: dict[str, Any], *, shared_password: str = "moxmoxmox") -> MoxServer:
        """A MoxServer for a localserve running elsewhere (``info``: its ready JSON). The store
        is not reachable: use ``address_inbox`` and the test API instead of ``inbox``."""

        class _Remote:
            address = "mox@localhost"
            password = "moxmoxmox"
            store = None

        r = _Remote()
        r.ports = info  # type: ignore[attr-defined]
        r.dir = info.get("dir", ".")  # type: ignore[attr-defined]
        r.ci = {"shared_password": shared_password}  # type: ignore[attr-defined]
        return cls(r)

    # --- test API ---------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
        """Call the test API (``path`` below ``/api/v1/``); JSON in and out (``raw``: bytes out;
        a ``bytes`` body is sent as is). Raises ``ApiError`` for a non-2xx answer."""
        import json
        import urllib.error
        import urllib.request

        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode("utf-8")
        url = f"http://{HOST}:{self.ports['http']}/api/v1/{path.lstrip('/')}"
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            # Requests that change something must be JSON (README "Test API"); raw bytes are
            # a message for lint.
            req.add_header("Content-Type", "message/rfc822" if isinstance(body, bytes) else "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                out = resp.read()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode("utf-8", "replace")) from None
        return out if raw else json.loads(out)

    def address_inbox(self, address: str) -> AddressInbox:
        """The mail sent to exactly ``address`` (see AddressInbox)."""
        return AddressInbox(self, address)

    def transcripts(self, proto: str | None = None) -> list[dict[str, Any]]:
        return self.api("GET", "transcripts" + (f"?proto={proto}" if proto else ""))["transcripts"]

    def transcript(self, cid: str) -> str:
        return self.api("GET", f"transcripts/{cid}", raw=True).decode("utf-8")

    def lint(self, message_id: int, account: str | None = None) -> dict[str, Any]:
        return self.api("GET", f"messages/{message_id}/lint" + (f"?account={account}" if account else ""))

    def reset(self) -> dict[str, Any]:
        """Remove all mail of all accounts, all fault rules and transcripts."""
        return self.api("POST", "reset")

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

    @property
    def http_address(self) -> tuple[str, int]:
        """The plain HTTP listener: web interfaces and the test API (``/api/v1/``)."""
        return (HOST, self.ports["http"])

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>`` without a trailing slash, e.g. for ``http_url + "/webmail/"``."""
        return f"http://{HOST}:{self.ports['http']}"

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


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"test api: HTTP {status}: {body}")
        self.status = status
        self.body = body


class Faults:
    """Scoped fault rules (mox.ci.faults) through the test API::

        with mox_server.faults.add(stage="rcpt", recipient="alice@example.org",
                                   action="reply", code=451, text="try again", times=1):
            ...   # the first RCPT TO alice is refused with 451, the next one accepted

    The rule is deleted when the block ends (also on error); ``ttl=`` lets it expire by itself.
    """

    def __init__(self, server: MoxServer) -> None:
        self._server = server

    @contextmanager
    def add(self, **rule: Any) -> Iterator[dict[str, Any]]:
        r = self._server.api("POST", "faults", rule)
        try:
            yield r
        finally:
            try:
                self._server.api("DELETE", f"faults/{r['id']}")
            except ApiError as e:
                if e.status != 404:  # expired by its TTL meanwhile
                    raise

    def get(self, id: int) -> dict[str, Any]:
        return self._server.api("GET", f"faults/{id}")

    def list(self) -> list[dict[str, Any]]:
        return self._server.api("GET", "faults")["rules"]

    def clear(self, owner: str | None = None) -> int:
        return self._server.api("DELETE", "faults" + (f"?owner={owner}" if owner else ""))["deleted"]


class AddressInbox:
    """Per-test inbox: the mail sent to exactly one address. ``wait()`` (test API long-poll),
    ``messages()``, ``imap()`` (IMAP login as the address with the shared password: a view of
    just its mail), ``clear()``."""

    def __init__(self, server: MoxServer, address: str) -> None:
        self.server = server
        self.address = address

    def _q(self) -> str:
        from urllib.parse import quote

        return quote(self.address, safe="@")

    def messages(self) -> list[dict[str, Any]]:
        return self.server.api("GET", f"messages?to={self._q()}&limit=1000")["messages"]

    def wait(self, subject: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        from urllib.parse import quote

        q = f"wait?to={self._q()}&timeout={timeout:g}" + (f"&subject={quote(subject)}" if subject else "")
        got = self.server.api("GET", q)["messages"]
        if not got:
            raise TimeoutError(f"no message to {self.address} after {timeout:g}s")
        return got[0]

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4(HOST, self.server.imap_port, timeout=30)
        try:
            client.login(self.address, self.server.shared_password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def clear(self) -> int:
        return self.server.api("DELETE", f"inboxes/{self._q()}")["deleted"]
