"""Scoped fault injection (mox.ci.faults, /api/v1/faults): a test per SMTP stage and action, the
IMAP faults, "fail the first N", seeded probability, scopes and TTL expiry.

One server for the module; every test scopes its rules to its own token (the first label of
the EHLO name, an address tag or a header), so the rules of one test never touch another's
sessions — the same way parallel test workers use them.
"""

from __future__ import annotations

import base64
import itertools
import random
import ssl
import time
from collections.abc import Iterator

import pytest

from mox.testing import ApiError, MoxServer

from .conftest import Closed, Line, imap

STAGES = ["connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data_end"]
AUTH = base64.b64encode(b"\0mox@localhost\0moxmoxmox").decode()
_tokens = itertools.count(1)


@pytest.fixture(scope="module")
def fsrv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MoxServer]:
    with MoxServer.open(tmp_path_factory.mktemp("faults") / "mox") as s:
        yield s


@pytest.fixture
def token() -> str:
    return f"tok{next(_tokens)}x{int(time.time() * 1000) % 100000}z"  # no digits at the end: see failsim


def _tls(c: Line) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")


def session(
    srv: MoxServer, token: str, stop_at: str | None = None, elapsed: dict[str, float] | None = None
) -> list[tuple[str, str]]:
    """A submission session through every stage; (stage, reply) pairs, "CLOSED" when the server
    closed the connection at that stage. Stops after ``stop_at``. ``elapsed`` gets, per stage,
    the seconds from sending the command (connecting, for the greeting) to its whole reply."""
    out: list[tuple[str, str]] = []
    start = time.monotonic()
    c = Line(srv.ports["submission"])
    msg = (
        f"From: <mox@localhost>\r\nTo: <rcpt+{token}@example.org>\r\nSubject: {token}\r\n"
        "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m@example.org>\r\n\r\nhello\r\n.\r\n"
    )
    steps = [
        ("connect", None),
        ("ehlo", f"EHLO {token}.example"),
        ("starttls", "STARTTLS"),
        ("auth", f"AUTH PLAIN {AUTH}"),
        ("mail", "MAIL FROM:<mox@localhost>"),
        ("rcpt", f"RCPT TO:<rcpt+{token}@example.org>"),
        ("data", "DATA"),
        ("data_end", msg.encode()),
    ]
    try:
        for stage, line in steps:
            if line is not None:
                start = time.monotonic()
            try:
                if line is None:
                    r = c.reply()
                elif isinstance(line, bytes):
                    c.sock.sendall(line)
                    r = c.reply()
                else:
                    r = c.cmd(line)
            except (Closed, ConnectionResetError):
                out.append((stage, "CLOSED"))
                return out
            if elapsed is not None:
                elapsed[stage] = time.monotonic() - start
            out.append((stage, r.split("\n")[0] if stage == "ehlo" else r))
            if stage == stop_at:
                return out
            if stage == "starttls":
                _tls(c)
                assert c.cmd(f"EHLO {token}.example").startswith("250-localhost")
        assert c.cmd("QUIT") == "221 2.0.0 okay thanks bye"
        return out
    finally:
        c.close()


def _baseline(srv: MoxServer, token: str) -> list[tuple[str, str]]:
    from mox import __version__

    return [
        ("connect", f"220 localhost ESMTP mox {__version__}"),
        ("ehlo", "250-localhost"),
        ("starttls", "220 2.0.0 go!"),
        ("auth", "235 2.7.0 nice"),
        ("mail", "250 2.1.0 looking good"),
        ("rcpt", "250 2.1.0 now on the list"),
        ("data", "354 see you at the bare dot"),
        ("data_end", "250 2.2.0 it is done"),
    ]


def _scope(stage: str, token: str) -> dict[str, str]:
    # connect happens before anything is known: such rules are global, made safe by times=1.
    return {} if stage == "connect" else {"token": token}


def test_baseline_session(fsrv: MoxServer, token: str) -> None:
    assert session(fsrv, token) == _baseline(fsrv, token)


@pytest.mark.parametrize("stage", STAGES)
def test_reply(fsrv: MoxServer, token: str, stage: str) -> None:
    code = 554 if stage == "connect" else 451
    with fsrv.faults.add(stage=stage, action="reply", code=code, text=f"injected at {stage}", times=1, **_scope(stage, token)) as rule:
        got = session(fsrv, token, stop_at=stage)
        want = _baseline(fsrv, token)[: STAGES.index(stage)] + [(stage, f"{code} {code // 100}.0.0 injected at {stage}")]
        assert got == want
        assert fsrv.faults.get(rule["id"])["fired"] == 1
    # times=1: the next session goes through (and the rule is gone anyway).
    assert session(fsrv, token) == _baseline(fsrv, token)


@pytest.mark.parametrize("stage", STAGES)
def test_drop(fsrv: MoxServer, token: str, stage: str) -> None:
    with fsrv.faults.add(stage=stage, action="drop", times=1, **_scope(stage, token)):
        got = session(fsrv, token)
        assert got == _baseline(fsrv, token)[: STAGES.index(stage)] + [(stage, "CLOSED")]


@pytest.mark.parametrize("stage", STAGES)
def test_delay(fsrv: MoxServer, token: str, stage: str) -> None:
    with fsrv.faults.add(stage=stage, action="delay", seconds=0.2, times=1, **_scope(stage, token)) as rule:
        elapsed: dict[str, float] = {}
        assert session(fsrv, token, elapsed=elapsed) == _baseline(fsrv, token)
        assert fsrv.faults.get(rule["id"])["fired"] == 1
    # The reply of that stage came no sooner than the delay (a lower bound: a busy machine can
    # only make it later).
    assert elapsed[stage] >= 0.19, elapsed
    cid = fsrv.transcripts("smtp")[-1]["cid"]
    assert f"-- fault rule {rule['id']} fired at {stage}: delay" in fsrv.transcript(cid).splitlines()


@pytest.mark.parametrize("stage", STAGES)
def test_throttle(fsrv: MoxServer, token: str, stage: str) -> None:
    with fsrv.faults.add(stage=stage, action="throttle", rate=200000, times=1, **_scope(stage, token)) as rule:
        assert session(fsrv, token) == _baseline(fsrv, token)
        assert fsrv.faults.get(rule["id"])["fired"] == 1
    cid = fsrv.transcripts("smtp")[-1]["cid"]
    assert f"-- fault rule {rule['id']} fired at {stage}: throttle" in fsrv.transcript(cid).splitlines()


def test_throttle_slows_both_directions(fsrv: MoxServer, token: str) -> None:
    """100 bytes/s from MAIL on: the server reads RCPT (about 40 bytes) and writes its reply
    (27 bytes) in 10-byte steps a tenth of a second apart, so the RCPT reply takes at least
    0.4 + 0.2 s; unthrottled it takes milliseconds."""
    with fsrv.faults.add(stage="mail", token=token, action="throttle", rate=100, times=1):
        elapsed: dict[str, float] = {}
        assert session(fsrv, token, stop_at="rcpt", elapsed=elapsed)[-1] == ("rcpt", "250 2.1.0 now on the list")
    assert elapsed["rcpt"] >= 0.55, elapsed


def test_fail_first_n_then_accept(fsrv: MoxServer, token: str) -> None:
    with fsrv.faults.add(stage="rcpt", token=token, action="reply", code=450, text="busy", times=2) as rule:
        for _ in range(2):
            assert session(fsrv, token, stop_at="rcpt")[-1] == ("rcpt", "450 4.0.0 busy")
        assert session(fsrv, token) == _baseline(fsrv, token)
        assert fsrv.faults.get(rule["id"])["fired"] == 2


def test_seeded_probability(fsrv: MoxServer, token: str) -> None:
    """probability + seed: which attempts fail follows random.Random(seed), every run."""
    rng = random.Random(7)
    expect = [rng.random() < 0.5 for _ in range(8)]
    with fsrv.faults.add(stage="mail", token=token, action="reply", code=451, text="coin", probability=0.5, seed=7):
        got = [session(fsrv, token, stop_at="mail")[-1] == ("mail", "451 4.0.0 coin") for _ in range(8)]
    assert got == expect
    assert True in got and False in got


def test_scopes(fsrv: MoxServer, token: str) -> None:
    other = token + "other"
    # recipient pattern
    with fsrv.faults.add(stage="rcpt", recipient=f"rcpt+{token}@*.org", action="reply", code=550, text="no such user"):
        assert session(fsrv, token, stop_at="rcpt")[-1] == ("rcpt", "550 5.0.0 no such user")
        assert session(fsrv, other) == _baseline(fsrv, other)
    # sender pattern (the address tag of the sender makes it this test's)
    c = Line(fsrv.ports["smtp"])
    c.reply()
    c.cmd(f"EHLO {other}.example")
    with fsrv.faults.add(stage="mail", sender=f"*+{token}@example.org", action="reply", code=451, text="sender"):
        assert c.cmd(f"MAIL FROM:<me+{token}@example.org>") == "451 4.0.0 sender"
        assert c.cmd(f"MAIL FROM:<me+{other}@example.org>") == "250 2.1.0 looking good"
    c.close()
    # a header token at the end of DATA
    with fsrv.faults.add(stage="data_end", token=token + "h", action="reply", code=554, text="by header"):
        c = Line(fsrv.ports["smtp"])
        c.reply()
        c.cmd(f"EHLO {other}.example")
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<b@example.org>")
        assert c.cmd("DATA") == "354 see you at the bare dot"
        c.sock.sendall(f"From: <a@example.org>\r\nX-Mox-Fault-Token: {token}h\r\nSubject: x\r\n\r\nbody\r\n.\r\n".encode())
        assert c.reply() == "554 5.0.0 by header"
        c.close()


def test_ttl_expires(fsrv: MoxServer, token: str) -> None:
    rule = fsrv.api("POST", "faults", {"stage": "mail", "token": token, "action": "reply", "code": 451, "ttl": 1.5})
    assert 0 < rule["ttl_left"] <= 1.5
    assert session(fsrv, token, stop_at="mail")[-1] == ("mail", "451 4.0.0 fault injected by test rule")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            fsrv.api("GET", f"faults/{rule['id']}")
        except ApiError as e:
            assert e.status == 404
            break
        time.sleep(0.05)
    else:
        pytest.fail("rule did not expire")
    assert session(fsrv, token) == _baseline(fsrv, token)


def test_api_list_delete_and_validation(fsrv: MoxServer, token: str) -> None:
    a = fsrv.api("POST", "faults", {"stage": "rcpt", "token": token, "action": "delay", "seconds": 1, "owner": token})
    b = fsrv.api("POST", "faults", [{"proto": "imap", "stage": "fetch", "user": f"{token}@x", "action": "no", "owner": token}])[0]
    assert a == {"id": a["id"], "proto": "smtp", "stage": "rcpt", "action": "delay", "seconds": 1.0, "token": token,
                 "owner": token, "matched": 0, "fired": 0}
    assert [r["id"] for r in fsrv.api("GET", f"faults?owner={token}")["rules"]] == [a["id"], b["id"]]
    assert fsrv.api("DELETE", f"faults/{a['id']}") == {"deleted": 1}
    assert fsrv.api("DELETE", f"faults?owner={token}") == {"deleted": 1}
    assert fsrv.api("GET", f"faults?owner={token}") == {"rules": []}
    for bad, msg in [
        ({"stage": "nope", "action": "drop"}, "stage must be one of"),
        ({"stage": "rcpt", "action": "reply"}, "reply needs a code"),
        ({"stage": "rcpt", "action": "delay"}, "delay needs seconds"),
        ({"stage": "rcpt", "action": "throttle"}, "throttle needs rate"),
        ({"stage": "rcpt", "action": "drop", "probability": 2}, "probability must be"),
        ({"stage": "rcpt", "action": "drop", "ttl": -1}, "ttl must be"),
        ({"stage": "rcpt", "action": "drop", "color": "red"}, "unknown field"),
        ({"proto": "imap", "stage": "fetch", "action": "reply", "code": 400}, "action must be one of"),
        ({"stage": "rcpt", "action": "reply", "code": 451, "text": "two\r\nlines"}, "text must be one line"),
        ({"stage": "rcpt", "action": "reply", "code": 250}, "reply needs a code between 400 and 599"),
        ([{"stage": "rcpt", "action": "drop"}, {"stage": "rcpt"}], "rule 1: action must be one of"),
    ]:
        with pytest.raises(ApiError) as e:
            fsrv.api("POST", "faults", bad)
        assert e.value.status == 400 and msg in e.value.body
    assert fsrv.api("GET", "faults") == {"rules": []}  # nothing half-added


# --- IMAP ------------------------------------------------------------------------------------


def _tagged(c: Line, tag: str) -> str:
    while not (line := c.line()).startswith(tag + " "):
        pass
    return line


@pytest.mark.parametrize(
    "action,want",
    [("no", "a1 NO imap fault"), ("bad", "a1 BAD imap fault"), ("bye", "* BYE imap fault")],
)
def test_imap_command_reply(fsrv: MoxServer, token: str, action: str, want: str) -> None:
    user = f"u+{token}@example.org"
    with fsrv.faults.add(proto="imap", stage="select", user=user, action=action, text="imap fault"):
        other = imap(fsrv, f"v+{token}@example.org")
        other.send("a1 SELECT INBOX")
        assert _tagged(other, "a1").startswith("a1 OK")
        other.close()
        c = imap(fsrv, user)
        c.send("a1 SELECT INBOX")
        assert c.line() == want
        if action == "bye":
            assert c.closed()
        else:
            c.send("a2 NOOP")
            assert _tagged(c, "a2").startswith("a2 OK")
        c.close()


def test_imap_delay_and_drop(fsrv: MoxServer, token: str) -> None:
    user = f"{token}@example.org"
    with fsrv.faults.add(proto="imap", stage="noop", token=token.lower(), action="delay", seconds=0.2, times=1) as rule:
        c = imap(fsrv, f"x+{token}@example.org")
        start = time.monotonic()
        c.send("a1 NOOP")
        assert _tagged(c, "a1").startswith("a1 OK")
        assert time.monotonic() - start >= 0.19  # no sooner than the delay
        assert fsrv.faults.get(rule["id"])["fired"] == 1
        c.close()
    with fsrv.faults.add(proto="imap", stage="list", user=user, action="drop"):
        c = imap(fsrv, user)
        c.send('a1 LIST "" *')
        assert c.closed()
        c.close()
    with fsrv.faults.add(proto="imap", stage="fetch", user=user, action="throttle", rate=100, times=1):
        c = imap(fsrv, user)
        c.send("a1 SELECT INBOX")
        _tagged(c, "a1")
        start = time.monotonic()
        c.send("a2 UID FETCH 1:* FLAGS")
        assert _tagged(c, "a2").startswith("a2 OK ")
        # 20 bytes in 10-byte steps a tenth of a second apart: at least 0.1 s (unthrottled: ms).
        assert time.monotonic() - start >= 0.09
        c.close()


@pytest.mark.parametrize("action", ["drop", "bye"])
def test_imap_dropped_idle(fsrv: MoxServer, token: str, action: str) -> None:
    user = f"{token}@example.org"
    with fsrv.faults.add(proto="imap", stage="idle", user=user, action=action, seconds=0.05, text="idle ended"):
        c = imap(fsrv, user)
        c.send("a1 SELECT INBOX")
        _tagged(c, "a1")
        c.send("a2 IDLE")
        assert c.line() == "+ waiting"
        if action == "bye":
            assert c.line() == "* BYE idle ended"
        assert c.closed()
        c.close()


def test_imap_connect(fsrv: MoxServer) -> None:
    with fsrv.faults.add(proto="imap", stage="connect", action="bye", text="go away", times=1):
        c = Line(fsrv.ports["imap"])
        assert c.line() == "* BYE go away"
        assert c.closed()
        c.close()
    c = Line(fsrv.ports["imap"])
    assert c.line().startswith("* OK [CAPABILITY ")
    c.close()


def test_plugin_rules_are_removed_after_the_block(mox_server: MoxServer) -> None:
    with mox_server.faults.add(stage="rcpt", recipient="x@example.org", action="reply", code=451) as r:
        assert [x["id"] for x in mox_server.faults.list()] == [r["id"]]
    assert mox_server.faults.list() == []




def test_imap_fail_first_n_and_ttl(fsrv: MoxServer, token: str) -> None:
    """IMAP rules take times= and ttl= like SMTP rules: two NOs, then the command runs; a rule
    with a TTL is gone after it."""
    user = f"{token}@example.org"
    with fsrv.faults.add(proto="imap", stage="status", user=user, action="no", text="busy", times=2):
        c = imap(fsrv, user)
        for tag in ("a1", "a2", "a3"):
            c.send(f"{tag} STATUS INBOX (MESSAGES)")
            got = _tagged(c, tag)
            assert got == (f"{tag} NO busy" if tag != "a3" else f"{tag} OK STATUS done")
        c.close()
    rule = fsrv.api("POST", "faults", {"proto": "imap", "stage": "noop", "user": user, "action": "bad", "ttl": 1})
    c = imap(fsrv, user)
    c.send("b1 NOOP")
    assert c.line() == "b1 BAD fault injected by test rule"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            fsrv.api("GET", f"faults/{rule['id']}")
        except ApiError as e:
            assert e.status == 404
            break
        time.sleep(0.05)
    else:
        pytest.fail("rule did not expire")
    c.send("b2 NOOP")
    assert _tagged(c, "b2").startswith("b2 OK")
    c.close()


@pytest.mark.parametrize("stage", ["data", "data_end"])
def test_bdat_reply(fsrv: MoxServer, token: str, stage: str) -> None:
    """A reply rule at DATA start also hits BDAT; the chunk that follows the command is read
    and dropped (RFC 3030 2), never taken as commands, and the transaction is over."""
    body = f"From: <a@example.org>\r\nTo: <b+{token}@example.org>\r\nSubject: {token}\r\n\r\nRSET\r\nQUIT\r\n".encode()
    with fsrv.faults.add(stage=stage, token=token, action="reply", code=452, text="not now"):
        c = Line(fsrv.ports["smtp"])
        c.reply()
        assert c.cmd(f"EHLO {token}.example").startswith("250-localhost")
        assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 looking good"
        assert c.cmd(f"RCPT TO:<b+{token}@example.org>") == "250 2.1.0 now on the list"
        c.sock.sendall(b"BDAT %d LAST\r\n" % len(body) + body)
        assert c.reply() == "452 4.0.0 not now"
        assert c.cmd("NOOP") == "250 2.0.0 alrighty"
        assert c.cmd("MAIL FROM:<a@example.org>") == "250 2.1.0 looking good"  # a new transaction
        assert c.cmd("QUIT") == "221 2.0.0 okay thanks bye"
        c.close()
    assert fsrv.api("GET", f"messages?to=b%2B{token}@example.org")["total"] == 0
