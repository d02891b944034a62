"""The metrics listener: ``GET /metrics`` in the Prometheus text format (mox's ``MetricsHTTP``,
port 1081 in localserve), over the same HTTP driver as the web interfaces (mox.web.http:
limits, timeouts, errors as JSON). Only the metrics are served here, nothing of the accounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from mox.limits.peer import peer_ip
from mox.metrics import CONTENT_TYPE
from mox.web.router import Request, Response, Router

if TYPE_CHECKING:
    from mox.serve import ServerContext


async def _metrics(ctx: ServerContext, req: Request) -> Response:
    return Response(200, [("Content-Type", CONTENT_TYPE), ("Cache-Control", "no-store")], ctx.metrics.exposition())


def _router() -> Router:
    r = Router()
    r.add("/metrics", _metrics, methods=["GET"])
    return r


_ROUTER = _router()


async def handle_connection(ctx: ServerContext, stream: trio.SocketStream, *, implicit_tls: bool) -> None:
    from mox.web import http

    hc = http.HTTPConnection(ctx, stream, tls=False, remote_ip=peer_ip(stream) or "?")
    hc.router = _ROUTER
    async with trio.open_nursery() as nursery:

        async def watch_shutdown() -> None:
            await ctx.shutting_down.wait()
            if hc.idle_scope is not None:
                hc.idle_scope.cancel()

        nursery.start_soon(watch_shutdown)
        try:
            await hc.serve()
        except (http._Close, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, ConnectionError):
            pass
        finally:
            nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(stream)
