"""mox's web side: HTTP/1.1 on trio with h11, one router for the http and https listeners.

``WebApp(ctx)`` (built by serve.py as ``ctx.web``) holds the router, the login sessions and the
test API's message index; ``await nursery.start(ctx.web.serve)`` runs its background tasks.
Page modules plug in through ``register(router)`` (docs/architecture.md, "mox.web")::

    mox/web/http.py      h11-over-trio driver: limits, timeouts, security headers, websocket hand-off
    mox/web/router.py    Request, Response, Router, HTTPError, json/static helpers
    mox/web/session.py   sessions, cookies, CSRF; /<kind>/login, /logout, /session
    mox/web/index.py     the / page and /readyz
    mox/web/webapi.py    /webapi/v0/ (as mox)
    mox/web/testapi.py   /api/v1/ (beyond mox: list, search, get, delete, wait)
    mox/web/webaccount.py  webmail.py  admin.py  live.py  sanitize.py   the pages (web UI)
    mox/web/static/      files shipped in the package
"""

from __future__ import annotations

import importlib
from typing import Any

import trio

from mox import mlog
from mox.web.router import HTTPError, Request, Response, Router, html_response, json_error, json_response
from mox.web.session import Session, Sessions, check_csrf, require_session

__all__ = [
    "HTTPError",
    "Request",
    "Response",
    "Router",
    "Session",
    "WebApp",
    "check_csrf",
    "json_error",
    "json_response",
    "require_session",
]

#: Modules that register routes when present, in this order.
PAGE_MODULES = (
    "mox.web.session",
    "mox.web.index",
    "mox.web.webapi",
    "mox.web.testapi",
    "mox.web.testapi_ci",
    "mox.web.webaccount",
    "mox.web.webmail",
    "mox.web.live",
    "mox.web.webadmin",
)

DEFAULT_MAX_BODY = 10 * 1024 * 1024


def _placeholder(title: str) -> Any:
    async def page(ctx: Any, req: Request) -> Response:
        return html_response(
            f"<!doctype html><meta charset=utf-8><title>mox {title}</title>"
            f"<p>The {title} interface is not part of this build. <a href=/>Back</a>.</p>",
            404,
        )

    return page


class WebApp:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.log = mlog.get_logger("http")
        self.sessions = Sessions()
        self.max_body = int(getattr(ctx.config, "web_max_request_body", DEFAULT_MAX_BODY))
        self.router = Router()
        #: background tasks of page modules: async def task(ctx, *, task_status)
        self.tasks: list[Any] = []
        #: set by mox.web.testapi
        self.index: Any = None
        for name in PAGE_MODULES:
            try:
                mod = importlib.import_module(name)
                if hasattr(mod, "register"):
                    mod.register(self.router)
                    if hasattr(mod, "serve_background"):
                        self.tasks.append(mod.serve_background)
            except Exception as e:  # noqa: BLE001 - a broken page must not stop mail service
                self.log.unexpected("web page module failed to load, its pages are not served", e, module=name)
        have = {r.pattern for r in self.router.prefixes}
        for kind in ("account", "webmail", "admin"):
            self.router.roots.add(f"/{kind}/")
            if f"/{kind}/" not in have:
                self.router.add(f"/{kind}/", _placeholder(kind), methods=("GET",))

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the page modules' background tasks (started once each is ready), then the session
        expiry, until cancelled."""
        async with trio.open_nursery() as nursery:
            for task in self.tasks:
                await nursery.start(task, self.ctx)
            task_status.started()
            while True:
                await trio.sleep(600)
                self.sessions.expire()
