"""mox.limits.peer: the addresses of a connection under the wrappers the drivers put on it
(slow mode, TLS), over a real TCP connection on 127.0.0.1; a stream without a socket has none."""

from __future__ import annotations

import ssl

import trio
import trio.testing

from mox.config import Limits
from mox.limits.limiter import Limiter
from mox.limits.peer import local_ip, peer_ip
from mox.limits.slowmode import SlowStream


async def test_addresses_through_slow_mode_and_tls():
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    client_port = client.socket.getsockname()[1]
    assert server.socket.getpeername() == ("127.0.0.1", client_port)  # the connection itself

    slow = SlowStream(server, Limiter(Limits()).slow_mode())
    tls = trio.SSLStream(slow, ssl.create_default_context(ssl.Purpose.CLIENT_AUTH), server_side=True)
    for stream in (server, slow, tls):
        assert (peer_ip(stream), local_ip(stream)) == ("127.0.0.1", "127.0.0.1")

    await client.aclose()
    await server.aclose()
    for listener in listeners:
        await listener.aclose()
    # A closed socket has no peer any more.
    assert (peer_ip(server), peer_ip(tls)) == (None, None)


def test_a_stream_without_a_socket_has_no_addresses():
    a, _ = trio.testing.memory_stream_pair()
    assert (peer_ip(a), local_ip(a)) == (None, None)
