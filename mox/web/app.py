"""WebApp: the web side of one server, built by serve.py when it serves http or https.

``WebApp(ctx)`` (``ctx.web``) holds the router, the login sessions and the test API's message
index; ``await nursery.start(ctx.web.serve)`` holds the accounts open, runs the session expiry and
CI's preload and export (mox.ci.fixtures.serve). The page modules (``PAGES``, each with ``register(router)``,
docs/architecture.md "mox.web") are imported and registered, and their background tasks
(``BACKGROUND``) started, at the first HTTP request (``load_pages``), not at start: a server that
serves no web request does not load them. A page module that fails to import fails that request
(a 500 and its traceback in the log) and every later one.
"""

from __future__ import annotations

import importlib
from typing import Any

import trio

from mox import mlog
from mox.web.router import Router
from mox.web.session import Sessions
from mox.context import ServerContext

#: Every page module (in mox.web), in the order its routes are registered.
PAGES = ("session", "index", "webapi", "testapi", "testapi_ci", "webaccount", "webmail", "live", "webadmin")

#: Background tasks of the pages, (module, function), started in this order when they are loaded.
BACKGROUND = (("testapi", "serve_background"), ("webaccount", "serve_background"))


class WebApp:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.log = mlog.get_logger("http")
        self.sessions = Sessions()
        self.max_body = ctx.config.web_max_request_body
        self.router = Router()
        #: set by mox.web.testapi
        self.index: Any = None
        self.pages_loaded = False
        self._loading = trio.Lock()
        self._nursery: trio.Nursery | None = None
        for kind in ("account", "webmail", "admin"):
            self.router.roots.add(f"/{kind}/")

    async def load_pages(self) -> None:
        """Import and register the page modules and start their background tasks, once."""
        if self.pages_loaded:
            return
        async with self._loading:
            if self.pages_loaded:
                return
            if self._nursery is None:
                raise RuntimeError("web pages requested before WebApp.serve started")
            for name in PAGES:
                importlib.import_module(f"mox.web.{name}").register(self.router)
            for module, function in BACKGROUND:
                await self._nursery.start(getattr(importlib.import_module(f"mox.web.{module}"), function), self.ctx)
            self.pages_loaded = True

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """CI's preload (before ``started``) and export, the session expiry and, once loaded, the
        pages' background tasks, until cancelled."""
        from mox.ci import fixtures

        # The accounts there are at start stay open while serving (the test API's index held
        # them open when it was built at start): a delivery, login or request does not reopen an
        # account's index, and the store's open and close of an account stay where they were.
        held = []
        try:
            for name in self.ctx.store.account_names():
                held.append(self.ctx.store.open_account(name))
            async with trio.open_nursery() as nursery:
                await nursery.start(fixtures.serve, self.ctx)
                self._nursery = nursery
                task_status.started()
                while True:
                    await trio.sleep(600)
                    self.sessions.expire()
        finally:
            for acc in held:
                acc.close()
