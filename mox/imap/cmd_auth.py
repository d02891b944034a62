"""Connection-level commands: CAPABILITY NOOP LOGOUT ID (any state), STARTTLS LOGIN AUTHENTICATE
(not authenticated) and ENABLE (authenticated).

SASL mechanisms plug into ``MECHANISMS``: ``async def mech(s, initial) -> (account, username)``,
where ``initial`` is the SASL-IR initial response (bytes, or None when the client sent none).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import trio


import mox
from mox import ci

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


async def _password_login(s: Session, username: str, password: str) -> str | None:
    """ctx.auth.login in a worker thread (password hashing is slow by design), with the remote
    IP for the failed-authentication limiter."""
    auth = s.ctx.auth
    view = ci.imap_login(s.ctx, username, password)  # localserve: per-address view
    if view is not None:
        return view

    def login() -> str | None:
        try:
            return auth.login(username, password, ip=s.remote_ip)
        except TypeError:  # an authenticator without limiter support
            return auth.login(username, password)

    return await trio.to_thread.run_sync(login)


def _auth_allowed(s: Session) -> bool:
    limiter = getattr(s.ctx.auth, "limiter", None)
    return limiter is None or s.remote_ip is None or limiter.auth_allowed(s.remote_ip)


def _auth_result(s: Session, ok: bool) -> None:
    """Count a SCRAM/CRAM-MD5 outcome in the limiter (PLAIN/LOGIN count in ctx.auth.login)."""
    limiter = getattr(s.ctx.auth, "limiter", None)
    if limiter is None or s.remote_ip is None:
        return
    if ok:
        limiter.auth_succeeded(s.remote_ip)
    else:
        limiter.auth_failed(s.remote_ip)


def _require_tls(s: Session) -> None:
    if not s.tls and not s.ctx.config.no_require_starttls:
        raise CommandFailed("tls required for login", "PRIVACYREQUIRED")


async def _counting_failures(s: Session, attempt: Callable[[], Awaitable[str]]) -> str:
    """Run an authentication attempt, slowed down after repeated failures on this connection."""
    from . import session as session_mod

    if s.auth_failures > 3:
        await trio.sleep((s.auth_failures - 3) * session_mod.AUTH_FAILURE_DELAY)
    try:
        result = await attempt()
    except CommandFailed as e:
        if e.code in ("AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED"):
            s.auth_failures += 1
        raise
    s.auth_failures = 0
    return result


async def cmd_login(s: Session, cmd: Command) -> str:
    # RFC 9051 6.2.3
    return await _counting_failures(s, lambda: _login(s, cmd))


async def _login(s: Session, cmd: Command) -> str:
    _require_tls(s)
    user, password = cmd.args["user"], cmd.args["password"]
    account = await _password_login(s, user, password)
    if account is None:
        s.log.info("failed authentication attempt", username=user)
        raise CommandFailed("login failed", "AUTHENTICATIONFAILED")
    _check_cert_account(s, account)
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
    account = await _password_login(s, authc, password)
    if account is None:
        s.log.info("failed authentication attempt", username=authc, mechanism="plain")
        raise CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
    return account, authc


def _account_secret(s: Session, username: str, get: Callable[[object], object]) -> tuple[str | None, object]:
    """The account for a login address and one of its stored secrets (None when unknown)."""
    account = s.ctx.auth.account_for_address(username)
    if account is None:
        return None, None
    acc = s.ctx.store.open_account(account)
    try:
        return account, get(acc)
    finally:
        acc.close()


def _channel_binding(s: Session) -> bytes:
    """tls-unique channel binding data (RFC 5929) of this connection's TLS, for SCRAM-*-PLUS.
    TLS 1.3 needs tls-exporter (RFC 9266), which Python's ssl module cannot compute."""
    stream = s.conn.stream
    version = stream.version() if s.tls and hasattr(stream, "version") else None
    if version is None:
        raise CommandFailed("channel binding requires tls", "AUTHENTICATIONFAILED")
    if version == "TLSv1.3":
        raise CommandFailed("channel binding tls-exporter not supported, use the mechanism without -PLUS", "AUTHENTICATIONFAILED")
    data = stream.get_channel_binding("tls-unique")
    if not data:
        raise CommandFailed("no tls-unique channel binding available", "AUTHENTICATIONFAILED")
    return bytes(data)


def _scram(hash_name: str, plus: bool = False) -> Callable[[Session, bytes | None], Awaitable[tuple[str, str]]]:
    # RFC 5802 (SCRAM), RFC 7677 (SCRAM-SHA-256); -PLUS with tls-unique (RFC 5929) on TLS <= 1.2.
    def hm(key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, hash_name).digest()

    async def mech(s: Session, initial: bytes | None) -> tuple[str, str]:
        data = initial if initial is not None else await _sasl_response(s)
        try:
            client_first = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadCommand("invalid utf-8 in scram message") from None
        parts = client_first.split(",", 2)
        if len(parts) != 3 or (parts[1] and not parts[1].startswith("a=")):
            raise BadCommand("malformed scram client-first message")
        cbind = b""
        if plus:
            if parts[0] != "p=tls-unique":
                raise CommandFailed("channel binding tls-unique required", "AUTHENTICATIONFAILED")
            cbind = _channel_binding(s)
        elif parts[0].startswith("p="):
            raise CommandFailed("channel binding not supported with this mechanism", "AUTHENTICATIONFAILED")
        elif parts[0] not in ("n", "y"):
            raise BadCommand("malformed scram client-first message")
        gs2 = parts[0] + "," + parts[1] + ","
        first_bare = parts[2]
        attrs = _scram_attrs(first_bare)
        if "n" not in attrs or "r" not in attrs or not attrs["r"]:
            raise BadCommand("malformed scram client-first message")
        username = _scram_name(attrs["n"])
        authz = _scram_name(parts[1][2:]) if parts[1] else ""
        if authz and authz != username:
            raise CommandFailed("cannot assume role", "AUTHORIZATIONFAILED")
        account, secret = _account_secret(s, username, lambda acc: acc.scram_secrets(hash_name))
        if not _auth_allowed(s):
            account = None  # over the failed-authentication limit: the exchange can only fail
        # An unknown user gets a made-up salt so the exchange looks the same (no user enumeration).
        salt = secret.salt if secret is not None else hashlib.sha256(username.encode()).digest()[:12]
        iterations = secret.iterations if secret is not None else 4096
        nonce = attrs["r"] + base64.b64encode(secrets.token_bytes(18)).decode()
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={iterations}"
        resp = await _sasl_response(s, server_first.encode())
        try:
            client_final = resp.decode("utf-8")
        except UnicodeDecodeError:
            raise BadCommand("invalid utf-8 in scram message") from None
        without_proof, sep, proof_b64 = client_final.rpartition(",p=")
        fattrs = _scram_attrs(without_proof)
        if not sep or fattrs.get("r") != nonce:
            raise BadCommand("malformed scram client-final message")
        if fattrs.get("c") != base64.b64encode(gs2.encode() + cbind).decode():
            raise CommandFailed("channel bindings do not match, potential mitm", "AUTHENTICATIONFAILED")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except (binascii.Error, ValueError):
            raise BadCommand("invalid base64 in scram proof") from None
        auth_msg = f"{first_bare},{server_first},{without_proof}".encode()
        if account is None or secret is None:
            _auth_result(s, False)
            raise CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
        salted = secret.salted_password
        stored_key = hashlib.new(hash_name, hm(salted, b"Client Key")).digest()
        client_sig = hm(stored_key, auth_msg)
        client_key = bytes(a ^ b for a, b in zip(proof, client_sig))
        if len(proof) != len(client_sig) or not hmac.compare_digest(
            hashlib.new(hash_name, client_key).digest(), stored_key
        ):
            s.log.info("failed authentication attempt", username=username, mechanism="scram")
            _auth_result(s, False)
            raise CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
        _auth_result(s, True)
        server_sig = hm(hm(salted, b"Server Key"), auth_msg)
        # The client must answer the server-final message with an empty response (reference 3.5).
        final = await _sasl_response(s, b"v=" + base64.b64encode(server_sig))
        if final != b"":
            raise BadCommand("expected empty response after scram server-final message")
        return account, username

    return mech


def _scram_attrs(msg: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for kv in msg.split(","):
        k, eq, v = kv.partition("=")
        if not eq or len(k) != 1:
            raise BadCommand("malformed scram message")
        out.setdefault(k, v)
    return out


def _scram_name(v: str) -> str:
    if re.search(r"=(?!2C|3D)", v):
        raise BadCommand("malformed scram username")
    return v.replace("=2C", ",").replace("=3D", "=")


async def _mech_cram_md5(s: Session, initial: bytes | None) -> tuple[str, str]:
    # RFC 2195: challenge <random.time@hostname>, response "user hexdigest".
    if initial is not None:
        raise BadCommand("cram-md5 has no initial response")
    host = getattr(s.ctx.config, "hostname", "localhost")
    challenge = f"<{secrets.randbelow(1 << 63)}.{time.time_ns()}@{host}>".encode()
    resp = await _sasl_response(s, challenge)
    user_b, sp, digest = resp.rpartition(b" ")
    if not sp or not user_b:
        raise BadCommand("malformed cram-md5 response")
    try:
        username = user_b.decode("utf-8")
    except UnicodeDecodeError:
        raise BadCommand("invalid utf-8 in cram-md5 response") from None
    account, state = _account_secret(s, username, lambda acc: acc.cram_md5_state())
    if not _auth_allowed(s):
        account = None
    if account is None or state is None:
        _auth_result(s, False)
        raise CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
    from mox.store.password import hmac_md5_from_states

    want = hmac_md5_from_states(state.ipad_state, state.opad_state, challenge).hex().encode()
    if not hmac.compare_digest(want, digest.lower()):
        s.log.info("failed authentication attempt", username=username, mechanism="cram-md5")
        _auth_result(s, False)
        raise CommandFailed("bad credentials", "AUTHENTICATIONFAILED")
    _auth_result(s, True)
    return account, username


async def _mech_external(s: Session, initial: bytes | None) -> tuple[str, str]:
    # RFC 4422 appendix A; the identity is the TLS client certificate's registered public key.
    # An optional authorization identity must be an address of the same account (reference 3.5).
    if not s.tls:
        raise CommandFailed("tls required for tls client certificate authentication", "AUTHENTICATIONFAILED")
    key = s.tls_key
    if key is None:
        raise CommandFailed(
            "missing client certificate, required for tls client certificate authentication", "AUTHENTICATIONFAILED"
        )
    data = initial if initial is not None else await _sasl_response(s)
    try:
        authz = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadCommand("invalid utf-8 in external authorization identity") from None
    username = key.login_address
    if authz:
        if s.ctx.auth.account_for_address(authz) != key.account:
            raise CommandFailed("cannot assume role", "AUTHORIZATIONFAILED")
        username = authz
    return key.account, username


def _check_cert_account(s: Session, account: str) -> None:
    """LOGIN/PLAIN/SCRAM/CRAM-MD5 for another account than the TLS client certificate's fail."""
    if s.tls_key is not None and s.tls_key.account != account:
        raise CommandFailed(
            "authentication failed, tls client certificate public key belongs to another account",
            "AUTHENTICATIONFAILED",
        )


MECHANISMS: dict[str, Callable[[Session, bytes | None], Awaitable[tuple[str, str]]]] = {
    "EXTERNAL": _mech_external,
    "PLAIN": _mech_plain,
    "SCRAM-SHA-256": _scram("sha256"),
    "SCRAM-SHA-1": _scram("sha1"),
    "SCRAM-SHA-256-PLUS": _scram("sha256", plus=True),
    "SCRAM-SHA-1-PLUS": _scram("sha1", plus=True),
    "CRAM-MD5": _mech_cram_md5,
}


async def cmd_authenticate(s: Session, cmd: Command) -> str:
    # RFC 9051 6.2.2; RFC 4959 SASL-IR ("=" is an empty initial response).
    return await _counting_failures(s, lambda: _authenticate(s, cmd))


async def _authenticate(s: Session, cmd: Command) -> str:
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
    _check_cert_account(s, account)
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
                if c == "CONDSTORE":
                    s.enable_condstore(announce=False)
                else:
                    s.enabled.add(c)
                enabled.append(_ENABLE[c])
    s.untagged("ENABLED" + "".join(" " + e for e in enabled))
    if "CONDSTORE" in enabled:
        s.announce_highestmodseq()
    return "ENABLE done"


