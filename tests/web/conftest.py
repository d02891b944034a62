"""Web tests: the whole localserve in a background thread; clients over real sockets."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from mox.testing import LocalServer


#: A source address that is not a loopback caller for mox (see Client).
REMOTE = "127.0.0.3"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """localserve on free ports of 127.0.0.1, with a cheap scrypt cost for the account password."""
    from mox.auth import password as pwmod
    from mox.web import session

    saved = pwmod.SCRYPT_N, session.FAILED_LOGIN_DELAY
    pwmod.SCRYPT_N = 1 << 4
    session.FAILED_LOGIN_DELAY = 0.01
    try:
        with LocalServer(tmp_path_factory.mktemp("web") / "data") as srv:
            yield srv
    finally:
        pwmod.SCRYPT_N, session.FAILED_LOGIN_DELAY = saved


class Resp:
    def __init__(self, r: http.client.HTTPResponse) -> None:
        self.status = r.status
        self.headers = r.headers
        self.body = r.read()

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class Client:
    """One keep-alive HTTP connection, with the cookies it was given."""

    def __init__(self, port: int, *, tls: Any = None, host: str = "127.0.0.1", source: str | None = None) -> None:
        """``source``: the local address to connect from; REMOTE (127.0.0.3) plays a client on
        another machine: only 127.0.0.1 and ::1 count as loopback callers (mox.web.access)."""
        src = (source, 0) if source is not None else None
        if tls is not None:
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, context=tls, timeout=30, source_address=src
            )
        else:
            self.conn = http.client.HTTPConnection(host, port, timeout=30, source_address=src)
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Resp:
        h = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            h.setdefault("Content-Type", "application/json")
        if form is not None:
            import urllib.parse

            body = urllib.parse.urlencode(form)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if auth is not None:
            h["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=h)
        r = Resp(self.conn.getresponse())
        for v in r.headers.get_all("Set-Cookie") or []:
            self.set_cookies.append(v)
            name, _, rest = v.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in v:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r

    def get(self, path: str, **kw: Any) -> Resp:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: bytes | str | None = None, **kw: Any) -> Resp:
        return self.request("POST", path, body, **kw)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def client(server: Any) -> Any:
    clients: list[Client] = []

    def make(**kw: Any) -> Client:
        c = Client(server.ports["http"], **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def raw_exchange(port: int, data: bytes, *, read_until_close: bool = True, timeout: float = 10) -> bytes:
    """Send raw bytes, return everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
        return b"".join(chunks)


def smtp_deliver(server: Any, rcpts: list[str], data: bytes, mail_from: str = "sender@example.org") -> None:
    """Deliver over SMTP (port "smtp", as an application under test would)."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        assert s.sendmail(mail_from, rcpts, data) == {}


def wait_one(c: Client, query: str, timeout: float = 10) -> dict:
    r = c.get(f"/api/v1/wait?{query}&timeout={timeout}")
    assert r.status == 200, r.body
    got = r.json()
    assert got["messages"], f"no message for {query}"
    return got["messages"][0]


@contextlib.contextmanager
def expunged_on_lookup(server: Any, lookup: str) -> Iterator[None]:
    """Another session (IMAP, say) expunges a message right after a web handler looked it up
    with ``Account.<lookup>`` and before the handler reads its file: the race, made certain."""
    acc = server.store.open_account("mox")
    real = getattr(acc, lookup)

    def racing(*args: Any) -> Any:
        m = real(*args)
        if m is not None and not m.expunged:
            acc.expunge_sync(m.mailbox_id, [m.uid])
        return m

    setattr(acc, lookup, racing)
    try:
        yield
    finally:
        delattr(acc, lookup)
        acc.close()
