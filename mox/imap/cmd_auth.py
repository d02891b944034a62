"""Connection-level commands: CAPABILITY NOOP LOGOUT ID (any state), STARTTLS LOGIN AUTHENTICATE
(not authenticated) and ENABLE (authenticated).

SASL mechanisms plug into ``MECHANISMS``: ``async def mech(s, initial) -> (account, username)``,
where ``initial`` is the SASL-IR initial response (bytes, or None when the client sent none).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable


import mox

from .errors import BadCommand, CommandFailed
from .session import Session, State, quote_string
from .types import Command


async def cmd_capability(s: Session, cmd: Command) -> str:
    # RFC 9051 6.1.1
    s.untagged("CAPABILITY " + s.capabilities())
    return "CAPABILITY done"


async def cmd_noop(s: Session, cmd: Command) -> str:
    # RFC 9051 6.1.2: changes are sent by the driver before the tagged reply.
    return "NOOP done"


async def cmd_logout(s: Session, cmd: Command) -> str:
    # RFC 9051 6.1.3
    s.untagged("BYE thanks")
    s.selected = None
    s.state = State.LOGOUT
    return "LOGOUT done"


async def cmd_id(s: Session, cmd: Command) -> str:
    # RFC 2971 3.1
    params = cmd.args["params"]
    fields = {"id_" + "".join(c for c in k if c.isalnum())[:30]: v for k, v in list(params.items())[:10]}
    s.log.info("client id", **fields)
    version = getattr(mox, "__version__", "dev")
    s.untagged(b'ID ("name" "mox" "version" ' + quote_string(version) + b")")
    return "ID done"


async def cmd_starttls(s: Session, cmd: Command) -> str:
    # RFC 9051 6.2.1
    if s.tls:
        raise BadCommand("tls already active")
    if s.ctx.tls is None:
        raise CommandFailed("starttls not available")
    s.conn.start_tls = True
    return "STARTTLS done"


def _require_tls(s: Session) -> None:
    if not s.tls and not s.ctx.config.no_require_starttls:
        raise CommandFailed("tls required for login", "PRIVACYREQUIRED")


async def cmd_login(s: Session, cmd: Command) -> str:
    # RFC 9051 6.2.3
    _require_tls(s)
    user, password = cmd.args["user"], cmd.args["password"]
    account = s.ctx.auth.login(user, password)
    if account is None:
        s.log.info("failed authentication attempt", username=user)
        raise CommandFailed("login failed", "AUTHENTICATIONFAILED")
    s.login(account, user)
    s.log.info("authenticated", username=user, mechanism="login")
    return f"[CAPABILITY {s.capabilities()}] login done"


async def _sasl_response(s: Session, challenge: bytes = b"") -> bytes:
    """Send a continuation with the base64 challenge, read and decode the client's response.
    ``*`` aborts (RFC 9051 6.2.2: tagged BAD)."""
    await s.conn.write(b"+ " + base64.b64encode(challenge) + b"\r\n")
    line = await s.conn.read_line(kind="auth")
    if line == b"*":
        raise BadCommand("authenticate aborted by client")
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise BadCommand("invalid base64 in authenticate response") from None


async def _mech_plain(s: Session, initial: bytes | None) -> tuple[str, str]:
    # RFC 4616: [authzid] NUL authcid NUL passwd
    _require_tls(s)
    data = initial if initial is not None else await _sasl_response(s)
    parts = data.split(b"\x00")
    if len(parts) != 3:
        raise BadCommand("malformed plain authentication message")
    try:
        authz, authc, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        raise BadCommand("invalid utf-8 in plain authentication message") from None
    if authz not in ("", authc):
        raise CommandFailed("cannot assume role", "AUTHORIZATIONFAILED")
    account = s.ctx.auth.login(authc, password)
    if account is None:
        s.log.info("failed authentication attempt", username=authc, mechanism="plain")
        raise CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
    return account, authc


MECHANISMS: dict[str, Callable[[Session, bytes | None], Awaitable[tuple[str, str]]]] = {
    "PLAIN": _mech_plain,
}


async def cmd_authenticate(s: Session, cmd: Command) -> str:
    # RFC 9051 6.2.2; RFC 4959 SASL-IR ("=" is an empty initial response).
    mech = MECHANISMS.get(cmd.args["mechanism"])
    if mech is None:
        raise CommandFailed("method not supported")
    initial: bytes | None = None
    ir = cmd.args["initial"]
    if ir == "=":
        initial = b""
    elif ir is not None:
        try:
            initial = base64.b64decode(ir, validate=True)
        except (binascii.Error, ValueError):
            raise BadCommand("invalid base64 in initial response") from None
    account, username = await mech(s, initial)
    s.login(account, username)
    s.log.info("authenticated", username=username, mechanism=cmd.args["mechanism"].lower())
    return f"[CAPABILITY {s.capabilities()}] authenticate done"


_ENABLE = {"IMAP4REV2": "IMAP4rev2", "UTF8=ACCEPT": "UTF8=ACCEPT", "CONDSTORE": "CONDSTORE", "QRESYNC": "QRESYNC"}


async def cmd_enable(s: Session, cmd: Command) -> str:
    # RFC 5161 3.1; RFC 7162 3.2.3 (QRESYNC implies CONDSTORE); unknown capabilities are ignored.
    enabled: list[str] = []
    for cap in cmd.args["capabilities"]:
        names = [cap] + (["CONDSTORE"] if cap == "QRESYNC" else [])
        for c in names:
            if c in _ENABLE and c not in s.enabled:
                s.enabled.add(c)
                enabled.append(_ENABLE[c])
    s.untagged("ENABLED" + "".join(" " + e for e in enabled))
    return "ENABLE done"


