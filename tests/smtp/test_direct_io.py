"""The SMTP driver reads and writes a plain TCP connection's socket directly (mox.smtp.server
``direct_socket``), and other streams through their methods."""

from __future__ import annotations

import trio
import trio.testing

from mox.config import Limits
from mox.limits.slowmode import SlowMode, SlowStream
from mox.smtp.server import direct_socket


async def test_plain_tcp_connections_are_used_directly() -> None:
    a, b = trio.socket.socketpair()
    with a, b:
        plain = SlowStream(trio.SocketStream(a), SlowMode(Limits()))
        sock = direct_socket(plain)
        # The very socket of the connection (trio's wrapper holds it): not a copy.
        assert sock is not None and sock.fileno() == a.fileno()
        sock.send(b"220 hi\r\n")
        assert await b.recv(100) == b"220 hi\r\n"


async def test_other_streams_are_used_through_their_methods() -> None:
    a, b = trio.socket.socketpair()
    with a, b:
        assert direct_socket(trio.SocketStream(a)) is None  # not wrapped by serve: not a connection
    one, _ = trio.testing.memory_stream_pair()
    assert direct_socket(SlowStream(one, SlowMode(Limits()))) is None
