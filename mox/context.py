"""The server context: one typed object holding every service a connection handler may use.

``serve()`` builds one ``ServerContext`` per running server and hands it to every listener, the
control channel, the queue and the web pages (docs/architecture.md, "Servers"). Handlers take it
as ``ctx: ServerContext``; every field is declared here, so a reader (and the type checker) sees
what a handler can reach without reading ``serve.py``.

The queue and the web app are created after the context (they keep a reference to it), so they
are properties that raise ``RuntimeError`` when read before ``serve()`` set them: a handler that
runs without them is a wiring bug, not a condition to test for. ``serving_web`` says whether the
http/https services (and so ``web``) are running at all.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import trio

from mox import mlog
from mox.auth.authenticator import Authenticator
from mox.config import Config
from mox.limits.limiter import Limiter
from mox.metrics import Metrics

if TYPE_CHECKING:
    from mox.ci.hooks import State as CIState
    from mox.queue.queue import Queue
    from mox.store import Store
    from mox.web.app import WebApp

#: Seconds connections get to finish after a stop request (mox: 3).
GRACE = 3.0


class ServerContext:
    """What every connection handler gets (docs/architecture.md, "Servers")."""

    config: Config
    store: Store
    #: TLS for STARTTLS and the implicit-TLS ports; None when no certificate is configured.
    tls: ssl.SSLContext | None
    #: Set by ``request_stop``: services stop accepting, handlers say goodbye.
    shutting_down: trio.Event
    #: Cancel scopes of waits that a stop request ends at once (an SMTP connection's read
    #: between commands); ``request_stop`` cancels them.
    stop_scopes: set[trio.CancelScope]
    limiter: Limiter
    auth: Authenticator
    #: counters served on the metrics port (mox.metrics).
    metrics: Metrics
    log: mlog.Logger
    #: Seconds connections get after a stop request before they are cancelled.
    grace: float
    #: service -> bound port (after start-up; services not served are absent).
    ports: dict[str, int]
    #: the control channel (contents of ctl.json).
    ctl_info: dict[str, Any]
    #: The localserve CI features (mox.ci.hooks.state creates it on first use); None otherwise.
    ci: CIState | None
    #: Whether mox.ci.hooks.state has looked for the CI settings yet.
    ci_loaded: bool

    def __init__(self, config: Config, store: Store, tls: ssl.SSLContext | None, *, grace: float = GRACE) -> None:
        self.config = config
        self.store = store
        self.tls = tls
        self.shutting_down = trio.Event()
        self.stop_scopes = set()
        self.limiter = Limiter(config.limits)
        self.auth = Authenticator(config, store, self.limiter)
        self.metrics = Metrics()
        self.log = mlog.get_logger("serve")
        self.grace = grace
        self.ports = {}
        self.ctl_info = {}
        self.ci = None
        self.ci_loaded = False
        self._queue: Queue | None = None
        self._web: WebApp | None = None

    def server_tls(self) -> ssl.SSLContext:
        """The TLS context for STARTTLS and the implicit-TLS ports. STARTTLS is offered and those
        ports are served only with a certificate configured, so its absence is a wiring bug."""
        if self.tls is None:
            raise RuntimeError("no TLS certificate configured")
        return self.tls

    @property
    def queue(self) -> Queue:
        """The delivery queue (mox.queue.Queue); set by ``serve()`` before any service starts."""
        if self._queue is None:
            raise RuntimeError("the delivery queue is not running")
        return self._queue

    @queue.setter
    def queue(self, queue: Queue) -> None:
        self._queue = queue

    @property
    def web(self) -> WebApp:
        """The web app (router, login sessions, test index) when http/https is served."""
        if self._web is None:
            raise RuntimeError("the web app is not running (no http/https service)")
        return self._web

    @web.setter
    def web(self, web: WebApp) -> None:
        self._web = web

    @property
    def serving_web(self) -> bool:
        return self._web is not None

    def set_config(self, config: Config) -> None:
        """Replace the configuration after a change of domains.conf (mox.admin.provision) and
        rebuild the authenticator that reads it; the limiter (with its failure counts) stays."""
        self.config = config
        self.auth = Authenticator(config, self.store, self.limiter)

    def request_stop(self) -> None:
        """Begin the graceful shutdown (idempotent)."""
        if self.shutting_down.is_set():
            return
        self.log.print(f"shutting down, waiting max {self.grace:g}s for existing connections")
        self.shutting_down.set()
        for cs in list(self.stop_scopes):
            cs.cancel()
