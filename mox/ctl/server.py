"""The control channel, server side (trio): the listener, one task per connection, and the
built-in commands ``stop``, ``loglevels`` and ``setloglevels``.

``serve_ctl(ctx, data_dir, commands=...)`` answers the commands of the table it is given
(:data:`mox.ctl.commands.COMMANDS` in a server); the protocol is described in :mod:`mox.ctl`.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import trio

from mox import mlog
from mox.ctl.client import probe_running
from mox.ctl.protocol import BANNER, CHUNK, CtlError, CtlProtocolError, ctl_paths, take_line
from mox.context import ServerContext

log = mlog.get_logger("ctl")

Handler = Callable[[Any, "CtlConn"], Awaitable[None]]


class CtlConn:
    """One control connection, server side."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._buf = bytearray()

    async def _fill(self) -> bool:
        data = await self._stream.receive_some(CHUNK)
        if not data:
            return False
        self._buf += data
        return True

    async def read_line(self) -> str:
        while True:
            line = take_line(self._buf)
            if line is not None:
                return line
            if not await self._fill():
                raise CtlProtocolError("connection closed")

    async def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill():
                raise CtlProtocolError("connection closed")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def write_line(self, line: str) -> None:
        await self._stream.send_all(line.encode("utf-8") + b"\n")

    async def write_stream(self, data: bytes) -> None:
        for i in range(0, len(data), CHUNK):
            chunk = data[i : i + CHUNK]
            await self._stream.send_all(b"%d\n" % len(chunk) + chunk)
            resp = await self.read_line()
            if resp != "ok":
                raise CtlError(resp)
        await self.write_line("0")

    async def read_stream(self, limit: int | None = None) -> bytes:
        """The whole stream; with ``limit``, a stream growing beyond ``limit`` bytes ends the
        connection (the rest cannot be skipped): the client hears why instead of the chunk's
        ``ok``."""
        out = bytearray()
        while True:
            line = await self.read_line()
            try:
                n = int(line)
            except ValueError:
                raise CtlProtocolError(f"bad chunk size {line!r}") from None
            if n < 0:
                raise CtlProtocolError(f"bad chunk size {line!r}")
            if n == 0:
                return bytes(out)
            out += await self._read_exact(n)
            if limit is not None and len(out) > limit:
                raise CtlProtocolError(f"stream larger than maximum size {limit} bytes")
            await self.write_line("ok")


async def _refuse(conn: CtlConn, text: str) -> None:
    """Tell the client why the connection ends (a broken protocol: what follows cannot be
    understood), then close: our side first, and what the client still sends is read and
    dropped for a moment, so the line is not lost to a reset."""
    try:
        await conn.write_line(text)
        send_eof = getattr(conn._stream, "send_eof", None)
        if send_eof is not None:
            await send_eof()
        with trio.move_on_after(1.0):
            for _ in range(64):
                if not await conn._stream.receive_some(CHUNK):
                    break
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


def _remove_stale(data_dir: Path) -> None:
    sock_path, json_path = ctl_paths(data_dir)
    for p in (sock_path, json_path):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _write_info(path: Path, info: dict[str, Any]) -> None:
    from mox.store.layout import SECRET_MODE, create_new_file

    tmp = path.with_name(path.name + ".tmp")
    # The token is a secret: mode 0600 from the file's creation on.
    with os.fdopen(create_new_file(tmp, SECRET_MODE), "w", encoding="utf-8") as f:
        json.dump(info, f)
    os.replace(tmp, path)


async def open_ctl_listener(data_dir: Path, *, force_tcp: bool = False) -> tuple[Any, dict[str, Any]]:
    """Bind the control listener for data_dir; returns (trio listener, info written to ctl.json).

    Raises CtlError when another mox is already serving this data dir.
    """
    data_dir = Path(data_dir)
    sock_path, json_path = ctl_paths(data_dir)
    if (sock_path.exists() or json_path.exists()) and probe_running(data_dir):
        raise CtlError(f"mox is already running with data dir {data_dir}")
    _remove_stale(data_dir)

    if hasattr(socket, "AF_UNIX") and not force_tcp:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.bind(str(sock_path))
            try:
                os.chmod(sock_path, 0o600)
            except OSError:
                pass
            sock.listen(16)
        except OSError as e:  # e.g. path too long for sun_path; fall back to TCP
            sock.close()
            log.debug("unix socket for ctl not possible, using tcp", err=str(e))
        else:
            info = {"transport": "unix", "path": str(sock_path), "pid": os.getpid()}
            _write_info(json_path, info)
            return trio.SocketListener(sock), info

    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    port = sock.getsockname()[1]
    info = {"transport": "tcp", "port": port, "token": secrets.token_hex(16), "pid": os.getpid()}
    _write_info(json_path, info)
    return trio.SocketListener(sock), info


def remove_ctl_files(data_dir: Path) -> None:
    _remove_stale(Path(data_dir))


async def handle_ctl_connection(
    ctx: ServerContext, stream: Any, info: dict[str, Any], commands: Mapping[str, Handler]
) -> None:
    conn = CtlConn(stream)
    cid = mlog.new_cid()
    clog = log.with_(cid=cid)
    try:
        async with stream:
            await conn.write_line(BANNER)
            if info.get("transport") == "tcp":
                line = await conn.read_line()
                word, _, token = line.partition(" ")
                if word != "token" or not hmac.compare_digest(token.encode(), str(info["token"]).encode()):
                    clog.info("ctl connection with bad token")
                    await conn.write_line("bad token")
                    return
                await conn.write_line("ok")
            while True:
                try:
                    cmd = await conn.read_line()
                except CtlProtocolError as e:
                    if str(e) != "connection closed":
                        clog.info("ctl protocol error", err=str(e))
                        await _refuse(conn, str(e))
                    return
                handler = commands.get(cmd)
                if handler is None:
                    await conn.write_line(f"unknown command {cmd!r}")
                    continue
                clog.debug("ctl command", cmd=cmd)
                try:
                    await handler(ctx, conn)
                except CtlProtocolError as e:
                    clog.info("ctl protocol error", cmd=cmd, err=str(e))
                    if str(e) != "connection closed":
                        await _refuse(conn, str(e))
                    return
                except CtlError as e:
                    await conn.write_line(str(e) or "error")
                except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
                    return
                except Exception as e:  # noqa: BLE001 - a handler bug: tell the client, keep serving
                    clog.unexpected("ctl command failed", e, cmd=cmd)
                    await conn.write_line(f"internal error in {cmd}: {e!r}".replace("\n", " "))
    except Exception as e:  # noqa: BLE001 - a bad client never takes the server down
        if isinstance(e, (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError)):
            return
        clog.unexpected("ctl connection failed", e)


async def serve_ctl(
    ctx: ServerContext,
    data_dir: Path,
    *,
    commands: Mapping[str, Handler],
    force_tcp: bool = False,
    listener: Any = None,
    info: dict[str, Any] | None = None,
    task_status: Any = None,
) -> None:
    """Serve the control channel until cancelled; removes the ctl files afterwards.

    ``listener`` and ``info`` come from an earlier ``open_ctl_listener`` (serve.py binds
    everything before it starts serving); otherwise the listener is opened here.
    """
    if listener is None or info is None:
        listener, info = await open_ctl_listener(data_dir, force_tcp=force_tcp)
    try:
        async with listener, trio.open_nursery() as nursery:
            if task_status is not None:
                task_status.started(info)
            while True:
                try:
                    stream = await listener.accept()
                except OSError as e:  # e.g. EMFILE; keep serving
                    log.error("ctl accept", err=str(e))
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(handle_ctl_connection, ctx, stream, info, commands)
    finally:
        remove_ctl_files(data_dir)


async def cmd_stop(ctx: ServerContext, conn: CtlConn) -> None:
    # The client waits for EOF: the connection closes when the server is done.
    ctx.request_stop()
    await conn.write_line("ok")


async def cmd_loglevels(ctx: ServerContext, conn: CtlConn) -> None:
    await conn.write_line("ok")
    lines = []
    for pkg, level in sorted(mlog.levels().items()):
        lines.append(f"{pkg or '(default)'}: {level}\n")
    await conn.write_stream("".join(lines).encode("utf-8"))


async def cmd_setloglevels(ctx: ServerContext, conn: CtlConn) -> None:
    pkg = await conn.read_line()
    level = await conn.read_line()
    if pkg == "(default)":
        pkg = ""
    if pkg == "" and level == "":
        raise CtlError("empty level for the default log level")
    try:
        mlog.set_level(level, pkg)
    except ValueError as e:
        raise CtlError(str(e)) from None
    await conn.write_line("ok")
