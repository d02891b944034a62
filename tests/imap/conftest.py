"""The IMAP test harness: a real mox IMAP server per test, talked to over real sockets.

Each test that uses the ``imap`` fixture gets a fresh data dir with account ``mox``
(``mox@localhost`` / ``moxmoxmox``), a store, and ``mox.imap.server.handle_connection`` served on
127.0.0.1 (a plain port and an implicit-TLS port, free ports) by a trio server in a background
thread (``mox.testing.ServerThread``). Tests are synchronous transcripts::

    def test_create(imap):
        tc = imap.connect()                              # logged in; login=False, tls=True, starttls=True
        tc.transact("ok", "create a/b")
        tc.expect_untagged(
            UntaggedList([r"\\Subscribed"], "/", "a"),
            UntaggedList([r"\\Subscribed"], "/", "a/b"),
        )
        tc.transact("no", "create a")
        tc.expect_code("ALREADYEXISTS")

``TestConn``: ``transact(status, *parts)`` (``bytes`` parts are sent as literals), ``command`` +
``response(status)``, ``expect_untagged(*values)`` (exact multiset of the last command's untagged
responses; a value is a ``mox.imap.responses`` struct or a raw line as ``str``),
``expect_untagged_ordered`` (exact, in order),
``expect_untagged_some``, ``expect_no_untagged``, ``expect_code``, ``read_untagged(*values)`` (IDLE
pushes), ``write_line``, ``read_line``, ``read_line_prefix``, ``expect_closed``, ``close``.

The harness: ``imap.connect(...)``, ``imap.deliver(data, mailbox="Inbox")`` (through the store, as
the SMTP server would), ``imap.account`` (an open account, for synchronous reads), ``imap.run(afn,
*args)`` (an async store call in the server thread), ``imap.start(**config_overrides)`` (before the
first connect, e.g. ``no_require_starttls=False``), ``imap.ctx``, ``imap.ports``, ``imap.set_timeouts(read_preauth=0.5)`` (server deadlines for
this test only), ``imap.hold_commit()`` (the account's next journal write waits until released:
a write is then applied to the index but not yet durable nor broadcast, the window in which
concurrency bugs live; ``wait_held()``, ``release()``), ``imap.wait_until(predicate)``.

After each test it closes the connections, stops the server, checks the account's consistency and
closes the store with ``check_consistency_on_close=True``; the test fails (error in teardown) if
the store is inconsistent, if ``handle_connection`` let an exception escape, if the server
logged at level ``error`` or above (servers log unhandled exceptions and ServerBug at ``error``;
the harness makes sure such lines are logged whatever ``MOX_TEST_LOGLEVEL`` says), or if a
thread died of an exception or an exception was raised where nothing could catch it (an
unraisable one) while the server ran. A test that provokes such an error on purpose sets
``imap.allow_server_errors = True``.

The password is stored with a cheap scrypt cost (``imap.fast_password = False`` before the first
connect for the real one), so logins don't dominate the suite's time.

Environment: ``MOX_TEST_TIMEOUT`` (client read timeout in seconds, default 10),
``MOX_TEST_LOGLEVEL`` (default ``trace``: the server's transcript is shown with a failing test).
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from mox import config as mconfig
from mox import mlog
from mox.auth import password as pwmod
from mox.context import ServerContext
from mox.imap import response_write
from mox.imap import responses as r
from mox.imap import server as imapserver
from mox.imap.client import Conn
from mox.store import Account, Store
from mox.testing import ServerThread

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
ACCOUNT = "mox"
TIMEOUT = float(os.environ.get("MOX_TEST_TIMEOUT", "10"))
LOGLEVEL = os.environ.get("MOX_TEST_LOGLEVEL", "trace")


# ---------------------------------------------------------------------------------------------
# TLS certificate, once per session


def make_cert(directory: Path) -> tuple[Path, Path]:
    """The certificate localserve makes (localhost, 127.0.0.1, ::1); returns (cert, key) paths."""
    from mox.localserve import generate_certificate

    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    generate_certificate(cert_path, key_path)
    return cert_path, key_path


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


# ---------------------------------------------------------------------------------------------
# Log capture: every line goes to the test's stderr (pytest shows it for a failing test) and
# error-level lines are remembered.


class _LogCapture:
    """The server's log lines. They are written by the server's thread at any time, also while
    pytest has its capture suspended to print a report ("PASSED", a dot): the stream is the
    stderr of the test that made the harness (pytest's capture file), taken once here, never
    whatever sys.stderr is at the moment of a write (then the terminal's)."""

    _error = re.compile(r"^(error|fatal): ")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.out = sys.stderr

    def write(self, s: str) -> int:
        with self._lock:
            for line in s.splitlines():
                self.lines.append(line)
                if self._error.match(line) or "Traceback (most recent call last)" in line:
                    self.errors.append(line)
        try:
            self.out.write(s)
        except (OSError, ValueError):
            pass
        return len(s)

    def flush(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# A test connection with transcript helpers


def _raw_str(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class TestConn:
    """One client connection; see the module docstring."""

    __test__ = False  # not a pytest test class

    def __init__(self, harness: ImapHarness, conn: Conn) -> None:
        self.harness = harness
        self.conn = conn
        self.untagged: list[tuple[Any, bytes]] = []
        self.result: r.Tagged | None = None
        self.last_command = ""

    # -- commands

    def command(self, *parts: str | bytes) -> str:
        self.last_command = "".join(p if isinstance(p, str) else f"{{{len(p)}}}" for p in parts)
        self.untagged = []
        self.result = None
        return self.conn.command(*parts)

    def response(self, status: str) -> r.Tagged:
        pairs, result = self.conn.response_raw()
        self.untagged = pairs
        self.result = result
        if result.status != status.upper():
            pytest.fail(
                f"command {self.last_command!r}: expected {status.upper()}, got:\n" + self._transcript(),
                pytrace=False,
            )
        return result

    def transact(self, status: str, *parts: str | bytes) -> r.Tagged:
        """Send a command (``bytes`` parts as literals), read to its result, check the status."""
        self.command(*parts)
        return self.response(status)

    def _transcript(self) -> str:
        lines = [_raw_str(raw) for _, raw in self.untagged]
        if self.result is not None:
            lines.append(_raw_str(response_write.serialize(self.result).rstrip(b"\r\n")))
        return "\n".join("  " + line for line in lines)

    # -- checks

    @staticmethod
    def _matches(expected: Any, resp: Any, raw: bytes) -> bool:
        if isinstance(expected, str):
            return expected.rstrip("\r\n") == _raw_str(raw)
        return bool(expected == resp)

    def _fail(self, msg: str, expected: Any, got: list[tuple[Any, bytes]]) -> None:
        exp = "\n".join(f"  {e!r}" for e in expected) or "  (none)"
        g = "\n".join(f"  {resp!r}\n    {_raw_str(raw)!r}" for resp, raw in got) or "  (none)"
        pytest.fail(f"{msg} after {self.last_command!r}\nexpected:\n{exp}\ngot:\n{g}", pytrace=False)

    def _match_all(self, values: tuple[Any, ...], got: list[tuple[Any, bytes]], exact: bool, what: str) -> None:
        left = list(got)
        missing = []
        for v in values:
            for i, (resp, raw) in enumerate(left):
                if self._matches(v, resp, raw):
                    del left[i]
                    break
            else:
                missing.append(v)
        if missing or (exact and left):
            self._fail(f"{what}: missing {missing!r}" + (f", unexpected {len(left)}" if exact and left else ""), values, got)

    def expect_untagged(self, *values: Any) -> None:
        """The last command's untagged responses are exactly these (any order)."""
        self._match_all(values, self.untagged, True, "untagged responses differ")

    def expect_untagged_ordered(self, *values: Any) -> None:
        """The last command's untagged responses are exactly these, in this order (where the
        order carries meaning: EXISTS, EXPUNGE and FETCH renumber messages)."""
        got = self.untagged
        if len(got) != len(values) or not all(self._matches(v, resp, raw) for v, (resp, raw) in zip(values, got)):
            self._fail("untagged responses differ (in order)", values, got)

    def expect_untagged_some(self, *values: Any) -> None:
        """The last command's untagged responses include these (extras allowed)."""
        self._match_all(values, self.untagged, False, "untagged responses missing")

    def expect_no_untagged(self) -> None:
        if self.untagged:
            self._fail("expected no untagged responses", (), self.untagged)

    def expect_code(self, code: Any) -> None:
        """The last tagged result has this code: a name ("TRYCREATE"), the code's text
        ("UIDNEXT 3") or a ``Code*`` value."""
        got = self.result.code if self.result is not None else None
        if isinstance(code, str):
            ok = got is not None and (
                got.name == code.upper() or _raw_str(response_write.serialize_code(got)).upper() == code.upper()
            )
        else:
            ok = got == code
        if not ok:
            pytest.fail(f"expected code {code!r} after {self.last_command!r}, got:\n" + self._transcript(), pytrace=False)

    def read_untagged(self, *values: Any) -> Any:
        """Without values: the next untagged response. With values: read as many responses and
        check they are exactly these (any order); returns them."""
        if not values:
            return self._read_one()[0]
        got = [self._read_one() for _ in values]
        self._match_all(values, got, True, "pushed responses differ")
        return [resp for resp, _ in got]

    def _read_one(self) -> tuple[Any, bytes]:
        if self.conn.pending_untagged:
            return self.conn.pending_untagged.pop(0)
        resp, raw = self.conn._read()
        if isinstance(resp, (r.Tagged, r.Continuation)):
            pytest.fail(f"expected an untagged response, got {_raw_str(raw)!r}", pytrace=False)
        return resp, raw

    # -- raw access

    def write_line(self, line: str | bytes) -> None:
        """Send a raw line (CRLF appended)."""
        self.conn.write_line(line)

    def write(self, data: bytes) -> None:
        self.conn.write(data)

    def read_line(self) -> str:
        """One raw line, without CRLF."""
        return _raw_str(self.conn.read_line())

    def read_line_prefix(self, prefix: str) -> str:
        line = self.read_line()
        if not line.startswith(prefix):
            pytest.fail(f"expected a line starting with {prefix!r}, got {line!r}", pytrace=False)
        return line

    def read_response(self) -> Any:
        """The next response of any kind (untagged, continuation, tagged)."""
        return self.conn.read_response()

    def expect_closed(self) -> None:
        """The server closes the connection (after anything still buffered)."""
        from mox.imap.client import ImapClosed

        self.conn.buf.clear()
        try:
            while True:
                self.conn._recv()
                self.conn.buf.clear()
        except ImapClosed:
            return
        except ConnectionError:
            return

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# The harness


class ImapHarness:
    def __init__(self, tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
        self.tmp_path = tmp_path
        self.data_dir = tmp_path / "data"
        self.cert_file, self.key_file = tls_cert
        self.timeout = TIMEOUT
        self.allow_server_errors = False
        self.fast_password = True
        self.conns: list[TestConn] = []
        self.handler_errors: list[str] = []
        self.server: ServerThread | None = None
        self.ports: dict[str, int] = {}
        self.ctx: ServerContext | None = None
        self.store: Store | None = None
        self.account: Account | None = None
        self.config: mconfig.Config | None = None
        self.log = _LogCapture()
        self._saved_out = None
        self._saved_levels: dict[str, str] | None = None
        self._saved_timeouts: dict[str, float] = {}
        self._saved_hooks: tuple[Any, Any] | None = None
        self.uncaught: list[str] = []  # exceptions in threads, unraisable exceptions
        self.finished = False

    # -- setup

    def server_tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_tls_context(self) -> ssl.SSLContext:
        """Trusts our self-signed certificate, checks the name "localhost"."""
        return ssl.create_default_context(cafile=str(self.cert_file))

    def _make_config(self, overrides: dict[str, Any]) -> mconfig.Config:
        big = (10**9, 10**9, 10**9)
        cfg = mconfig.Config(
            hostname="localhost",
            data_dir=str(self.data_dir),
            localserve=True,
            no_require_starttls=True,
            tls_cert_file=str(self.cert_file),
            tls_key_file=str(self.key_file),
            limits=mconfig.Limits(
                connections_per_minute=big,
                concurrent_connections=big,
                auth_failures_per_minute=big,
                auth_failures_per_day=big,
            ),
            domains={"localhost": mconfig.DomainConfig(localpart_catchall_separator="+")},
            accounts={ACCOUNT: mconfig.AccountConfig.with_addresses([ADDRESS])},
        )
        return msgspec.structs.replace(cfg, **overrides) if overrides else cfg

    def _make_ctx(self) -> ServerContext:
        return ServerContext(self.config, self.store, self.server_tls_context())

    def start(self, **config_overrides: Any) -> None:
        """Start the server (done by the first connect/deliver); config overrides go here."""
        if self.server is not None:
            raise RuntimeError("server already started")
        self._saved_levels = mlog.levels()
        self._saved_out = getattr(mlog, "_out", sys.stderr)
        mlog.set_output(self.log)
        mlog.set_level(LOGLEVEL, "imapserver")
        # Error lines must be written to be seen: no package (nor the default) above "error".
        for pkg, level in mlog.levels().items():
            if mlog.LEVELS[level] > mlog.LEVELS["error"]:
                mlog.set_level("error", pkg)
        self._install_hooks()

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = self._make_config(config_overrides)
        self.store = Store(self.data_dir, fsync=False, check_consistency_on_close=True)
        if ACCOUNT not in self.store.account_names():
            self.store.create_account(ACCOUNT)
        self.account = self.store.open_account(ACCOUNT)
        self.server = ServerThread(self._serve, timeout=30)
        self.ports = self.server.__enter__()

    async def _set_password(self) -> None:
        """Set the account's password, with a cheap scrypt cost unless ``fast_password`` is off:
        the record keeps its parameters, so every later login is cheap too (~0.1 s saved per
        login; the store's own tests cover the real cost)."""
        assert self.account is not None
        saved = pwmod.SCRYPT_N
        if self.fast_password:
            pwmod.SCRYPT_N = 1 << 4
        try:
            await self.account.set_password(PASSWORD)
        finally:
            pwmod.SCRYPT_N = saved

    async def _serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await self._set_password()
        self.ctx = self._make_ctx()

        def handler(implicit_tls: bool) -> Any:
            async def handle(stream: trio.SocketStream) -> None:
                try:
                    await imapserver.handle_connection(self.ctx, stream, implicit_tls=implicit_tls)
                except Exception:
                    self.handler_errors.append(traceback.format_exc())

            return handle

        async with trio.open_nursery() as nursery:
            plain = await nursery.start(functools.partial(trio.serve_tcp, handler(False), 0, host="127.0.0.1"))
            tls = await nursery.start(functools.partial(trio.serve_tcp, handler(True), 0, host="127.0.0.1"))
            task_status.started(
                {"imap": plain[0].socket.getsockname()[1], "imaps": tls[0].socket.getsockname()[1]}
            )

    def _install_hooks(self) -> None:
        """Exceptions nothing caught: a thread that died of one (threading.excepthook) or one
        raised where it could not propagate, e.g. in a finalizer (sys.unraisablehook). Both are
        recorded (and passed on to the previous hooks, pytest's)."""
        prev_thread, prev_unraisable = threading.excepthook, sys.unraisablehook
        self._saved_hooks = (prev_thread, prev_unraisable)

        def thread_hook(args: Any) -> None:
            name = args.thread.name if args.thread is not None else "?"
            tb = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
            self.uncaught.append(f"exception in thread {name}:\n{tb}")
            prev_thread(args)

        def unraisable_hook(args: Any) -> None:
            tb = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
            self.uncaught.append(f"unraisable exception ({args.err_msg or 'exception ignored'} {args.object!r}):\n{tb}")
            prev_unraisable(args)

        threading.excepthook = thread_hook
        sys.unraisablehook = unraisable_hook

    # -- use

    def connect(
        self,
        login: bool = True,
        tls: bool = False,
        *,
        starttls: bool = False,
        user: str = ADDRESS,
        password: str = PASSWORD,
        timeout: float | None = None,
    ) -> TestConn:
        """A new connection (implicit TLS with ``tls=True``), logged in with LOGIN unless
        ``login=False``."""
        if self.server is None:
            self.start()
        port = self.ports["imaps" if tls else "imap"]
        conn = Conn.connect(
            "127.0.0.1",
            port,
            tls=True if tls else ("starttls" if starttls else False),
            ssl_context=self.client_tls_context(),
            server_hostname="localhost",
            timeout=timeout or self.timeout,
        )
        tc = TestConn(self, conn)
        self.conns.append(tc)
        if login:
            tc.transact("ok", f"LOGIN {user} {password}")
        return tc

    def run(self, afn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an async function in the server's trio thread, e.g. ``imap.run(imap.account.expunge, ...)``."""
        if self.server is None:
            self.start()
        assert self.server is not None
        return self.server.run_in_server(functools.partial(afn, *args, **kwargs))

    def deliver(self, data: bytes, mailbox: str = "Inbox", **kwargs: Any) -> Any:
        """Store a message through the store (as a delivery would); returns the Message."""
        if self.server is None:
            self.start()
        return self.run(self.account.deliver, mailbox, data, **kwargs)

    def hold_commit(self) -> CommitGate:
        """The account's next journal write waits until ``release()``: that write is then
        applied to the index (other sessions' reads see it) but neither durable nor broadcast,
        and writes after it queue up behind it (group commit). ``wait_held()`` returns once a
        write is waiting."""
        if self.server is None:
            self.start()
        return CommitGate(self.account)

    def wait_until(self, predicate: Any, what: str = "condition") -> None:
        """Wait (up to the client timeout) until ``predicate()`` is true, e.g. a write of another
        session has reached the index."""
        import time

        deadline = time.monotonic() + self.timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}", pytrace=False)
            time.sleep(0.005)

    def set_timeouts(self, **timeouts: float) -> None:
        """Lower the server's deadlines (``mox.imap.server.TIMEOUTS``) for this test only, e.g.
        ``imap.set_timeouts(read_preauth=0.5)``."""
        for k, v in timeouts.items():
            if k not in imapserver.TIMEOUTS:
                raise KeyError(f"unknown timeout {k!r}, known: {sorted(imapserver.TIMEOUTS)}")
            self._saved_timeouts.setdefault(k, imapserver.TIMEOUTS[k])
            imapserver.TIMEOUTS[k] = v

    # -- teardown

    def finish(self) -> None:
        self.finished = True
        problems: list[str] = []
        if self._saved_timeouts:
            imapserver.TIMEOUTS.update(self._saved_timeouts)
        for tc in self.conns:
            tc.close()
        if self.server is not None:
            try:
                self.server.__exit__(None, None, None)
            except Exception as e:
                problems.append(f"server thread failed: {e!r}: {e.__cause__!r}")
        try:
            if self.account is not None:
                bad = self.account.check_consistency()
                if bad:
                    problems.append("store inconsistent:\n  " + "\n  ".join(bad))
                self.account.close()
            if self.store is not None:
                self.store.close()
        except Exception:
            problems.append("closing store failed:\n" + traceback.format_exc())
        finally:
            if self._saved_levels is not None:
                mlog.set_output(self._saved_out or sys.stderr)
                for pkg, level in self._saved_levels.items():
                    if pkg:
                        mlog.set_level(level, pkg)
                if "imapserver" not in self._saved_levels:
                    mlog.set_level("", "imapserver")
                mlog.set_level(self._saved_levels[""])
        if self._saved_hooks is not None:
            threading.excepthook, sys.unraisablehook = self._saved_hooks
        for tb in self.handler_errors:
            problems.append("exception escaped handle_connection:\n" + tb)
        if self.log.errors and not self.allow_server_errors:
            problems.append("server logged errors:\n  " + "\n  ".join(self.log.errors))
        if self.uncaught and not self.allow_server_errors:
            problems.append("uncaught exceptions:\n" + "\n".join(self.uncaught))
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


class CommitGate:
    """See ``ImapHarness.hold_commit``."""

    def __init__(self, account: Any) -> None:
        self._journal = account._journal
        self._append = self._journal.append
        self._held = threading.Event()
        self._go = threading.Event()
        self._journal.append = self._gated_append

    def _gated_append(self, data: bytes, *, sync: bool = True) -> None:
        self._journal.append = self._append  # only the first write waits
        self._held.set()
        if not self._go.wait(TIMEOUT):
            raise TimeoutError("commit gate never released")
        self._append(data, sync=sync)

    def wait_held(self) -> None:
        if not self._held.wait(TIMEOUT):
            pytest.fail("no write reached the journal", pytrace=False)

    def release(self) -> None:
        self._journal.append = self._append
        self._go.set()


@pytest.fixture
def imap(tmp_path: Path, tls_cert: tuple[Path, Path]) -> Any:
    h = ImapHarness(tmp_path, tls_cert)
    yield h
    h.finish()
