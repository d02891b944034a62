"""Running mox servers from tests and tools: a trio server in a background thread.

``ServerThread(start)`` runs ``await start(task_status=...)`` inside ``trio.run`` in a daemon
thread. ``start`` must call ``task_status.started(value)`` once it is listening; ``__enter__``
returns that value (typically the bound ports) and ``__exit__`` cancels the server and joins the
thread. Synchronous clients (imaplib, smtplib, our own client modules) then talk to it over real
sockets on 127.0.0.1.

A ``clock`` (e.g. ``trio.testing.MockClock()``) runs the server on that clock: tests of delays
freeze it and move it on with ``ServerThread.jump`` / ``LocalServer.jump``, and see what the
server sleeps on with ``next_deadline``.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

from mox import mlog
from mox.context import ServerContext


class ServerThread:
    def __init__(
        self, start: Callable[..., Awaitable[Any]], *, timeout: float = 30.0, clock: trio.abc.Clock | None = None
    ) -> None:
        self._start = start
        self._timeout = timeout
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._started = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def __enter__(self) -> Any:
        self._thread = threading.Thread(target=self._run, name="mox-server", daemon=True)
        self._thread.start()
        if not self._started.wait(self._timeout):
            raise TimeoutError("server did not start in time")
        if self._error is not None:
            raise RuntimeError("server failed to start") from self._error
        return self._value

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            with trio.CancelScope() as cs:
                self._cancel = cs
                async with trio.open_nursery() as nursery:
                    self._value = await nursery.start(self._start)
                    self._started.set()

        try:
            trio.run(main, clock=self._clock)
        except BaseException as e:  # reported to the thread that waits in __enter__
            self._error = e
        finally:
            self._started.set()

    def run_sync_in_server(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a plain function in the server's trio thread (e.g. to inspect state)."""
        assert self._token is not None
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def run_in_server(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run an async function in the server's trio thread and return its result."""
        assert self._token is not None
        return trio.from_thread.run(afn, *args, trio_token=self._token)

    def next_deadline(self) -> float:
        """Seconds from the server's now to the earliest deadline any of its tasks waits for
        (a sleep, a timeout); ``inf`` when none."""
        return self.run_sync_in_server(lambda: trio.lowlevel.current_statistics().seconds_to_next_deadline)

    def jump(self, seconds: float) -> None:
        """Move the server's clock (a ``trio.testing.MockClock``) on by ``seconds``."""
        clock = self._clock
        if not isinstance(clock, trio.testing.MockClock):
            raise TypeError("jump needs a ServerThread started with clock=trio.testing.MockClock()")
        self.run_sync_in_server(clock.jump, seconds)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._token is not None and self._cancel is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(self._cancel.cancel, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(self._timeout)
        self._thread = None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the server to return by itself (e.g. after a graceful stop); True when done."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._error is not None and not isinstance(self._error, trio.Cancelled):
            raise RuntimeError("server thread failed") from self._error


class LocalServer:
    """The whole localserve (SMTP, submission, IMAP, queue, ctl) in a background thread on free
    ports of 127.0.0.1, for tests and the pytest plugin::

        with LocalServer() as srv:
            smtplib.SMTP("127.0.0.1", srv.ports["submission"]) ...

    ``dir`` is the config and data dir (default: a fresh temporary dir, removed afterwards; an
    existing localserve dir is reused). Attributes: ``ports`` (service -> port, plus ``dir`` and
    ``pid``, as the ready JSON), ``dir``, ``address``, ``password``, ``store``, ``ctx``,
    ``errors`` (the lines the server logged at level error or fatal, unhandled exceptions among
    them). Leaving the block stops the server gracefully and raises if it failed, and raises
    ``ServerErrors`` if it logged any error line, unless ``allow_server_errors`` is true (for a
    test that provokes one on purpose). ``clock``: see the module docstring.
    """

    address = "mox@localhost"
    password = "moxmoxmox"
    #: Every LocalServer of this process (a test harness checks their ``errors`` after each test).
    instances: weakref.WeakSet[LocalServer] = weakref.WeakSet()

    def __init__(
        self,
        dir: Any = None,
        *,
        check_consistency: bool = True,
        grace: float = 3.0,
        ci: dict[str, Any] | None = None,
        allow_server_errors: bool = False,
        clock: trio.abc.Clock | None = None,
    ) -> None:
        from pathlib import Path

        self._tmp: str | None = None
        self.dir = Path(dir) if dir is not None else None
        self.check_consistency = check_consistency
        self.grace = grace
        self.ci = ci  # mox.ci.hooks settings: imap_profile, deterministic, preload, export_on_exit, shared_password
        self.allow_server_errors = allow_server_errors
        self.clock = clock
        self.errors: list[str] = []
        self._errors_taken = 0
        self.ports: dict[str, Any] = {}
        self.store: Any = None
        self.ctx: ServerContext | None = None
        self._thread: ServerThread | None = None
        LocalServer.instances.add(self)

    def take_errors(self) -> list[str]:
        """The error lines logged since the last call (each line is returned once)."""
        new = self.errors[self._errors_taken :]
        self._errors_taken += len(new)
        return new

    def __enter__(self) -> LocalServer:
        import tempfile
        from pathlib import Path

        from mox import localserve

        if self.dir is None:
            self._tmp = tempfile.mkdtemp(prefix="mox-localserve-test-")
            self.dir = Path(self._tmp) / "data"
        # A temp dir of our own is removed afterwards: its config need not survive a crash.
        config = localserve.config_for_tests(self.dir, self.ci, durable=self._tmp is None)

        async def start(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            mlog.collect_errors(self.errors)  # this server's tasks and worker threads
            await localserve.start_localserve(
                config,
                check_consistency=self.check_consistency,
                grace=self.grace,
                ci_settings=self.ci,
                task_status=task_status,
            )

        self._thread = ServerThread(start, clock=self.clock)
        try:
            self.ctx = self._thread.__enter__()
        except BaseException:
            self._cleanup()
            raise
        self.store = self.ctx.store
        self.ports = localserve.ready_info(self.ctx)
        return self

    def stop(self) -> None:
        """Graceful stop: as `mox stop`, then wait for the server thread."""
        t = self._thread
        if t is None:
            return
        self._thread = None
        try:
            if self.ctx is not None:
                try:
                    t.run_sync_in_server(self.ctx.request_stop)
                except (trio.RunFinishedError, RuntimeError):
                    pass
                if isinstance(self.clock, trio.testing.MockClock):
                    self._stop_frozen(t)
                t.join(self.grace + 10)
        finally:
            t.__exit__(None, None, None)

    def _stop_frozen(self, t: ServerThread) -> None:
        """On a frozen clock the grace period and the connections' sleeps would never end: move
        the clock on, deadline by deadline, until the server has stopped."""
        end = time.monotonic() + self.grace + 10
        while not t.join(0.01) and time.monotonic() < end:
            try:
                t.jump(min(t.next_deadline(), self.grace))
            except (trio.RunFinishedError, RuntimeError):
                return

    def run_sync_in_server(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a plain function in the server's trio thread (e.g. to inspect state)."""
        assert self._thread is not None
        return self._thread.run_sync_in_server(fn, *args)

    def run_in_server(self, afn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Run an async function in the server's trio thread and return its result."""
        assert self._thread is not None
        return self._thread.run_in_server(functools.partial(afn, **kwargs) if kwargs else afn, *args)

    def next_deadline(self) -> float:
        """See ServerThread.next_deadline."""
        assert self._thread is not None
        return self._thread.next_deadline()

    def jump(self, seconds: float) -> None:
        """See ServerThread.jump."""
        assert self._thread is not None
        self._thread.jump(seconds)

    def _cleanup(self) -> None:
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self.stop()
        finally:
            self._cleanup()
        errors = self.take_errors()
        if errors and not self.allow_server_errors:
            report = "server logged errors:\n  " + "\n  ".join(errors)
            if exc is None:
                raise ServerErrors(report)
            exc.add_note(report)  # the block's own exception stays the one reported


class ServerErrors(AssertionError):
    """A LocalServer logged at level error or fatal (an unhandled exception, a server bug)."""
