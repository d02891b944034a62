"""HTTP/1.1 over trio with h11: one task per connection, requests in sequence (keep-alive).

Invariants:

- The request head is limited to MAX_HEAD bytes and MAX_HEADERS fields (431).
- Nothing of a body is read before the request is known to be allowed: the route is resolved
  (404/405), a state-changing request a browser marks as cross-site is refused (403,
  mox.web.access), and the route's guards authenticate from the headers (401/403). Only then is
  the body read, up to the route's limit (``Router.body_limit``; 413, checked against
  Content-Length before reading and while reading chunked bodies). An answer given before the
  body closes the connection when a body was announced.
- Once the first byte of a request arrived, its head must be complete within HEAD_TIMEOUT, and
  head and body within the overall deadline ``config.web_request_deadline`` (a client that drips
  bytes gets no more time); a single read waits at most BODY_TIMEOUT (408 + close). An idle
  keep-alive connection is closed quietly after IDLE_TIMEOUT, or at once when the server shuts
  down.
- Malformed HTTP gets 400 with h11's reason as JSON; a handler bug gets 500 JSON and a logged
  traceback; the client never sees a traceback.
- Every response carries the security headers (mox ``mox-/safeheaders.go``) unless the handler set them.
- A GET with ``Upgrade: websocket`` on a websocket route is handed to trio-websocket with the
  request head replayed; the Origin must name the Host.
"""

from __future__ import annotations

import email.utils
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import h11
import trio

from mox import mlog
from mox.limits.peer import peer_ip
from mox.store import DiskFull
from mox.web import access
from mox.web.router import (
    DEFAULT_BODY_LIMIT,
    HTTPError,
    Request,
    Response,
    Route,
    json_error,
    parse_cookies,
    resolve_or_response,
    run_route,
)
from mox.context import ServerContext

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
HEAD_TIMEOUT = 30.0
BODY_TIMEOUT = 60.0
IDLE_TIMEOUT = 60.0
#: Default of config.web_request_deadline: a whole request (head and body) within this time.
SEND_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 30.0
LINGER_TIMEOUT = 1.0
LINGER_MAX = 1024 * 1024
READ_SIZE = 65536

#: The app pages' CSP: scripts and styles only from mox's own static files (no inline script,
#: handler or style attribute; the pages set styles through the CSSOM), images also as data:,
#: no plugins, no <base>, forms only to mox, not framed. Message content never comes under it:
#: it is served sandboxed (mox.web.sanitize).
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = (
    ("Content-Security-Policy", APP_CSP),
    ("X-Frame-Options", "deny"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)

_REASONS = {
    101: "Switching Protocols", 200: "OK", 204: "No Content", 303: "See Other", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 421: "Misdirected Request", 413: "Content Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
    505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}


class _Close(Exception):
    """Stop serving this connection (after an error response was sent, or the peer left)."""


class _ReplayStream(trio.abc.Stream):
    """A stream that first returns ``prefix``, then reads from ``inner``; for handing an
    already parsed request to trio-websocket."""

    def __init__(self, prefix: bytes, inner: trio.abc.Stream) -> None:
        self.prefix = prefix
        self.inner = inner

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.prefix:
            n = max_bytes or len(self.prefix)
            data, self.prefix = self.prefix[:n], self.prefix[n:]
            return data
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


def _error_body(status: int, code: str, message: str) -> Response:
    resp = json_error(status, code, message)
    resp.headers.append(("Connection", "close"))
    return resp


class HTTPConnection:
    def __init__(self, ctx: ServerContext, stream: trio.abc.Stream, *, tls: bool, remote_ip: str) -> None:
        self.ctx = ctx
        self.stream = stream
        self.tls = tls
        self.remote_ip = remote_ip
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.log = mlog.get_logger("http").with_(cid=mlog.connection_cid())
        self.idle_scope: trio.CancelScope | None = None
        self.router = ctx.web.router
        #: when the first byte of the current request arrived (the overall deadline counts from it)
        self.request_started: float | None = None

    # Reading.

    async def _receive(self, timeout: float) -> bytes:
        with trio.move_on_after(timeout) as scope:
            data = await self.stream.receive_some(READ_SIZE)
        if scope.cancelled_caught:
            raise TimeoutError
        return bytes(data)

    async def next_event(self, *, head: bool) -> Any:
        """The next h11 event. While waiting for a new request the connection is idle."""
        started: float | None = None
        idle_since = trio.current_time()
        while True:
            try:
                ev = self.conn.next_event()
            except h11.RemoteProtocolError as e:
                status = e.error_status_hint if e.error_status_hint in (400, 413, 431) else 400
                code = "user:headerTooLarge" if status == 431 else "user:badRequest"
                await self.send_error(status, code, f"bad http request: {e}")
                raise _Close from None
            if ev is not h11.NEED_DATA:
                return ev
            waiting_new = head and started is None and self.conn.their_state == h11.IDLE
            if waiting_new:
                if self.ctx.shutting_down.is_set():
                    raise _Close
                timeout = IDLE_TIMEOUT - (trio.current_time() - idle_since)
            elif head:
                if started is None:
                    started = trio.current_time()
                    self.request_started = started
                timeout = min(HEAD_TIMEOUT - (trio.current_time() - started), self.deadline_left())
            else:
                timeout = min(BODY_TIMEOUT, self.deadline_left())
            try:
                if waiting_new:
                    data = b""
                    with trio.CancelScope() as self.idle_scope:
                        data = await self._receive(max(timeout, 0))
                    self.idle_scope = None
                else:
                    data = await self._receive(max(timeout, 0))
            except TimeoutError:
                if waiting_new:
                    raise _Close from None
                if self.deadline_left() <= 0:
                    msg = f"request not complete within {self.deadline():g} seconds"
                else:
                    msg = f"timeout reading {'request head' if head else 'request body'}"
                await self.send_error(408, "user:timeout", msg)
                raise _Close from None
            if waiting_new and self.ctx.shutting_down.is_set() and not data:
                raise _Close
            if head and data and started is None:
                started = trio.current_time()
                self.request_started = started  # the overall deadline counts from here
            self.conn.receive_data(data)

    def deadline(self) -> float:
        return float(self.ctx.config.web_request_deadline)

    def deadline_left(self) -> float:
        """Seconds left of the current request's overall deadline."""
        if self.request_started is None:
            return self.deadline()
        return self.deadline() - (trio.current_time() - self.request_started)

    @staticmethod
    def declares_body(request: h11.Request) -> bool:
        for k, v in request.headers:
            if k == b"transfer-encoding" or (k == b"content-length" and v.strip() != b"0"):
                return True
        return False

    async def read_body(self, request: h11.Request, limit: int) -> bytes:
        clen = None
        for k, v in request.headers:
            if k == b"content-length":
                try:
                    clen = int(v)
                except ValueError:
                    clen = None
        if clen is not None and clen > limit:
            await self.send_error(413, "user:tooLarge", f"request body of {clen} bytes exceeds limit of {limit} bytes")
            raise _Close
        if self.conn.they_are_waiting_for_100_continue:
            await self.send_all(self.conn.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")))
        chunks: list[bytes] = []
        size = 0
        while True:
            ev = await self.next_event(head=False)
            if isinstance(ev, h11.Data):
                size += len(ev.data)
                if size > limit:
                    await self.send_error(413, "user:tooLarge", f"request body exceeds limit of {limit} bytes")
                    raise _Close
                chunks.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                return b"".join(chunks)
            else:  # ConnectionClosed mid-body
                raise _Close

    # Writing.

    async def send_all(self, data: bytes | None) -> None:
        if not data:
            return
        with trio.fail_after(SEND_TIMEOUT):
            await self.stream.send_all(data)

    async def send_error(self, status: int, code: str, message: str) -> None:
        """Send an error response and leave the connection to be closed."""
        self.log.debug("http error", status=status, code=code, reason=message)
        resp = _error_body(status, code, message)
        try:
            if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await self.send_response(resp, head_only=False)
                await self.linger()
                return
        except h11.LocalProtocolError:
            pass
        # h11 cannot frame a response any more (e.g. the peer sent garbage): write it by hand.
        body = resp.body if isinstance(resp.body, bytes) else b""
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        for k, v in self._with_defaults(resp.headers):
            lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            await self.send_all(raw)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError):
            return
        await self.linger()

    async def linger(self) -> None:
        """Before closing after an error: end our side and read what the client still sends
        (briefly), so closing with unread data does not reset the connection and destroy the
        error response before the client read it."""
        try:
            if isinstance(self.stream, trio.SocketStream):
                await self.stream.send_eof()
            with trio.move_on_after(LINGER_TIMEOUT):
                total = 0
                while total < LINGER_MAX:
                    data = await self.stream.receive_some(READ_SIZE)
                    if not data:
                        break
                    total += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    def _with_defaults(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        have = {k.lower() for k, _ in headers}
        out = list(headers)
        for k, v in SECURITY_HEADERS:
            if k.lower() not in have:
                out.append((k, v))
        if "date" not in have:
            out.append(("Date", email.utils.formatdate(usegmt=True)))
        return out

    async def send_response(self, resp: Response, *, head_only: bool) -> None:
        headers = self._with_defaults(resp.headers)
        if self.ctx.shutting_down.is_set() and not any(k.lower() == "connection" for k, _ in headers):
            headers.append(("Connection", "close"))
        body = resp.body
        if isinstance(body, (bytes, bytearray)):
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            if resp.status not in (204, 304) and not (100 <= resp.status < 200):
                headers.append(("Content-Length", str(len(body))))
        self.log.trace_line("S:", f"HTTP/1.1 {resp.status}")
        await self.send_all(
            self.conn.send(
                h11.Response(
                    status_code=resp.status,
                    headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                    reason=_REASONS.get(resp.status, "").encode("ascii"),
                )
            )
        )
        if isinstance(body, (bytes, bytearray)):
            if body and not head_only and resp.status not in (204, 304):
                await self.send_all(self.conn.send(h11.Data(data=bytes(body))))
        else:
            iterator: AsyncIterator[bytes] = body
            try:
                if not head_only:
                    async for chunk in iterator:
                        if chunk:
                            await self.send_all(self.conn.send(h11.Data(data=chunk)))
            finally:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()
        await self.send_all(self.conn.send(h11.EndOfMessage()))

    # Serving.

    def build_request(self, ev: h11.Request, body: bytes) -> Request:
        target = ev.target.decode("ascii", "replace")
        if target.startswith(("http://", "https://")):
            target = urllib.parse.urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
        raw_path, _, raw_query = target.partition("?")
        if not raw_path.startswith("/"):
            raise HTTPError(400, "user:badRequest", "request target must be a path")
        try:
            path = urllib.parse.unquote(raw_path, errors="strict")
            query = urllib.parse.parse_qs(raw_query, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise HTTPError(400, "user:badRequest", "request target is not valid utf-8") from None
        if "\x00" in path:
            raise HTTPError(400, "user:badRequest", "NUL in request path")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in ev.headers]
        return Request(
            ctx=self.ctx,
            method=ev.method.decode("ascii", "replace").upper(),
            path=path,
            query=query,
            headers=headers,
            body=body,
            remote_ip=self.remote_ip,
            tls=self.tls,
            cookies=parse_cookies(headers),
        )

    async def serve(self) -> None:
        while True:
            ev = await self.next_event(head=True)
            if isinstance(ev, h11.ConnectionClosed):
                return
            if not isinstance(ev, h11.Request):
                raise _Close
            self.log.trace_line("C:", ev.method + b" " + ev.target)
            if ev.http_version not in (b"1.0", b"1.1"):
                await self.send_error(505, "user:badVersion", f"http version {ev.http_version.decode('ascii', 'replace')} not supported")
                raise _Close
            if len(ev.target) + sum(len(k) + len(v) + 4 for k, v in ev.headers.raw_items()) > MAX_HEAD:
                await self.send_error(431, "user:headerTooLarge", f"request head larger than {MAX_HEAD} bytes")
                raise _Close
            if len(ev.headers) > MAX_HEADERS:
                await self.send_error(431, "user:headerTooLarge", f"more than {MAX_HEADERS} header fields")
                raise _Close
            if not self.host_allowed(ev):
                await self.send_error(
                    421, "user:badHost", "unknown host in request; use localhost, the configured hostname or a loopback ip address"
                )
                raise _Close
            if self.router is not None and self._is_websocket(ev):
                await self.serve_websocket(ev)
                return
            head_only = ev.method.upper() == b"HEAD"
            try:
                req = self.build_request(ev, b"")
            except HTTPError as e:
                await self.send_error(e.status, e.code, e.message)
                raise _Close from None
            t0 = trio.current_time()
            got = await self.before_body(req)
            if isinstance(got, Response):
                # Answered from the head alone (not found, cross-site, not authenticated): the
                # body, if any, is never read; the connection closes after the answer then.
                if self.declares_body(ev):
                    got.headers.append(("Connection", "close"))
                    self.log.debug("http request answered before its body", method=req.method, path=req.path, status=got.status)
                    await self.send_response(got, head_only=head_only)
                    await self.linger()
                    raise _Close
                await self.read_body(ev, 0)
                resp = got
            else:
                route, limit = got
                req.body = await self.read_body(ev, limit)
                req.disconnected = trio.Event()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self.watch_peer, req.disconnected)
                    resp = await self.run_handler(req, route)
                    nursery.cancel_scope.cancel()
            self.request_started = None
            await self.send_response(resp, head_only=head_only)
            self.log.debug(
                "http request",
                method=req.method,
                path=req.path,
                status=resp.status,
                ip=self.remote_ip,
                ms=round((trio.current_time() - t0) * 1000, 1),
            )
            if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is h11.MUST_CLOSE:
                raise _Close
            try:
                self.conn.start_next_cycle()
            except h11.LocalProtocolError:
                raise _Close from None

    async def watch_peer(self, disconnected: trio.Event) -> None:
        """While a handler runs: notice the client going away (EOF), and buffer what it sends
        meanwhile (a pipelined request) for h11, up to MAX_HEAD bytes."""
        buffered = 0
        while buffered <= MAX_HEAD:
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                data = b""
            if not data:
                disconnected.set()
                break
            buffered += len(data)
            self.conn.receive_data(bytes(data))
        await trio.sleep_forever()

    async def before_body(self, req: Request) -> tuple[Route, int] | Response:
        """What can be decided from the head: the route and its body limit, or the response that
        answers the request instead (404/405/redirect, 403 cross-site, a guard's 401/403)."""
        if self.router is None:
            return json_error(503, "server:unavailable", "web interface not available")
        got = resolve_or_response(self.router, req)
        if isinstance(got, Response):
            return got
        problem = access.cross_site_problem(req)
        if problem is not None:
            return json_error(403, "user:crossSite", problem)
        try:
            resp = await self.router.check_guards(self.ctx, req)
        except HTTPError as e:
            return json_error(e.status, e.code, e.message, e.headers)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - a guard bug must not reach the client
            cid = self.log.unexpected("unhandled error in web guard", e, path=req.path)
            return json_error(500, "server:error", f"internal error (cid {cid})")
        if resp is not None:
            return resp
        return got, self.router.body_limit(self.ctx, req.path, DEFAULT_BODY_LIMIT)

    async def run_handler(self, req: Request, route: Route) -> Response:
        try:
            return await run_route(route, req)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except DiskFull as e:
            # RFC 4918 11.5: 507 Insufficient Storage, temporary; the store stored nothing.
            self.log.warn("web request failed, disk full", path=req.path, err=str(e))
            return json_error(507, "server:diskFull", "mail storage full, try again later")
        except Exception as e:  # noqa: BLE001 - a handler bug must not reach the client
            cid = self.log.unexpected("unhandled error in web handler", e, path=req.path)
            return json_error(500, "server:error", f"internal error (cid {cid})")

    def host_allowed(self, ev: h11.Request) -> bool:
        """The Host rule of mox.web.access (a DNS-rebinding page cannot reach what trusts loopback)."""
        host = None
        for k, v in ev.headers:
            if k == b"host":
                host = v.decode("latin-1")
                break
        return access.host_allowed(self.remote_ip, host, self.ctx.config.hostname)

    def _is_websocket(self, ev: h11.Request) -> bool:
        if ev.method != b"GET":
            return False
        for k, v in ev.headers:
            if k == b"upgrade" and v.lower() == b"websocket":
                return True
        return False

    async def serve_websocket(self, ev: h11.Request) -> None:
        import trio_websocket

        try:
            req = self.build_request(ev, b"")
        except HTTPError as e:
            await self.send_error(e.status, e.code, e.message)
            raise _Close from None
        assert self.router is not None
        found = self.router.resolve_websocket(req.path)
        if found is None:
            await self.send_error(404, "user:notFound", f"no websocket at {req.path}")
            raise _Close
        route, req.params = found
        origin = req.header("origin")
        host = req.header("host") or ""
        if origin is not None and urllib.parse.urlsplit(origin).netloc.lower() != host.lower():
            await self.send_error(403, "user:badOrigin", "websocket origin does not match host")
            raise _Close
        # h11 is paused after the upgrade request; replay its head (and anything after) to trio-websocket.
        ev2 = self.conn.next_event()
        if isinstance(ev2, h11.EndOfMessage):
            self.conn.next_event()
        trailing, _closed = self.conn.trailing_data
        head = ev.method + b" " + ev.target + b" HTTP/1.1\r\n"
        head += b"".join(k + b": " + v + b"\r\n" for k, v in ev.headers.raw_items()) + b"\r\n"
        stream = _ReplayStream(head + bytes(trailing), self.stream)
        async with trio.open_nursery() as nursery:
            wsreq = await trio_websocket.wrap_server_stream(nursery, stream)
            ws = await wsreq.accept()
            try:
                async with trio.open_nursery() as inner:

                    async def going_away() -> None:
                        # Shutdown: say goodbye (1001) at once instead of waiting for the grace period.
                        await self.ctx.shutting_down.wait()
                        with trio.move_on_after(1):
                            await ws.aclose(code=1001, reason="mox shutting down")
                        inner.cancel_scope.cancel()

                    inner.start_soon(going_away)
                    try:
                        await route.handler(self.ctx, req, ws)
                    except trio_websocket.ConnectionClosed:
                        pass
                    except Exception as e:  # noqa: BLE001 - a handler bug: logged, the client told, the server goes on
                        self.log.unexpected("unhandled error in websocket handler", e, path=req.path)
                        # RFC 6455 7.4.1: 1011, the server met a condition that kept it from going on.
                        with trio.move_on_after(1):
                            await ws.aclose(code=1011, reason="internal error")
                    inner.cancel_scope.cancel()
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                with trio.move_on_after(1):
                    await ws.aclose()
            nursery.cancel_scope.cancel()


async def handle_connection(ctx: ServerContext, stream: trio.SocketStream, *, implicit_tls: bool) -> None:
    """Serve HTTP (or HTTPS with ``implicit_tls``) on one connection; never raises for client faults."""
    remote_ip = peer_ip(stream) or "?"
    s: trio.abc.Stream = stream
    if implicit_tls:
        if ctx.tls is None:
            return
        ssl_stream = trio.SSLStream(stream, ctx.tls, server_side=True, https_compatible=True)
        try:
            with trio.fail_after(HANDSHAKE_TIMEOUT):
                await ssl_stream.do_handshake()
        except (trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return
        s = ssl_stream
    hc = HTTPConnection(ctx, s, tls=implicit_tls, remote_ip=remote_ip)
    async with trio.open_nursery() as nursery:

        async def watch_shutdown() -> None:
            await ctx.shutting_down.wait()
            if hc.idle_scope is not None:
                hc.idle_scope.cancel()

        nursery.start_soon(watch_shutdown)
        try:
            await ctx.web.load_pages()  # imported at the first request (mox.web.app)
            await hc.serve()
        except (_Close, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, ConnectionError):
            pass
        except Exception as e:  # noqa: BLE001 - a bug outside a handler: logged, a 500 if we can, closed
            cid = hc.log.unexpected("unhandled error in http connection", e)
            if hc.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with trio.move_on_after(5):
                    try:
                        await hc.send_error(500, "server:error", f"internal error (cid {cid})")
                    except (_Close, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError):
                        pass
        finally:
            nursery.cancel_scope.cancel()
            await trio.aclose_forcefully(s)
