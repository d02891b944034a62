"""WebApp: the web side of one server, built by serve.py when it serves http or https.

``WebApp(ctx)`` (``ctx.web``) holds the router with every page module registered (``PAGES``, in
order), the login sessions and the test API's message index; ``await nursery.start(ctx.web.serve)``
runs the pages' background tasks (``BACKGROUND``). Each page module has ``register(router)``
(docs/architecture.md, "mox.web"). A page module that fails to import fails start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from mox import mlog
from mox.web import index, live, session, testapi, testapi_ci, webaccount, webadmin, webapi, webmail
from mox.web.router import Router
from mox.web.session import Sessions
from mox.context import ServerContext

#: Every page module, in the order its routes are registered.
PAGES = (session, index, webapi, testapi, testapi_ci, webaccount, webmail, live, webadmin)

#: Background tasks of the pages, started in this order before the listeners accept.
BACKGROUND: tuple[Callable[..., Awaitable[None]], ...] = (
    testapi.serve_background,
    testapi_ci.serve_background,
    webaccount.serve_background,
)


class WebApp:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.log = mlog.get_logger("http")
        self.sessions = Sessions()
        self.max_body = ctx.config.web_max_request_body
        self.router = Router()
        #: set by mox.web.testapi
        self.index: Any = None
        for page in PAGES:
            page.register(self.router)
        for kind in ("account", "webmail", "admin"):
            self.router.roots.add(f"/{kind}/")

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the page modules' background tasks (started once each is ready), then the session
        expiry, until cancelled."""
        async with trio.open_nursery() as nursery:
            for task in BACKGROUND:
                await nursery.start(task, self.ctx)
            task_status.started()
            while True:
                await trio.sleep(600)
                self.sessions.expire()
