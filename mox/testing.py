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

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self._error is not None and not isinstance(self._error, trio.Cancelled):
            raise RuntimeError("server thread failed") from self._error
