"""SMTP test harness: the SMTP listeners (delivery, submission, submissions) and the queue in a
background trio thread, talked to over real sockets on 127.0.0.1.

    def test_noop(smtp):
        tc = smtp.connect()                 # greeting read; submission=True, tls=False, ehlo=True, login=False
        tc.transact("NOOP", "250 2.0.0 alrighty")

Reply lines are compared exactly after the connection id at the end of error replies is
replaced by ``(ID)``. ``smtp.messages("Inbox")`` returns the stored messages (bytes) of account
``mox``, read through the store. Each test gets a fresh data dir.

The real ``mox.store.Store`` is used (fsync off for speed; the queue keeps its own fsyncs), and
the account's consistency is checked after each test.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from mox import mlog
from mox.auth import password as pwmod
from mox.auth.authenticator import Authenticator
from mox.config import AccountConfig, Config, DomainConfig, Limits
from mox.context import ServerContext
from mox.ctl.commands import COMMANDS
from mox.ctl.server import serve_ctl
from mox.limits.limiter import Limiter
from mox.queue import Queue
from mox.smtp.server import handle_connection
from mox.store import Store
from mox.testing import ServerThread

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
ACCOUNT = "mox"
TIMEOUT = float(os.environ.get("MOX_TEST_TIMEOUT", "10"))


def make_cert(directory: Path) -> tuple[Path, Path]:
    """The certificate localserve makes (localhost, 127.0.0.1, ::1); returns (cert, key) paths."""
    from mox.localserve import generate_certificate

    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    generate_certificate(cert_path, key_path)
    return cert_path, key_path


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("smtpcert"))


def _open_store(data_dir: Path) -> Store:
    return Store(data_dir, fsync=False)


# ---------------------------------------------------------------------------------------------


class _LogCapture:
    """Log lines go to stderr (shown for a failing test); error-level lines are remembered."""

    _error = re.compile(r"^(error|fatal): ")

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.out = sys.stderr  # not whatever sys.stderr is later (CliRunner swaps it)

    def write(self, s: str) -> int:
        for line in s.splitlines():
            if self._error.match(line) or "Traceback (most recent call last)" in line:
                self.errors.append(line)
        try:
            self.out.write(s)
        except (OSError, ValueError):
            pass
        return len(s)

    def flush(self) -> None:
        pass


ID_RE = re.compile(r" \([0-9a-f]+\)$")


def norm(line: str) -> str:
    return ID_RE.sub(" (ID)", line)


class SmtpTestConn:
    def __init__(self, sock: socket.socket, tls_ctx: ssl.SSLContext) -> None:
        self.sock = sock
        self.tls_ctx = tls_ctx
        self.buf = b""
        self.transcript: list[str] = []

    def write(self, data: bytes) -> None:
        self.transcript.append("C: " + repr(data))
        self.sock.sendall(data)

    def write_line(self, line: str | bytes) -> None:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.write(line + b"\r\n")

    def read_line(self) -> str:
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed; transcript:\n" + "\n".join(self.transcript))
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        s = line.rstrip(b"\r").decode("utf-8", "replace")
        self.transcript.append("S: " + s)
        return s

    def read_reply(self) -> list[str]:
        lines = [self.read_line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == "-":
            lines.append(self.read_line())
        return [norm(x) for x in lines]

    def expect(self, *lines: str) -> list[str]:
        got = self.read_reply()
        assert got == list(lines), "\n".join(self.transcript)
        return got

    def transact(self, line: str | bytes, *expected: str) -> list[str]:
        self.write_line(line)
        return self.expect(*expected)

    def reply_code(self, line: str | bytes) -> int:
        self.write_line(line)
        return int(self.read_reply()[-1][:3])

    def starttls(self) -> None:
        self.transact("STARTTLS", "220 2.0.0 go! (ID)")
        self.sock = self.tls_ctx.wrap_socket(self.sock, server_hostname="localhost")

    def ehlo(self, domain: str = "client.example") -> list[str]:
        self.write_line(f"EHLO {domain}")
        return self.read_reply()

    def login(self, user: str = ADDRESS, password: str = PASSWORD) -> None:
        import base64

        tok = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.transact(f"AUTH PLAIN {tok}", "235 2.7.0 nice")

    def expect_closed(self) -> None:
        try:
            d = self.buf or self.sock.recv(1024)
        except (ConnectionError, ssl.SSLError):
            return
        assert d == b"", f"expected close, got {d!r}"

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class SmtpHarness:
    def __init__(self, tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.cert_file, self.key_file = tls_cert
        self.server: ServerThread | None = None
        self.ports: dict[str, int] = {}
        self.conns: list[SmtpTestConn] = []
        self.store: Store | None = None
        self.ctx: ServerContext | None = None
        self.errors: list[str] = []
        self.ADDRESS = ADDRESS
        self.PASSWORD = PASSWORD
        self.MSG = MSG

    def server_tls_context(self) -> ssl.SSLContext:
        c = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        c.load_cert_chain(self.cert_file, self.key_file)
        return c

    def client_tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))

    def start(self, **overrides: Any) -> None:
        self._overrides = dict(overrides)
        # Per-IP class auth failures per minute: a limit of the harness' own limiter.
        self._auth_failures_per_minute = overrides.pop("auth_failures_per_minute", None)
        fields = {
            "hostname": "localhost",
            "data_dir": str(self.data_dir),
            "localserve": True,
            "no_require_starttls": True,
            "domains": {"localhost": DomainConfig(localpart_catchall_separator="+")},
            "accounts": {ACCOUNT: AccountConfig.with_addresses([ADDRESS])},
            "queue_retry_delays": (0.05, 0.1),
        }
        fields.update(overrides)
        config = Config(**fields)
        if self.store is None:
            self.store = _open_store(self.data_dir)
        if ACCOUNT not in self.store.account_names():  # else: restarted on an existing data dir
            self._create_account()
        self._start_server(config)

    def _create_account(self) -> None:
        self.store.create_account(ACCOUNT)
        acc = self.store.open_account(ACCOUNT)
        # A cheap scrypt cost: the record keeps its parameters, so every login in the tests is
        # cheap too (the store's own tests cover the real cost).
        saved = pwmod.SCRYPT_N
        pwmod.SCRYPT_N = 1 << 4
        try:
            trio.run(acc.set_password, PASSWORD)
        finally:
            pwmod.SCRYPT_N = saved
            acc.close()

    def _start_server(self, config: Config) -> None:
        big = (10**9, 10**9, 10**9)
        limiter = Limiter(
            Limits(
                connections_per_minute=big,
                concurrent_connections=big,
                auth_failures_per_minute=tuple(self._auth_failures_per_minute or big),
                auth_failures_per_day=big,
            )
        )
        ctx = ServerContext(config, self.store, self.server_tls_context())
        ctx.limiter = limiter
        ctx.auth = Authenticator(config, self.store, limiter)
        self.ctx = ctx
        harness = self

        async def serve(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            ctx.queue = Queue(ctx)
            async with trio.open_nursery() as nursery:
                await nursery.start(ctx.queue.serve)
                await nursery.start(lambda task_status: serve_ctl(ctx, self.data_dir, commands=COMMANDS, task_status=task_status))
                ports = {}
                for name, kw in (
                    ("smtp", dict(submission=False, implicit_tls=False)),
                    ("submission", dict(submission=True, implicit_tls=False)),
                    ("submissions", dict(submission=True, implicit_tls=True)),
                ):
                    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
                    ports[name] = listeners[0].socket.getsockname()[1]

                    async def handler(stream: Any, kw: dict[str, bool] = kw) -> None:
                        try:
                            await handle_connection(ctx, stream, **kw)
                        except trio.Cancelled:
                            raise
                        except BaseException as e:  # handle_connection must never raise
                            harness.errors.append(repr(e))
                            raise

                    nursery.start_soon(trio.serve_listeners, handler, listeners)
                task_status.started(ports)

        self.server = ServerThread(serve)
        self.ports = self.server.__enter__()

    def connect(self, *, submission: bool = True, tls: bool = False, starttls: bool = False, ehlo: bool = True, login: bool = False, port: str | None = None) -> SmtpTestConn:
        if self.server is None:
            self.start()
        if port is None:
            port = "submissions" if tls else ("submission" if submission else "smtp")
        sock = socket.create_connection(("127.0.0.1", self.ports[port]), timeout=TIMEOUT)
        if port == "submissions":
            sock = self.client_tls_context().wrap_socket(sock, server_hostname="localhost")
        tc = SmtpTestConn(sock, self.client_tls_context())
        self.conns.append(tc)
        greeting = tc.read_reply()
        assert greeting[0].startswith("220 localhost ESMTP mox "), greeting
        if starttls:
            tc.ehlo()
            tc.starttls()
        if ehlo or login:
            tc.ehlo()
        if login:
            tc.login()
        return tc

    def messages(self, mailbox: str = "Inbox") -> list[bytes]:
        acc = self.store.open_account(ACCOUNT)
        try:
            mb = acc.mailbox(mailbox)
            return [acc.read_message(m) for m in acc.messages(mb.id)]
        finally:
            acc.close()

    def wait_messages(self, mailbox: str, n: int, timeout: float = TIMEOUT) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.server.run_sync_in_server(self.messages, mailbox)  # type: ignore[union-attr]
            if len(msgs) >= n or time.monotonic() > deadline:
                return msgs
            time.sleep(0.02)

    def queue(self) -> list[Any]:
        assert self.server is not None and self.ctx is not None
        return self.server.run_sync_in_server(self.ctx.queue.list)

    def wait_queue_empty(self, timeout: float = TIMEOUT) -> list[Any]:
        deadline = time.monotonic() + timeout
        while (entries := self.queue()) and time.monotonic() < deadline:
            time.sleep(0.02)
        return entries

    def wait_queue_settled(self, timeout: float = TIMEOUT) -> list[int]:
        """Until the queue has stored every Sent copy it promised (mox.queue.sentcopy) and its
        journal is fsynced (removals may wait up to a second for that, and their files for
        it); returns the ids of the Sent copies still pending (none unless it timed out)."""
        assert self.server is not None and self.ctx is not None
        store = self.ctx.queue.store
        deadline = time.monotonic() + timeout
        while True:
            pending, unsynced = self.server.run_sync_in_server(
                lambda: (sorted(store.sent_copies), store.unsynced or store.pending_removals)
            )
            if (not pending and not unsynced) or time.monotonic() > deadline:
                return pending
            time.sleep(0.02)

    def restart(self) -> None:
        """Stop the server and start a new one on the same data dir (and store)."""
        for tc in self.conns:
            tc.close()
        self.conns = []
        assert self.server is not None
        self.server.stop()
        self.server = None
        self.store.close()
        self.store = None
        self.start(**self._overrides)

    def stop(self) -> None:
        for tc in self.conns:
            tc.close()
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.store is not None:
            acc = self.store.open_account(ACCOUNT)
            try:
                problems = acc.check_consistency()
            finally:
                acc.close()
            self.store.close()
            self.store = None
            assert problems == [], problems


@pytest.fixture
def smtp(tmp_path: Path, tls_cert: tuple[Path, Path]) -> Any:
    """The harness; the test fails if handle_connection raised or anything logged at error level
    (the server logs unhandled exceptions there). ``MOX_TEST_LOGLEVEL`` (default ``trace``) sets
    the smtpserver log level: the transcript is shown with a failing test."""
    capture = _LogCapture()
    levels = mlog.levels()
    saved_out = mlog._out
    mlog.set_output(capture)
    mlog.set_level(os.environ.get("MOX_TEST_LOGLEVEL", "trace"), "smtpserver")
    h = SmtpHarness(tmp_path, tls_cert)
    try:
        yield h
        h.stop()
    finally:
        mlog.set_output(saved_out)
        mlog.set_level(levels.get("smtpserver", ""), "smtpserver")
    assert not h.errors, f"handle_connection raised: {h.errors}"
    assert not capture.errors, "server logged errors:\n" + "\n".join(capture.errors)


MSG = (
    "From: <mox@localhost>\r\n"
    "To: <other@example.com>\r\n"
    "Subject: test\r\n"
    "Message-ID: <test1@localhost>\r\n"
    "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    "\r\n"
    "hello\r\n"
)


@pytest.fixture
def msg() -> str:
    return MSG
