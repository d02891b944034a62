"""Running mox servers from tests and tools: a trio server in a background thread.

``ServerThread(start)`` runs ``await start(task_status=...)`` inside ``trio.run`` in a daemon
thread. ``start`` must call ``task_status.started(value)`` once it is listening; ``__enter__``
returns that value (typically the bound ports) and ``__exit__`` cancels the server and joins the
thread. Synchronous clients (imaplib, smtplib, our own client modules) then talk to it over real
sockets on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trio


class ServerThread:
    def __init__(self, start: Callable[..., Awaitable[Any]], *, timeout: float = 30.0) -> None:
        self._start = start
        self._timeout = timeout
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
            trio.run(main)
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
    ``pid``, as the ready JSON), ``dir``, ``address``, ``password``, ``store``, ``ctx``.
    Leaving the block stops the server gracefully and raises if it failed.
    """

    address = "mox@localhost"
    password = "moxmoxmox"

    def __init__(
        self, dir: Any = None, *, check_consistency: bool = True, grace: float = 3.0, ci: dict[str, Any] | None = None
    ) -> None:
        from pathlib import Path

        self._tmp: str | None = None
        self.dir = Path(dir) if dir is not None else None
        self.check_consistency = check_consistency
        self.grace = grace
        self.ci = ci  # mox.ci settings: imap_profile, deterministic, preload, export_on_exit, shared_password
        self.ports: dict[str, Any] = {}
        self.store: Any = None
        self.ctx: Any = None
        self._thread: ServerThread | None = None

    def __enter__(self) -> LocalServer:
        import tempfile
        from pathlib import Path

        from mox import localserve

        if self.dir is None:
            self._tmp = tempfile.mkdtemp(prefix="mox-localserve-test-")
            self.dir = Path(self._tmp) / "data"
        config = localserve.config_for_tests(self.dir)

        async def start(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            await localserve.start_localserve(
                config,
                check_consistency=self.check_consistency,
                grace=self.grace,
                ci_settings=self.ci,
                task_status=task_status,
            )

        self._thread = ServerThread(start)
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
                t.join(self.grace + 10)
        finally:
            t.__exit__(None, None, None)

    def _cleanup(self) -> None:
        if self._tmp is not None:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self._cleanup()
