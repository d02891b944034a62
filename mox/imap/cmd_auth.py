"""Connection-level commands: CAPABILITY NOOP LOGOUT ID (any state), STARTTLS LOGIN AUTHENTICATE
(not authenticated) and ENABLE (authenticated).

AUTHENTICATE drives the server mechanisms of :mod:`mox.auth.sasl` (the SMTP server uses the same),
mapping its typed failures to IMAP responses; -PLUS mechanisms only where the connection has a
channel binding that can be checked (``Session.channel_bindings``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

import mox
from mox.ci import hooks as ci
from mox.auth import sasl
from mox.auth.authenticator import hash_runner

from .errors import BadCommand, CommandFailed
from .responses import CodeCapability, Continuation, UntaggedBye, UntaggedCapability, UntaggedEnabled, UntaggedID
from .session import Done, Session, State
from .types import Command


async def cmd_capability(s: Session, cmd: Command) -> str:
    # RFC 9051 6.1.1
    s.send(UntaggedCapability(s.capability_names()))
    return "CAPABILITY done"


async def cmd_noop(s: Session, cmd: Command) -> str:
    # RFC 9051 6.1.2: changes are sent by the driver before the tagged reply.
    return "NOOP done"


async def cmd_logout(s: Session, cmd: Command) -> str:
    # RFC 9051 6.1.3
    s.send(UntaggedBye(None, "thanks"))
    s.selected = None
    s.state = State.LOGOUT
    return "LOGOUT done"


async def cmd_id(s: Session, cmd: Command) -> str:
    # RFC 2971 3.1
    params = cmd.args["params"]
    # Fields are at most 30 octets and values 1024 (RFC 2971 3.3); longer ones are accepted (as
    # Dovecot does) but logged cut to those lengths.
    fields = {
        "id_" + "".join(c for c in k if c.isalnum())[:30]: v if v is None else v[:1024]
        for k, v in list(params.items())[:10]
    }
    s.log.info("client id", **fields)
    s.send(UntaggedID({"name": "mox", "version": mox.__version__}))
    return "ID done"


async def cmd_starttls(s: Session, cmd: Command) -> str:
    # RFC 9051 6.2.1
    if s.tls:
        raise BadCommand("tls already active")
    if s.ctx.tls is None:
        raise CommandFailed("starttls not available")
    s.conn.start_tls = True
    return "STARTTLS done"


async def cmd_compress(s: Session, cmd: Command) -> str:
    # RFC 4978 3: DEFLATE is the one algorithm; once active it stays (COMPRESSIONACTIVE).
    if cmd.args["algorithm"] != "DEFLATE":
        raise BadCommand(f"unknown compression algorithm {cmd.args['algorithm']}")
    if s.conn.compressing or s.conn.start_compress:
        raise CommandFailed("compression already active", "COMPRESSIONACTIVE")
    s.conn.start_compress = True  # after the tagged OK (server.py)
    return "DEFLATE active"


async def _password_login(s: Session, username: str, password: str) -> str | None:
    """ctx.auth.login_async: the password hash in a worker thread under the hash limiter shared
    by all protocols, with the remote IP for the failed-authentication limiter."""
    try:
        view = ci.imap_login(s.ctx, username, password)  # localserve: per-address view
    except ci.ViewLimit as e:
        raise _view_limit(s, e) from None
    if view is not None:
        return view
    return await s.ctx.auth.login_async(username, password, ip=s.remote_ip)


def _view_limit(s: Session, e: ci.ViewLimit) -> CommandFailed:
    # RFC 5530 3: LIMIT, "the operation ignores some limit imposed on the server".
    s.log.info("per-address view limit reached", err=str(e))
    return CommandFailed("too many per-address views in use, try again later", "LIMIT")


def _require_tls(s: Session) -> None:
    if not s.tls and not s.ctx.config.no_require_starttls:
        raise CommandFailed("tls required for login", "PRIVACYREQUIRED")


async def _counting_failures(s: Session, attempt: Callable[[], Awaitable[Done]]) -> Done:
    """Run an authentication attempt, slowed down after repeated failures on this connection."""
    from . import session as session_mod

    if s.auth_failures > 3:
        unit = min(session_mod.AUTH_FAILURE_DELAY, s.ctx.config.limits.auth_attempt_delay)
        await trio.sleep((s.auth_failures - 3) * unit)
    try:
        result = await attempt()
    except CommandFailed as e:
        if e.code in ("AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED"):
            s.auth_failures += 1
        raise
    s.auth_failures = 0
    return result


def _check_login_disabled(s: Session, account: str, username: str) -> None:
    """An account whose login is disabled (domains.conf LoginDisabled) is refused after its
    password was verified, with the configured message and no AUTHENTICATIONFAILED code, so
    clients do not ask for another password (mox imapserver/server.go)."""
    msg = s.ctx.config.login_disabled(account)
    if msg:
        s.log.info("account login disabled", username=username)
        raise CommandFailed(f"login disabled for account: {msg}")


async def cmd_login(s: Session, cmd: Command) -> Done:
    # RFC 9051 6.2.3
    return await _counting_failures(s, lambda: _login(s, cmd))


async def _login(s: Session, cmd: Command) -> Done:
    _require_tls(s)
    user, password = cmd.args["user"], cmd.args["password"]
    account = await _password_login(s, user, password)
    if account is None:
        s.log.info("failed authentication attempt", username=user)
        raise CommandFailed("login failed", "AUTHENTICATIONFAILED")
    _check_login_disabled(s, account, user)
    _check_cert_account(s, account)
    s.login(account, user)
    s.log.info("authenticated", username=user, mechanism="login")
    return Done(CodeCapability(s.capability_names()), "login done")


# AUTHENTICATE runs the mox.auth.sasl server mechanisms; LOGIN is not offered over IMAP
# (mox imapserver/server.go).
IMAP_MECHANISMS = frozenset(
    {"EXTERNAL", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "CRAM-MD5"}
)

# Marks a PLAIN login for an address without account, which a localserve per-address view may
# take (mox.ci.hooks.imap_login, decided with the password).
_VIEW = "\x00view:"


class _Verifier(sasl.StoreVerifier):
    """The store verifier, plus localserve's per-address views for PLAIN (as LOGIN has them)."""

    def __init__(self, s: Session, tls_identity: tuple[str, str] | None, *, views: bool) -> None:
        super().__init__(s.ctx.auth, s.ctx.store, tls_identity)
        self.ctx = s.ctx
        self.views = views and ci.state(s.ctx) is not None
        self.view_accounts: dict[str, str] = {}

    def account_for_username(self, username: str) -> str | None:
        account = super().account_for_username(username)
        if account is None and self.views:
            return _VIEW + username
        return account

    def check_password(self, account: str, password: str) -> bool:
        if not account.startswith(_VIEW):
            return super().check_password(account, password)
        # Runs in a worker thread (sasl.serve_exchange's run_sync); views are opened in trio's.
        view = trio.from_thread.run_sync(ci.imap_login, self.ctx, account[len(_VIEW) :], password)
        if view is None:
            self.check_unknown_password(password)  # an unknown user fails as slowly as a known one
            return False
        self.view_accounts[account] = view
        return True


def _no_channel_binding(s: Session) -> str:
    """Why a -PLUS mechanism cannot be used on this connection (RFC 5929, RFC 9266)."""
    if not s.tls:
        return "channel binding requires tls"
    stream = s.conn.stream
    if hasattr(stream, "version") and stream.version() == "TLSv1.3":
        return "channel binding tls-exporter not supported, use the mechanism without -PLUS"
    return "no tls-unique channel binding available"


def _failure(e: sasl.SaslError) -> CommandFailed | BadCommand:
    """A mox.auth.sasl failure as IMAP answers it (RFC 9051 6.2.2, RFC 5530)."""
    if isinstance(e, sasl.Aborted):
        return BadCommand("authenticate aborted by client")
    if isinstance(e, sasl.MalformedResponse):
        return BadCommand(str(e))
    if isinstance(e, sasl.AuthorizationFailed):
        return CommandFailed("cannot assume role", "AUTHORIZATIONFAILED")
    if isinstance(e, sasl.ChannelBindingMismatch):
        return CommandFailed("channel bindings do not match, potential mitm", "AUTHENTICATIONFAILED")
    if isinstance(e, sasl.TooManyAuthFailures):
        # The IP is over its failed-authentication limit: fails like a wrong password (as LOGIN).
        return CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
    if isinstance(e, sasl.UnknownMechanism):
        return CommandFailed("method not supported")
    text = str(e)
    if text in ("bad user/pass", "bad credentials"):
        text = "bad credentials"
    return CommandFailed(text, "AUTHENTICATIONFAILED")


async def cmd_authenticate(s: Session, cmd: Command) -> Done:
    # RFC 9051 6.2.2; RFC 4959 SASL-IR ("=" is an empty initial response).
    return await _counting_failures(s, lambda: _authenticate(s, cmd))


async def _authenticate(s: Session, cmd: Command) -> Done:
    name = str(cmd.args["mechanism"]).upper()
    if name not in IMAP_MECHANISMS:
        raise CommandFailed("method not supported")
    if name == "PLAIN":
        _require_tls(s)
    bindings = s.channel_bindings()
    if name.endswith("-PLUS") and not bindings:
        raise CommandFailed(_no_channel_binding(s), "AUTHENTICATIONFAILED")
    tls_identity = None
    if name == "EXTERNAL":
        # RFC 4422 appendix A; the identity is the TLS client certificate's registered public key.
        if not s.tls:
            raise CommandFailed("tls required for tls client certificate authentication", "AUTHENTICATIONFAILED")
        if s.tls_key is None:
            raise CommandFailed(
                "missing client certificate, required for tls client certificate authentication",
                "AUTHENTICATIONFAILED",
            )
        tls_identity = (s.tls_key.account, s.tls_key.login_address)
    try:
        initial = sasl.decode_initial(cmd.args["initial"])
    except sasl.SaslError as e:
        raise _failure(e) from None
    verifier = _Verifier(s, tls_identity, views=name == "PLAIN")
    mech = sasl.server_mechanism(
        name, verifier, hostname=s.ctx.config.hostname, channel_bindings=bindings
    )

    async def send_challenge(data: bytes) -> None:
        await s.conn.send(Continuation(sasl.encode_challenge(data).decode("ascii")))

    async def read_response() -> bytes:
        return await s.conn.read_line(kind="auth")

    try:
        ok = await sasl.serve_exchange(
            mech,
            initial,
            send_challenge=send_challenge,
            read_response=read_response,
            run_sync=hash_runner(s.ctx.limiter),
            limiter=s.ctx.limiter,
            ip=s.remote_ip,
        )
    except sasl.SaslError as e:
        if e.counts_as_failure or isinstance(e, sasl.SecretUnavailable):
            s.log.info("failed authentication attempt", username=e.username, mechanism=name.lower(), err=str(e))
        raise _failure(e) from None
    except ci.ViewLimit as e:  # raised by the verifier, through the worker thread
        raise _view_limit(s, e) from None
    _check_login_disabled(s, ok.account, ok.username)
    account = verifier.view_accounts.get(ok.account, ok.account)
    _check_cert_account(s, account)
    s.login(account, ok.username)
    s.log.info("authenticated", username=ok.username, mechanism=name.lower())
    return Done(CodeCapability(s.capability_names()), "authenticate done")


def _check_cert_account(s: Session, account: str) -> None:
    """LOGIN/PLAIN/SCRAM/CRAM-MD5 for another account than the TLS client certificate's fail."""
    if s.tls_key is not None and s.tls_key.account != account:
        raise CommandFailed(
            "authentication failed, tls client certificate public key belongs to another account",
            "AUTHENTICATIONFAILED",
        )


_ENABLE = {
    "IMAP4REV2": "IMAP4rev2", "UTF8=ACCEPT": "UTF8=ACCEPT", "CONDSTORE": "CONDSTORE", "QRESYNC": "QRESYNC",
    "UIDONLY": "UIDONLY",  # RFC 9586 3.1
}


async def cmd_enable(s: Session, cmd: Command) -> str:
    # RFC 5161 3.1; RFC 7162 3.2.3 (QRESYNC implies CONDSTORE); unknown capabilities are ignored.
    enabled: list[str] = []
    for cap in cmd.args["capabilities"]:
        names = [cap] + (["CONDSTORE"] if cap == "QRESYNC" else [])
        for c in names:
            if c in _ENABLE and c not in s.enabled:
                if c == "CONDSTORE":
                    s.enable_condstore(announce=False)
                else:
                    s.enabled.add(c)
                enabled.append(_ENABLE[c])
    s.send(UntaggedEnabled(tuple(enabled)))
    if "CONDSTORE" in enabled:
        s.announce_highestmodseq()
    return "ENABLE done"


