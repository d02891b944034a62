"""Password hashes never run on the event loop, and at most N run at once for all protocols
together (mox.auth.authenticator.run_password_hash, ``limits.concurrent_password_hashes``), and logins
waiting for the limiter find a password just verified in the authentication cache. Shown by ordering,
not by timing: the hash function is made to wait on a gate, and the server must keep answering
(and queue further hashes) while it waits. Unknown users cost one hash like known ones, on every
way in (counted)."""

from __future__ import annotations

import base64
import imaplib
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mox.auth import password as pwmod
from tests.web.conftest import REMOTE, Client

WAIT = 20.0  # upper bound for a step that should happen promptly (a hang fails the test)


class Gate:
    """Replaces scrypt: each call registers, waits until the gate opens, then hashes."""

    def __init__(self, real: Callable[..., bytes]) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.entered = threading.Semaphore(0)
        self.open = threading.Event()
        self.active = 0
        self.max_active = 0
        self.calls = 0

    def __call__(self, *args: Any, **kw: Any) -> bytes:
        with self.lock:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        self.entered.release()
        try:
            assert self.open.wait(WAIT), "gate never opened"
            return self.real(*args, **kw)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def gate(server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    # Earlier logins are remembered by the authentication cache (mox.auth.cache): forget them,
    # so the next login hashes.
    server.store.auth_cache.clear()
    g = Gate(pwmod._scrypt)
    monkeypatch.setattr(pwmod, "_scrypt", g)
    try:
        yield g
    finally:
        g.open.set()


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as e:  # reported by the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def web_login(server: Any) -> int:
    c = Client(server.ports["http"])
    try:
        return c.post("/webmail/login", json_body={"username": "mox@localhost", "password": "moxmoxmox"}).status
    finally:
        c.close()


def webapi_call(server: Any) -> int:
    c = Client(server.ports["http"])
    try:
        return c.post("/webapi/v0/MessageGet", form={"request": '{"MsgID": 999999}'}, auth=("mox@localhost", "moxmoxmox")).status
    finally:
        c.close()


def api_remote(server: Any) -> int:
    c = Client(server.ports["http"], source=REMOTE)
    try:
        return c.get("/api/v1/messages?limit=1", auth=("mox@localhost", "moxmoxmox")).status
    finally:
        c.close()


def imap_login(server: Any) -> str:
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=WAIT + 10) as c:
        typ, _ = c.login("mox@localhost", "moxmoxmox")
        c.logout()
        return typ


def test_event_loop_serves_while_a_hash_runs(server: Any, gate: Gate) -> None:
    t, out = in_thread(lambda: web_login(server))
    assert gate.entered.acquire(timeout=WAIT)  # the login is hashing now, and stays there
    # Were the hash on the event loop, nothing below could be answered until the gate opens.
    c = Client(server.ports["http"])
    try:
        assert c.get("/readyz").json() == {"ready": True}
        assert c.get("/api/v1/messages?limit=1").status == 200
    finally:
        c.close()
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=WAIT) as s:
        assert s.noop()[0] == 250
    assert gate.active == 1 and t.is_alive()
    gate.open.set()
    t.join(WAIT)
    assert out == {"result": 200}


def test_one_hash_limit_for_all_protocols(server: Any, gate: Gate) -> None:
    limiter = server.ctx.limiter.password_hashes
    thread = server._thread
    old = limiter.total_tokens
    thread.run_sync_in_server(setattr, limiter, "total_tokens", 2)
    try:
        jobs = [in_thread(lambda f=f: f(server)) for f in (web_login, webapi_call, api_remote, imap_login)]
        assert gate.entered.acquire(timeout=WAIT) and gate.entered.acquire(timeout=WAIT)
        # Two hash, the other two wait for the shared limiter (whatever their protocol).
        deadline = time.monotonic() + WAIT
        while thread.run_sync_in_server(lambda: limiter.statistics().tasks_waiting) < 2:
            assert time.monotonic() < deadline, limiter.statistics()
            time.sleep(0.01)
        assert gate.active == 2 and gate.calls == 2
        gate.open.set()
        results = []
        for t, out in jobs:
            t.join(WAIT)
            results.append(out.get("result", out.get("error")))
        assert results == [200, 400, 200, "OK"]  # webapi: 400 notFound for the unknown MsgID, after auth
        # The two that waited found the password verified by the first two (mox.auth.cache).
        assert gate.max_active == 2 and gate.calls == 2
    finally:
        thread.run_sync_in_server(setattr, limiter, "total_tokens", old)


class Counter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        self.lock = threading.Lock()
        real = pwmod._scrypt

        def counted(*args: Any, **kw: Any) -> bytes:
            with self.lock:
                self.n += 1
            return real(*args, **kw)

        monkeypatch.setattr(pwmod, "_scrypt", counted)

    def take(self) -> int:
        with self.lock:
            n, self.n = self.n, 0
        return n


def test_unknown_users_cost_one_hash_everywhere(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counter(monkeypatch)

    def attempts(user: str) -> dict[str, Any]:
        got: dict[str, Any] = {}
        c = Client(server.ports["http"])
        got["web"] = c.post("/account/login", json_body={"username": user, "password": "wrong password"}).status
        got["webapi"] = c.post("/webapi/v0/MessageGet", form={"request": "{}"}, auth=(user, "wrong password")).status
        c.close()
        r = Client(server.ports["http"], source=REMOTE)
        got["testapi"] = r.get("/api/v1/messages", auth=(user, "wrong password")).status
        r.close()
        with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=WAIT) as im:
            try:
                im.login(user, "wrong password")
            except imaplib.IMAP4.error as e:
                got["imap"] = str(e)
        with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=WAIT) as s:
            s.ehlo("client.example")
            plain = base64.b64encode(f"\0{user}\0wrong password".encode()).decode()
            code, text = s.docmd("AUTH", f"PLAIN {plain}")
            got["smtp"] = (code, text.rsplit(b" (", 1)[0])  # without the connection id
        got["hashes"] = counter.take()
        return got

    known = attempts("mox@localhost")
    unknown = attempts("nobody-at-all@localhost")
    assert known == unknown
    assert known["hashes"] == 5  # one per attempt, known or not
