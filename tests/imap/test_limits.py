"""Connection limits and errors (mox ``imapserver/server.go``): non-IMAP first line, line and literal limits,
timeouts ending with BYE, shutdown."""

import re
import socket

import pytest

from mox.imap.client import ImapNo
from mox.imap.responses import CodeWord


def test_not_imap(imap):
    tc = imap.connect(login=False)
    tc.write_line("GET / HTTP/1.0")
    assert tc.read_line() == "* BYE please try again speaking imap"
    tc.expect_closed()


def test_line_too_long(imap):
    # Command lines up to 64 KiB (Dovecot's limit): an ID with a 31 KB value is fine. A longer
    # line gets BAD [TOOBIG] and the session goes on; the data of a LITERAL+ literal announced
    # at its end is skipped with the rest of the command, a synchronizing one is not invited.
    tc = imap.connect()
    tc.transact("ok", 'ID ("name" "' + "x" * 31000 + '" "version" "1")')
    assert len(tc.untagged) == 1 and tc.untagged[0][1].startswith(b'* ID ("name" "mox" "version" ')
    assert max(len(line) for line in imap.log.lines) < 3000  # the value is logged cut short
    tc.write(b"a1 noop " + b"x" * 70000 + b"\r\n")
    assert tc.read_line() == "a1 BAD [TOOBIG] command line too long, the maximum is 65536 bytes"
    tc.transact("ok", "noop")
    tc.write(b'a2 ID ("name" "' + b"x" * 200000 + b'" "v" {5+}\r\nhello)\r\n')
    assert tc.read_line() == "a2 BAD [TOOBIG] command line too long, the maximum is 65536 bytes"
    tc.transact("ok", "noop")
    tc.write(b'a3 ID ("name" "' + b"x" * 70000 + b'" "v" {5}\r\n')
    assert tc.read_line() == "a3 BAD [TOOBIG] command line too long, the maximum is 65536 bytes"
    tc.transact("ok", "select inbox")  # no literal data was sent for a3: this is the next command
    tc.write(b"a4 uid fetch " + b"1," * 40000 + b"1 flags\r\n")
    assert tc.read_line() == "a4 BAD [TOOBIG] command line too long, the maximum is 65536 bytes"
    tc.transact("ok", "noop")


def test_literal_too_big(imap):
    tc = imap.connect()
    tc.write_line("a1 login {200000}")
    assert tc.read_line() == "a1 BAD [TOOBIG] literal too big"
    tc.transact("ok", "noop")  # still usable
    tc.write_line("a2 login {200000+}")
    assert tc.read_line() == "* BYE [ALERT] literal too big"
    tc.expect_closed()


def test_timeout_before_login(imap):
    imap.set_timeouts(read_preauth=0.3)
    tc = imap.connect(login=False)
    assert tc.read_line() == "* BYE inactive, closing connection"
    tc.expect_closed()


def test_timeout_after_login_and_idle(imap):
    imap.set_timeouts(read_auth=0.3)
    tc = imap.connect()
    tc.command("idle")
    assert tc.read_line() == "+ waiting"
    assert tc.read_line() == "* BYE inactive, closing connection"
    tc.expect_closed()


def test_literal_read_timeout(imap):
    imap.set_timeouts(literal=0.3)
    tc = imap.connect()
    tc.write(b"a1 login {10+}\r\nabc")
    assert tc.read_line() == "* BYE inactive, closing connection"
    tc.expect_closed()


def test_shutting_down(imap):
    imap.start()
    imap.server.run_sync_in_server(imap.ctx.shutting_down.set)  # trio events are set in their own thread
    s = socket.create_connection(("127.0.0.1", imap.ports["imap"]), timeout=10)
    f = s.makefile("rb")
    assert f.readline() == b"* BYE mox shutting down\r\n"
    assert f.readline() == b""
    s.close()


def test_untagged_bad_and_garbage(imap):
    tc = imap.connect()
    tc.write_line("")  # empty line: untagged BAD, connection stays
    assert tc.read_line().startswith("* BAD ")
    tc.write(b"a1 select \xff\xfe\r\n")
    assert tc.read_line().startswith("a1 BAD ")
    tc.transact("ok", "noop")


def test_server_bug(imap, monkeypatch):
    from mox.imap import server as imapserver

    async def broken(s, cmd):
        raise RuntimeError("boom")

    imap.allow_server_errors = True
    monkeypatch.setitem(imapserver.HANDLERS, "NAMESPACE", broken)
    tc = imap.connect()
    tc.transact("no", "namespace")
    tc.expect_code("SERVERBUG")
    assert "boom" not in tc.result.text  # no internals (let alone a traceback) to the client
    tc.transact("ok", "noop")
    # One error line (mox.mlog.Logger.unexpected): the connection's id, the command, the traceback.
    [line] = imap.log.errors
    assert re.match(
        r'error: unhandled error in command; pkg=imapserver; cid=[0-9a-f]+; remote=127\.0\.0\.1; command=NAMESPACE; '
        r"err=RuntimeError\('boom'\); trace=\"Traceback \(most recent call last\):\\n.*, in broken\\n", line
    ), line


def test_shutting_down_existing_connections(imap):
    tc = imap.connect()
    tc2 = imap.connect()
    tc2.command("idle")
    assert tc2.read_line() == "+ waiting"
    imap.server.run_sync_in_server(imap.ctx.shutting_down.set)  # trio events are set in their own thread
    assert tc2.read_line() == "* BYE mox shutting down"
    tc2.expect_closed()
    tc.write_line("a1 noop")
    assert tc.read_line() == "* BYE mox shutting down"
    tc.expect_closed()


def test_timeout_during_authenticate(imap):
    imap.set_timeouts(read_preauth=0.3)
    tc = imap.connect(login=False)
    tc.command("authenticate plain")
    assert tc.read_line() == "+ "
    assert tc.read_line() == "* BYE inactive, closing connection"
    tc.expect_closed()


def test_auth_failure_limiter(imap):
    from mox import config as mconfig

    big = (10**9, 10**9, 10**9)
    imap.start(
        limits=mconfig.Limits(
            connections_per_minute=big, concurrent_connections=big, auth_failures_per_minute=(2, 100, 100),
            auth_failures_per_day=big,
        )
    )
    tc = imap.connect(login=False)
    tc.transact("no", "login mox@localhost wrong1")
    tc.command("authenticate cram-md5")
    tc.read_line()
    # "mox@localhost" and a wrong 32-digit digest: a failed CRAM-MD5 counts too (a malformed
    # response, e.g. a short digest, is BAD, as in mox).
    tc.write_line("bW94QGxvY2FsaG9zdCAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMA==")
    tc.response("no")
    # The IP is now over its limit: even the right password is refused.
    tc.transact("no", "login mox@localhost moxmoxmox")
    tc.expect_code("AUTHENTICATIONFAILED")
    tc.transact("no", "authenticate plain AG1veEBsb2NhbGhvc3QAbW94bW94bW94")
    with pytest.raises(ImapNo) as e:
        tc.conn.authenticate_scram("mox@localhost", "moxmoxmox")
    assert e.value.code == CodeWord("AUTHENTICATIONFAILED")


def test_error_text_never_looks_like_a_code(imap):
    tc = imap.connect()
    tc.write_line("a1 [")
    assert tc.read_line() == 'a1 BAD error: [ unrecognized syntax/command: unknown command "["'
    tc.write(b"a2 select x\xc3\xa9\r\n")  # error texts stay ASCII
    assert tc.read_line() == "a2 BAD unexpected data at end of command (near '\\xe9')"
    tc.transact("ok", "noop")


def test_append_literal_before_login(imap):
    # Before login, APPEND's message literal is limited like any other literal (mox
    # imapserver/server.go: 100 KiB), so an unauthenticated client can't make the server read a
    # huge message; after login only the quota limits it.
    tc = imap.connect(login=False)
    tc.write_line("a1 append inbox {200000}")
    assert tc.read_line() == "a1 BAD [TOOBIG] literal too big"
    tc.write_line("a2 append inbox {5}")
    assert tc.read_line() == "+ "
    tc.write_line("hello")
    assert tc.read_line() == "a2 NO APPEND not allowed in this connection state"
    tc.write_line("a3 append inbox {200000+}")
    assert tc.read_line() == "* BYE [ALERT] literal too big"
    tc.expect_closed()
    tc = imap.connect()
    tc.transact("ok", "append inbox ", b"x" * 200000)
    tc.expect_code(f"APPENDUID {imap.account.mailbox('Inbox').uidvalidity} 1")
