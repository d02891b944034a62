"""Running the servers: listeners, connection handlers, the queue and the control channel.

Task tree (every task has an owner, every wait a deadline)::

    serve()                      root nursery
      serve_ctl                  control channel (mox stop, loglevels, ...)
      limiter housekeeping       expires old rate-limit windows
      queue.serve                deliveries
      web.serve                  background tasks of the web pages (when http is served)
      services nursery
        _serve_service(smtp)     one per service: an accept nursery (one accept loop per IP)
        _serve_service(imap)       and a handler nursery owning that service's connections
        ...

Invariants:

- Everything is bound before anything is served: a port in use (or a second mox on the same data
  dir) fails start-up with one ``ListenError``/``CtlError`` and nothing is left running.
- ``ctx.request_stop()`` (ctl ``stop``, SIGINT/SIGTERM in localserve) sets ``ctx.shutting_down``:
  each service stops accepting and closes its listening sockets, gives its connections up to
  ``grace`` seconds (3, as mox), then cancels them. Handlers see ``ctx.shutting_down`` and say
  goodbye (``* BYE``/``421``). After the services, the queue, limiter and ctl are cancelled and the
  store is closed.
- A handler exception never escapes its connection: it is logged and the connection closed.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from mox import mlog
from mox.ctl import server as ctl
from mox.ctl.commands import COMMANDS as CTL_COMMANDS
from mox.limits import slowmode
from mox.config import Config
from mox.context import GRACE, ServerContext
from mox.imap import server as imap_server
from mox.limits.limiter import REASON_AUTH
from mox.limits.peer import peer_ip
from mox.metrics import http as metrics_http
from mox.queue.queue import Queue
from mox.smtp import server as smtp_server
from mox.store import Store
from mox.web.app import WebApp

#: service -> (protocol, keyword arguments for its handle_connection)
SERVICE_KINDS: dict[str, tuple[str, dict[str, bool]]] = {
    "smtp": ("smtp", {"submission": False, "implicit_tls": False}),
    "submission": ("smtp", {"submission": True, "implicit_tls": False}),
    "submissions": ("smtp", {"submission": True, "implicit_tls": True}),
    "imap": ("imap", {"implicit_tls": False}),
    "imaps": ("imap", {"implicit_tls": True}),
    "http": ("http", {"implicit_tls": False}),
    "https": ("http", {"implicit_tls": True}),
    "metrics": ("metrics", {"implicit_tls": False}),
}

Handler = Callable[..., Awaitable[None]]


class ListenError(Exception):
    """A listening socket could not be opened; the message names service, address and port."""


def make_tls_context(cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> ssl.SSLContext:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(cert_file), str(key_file))
    return tls


async def _handle_http(ctx: ServerContext, stream: trio.SocketStream, **kwargs: bool) -> None:
    # The HTTP driver (and h11) is imported at the first web connection, not at every start.
    from mox.web import http as web_http

    await web_http.handle_connection(ctx, stream, **kwargs)


def default_handlers() -> dict[str, Handler]:
    """protocol -> handle_connection of its server module."""
    return {
        "imap": imap_server.handle_connection,
        "smtp": smtp_server.handle_connection,
        "http": _handle_http,
        "metrics": metrics_http.handle_connection,
    }


# Binding.


def _is_ipv6(ip: str) -> bool:
    return ":" in ip


def _new_socket(ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if _is_ipv6(ip) else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":
            if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((ip, port))
        s.listen(128)
    except BaseException:
        s.close()
        raise
    return s


def _ipv6_unavailable(e: OSError) -> bool:
    return e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, getattr(errno, "EPROTONOSUPPORT", -1)) or (
        sys.platform == "win32" and getattr(e, "winerror", None) in (10047, 10049)
    )


def _in_use(e: OSError) -> bool:
    # Windows: WSAEADDRINUSE, or WSAEACCES when another socket holds the port exclusively.
    return e.errno == errno.EADDRINUSE or getattr(e, "winerror", None) in (10048, 10013)


def _describe(e: OSError) -> str:
    if _in_use(e):
        return "address already in use"
    return e.strerror or str(e)


def bind_service(service: str, ips: list[str], port: int, log: mlog.Logger) -> list[socket.socket]:
    """Bind port on every ip (port 0: one free port shared by all ips). IPv6 addresses the
    system does not have are skipped quietly (unless it is the only address)."""
    for _attempt in range(20):
        socks: list[socket.socket] = []
        chosen = port
        retry = False
        try:
            for ip in ips:
                try:
                    s = _new_socket(ip, chosen)
                except OSError as e:
                    if _is_ipv6(ip) and len(ips) > 1 and (not socket.has_ipv6 or _ipv6_unavailable(e)):
                        log.debug("skipping ipv6 address not available on this system", ip=ip, service=service)
                        continue
                    if port == 0 and socks and _in_use(e):
                        retry = True  # the free port of the first ip is taken on another; pick again
                        break
                    shown = f"[{ip}]" if _is_ipv6(ip) else ip
                    raise ListenError(f"listen for {service} on {shown}:{chosen}: {_describe(e)}") from None
                socks.append(s)
                chosen = s.getsockname()[1]
        except BaseException:
            for s in socks:
                s.close()
            raise
        if not retry:
            if not socks:
                raise ListenError(f"listen for {service}: no usable ip address in {ips}")
            return socks
        for s in socks:
            s.close()
    raise ListenError(f"listen for {service}: no free port found")


def bind_all(config: Config, services: list[str], log: mlog.Logger) -> dict[str, list[socket.socket]]:
    bound: dict[str, list[socket.socket]] = {}
    try:
        for service in services:
            bound[service] = bind_service(service, list(config.ips), config.ports[service], log)
    except BaseException:
        for socks in bound.values():
            for s in socks:
                s.close()
        raise
    return bound


# Serving.


async def _refuse(stream: trio.SocketStream, proto: str, implicit_tls: bool, reason: str) -> None:
    if implicit_tls:
        return  # no TLS handshake for a refused connection: just close
    if proto == "imap":
        line = f"* BYE {reason}\r\n"
    elif proto == "http":
        body = '{"code":"user:tooManyConnections","message":"%s"}\n' % reason
        line = (
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
        )
    else:
        line = f"421 4.7.0 {reason}\r\n"
    with trio.move_on_after(5):
        await stream.send_all(line.encode("ascii"))


async def _handle_one(
    ctx: ServerContext,
    service: str,
    proto: str,
    handler: Handler,
    kwargs: dict[str, bool],
    stream: trio.SocketStream,
) -> None:
    mlog.start_connection()  # the id of this connection in the drivers' lines too
    ip = peer_ip(stream) or "?"
    reason = ctx.limiter.connection_allowed(ip)
    if reason is None and not ctx.limiter.auth_allowed(ip):
        ctx.limiter.connection_done(ip)
        reason = REASON_AUTH
    try:
        if reason is not None:
            ctx.log.info("connection refused by limiter", service=service, ip=ip, reason=reason)
            await _refuse(stream, proto, kwargs.get("implicit_tls", False), reason)
            return
        if proto in ("imap", "smtp"):
            # Slow mode after failed authentications on this connection (mox.limits.slowmode).
            mode = ctx.limiter.slow_mode()
            slowmode.set_current(mode)
            await handler(ctx, slowmode.SlowStream(stream, mode), **kwargs)
        else:
            await handler(ctx, stream, **kwargs)
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        pass
    except Exception as e:  # noqa: BLE001 - a handler bug must not take the listener down
        ctx.log.unexpected("unhandled error in connection handler", e, service=service, ip=ip)
    finally:
        if reason is None:
            ctx.limiter.connection_done(ip)
        await trio.aclose_forcefully(stream)


async def _accept_loop(
    ctx: ServerContext,
    listener: trio.SocketListener,
    conns: trio.Nursery,
    service: str,
    proto: str,
    handler: Handler,
    kwargs: dict[str, bool],
) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as e:  # e.g. out of file descriptors: back off, keep serving
            ctx.log.error("accept failed", service=service, err=str(e))
            await trio.sleep(0.1)
            continue
        conns.start_soon(_handle_one, ctx, service, proto, handler, kwargs, stream)


async def _serve_service(
    ctx: ServerContext,
    service: str,
    socks: list[socket.socket],
    handler: Handler,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    proto, kwargs = SERVICE_KINDS[service]
    listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in socks]
    try:
        async with trio.open_nursery() as conns:
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(_accept_loop, ctx, listener, conns, service, proto, handler, kwargs)
                task_status.started()
                await ctx.shutting_down.wait()
                accepting.cancel_scope.cancel()
            for listener in listeners:
                await listener.aclose()
            # Existing connections get the grace period, then are cancelled.
            conns.cancel_scope.deadline = trio.current_time() + ctx.grace
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)


def open_store(config: Config, *, check_consistency: bool = False) -> Store:
    return Store(Path(config.data_dir), fsync=True, check_consistency_on_close=check_consistency)


async def serve(
    config: Config,
    *,
    store: Any = None,
    handlers: dict[str, Handler] | None = None,
    check_consistency: bool = False,
    grace: float = GRACE,
    force_tcp_ctl: bool = False,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``ctx.request_stop()``, then shut down gracefully and return.

    ``task_status.started(ctx)`` once every listener accepts connections; ``ctx.ports`` then has
    the real ports (useful with port 0). ``handlers`` maps "imap"/"smtp" to a handle_connection
    (default: mox.imap.server and mox.smtp.server). Raises ListenError / CtlError at start-up.
    """
    log = mlog.get_logger("serve")
    data_dir = Path(config.data_dir)
    if handlers is None:
        handlers = default_handlers()
    services = [s for s in SERVICE_KINDS if s in config.ports]
    missing = sorted({SERVICE_KINDS[s][0] for s in services} - set(handlers))
    if missing:
        raise ValueError(f"no connection handler for {', '.join(missing)}")

    tls: ssl.SSLContext | None = None
    if config.tls_cert_file and config.tls_key_file:
        tls = make_tls_context(config.tls_cert_file, config.tls_key_file)
        # Request client certificates (mox imapserver/server.go).
        from mox.auth.tlspubkey import configure_server_context

        configure_server_context(tls, data_dir)

    data_dir.mkdir(parents=True, exist_ok=True)
    ctl_listener, ctl_info = await ctl.open_ctl_listener(data_dir, force_tcp=force_tcp_ctl)
    try:
        bound = bind_all(config, services, log)
    except BaseException:
        await trio.aclose_forcefully(ctl_listener)
        ctl.remove_ctl_files(data_dir)
        raise

    own_store = store is None
    try:
        if own_store:
            store = open_store(config, check_consistency=check_consistency)
    except BaseException:
        for socks in bound.values():
            for s in socks:
                s.close()
        await trio.aclose_forcefully(ctl_listener)
        ctl.remove_ctl_files(data_dir)
        raise

    ctx = ServerContext(config, store, tls, grace=grace)
    from mox.delivery.settings import store_settings

    store.settings = store_settings(ctx)  # junk flags and filter per account, from ctx.config
    ctx.ctl_info = ctl_info
    for service, socks in bound.items():
        ctx.ports[service] = socks[0].getsockname()[1]
    try:
        async with trio.open_nursery() as root:
            root.start_soon(lambda: ctl.serve_ctl(ctx, data_dir, commands=CTL_COMMANDS, listener=ctl_listener, info=ctl_info))
            root.start_soon(ctx.limiter.serve_housekeeping)
            ctx.queue = Queue(ctx)
            await root.start(ctx.queue.serve)
            if any(SERVICE_KINDS[s][0] == "http" for s in bound):
                ctx.web = WebApp(ctx)
                await root.start(ctx.web.serve)
            async with trio.open_nursery() as services_nursery:
                for service, socks in bound.items():
                    proto = SERVICE_KINDS[service][0]
                    await services_nursery.start(_serve_service, ctx, service, socks, handlers[proto])
                    log.debug("listening", service=service, port=ctx.ports[service], ips=",".join(config.ips))
                bound = {}
                task_status.started(ctx)
            root.cancel_scope.cancel()
    finally:
        if ctx.ci is not None:
            ctx.ci.transcripts.flush()  # the background writer's pending files (mox.ci.transcript)
        for socks in bound.values():
            for s in socks:
                s.close()
        if own_store and store is not None:
            store.close()
        ctl.remove_ctl_files(data_dir)
