"""The ``/`` page: links to the web interfaces and the test API (mox itself answers 404 here)."""

from __future__ import annotations

import html

from mox import __version__
from mox.web.router import Request, Response, Router, html_response, json_response
from mox.context import ServerContext

LINKS = (
    ("/webmail/", "Webmail", "read and send email"),
    ("/account/", "Account", "password, TLS public keys, import and export"),
    ("/admin/", "Admin", "accounts, addresses, queue, log levels"),
    ("/webapi/v0/", "Webapi", "mox's HTTP API for sending and handling messages (basic auth)"),
    ("/api/v1/", "Test API", "list, search and wait for messages from automated tests (JSON)"),
)


async def index(ctx: ServerContext, req: Request) -> Response:
    items = "\n".join(
        f'<li><a href="{href}">{html.escape(title)}</a> — {html.escape(what)}</li>' for href, title, what in LINKS
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mox</title>
<link rel="stylesheet" href="/static/common/index.css">
</head><body>
<h1>mox</h1>
<p>Mail server for development and tests, version {html.escape(__version__)}.</p>
<ul>
{items}
</ul>
</body></html>
"""
    return html_response(page)


async def readyz(ctx: ServerContext, req: Request) -> Response:
    if ctx.shutting_down.is_set():
        return json_response({"ready": False, "reason": "shutting down"}, 503)
    return json_response({"ready": True})


def register(router: Router) -> None:
    router.add("/", index, methods=("GET",))
    router.add("/readyz", readyz, methods=("GET",))
    router.add_static("/static/common/", "common")
