"""Login hardening seen from clients: malformed LOGIN and AUTHENTICATE commands get a BAD that
quotes none of the argument bytes (they hold credentials), and the session transcript holds none
of them either; the shared password of per-address views is compared in constant time."""

from __future__ import annotations

from pathlib import Path

import pytest

from mox.testing import MoxServer

from .conftest import imap

SECRET = "Secr3t(pass)word"
PIECES = ["Secr3t", "pass)", ")word", "3t(pa", "c3VwZXJzZWNyZXQ"]


@pytest.mark.parametrize(
    "line",
    [
        f"a LOGIN mox@localhost {SECRET}",  # "(" is not an atom char: the error is inside the password
        f'a LOGIN "mox@localhost" "{SECRET}',  # unterminated quoted string
        f"a LOGIN mox@localhost {SECRET} extra",
        f'a LOGIN {SECRET}"x y',
        "a AUTHENTICATE PLAIN c3VwZXJzZWNyZXQ!!",  # not base64
        "a AUTHENTICATE PLAIN c3VwZXJzZWNyZXQ= extra",
    ],
)
def test_bad_reply_does_not_echo_credentials(mox_server: MoxServer, line: str) -> None:
    c = imap(mox_server)
    c.send(line)
    reply = c.line()
    assert reply.startswith("a BAD "), reply
    assert [p for p in PIECES if p in reply] == [], reply
    c.send("b LOGOUT")
    assert c.line() == "* BYE thanks"
    c.close()
    [t] = mox_server.transcripts("imap")
    text = mox_server.transcript(t["cid"])
    assert "a BAD " in text
    assert [p for p in PIECES if p in text] == [], text
    on_disk = (Path(mox_server.ports["dir"]) / "transcripts" / f"{t['cid']}.txt").read_text(encoding="utf-8")
    assert [p for p in PIECES if p in on_disk] == []


def test_other_commands_still_say_where(mox_server: MoxServer) -> None:
    """Only credentials are hidden: a syntax error elsewhere still quotes the place."""
    c = imap(mox_server)
    c.send("a1 LOGIN mox@localhost moxmoxmox")
    assert c.line().startswith("a1 OK ")
    c.send("a2 SELECT (Inbox")
    reply = c.line()
    assert reply.startswith("a2 BAD ") and "(near '(Inbox')" in reply, reply
    c.close()


def test_shared_password_compared_in_constant_time(mox_server: MoxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-address view login compares the shared password with hmac.compare_digest (no
    early exit at the first differing character)."""
    import hmac

    from mox.ci import hooks as ci

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ci.hmac, "compare_digest", recording)
    c = imap(mox_server)
    c.send(f"a1 LOGIN view-test@example.org {mox_server.shared_password}")
    assert c.line().startswith("a1 OK ")
    c.send("a2 LOGOUT")
    c.close()
    c = imap(mox_server)
    c.send("a1 LOGIN view-test@example.org moxmoxmoy")
    assert c.line() == "a1 NO [AUTHENTICATIONFAILED] login failed"
    c.close()
    shared = mox_server.shared_password.encode()
    assert (shared, shared) in calls and (b"moxmoxmoy", shared) in calls
