"""Deterministic mode: a fixed clock and stable ids in what the server writes itself (our
Received header, DSNs), so two runs produce the same bytes (golden files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mox.testing import MoxServer

from .conftest import deliver, message

FIXED = "Sat, 01 Jan 2000 00:00:00 -0000"
FIXED_RECEIVED = "1 Jan 2000 00:00:00 +0000"  # mox's date form in Received


def _run(dir: Path) -> tuple[bytes, bytes]:
    """Deliver one message on port 25 and provoke one DSN; both raw messages."""
    with MoxServer.open(dir, deterministic=True) as srv:
        deliver(srv, ["golden@example.org"], message("golden@example.org", "golden"))
        incoming = srv.address_inbox("golden@example.org").wait(subject="golden")
        with srv.smtp() as client:
            client.sendmail("mox@localhost", ["queuepermerror@localhost"], message("queuepermerror@localhost", "bounce me", frm="mox@localhost"))
        got = srv.api("GET", "wait?subject=mail%20delivery%20failed&timeout=20")["messages"]
        assert got, "no DSN"
        return (
            srv.api("GET", f"messages/{incoming['id']}/raw", raw=True),
            srv.api("GET", f"messages/{got[0]['id']}/raw", raw=True),
        )


def test_two_runs_give_the_same_bytes(tmp_path: Path) -> None:
    a_msg, a_dsn = _run(tmp_path / "a")
    b_msg, b_dsn = _run(tmp_path / "b")
    assert a_msg == b_msg
    assert a_dsn == b_dsn
    # Our Received header (mox's form, after the authentication results): fixed connection id
    # and date.
    assert b"\r\nReceived: from client.example (localhost [127.0.0.1]) by\r\n\tlocalhost ([127.0.0.1]) via tcp with ESMTP id d1 for <golden@example.org>;\r\n\t" + FIXED_RECEIVED.encode() + b"\r\nFrom: " in a_msg
    assert a_msg.startswith(b"Delivered-To: golden@example.org\r\nReturn-Path: <sender@example.org>\r\nAuthentication-Results: localhost;\r\n")
    # The submitted message in the DSN is signed with the well-known key of deterministic mode.
    assert b"\r\nDKIM-Signature: v=1; d=localhost; s=localserve; i=mox@localhost;\r\n\ta=ed25519-sha256; c=relaxed/relaxed; t=946684800; x=946944000; " in a_dsn
    head = a_dsn.split(b"\r\n\r\n", 1)[0].decode()
    assert f"Date: {FIXED}" in head.splitlines()
    msgid = [x for x in head.splitlines() if x.startswith("Message-ID: ")][0]
    assert msgid.startswith("Message-ID: <dsn-") and msgid.endswith("@localhost>")
    assert f"Arrival-Date: {FIXED}".encode() in a_dsn


def test_fixed_receive_time(tmp_path: Path) -> None:
    with MoxServer.open(tmp_path / "mox", deterministic=True) as srv:
        deliver(srv, ["when@example.org"], message("when@example.org", "when"))
        m = srv.address_inbox("when@example.org").wait()
        assert m["received"] == "2000-01-01T00:00:00Z"
        with srv.address_inbox("when@example.org").imap() as client:
            client.select("INBOX")
            typ, data = client.fetch("1", "(INTERNALDATE)")
            assert data == [b'1 (INTERNALDATE " 1-Jan-2000 00:00:00 +0000")']  # RFC 3501 date-day-fixed


@pytest.mark.mox(deterministic="2024-05-06T07:08:09Z")
def test_fixed_time_setting(mox_server: MoxServer) -> None:
    assert mox_server.api("GET", "ci")["deterministic"] == 1714979289.0
    deliver(mox_server, ["t@example.org"], message("t@example.org", "timed"))
    m = mox_server.address_inbox("t@example.org").wait()
    raw = mox_server.api("GET", f"messages/{m['id']}/raw", raw=True)
    assert b"6 May 2024 07:08:09 +0000\r\n" in raw.split(b"\r\n\r\n", 1)[0]
