"""The addresses of a connection's socket, as the limiter and the drivers key and log them.

A driver's stream may be the listener's ``trio.SocketStream`` itself or wrapped in TLS
(``trio.SSLStream``) and slow mode (``slowmode.SlowStream``); both wrappers hold the stream they
wrap as ``transport_stream``. Any other stream (an in-memory pair in a test) has no addresses:
None.
"""

from __future__ import annotations

import socket

import trio

from mox.limits.slowmode import SlowStream


def _socket(stream: trio.abc.Stream) -> trio.socket.SocketType | None:
    while isinstance(stream, (trio.SSLStream, SlowStream)):
        stream = stream.transport_stream
    return stream.socket if isinstance(stream, trio.SocketStream) else None


def _host(sock: trio.socket.SocketType | None, peer: bool) -> str | None:
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        return str((sock.getpeername() if peer else sock.getsockname())[0])
    except OSError:
        return None  # the peer is already gone


def peer_ip(stream: trio.abc.Stream) -> str | None:
    """The remote IP address of the connection under ``stream``, or None."""
    return _host(_socket(stream), peer=True)


def local_ip(stream: trio.abc.Stream) -> str | None:
    """The local IP address the connection under ``stream`` came in on, or None."""
    return _host(_socket(stream), peer=False)
