"""Logging: logfmt-style lines with levels, a connection id per connection, protocol traces with
credentials shown only at traceauth (the trace level hiding them is in test_localserve)."""

from __future__ import annotations

import imaplib
import io
import re
import smtplib

import pytest

from mox import mlog


@pytest.fixture
def out():
    buf = io.StringIO()
    saved = mlog.levels()
    mlog.set_output(buf)
    try:
        yield buf
    finally:
        mlog.set_output(__import__("sys").stderr)
        for pkg in list(mlog.levels()):
            if pkg:
                mlog.set_level("", pkg)
        mlog.set_level(saved[""])
        for pkg, level in saved.items():
            if pkg:
                mlog.set_level(level, pkg)


def test_line_format_levels_and_quoting(out):
    mlog.set_level("info")
    log = mlog.get_logger("smtpserver").with_(cid="1a", remote="127.0.0.1")
    log.debug("not shown")
    log.info("new connection", tls=False, note="two words", empty="", skipped=None)
    log.warn("bad line", line='a;b="c"\r\n')
    mlog.set_level("debug", "smtpserver")
    log.debug("now shown")
    mlog.get_logger("imapserver").debug("still hidden")
    assert out.getvalue() == (
        "info: new connection; pkg=smtpserver; cid=1a; remote=127.0.0.1; tls=False; note=\"two words\"; empty=\"\"\n"
        "warn: bad line; pkg=smtpserver; cid=1a; remote=127.0.0.1; line=\"a;b=\\\"c\\\"\\r\\n\"\n"
        "debug: now shown; pkg=smtpserver; cid=1a; remote=127.0.0.1\n"
    )
    with pytest.raises(ValueError):
        mlog.set_level("loud")


def test_trace_line_redaction_by_level(out):
    log = mlog.get_logger("imapserver").with_(cid="2b")
    for level in ("debug", "trace", "traceauth", "tracedata"):
        mlog.set_level(level)
        log.trace_line("C:", b"x LOGIN a b\r\n", kind="auth")
        log.trace_line("S:", b"body bytes\r\n", kind="data")
        log.trace_line("S:", "x OK done\r\n")
    assert out.getvalue().splitlines() == [
        # debug: no protocol lines; trace: auth and data hidden
        "trace: C: ***; pkg=imapserver; cid=2b",
        "trace: S: ...; pkg=imapserver; cid=2b",
        "trace: S: x OK done; pkg=imapserver; cid=2b",
        # traceauth: credentials shown, message data still hidden
        "trace: C: x LOGIN a b; pkg=imapserver; cid=2b",
        "trace: S: ...; pkg=imapserver; cid=2b",
        "trace: S: x OK done; pkg=imapserver; cid=2b",
        # tracedata: everything
        "trace: C: x LOGIN a b; pkg=imapserver; cid=2b",
        "trace: S: body bytes; pkg=imapserver; cid=2b",
        "trace: S: x OK done; pkg=imapserver; cid=2b",
    ]


def test_connection_ids_and_traceauth_on_a_running_localserve(mox_process):
    p = mox_process("-loglevel", "traceauth", "localserve", "-ephemeral", "-port-base", "0")
    info = p.wait_ready()
    for _ in range(2):
        with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
            imap.login("mox@localhost", "moxmoxmox")
            imap.logout()
    with smtplib.SMTP("127.0.0.1", info["submission"], timeout=30) as c:
        c.login("mox@localhost", "moxmoxmox")
    p.terminate()
    assert p.wait() == 0
    lines = p.log().splitlines()
    new = [re.fullmatch(r"debug: new connection; pkg=(\w+); cid=(\w+); remote=127\.0\.0\.1; .*", x) for x in lines
           if x.startswith("debug: new connection;")]
    assert [m.group(1) for m in new] == ["imapserver", "imapserver", "smtpserver"], lines
    cids = [m.group(2) for m in new]
    assert len(set(cids)) == 3, cids  # one id per connection
    for pkg, cid in zip(["imapserver", "imapserver", "smtpserver"], cids):
        mine = [x for x in lines if re.search(f"; cid={cid}(;|$)", x)]
        assert all(f"; pkg={pkg}; cid={cid}" in x for x in mine), mine
        traces = [x for x in mine if x.startswith("trace: ")]
        assert traces and all(re.fullmatch(r"trace: (C|S|RC|LS): .*", x) for x in traces), traces
    # traceauth: the LOGIN line of each IMAP connection shows the password.
    for cid in cids[:2]:
        assert [x for x in lines if x.startswith("trace: C: ") and re.search(f"; cid={cid}(;|$)", x) and "moxmoxmox" in x], cid


def test_unexpected_exception_line(out):
    """The one way an unexpected exception is logged (every driver calls Logger.unexpected): level
    error whatever the configured level hides, the connection id, the caller's fields, the
    exception and its traceback, one line."""
    import trio

    mlog.set_level("error")

    def bug() -> None:
        raise KeyError("x")

    try:
        bug()
    except KeyError as e:
        mlog.get_logger("imapserver").with_(cid="1a").unexpected("unhandled error in command", e, command="NOOP")
    line = out.getvalue()
    assert line.startswith(
        "error: unhandled error in command; pkg=imapserver; cid=1a; command=NOOP; err=KeyError('x'); "
        'trace="Traceback (most recent call last):\\n  File '
    ), line
    assert line.endswith(", in bug\\n    raise KeyError(\\\"x\\\")\\nKeyError: 'x'\"\n"), line
    assert line.count("\n") == 1

    # Without a cid of its own, the line gets the id of the connection the task serves (chosen by
    # the listener), and a nursery's group around one exception is named by that exception.
    seen: list[str] = []

    async def connection() -> None:
        seen.append(mlog.start_connection())
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.to_thread.run_sync, bug)
        except BaseExceptionGroup as e:
            mlog.get_logger("serve").unexpected("unhandled error in connection handler", e, service="smtp")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(connection)
            nursery.start_soon(connection)

    out.truncate(0)
    out.seek(0)
    trio.run(main)
    lines = out.getvalue().splitlines()
    assert len(seen) == 2 and seen[0] != seen[1]
    assert sorted(re.match(r"error: unhandled error in connection handler; pkg=serve; cid=(\w+); service=smtp; "
                           r"err=KeyError\('x'\); trace=\"  \+ Exception Group Traceback", line)[1]
                  for line in lines) == sorted(seen)
