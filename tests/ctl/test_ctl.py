"""The control channel: real sockets, the blocking client against the trio server."""

from __future__ import annotations

import json
import sys

import pytest
import trio

from mox import ctl, mlog
from mox.ctl import server as ctlserver
from mox.ctl.commands import COMMANDS


class FakeCtx:
    def __init__(self) -> None:
        self.stop_requested = trio.Event()

    def request_stop(self) -> None:
        self.stop_requested.set()


async def _echo(ctx, conn):
    word = await conn.read_line()
    data = await conn.read_stream()
    await conn.write_line("ok")
    await conn.write_stream(word.encode() + b":" + data)


async def _broken(ctx, conn):
    raise ValueError("bug")


#: The server's table plus two commands of the test's own: the table is data, handed to serve_ctl.
TEST_COMMANDS = {**COMMANDS, "testecho": _echo, "testbroken": _broken}


@pytest.fixture(params=["unix", "tcp"])
def transport(request):
    if request.param == "unix" and sys.platform == "win32":
        pytest.skip("no AF_UNIX on Windows")
    return request.param


async def _with_server(tmp_path, transport, fn):
    ctx = FakeCtx()
    async with trio.open_nursery() as nursery:
        info = await nursery.start(lambda task_status: ctlserver.serve_ctl(ctx, tmp_path, commands=TEST_COMMANDS, force_tcp=transport == "tcp", task_status=task_status))
        assert info["transport"] == transport
        result = await trio.to_thread.run_sync(fn, ctx)
        nursery.cancel_scope.cancel()
    return result


async def test_commands(tmp_path, transport):
    def client(ctx):
        with ctl.CtlClient(tmp_path, timeout=10) as c:
            assert c.call("setloglevels", "imapserver", "debug") == []
            assert c.call("loglevels", stream=True) == ["(default): info", "imapserver: debug"]
            assert c.call("setloglevels", "imapserver", "") == []
            with pytest.raises(ctl.CtlError, match="unknown log level 'bogus'"):
                c.call("setloglevels", "smtpserver", "bogus")
            with pytest.raises(ctl.CtlError, match="unknown command 'nope'"):
                c.call("nope")
            with pytest.raises(ctl.CtlError, match=r"^internal error in testbroken: ValueError\('bug'\)$"):
                c.call("testbroken")
            big = bytes(range(256)) * 1000  # several chunks
            c.write_line("testecho")
            c.write_line("w")
            c.write_stream(big)
            assert c.read_line() == "ok"
            assert c.read_stream() == b"w:" + big
            assert c.call("stop") == []
        return ctx.stop_requested.is_set()

    mlog.set_level("info")
    assert await _with_server(tmp_path, transport, client)
    # Files removed when the server stops.
    assert not (tmp_path / "ctl.json").exists()
    assert not (tmp_path / "ctl").exists()


async def test_tcp_bad_token(tmp_path):
    def client(ctx):
        info = json.loads((tmp_path / "ctl.json").read_text(encoding="utf-8"))
        assert oct((tmp_path / "ctl.json").stat().st_mode & 0o777) == oct(0o600) or sys.platform == "win32"
        info["token"] = "wrong"
        (tmp_path / "ctl.json").write_text(json.dumps(info), encoding="utf-8")
        with pytest.raises(ctl.CtlError, match="^bad token$"):
            ctl.CtlClient(tmp_path, timeout=10)

    await _with_server(tmp_path, "tcp", client)


def test_not_running(tmp_path):
    with pytest.raises(ctl.CtlNotRunning, match=r"^mox is not running \(no control channel at .*ctl\)$"):
        ctl.CtlClient(tmp_path)
    # Stale files from a killed server: still "not running".
    (tmp_path / "ctl.json").write_text(json.dumps({"transport": "tcp", "port": 1, "token": "x"}), encoding="utf-8")
    with pytest.raises(ctl.CtlNotRunning):
        ctl.CtlClient(tmp_path)


async def test_already_running(tmp_path, transport):
    def client(ctx):
        async def second():
            await ctlserver.open_ctl_listener(tmp_path)

        with pytest.raises(ctl.CtlError, match="^mox is already running with data dir "):
            trio.run(second)

    await _with_server(tmp_path, transport, client)
