"""The pytest plugin (mox/testing/pytest_plugin.py): fixture `mox_server`, its clients and the Inbox helper.

Mail goes in over SMTP submission with stdlib smtplib and is checked over IMAP with imaplib, as a
user of the plugin would do it.
"""

from __future__ import annotations

import email.utils
import imaplib
import smtplib
import socket
import subprocess
import sys
import threading
import urllib.request
from email.message import EmailMessage
from importlib.metadata import entry_points

import pytest

from mox.testing import MoxServer, ReceivedMessage


def _message(to: str, subject: str, body: str, cc: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "mox@localhost"
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = email.utils.make_msgid(domain="localhost")
    msg.set_content(body)
    return msg


def _submit(srv: MoxServer, msg: EmailMessage, to_addrs: list[str] | None = None) -> None:
    with smtplib.SMTP(*srv.smtp_address, timeout=30) as s:
        s.login(srv.address, srv.password)
        s.send_message(msg, to_addrs=to_addrs)


def _imap_inbox(srv: MoxServer) -> list[bytes]:
    """Every Inbox message's bytes, fetched over IMAP."""
    with imaplib.IMAP4(*srv.imap_address, timeout=30) as m:
        m.login(srv.address, srv.password)
        typ, data = m.select("Inbox")
        assert typ == "OK"
        if int(data[0]) == 0:
            return []
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK"
        return [part[1] for part in data if isinstance(part, tuple)]


def test_plugin_is_registered_as_pytest11_entry_point():
    (ep,) = [ep for ep in entry_points(group="pytest11") if ep.name == "mox"]
    assert ep.value == "mox.testing.pytest_plugin"


def test_mox_testing_needs_no_pytest_and_the_plugin_does():
    """Without pytest, mox.testing (LocalServer, MoxServer) imports; the plugin module, which only
    pytest loads, needs pytest and says so with an ImportError rather than defining nothing."""
    script = (
        "import sys\n"
        "sys.modules['pytest'] = None  # as if pytest were not installed\n"
        "from mox.testing import LocalServer, MoxServer\n"
        "print('mox.testing ok')\n"
        "try:\n"
        "    import mox.testing.pytest_plugin\n"
        "except ImportError as e:\n"
        "    print('plugin:', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["mox.testing ok", "plugin: import of pytest halted; None in sys.modules"]


def test_addresses_and_credentials(mox_server):
    assert mox_server.address == "mox@localhost"
    assert mox_server.password == "moxmoxmox"
    assert mox_server.smtp_address == ("127.0.0.1", mox_server.ports["submission"])
    assert mox_server.imap_address == ("127.0.0.1", mox_server.ports["imap"])
    assert mox_server.http_address == ("127.0.0.1", mox_server.ports["http"])
    assert mox_server.http_url == f"http://127.0.0.1:{mox_server.ports['http']}"
    assert mox_server.dir.is_dir()
    with urllib.request.urlopen(mox_server.http_url + "/webmail/", timeout=30) as r:  # the HTTP listener answers
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/html")

    with smtplib.SMTP(*mox_server.smtp_address, timeout=30) as s:
        code, _ = s.ehlo("client.example")
        assert code == 250
        assert s.has_extn("auth")
        assert s.login(mox_server.address, mox_server.password)[0] == 235
    with mox_server.imap() as m:
        assert m.select("Inbox") == ("OK", [b"0"])
    with pytest.raises(smtplib.SMTPAuthenticationError):
        with smtplib.SMTP(*mox_server.smtp_address, timeout=30) as s:
            s.login(mox_server.address, "wrong password")


def test_wait_for_returns_the_submitted_message(mox_server):
    _submit(mox_server, _message("Alice <alice@example.org>", "Welcome, Alice", "Hi Alice,\nwelcome.\n"))

    got = mox_server.inbox.wait_for(to="ALICE@example.org", subject="Welcome", timeout=10)
    assert isinstance(got, ReceivedMessage)
    assert got.subject == "Welcome, Alice"
    assert got.sender == "mox@localhost"
    assert got.recipients == ["alice@example.org"]
    assert got.text == "Hi Alice,\r\nwelcome.\r\n"
    # The same bytes are what an IMAP client fetches.
    assert _imap_inbox(mox_server) == [got.raw]


def test_wait_for_picks_the_match_and_sees_envelope_recipients(mox_server):
    _submit(mox_server, _message("a@example.org", "first", "one\n"))
    # bcc@example.org is only in the envelope; delivery records it as Delivered-To.
    _submit(mox_server, _message("b@example.org", "second", "two\n", cc="c@example.org"),
            to_addrs=["b@example.org", "c@example.org", "bcc@example.org"])

    second = mox_server.inbox.wait_for(subject="second", timeout=10)
    assert second.text == "two\r\n"
    assert mox_server.inbox.wait_for(to="bcc@example.org", timeout=10).uid in {
        m.uid for m in mox_server.inbox.messages() if m.subject == "second"}
    assert mox_server.inbox.wait_for(to="a@example.org", timeout=10).subject == "first"


def test_wait_for_wakes_when_mail_arrives_while_waiting(mox_server):
    result: list[ReceivedMessage | BaseException] = []

    def wait() -> None:
        try:
            result.append(mox_server.inbox.wait_for(subject="late", timeout=20))
        except BaseException as e:
            result.append(e)

    waiter = threading.Thread(target=wait)
    waiter.start()
    _submit(mox_server, _message("late@example.org", "late arrival", "here\n"))
    waiter.join(30)
    assert not waiter.is_alive()
    (got,) = result
    assert isinstance(got, ReceivedMessage), got
    assert got.subject == "late arrival"


def test_wait_for_timeout_says_what_the_inbox_holds(mox_server):
    with pytest.raises(TimeoutError) as e:
        mox_server.inbox.wait_for(subject="never", timeout=0.2)
    assert str(e.value) == "no message subject~'never' in the Inbox after 0.2s; it holds 0: nothing"

    _submit(mox_server, _message("x@example.org", "something else", "body\n"))
    mox_server.inbox.wait_for(subject="something else", timeout=10)
    with pytest.raises(TimeoutError) as e:
        mox_server.inbox.wait_for(to="y@example.org", subject="never", timeout=0.2)
    assert str(e.value) == (
        "no message to='y@example.org' and subject~'never' in the Inbox after 0.2s; "
        "it holds 1: 'something else' to x@example.org")


def test_messages_skips_a_message_expunged_while_read(mox_server):
    # Another session (IMAP, say) expunges a message between the Inbox listing and the read of
    # its file (made certain by expunging inside the listing): it is left out, no MessageGone.
    # The lowest message id is expunged below: "gone" is delivered before "stays" is sent (the
    # queue may deliver two messages sent at once in either order).
    mox_server.send("one@example.org", "gone", "first\n")
    mox_server.inbox.wait_for(subject="gone", timeout=10)
    mox_server.send("two@example.org", "stays", "second\n")
    mox_server.inbox.wait_for(subject="stays", timeout=10)
    acc = mox_server.server.store.open_account("mox")
    real = acc.messages

    def listing_then_expunge(mailbox_id):
        msgs = real(mailbox_id)
        acc.expunge_sync(mailbox_id, [m.uid for m in msgs if m.id == min(x.id for x in msgs)])
        return msgs

    acc.messages = listing_then_expunge
    try:
        assert [m.subject for m in mox_server.inbox.messages()] == ["stays"]
    finally:
        del acc.messages
        acc.close()


def test_messages_and_clear(mox_server):
    assert mox_server.inbox.messages() == []
    mox_server.send("one@example.org", "m1", "first\n")
    # Each envelope recipient gets its own delivery; three@ is only named in the header here.
    _submit(mox_server, _message("two@example.org", "m2", "second\n", cc="three@example.org"),
            to_addrs=["two@example.org"])
    mox_server.inbox.wait_for(subject="m2", timeout=10)
    mox_server.inbox.wait_for(subject="m1", timeout=10)

    msgs = mox_server.inbox.messages()
    assert sorted(m.subject for m in msgs) == ["m1", "m2"]
    assert [m.uid for m in msgs] == sorted(m.uid for m in msgs)
    (m2,) = [m for m in msgs if m.subject == "m2"]
    assert m2.recipients[:2] == ["two@example.org", "three@example.org"]
    assert len(_imap_inbox(mox_server)) == 2

    mox_server.inbox.clear()
    assert mox_server.inbox.messages() == []
    assert _imap_inbox(mox_server) == []
    mox_server.inbox.clear()  # clearing an empty Inbox is fine


def test_without_pytest_fixture(tmp_path):
    with MoxServer.open(tmp_path / "data") as srv:
        srv.send("z@example.org", "plain use", "no fixture\n")
        assert srv.inbox.wait_for(to="z@example.org", timeout=10).text == "no fixture\r\n"
        port = srv.smtp_port
    # Stopped: the listener is gone.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_fixture_loads_in_a_fresh_pytest_run(tmp_path):
    # What a user gets: no conftest, the fixture comes from the installed entry point.
    (tmp_path / "test_user.py").write_text(
        "def test_mail(mox_server):\n"
        "    mox_server.send('u@example.org', 'from a user test', 'hi\\n')\n"
        "    assert mox_server.inbox.wait_for(to='u@example.org', timeout=10).subject == 'from a user test'\n",
        encoding="utf-8",
    )
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


BROKEN_HANDLER_TESTS = """
import json
import urllib.error
import urllib.request

import pytest


async def broken(ctx, req):
    raise RuntimeError("a bug in the server")


def provoke(mox_server):
    mox_server.server.ctx.web.router.add("/test/broken", broken)
    try:
        urllib.request.urlopen(mox_server.http_url + "/test/broken", timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 500


def test_server_bug(mox_server):
    provoke(mox_server)


@pytest.mark.mox(allow_server_errors=True)
def test_server_bug_allowed(mox_server):
    provoke(mox_server)
    assert [line.split(";")[0] for line in mox_server.server.errors] == ["error: unhandled error in web handler"]


def test_clean(mox_server):
    mox_server.send("u@example.org", "fine", "hi\\n")
    mox_server.inbox.wait_for(to="u@example.org", timeout=10)
"""


def test_a_server_error_fails_the_users_test_unless_allowed(tmp_path):
    (tmp_path / "test_user.py").write_text(BROKEN_HANDLER_TESTS, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rE", "-p", "no:cacheprovider", "test_user.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("3 passed, 1 error"), proc.stdout
    assert "ERROR at teardown of test_server_bug " in proc.stdout, proc.stdout
    assert "mox.testing.localserver.ServerErrors: server logged errors:" in proc.stdout, proc.stdout
    assert "error: unhandled error in web handler; pkg=http;" in proc.stdout, proc.stdout


async def test_wait_for_async_in_a_trio_test(mox_server):
    import trio

    async with trio.open_nursery() as nursery:
        # The submission runs in a thread while this task waits on the store's notifications.
        nursery.start_soon(trio.to_thread.run_sync, mox_server.send, "t@example.org", "from trio", "async\n")
        msg = await mox_server.inbox.wait_for_async(to="t@example.org", subject="from trio", timeout=10)
    assert msg.text == "async\r\n"
