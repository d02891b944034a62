"""serve.py: listeners, per-connection handlers, limits, ctl stop and graceful shutdown.

Uses small stand-in protocol handlers so these tests need neither the IMAP nor the SMTP server.
"""

from __future__ import annotations

import io
import socket

import pytest
import trio

from mox import config as mconfig
from mox import ctl, mlog
from mox.limits.limiter import Limiter, ip_classes
from mox.serve import ListenError, bind_service, serve


class FakeStore:
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


def make_config(tmp_path, ports=None, limits=None):
    return mconfig.Config(
        config_dir=str(tmp_path.absolute()),
        data_dir=str(tmp_path.resolve()),
        ips=["127.0.0.1"],
        ports=ports if ports is not None else {"smtp": 0, "imap": 0},
        limits=limits or mconfig.LOCALSERVE_LIMITS,
        domains={"localhost": mconfig.DomainConfig(localpart_catchall_separator="+")},
    )


async def smtp_greeter(ctx, stream, *, submission, implicit_tls):
    # A stand-in SMTP handler: greets, then says goodbye when the server shuts down.
    await stream.send_all(b"220 localhost test\r\n")
    async with trio.open_nursery() as nursery:

        async def goodbye():
            await ctx.shutting_down.wait()
            await stream.send_all(b"421 4.3.2 shutting down\r\n")
            nursery.cancel_scope.cancel()

        nursery.start_soon(goodbye)
        while await stream.receive_some(1000):  # until the client closes
            pass
        nursery.cancel_scope.cancel()


async def imap_stubborn(ctx, stream, *, implicit_tls):
    # Ignores the shutdown: must be cancelled after the grace period.
    await stream.send_all(b"* OK test\r\n")
    await trio.sleep_forever()


HANDLERS = {"smtp": smtp_greeter, "imap": imap_stubborn}


async def read_line(stream):
    buf = b""
    while not buf.endswith(b"\n"):
        data = await stream.receive_some(1000)
        if not data:
            break
        buf += data
    return buf


@pytest.fixture
def logbuf():
    buf = io.StringIO()
    mlog.set_output(buf)
    yield buf
    import sys

    mlog.set_output(sys.stderr)


async def test_serve_and_stop(tmp_path, logbuf):
    store = FakeStore()
    config = make_config(tmp_path)
    async with trio.open_nursery() as nursery:
        ctx = await nursery.start(lambda task_status: serve(config, store=store, handlers=HANDLERS, grace=0.5, task_status=task_status))
        assert set(ctx.ports) == {"smtp", "imap"}
        smtp = await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
        assert await read_line(smtp) == b"220 localhost test\r\n"
        imap = await trio.open_tcp_stream("127.0.0.1", ctx.ports["imap"])
        assert await read_line(imap) == b"* OK test\r\n"

        def stop():
            with ctl.CtlClient(tmp_path, timeout=10) as c:
                c.call("stop")
                c.wait_closed()  # EOF only once the server is done

        await trio.to_thread.run_sync(stop)
        # The polite handler said goodbye; the stubborn one was cancelled after the grace period.
        assert await read_line(smtp) == b"421 4.3.2 shutting down\r\n"
        assert await read_line(imap) == b""
        # Listeners are closed.
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
    assert "print: shutting down, waiting max 0.5s for existing connections; pkg=serve" in logbuf.getvalue()
    assert not (tmp_path / "ctl.json").exists()


async def test_port_in_use(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        config = make_config(tmp_path, ports={"imap": 0, "smtp": port})
        with pytest.raises(ListenError, match=rf"^listen for smtp on 127.0.0.1:{port}: address already in use$"):
            await serve(config, store=FakeStore(), handlers=HANDLERS)
        # Nothing left behind: the ctl channel is gone, a new server can start.
        assert not (tmp_path / "ctl.json").exists()
    finally:
        busy.close()


async def test_handler_exception_is_contained(tmp_path, logbuf):
    """A bug a driver lets escape: one error line with the connection's id (the one the driver
    used too) and the traceback, the connection closed, the listener still serving."""
    cids = []

    async def broken(ctx, stream, **kw):
        cids.append(mlog.connection_cid())
        await stream.send_all(b"220 hi\r\n")
        raise ValueError("handler bug")

    config = make_config(tmp_path, ports={"smtp": 0})
    async with trio.open_nursery() as nursery:
        ctx = await nursery.start(lambda task_status: serve(config, store=FakeStore(), handlers={"smtp": broken}, task_status=task_status))
        for _ in range(2):  # the listener survives
            s = await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
            assert await read_line(s) == b"220 hi\r\n"
            assert await read_line(s) == b""
        ctx.request_stop()
    errors = [line for line in logbuf.getvalue().splitlines() if line.startswith("error:")]
    assert len(set(cids)) == 2
    assert len(errors) == 2
    for cid, line in zip(cids, errors):
        head = f"error: unhandled error in connection handler; pkg=serve; cid={cid}; service=smtp; ip=127.0.0.1; "
        head += "err=\"ValueError('handler bug')\"; trace=\"Traceback (most recent call last):\\n"
        assert line.startswith(head), line
        assert line.endswith("\\nValueError: handler bug\""), line
        assert "in broken\\n" in line  # the frame that raised


async def test_a_service_without_handler_fails_startup(tmp_path):
    # No stand-in answers "not available" for a protocol: a missing handler is a start-up error.
    config = make_config(tmp_path, ports={"smtp": 0, "imap": 0, "http": 0})
    with pytest.raises(ValueError, match="^no connection handler for http$"):
        await serve(config, store=FakeStore(), handlers=HANDLERS)
    assert not (tmp_path / "ctl.json").exists()


async def test_concurrent_limit(tmp_path):
    limits = mconfig.Limits(concurrent_connections=(1, 10, 10))
    config = make_config(tmp_path, ports={"smtp": 0, "imap": 0}, limits=limits)
    async with trio.open_nursery() as nursery:
        ctx = await nursery.start(lambda task_status: serve(config, store=FakeStore(), handlers=HANDLERS, grace=0.1, task_status=task_status))
        first = await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
        assert await read_line(first) == b"220 localhost test\r\n"
        second = await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
        assert await read_line(second) == b"421 4.7.0 too many open connections from your ip or network\r\n"
        third = await trio.open_tcp_stream("127.0.0.1", ctx.ports["imap"])
        assert await read_line(third) == b"* BYE too many open connections from your ip or network\r\n"
        await first.aclose()
        with trio.fail_after(5):
            while ctx.limiter.open_connections("127.0.0.1"):
                await trio.sleep(0.01)
        again = await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
        assert await read_line(again) == b"220 localhost test\r\n"
        ctx.request_stop()


async def test_auth_failures_refuse_new_connections(tmp_path):
    limits = mconfig.Limits(auth_failures_per_minute=(1, 10, 10))
    config = make_config(tmp_path, ports={"smtp": 0, "imap": 0}, limits=limits)
    async with trio.open_nursery() as nursery:
        ctx = await nursery.start(lambda task_status: serve(config, store=FakeStore(), handlers=HANDLERS, grace=0.1, task_status=task_status))
        ctx.limiter.auth_failed("127.0.0.1")
        s = await trio.open_tcp_stream("127.0.0.1", ctx.ports["imap"])
        assert await read_line(s) == b"* BYE too many auth failures\r\n"
        s = await trio.open_tcp_stream("127.0.0.1", ctx.ports["smtp"])
        assert await read_line(s) == b"421 4.7.0 too many auth failures\r\n"
        assert ctx.limiter.open_connections("127.0.0.1") == 0
        ctx.limiter.auth_succeeded("127.0.0.1")
        s = await trio.open_tcp_stream("127.0.0.1", ctx.ports["imap"])
        assert await read_line(s) == b"* OK test\r\n"
        ctx.request_stop()


def test_ip_classes():
    assert ip_classes("192.0.2.77") == ("192.0.2.77/32", "192.0.2.64/26", "192.0.0.0/21")
    assert ip_classes("2001:db8:1:2:3::4") == ("2001:db8:1:2::/64", "2001:db8:1::/48", "2001:db8::/32")
    assert ip_classes("::ffff:192.0.2.1")[0] == "192.0.2.1/32"


def test_limiter_windows():
    now = [1000.0]
    lim = Limiter(mconfig.Limits(connections_per_minute=(2, 3, 100), auth_failures_per_minute=(2, 100, 100)), clock=lambda: now[0])
    assert lim.connection_allowed("192.0.2.1") is None
    assert lim.connection_allowed("192.0.2.1") is None
    assert lim.connection_allowed("192.0.2.1") == "connection rate from your ip or network too high, slow down please"
    assert lim.connection_allowed("192.0.2.2") is None  # other /32, same /26
    assert lim.connection_allowed("192.0.2.3") == "connection rate from your ip or network too high, slow down please"
    for ip in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
        lim.connection_done(ip)
    now[0] += 61
    assert lim.connection_allowed("192.0.2.1") is None
    lim.connection_done("192.0.2.1")

    assert lim.auth_allowed("192.0.2.9")
    lim.auth_failed("192.0.2.9")
    lim.auth_failed("192.0.2.9")
    assert not lim.auth_allowed("192.0.2.9")
    lim.auth_succeeded("192.0.2.9")
    assert lim.auth_allowed("192.0.2.9")

    # Housekeeping forgets windows that ended (the day window of the failures stays).
    now[0] += 61
    lim.expire()
    assert lim.size() == 2  # middle and wide class of the day window
    now[0] += 24 * 3600
    lim.expire()
    assert lim.size() == 0


def test_bind_shares_free_port_and_skips_missing_ipv6():
    log = mlog.get_logger("serve")
    socks = bind_service("imap", ["127.0.0.1", "2001:db8::1"], 0, log)  # documentation prefix: not on this host
    try:
        assert [s.getsockname()[0] for s in socks] == ["127.0.0.1"]
    finally:
        for s in socks:
            s.close()
    socks = bind_service("imap", ["127.0.0.1", "::1"], 0, log)  # ::1 skipped if the host has no IPv6
    try:
        assert len({s.getsockname()[1] for s in socks}) == 1  # the same free port on every address
    finally:
        for s in socks:
            s.close()
    with pytest.raises(ListenError, match=r"^listen for imap on \[2001:db8::1\]:0: "):
        bind_service("imap", ["2001:db8::1"], 0, log)  # the only address: an error, not skipped
