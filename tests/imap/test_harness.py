"""The IMAP harness itself: a test fails when the server logged an error line, whatever the log
level settings, when a command hit a server bug, and when an exception went uncaught in a thread
or where it could not propagate. (Each case runs a harness of its own and expects its teardown
to fail.)"""

from __future__ import annotations

import threading

import pytest

from mox import mlog
from tests.imap import conftest
from tests.imap.conftest import ImapHarness


@pytest.fixture
def harness(tmp_path, tls_cert):
    h = ImapHarness(tmp_path, tls_cert)
    yield h
    if not h.finished:  # the test failed early: clean up without judging
        h.allow_server_errors = True
        h.finish()


def expect_teardown_failure(h: ImapHarness, text: str) -> None:
    with pytest.raises(pytest.fail.Exception) as e:
        h.finish()
    assert text in str(e.value)


async def log_error(pkg: str) -> None:
    mlog.get_logger(pkg).error("unhandled error in command", err="RuntimeError('boom')")


def test_error_line_fails(harness):
    harness.start()
    harness.run(log_error, "imapserver")
    expect_teardown_failure(harness, "server logged errors")


def test_error_line_fails_whatever_the_levels(harness, monkeypatch):
    # A quieter MOX_TEST_LOGLEVEL, or a default level left above "error" by someone else, must
    # not hide error lines of the server or the store.
    monkeypatch.setattr(conftest, "LOGLEVEL", "fatal")
    saved = mlog.levels()[""]
    mlog.set_level("print")
    try:
        harness.start()
        harness.run(log_error, "imapserver")
        harness.run(log_error, "store")
        with pytest.raises(pytest.fail.Exception) as e:
            harness.finish()
        assert str(e.value).count("unhandled error in command") == 2
    finally:
        mlog.set_level(saved)


def test_server_bug_fails(harness, monkeypatch):
    # A command that hits a bug: the client gets NO [SERVERBUG], the test fails at teardown.
    from mox.imap import server as imapserver

    async def broken(s, cmd):
        raise KeyError("bug")

    monkeypatch.setitem(imapserver.HANDLERS, "NOOP", broken)
    tc = harness.connect()
    tc.transact("no", "noop")
    tc.expect_code("SERVERBUG")
    expect_teardown_failure(harness, "unhandled error in command")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # pytest sees it too
def test_uncaught_thread_exception_fails(harness):
    harness.start()

    def die():
        raise RuntimeError("thread died")

    t = threading.Thread(target=die, name="worker")
    t.start()
    t.join()
    expect_teardown_failure(harness, "exception in thread worker")


def test_allowed_errors_pass(harness):
    harness.start()
    harness.allow_server_errors = True
    harness.run(log_error, "imapserver")
    harness.finish()


def test_server_log_lines_stay_in_the_test_capture(tmp_path, tls_cert, monkeypatch):
    """The server logs from its own thread, also after the test's last command, e.g. "connection
    closed" once it noticed a client's close. pytest prints a test's result with its capture
    suspended (sys.stderr is then the terminal): such a line must still go to the test's
    captured stderr, where a failing test shows it, not to the terminal between the dots."""
    import io
    import sys

    captured, terminal = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", captured)  # the test's stderr while the harness is made
    h = ImapHarness(tmp_path, tls_cert)
    try:
        tc = h.connect()
        monkeypatch.setattr(sys, "stderr", terminal)  # pytest prints "PASSED" meanwhile
        tc.close()
        h.wait_until(lambda: any("connection closed" in line for line in h.log.lines), "the server to see the close")
    finally:
        h.finish()
    assert "debug: connection closed; pkg=imapserver" in captured.getvalue()
    assert terminal.getvalue() == ""
