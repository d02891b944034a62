"""The server side of SASL: the Verifier the mechanisms check credentials through, one state
machine per mechanism, and serve_exchange, which runs one over a driver's I/O."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from mox.auth import precis
from mox.auth.sasl import scram
from mox.auth.sasl.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    ChannelBindingMismatch,
    MalformedResponse,
    OtherAccountThanCertificate,
    SaslError,
    SecretUnavailable,
    TooManyAuthFailures,
    UnknownMechanism,
)
from mox.auth.sasl.wire import SERVER_MECHANISMS, Challenge, Success, decode_response

if TYPE_CHECKING:
    from mox.auth.authenticator import Authenticator
    from mox.limits.limiter import Limiter
    from mox.store import Store

#: Sends a challenge's data (the driver base64-encodes it into ``+ ...`` or ``334 ...``).
SendChallenge = Callable[[bytes], Awaitable[None]]
#: Reads the client's raw answer line.
ReadResponse = Callable[[], Awaitable[bytes | str]]
#: Runs a blocking step in a worker thread (``trio.to_thread.run_sync``).
RunSync = Callable[..., Awaitable[Any]]

# Verifier: what the server mechanisms need from accounts.


class Verifier(Protocol):
    def account_for_username(self, username: str) -> str | None: ...
    def check_password(self, account: str, password: str) -> bool: ...
    def scram_secret(self, account: str, hash_name: str) -> Any: ...  # .salt .iterations .salted_password
    def cram_md5_state(self, account: str) -> Any: ...  # .hmac(message) -> bytes
    def tls_identity(self) -> tuple[str, str] | None: ...  # (account, login address) of the client cert
    # For unknown users, the same work as for known ones (no user enumeration by timing):
    def check_unknown_password(self, password: str) -> None: ...  # one password hash, fails
    def unknown_scram_secret(self, username: str, hash_name: str) -> Any: ...  # stable fake salt
    def unknown_cram_md5_state(self) -> Any: ...  # a state no response matches


class StoreVerifier:
    """A Verifier over ``mox.auth.authenticator.Authenticator`` and ``mox.store.Store``.

    ``tls_identity`` is the (account, login address) of the connection's TLS client certificate
    (``mox.auth.tlspubkey``), or None. Blocking: use from a worker thread in async code.
    """

    def __init__(self, auth: Authenticator, store: Store, tls_identity: tuple[str, str] | None = None) -> None:
        self.auth = auth
        self.store = store
        self._tls_identity = tls_identity

    def account_for_username(self, username: str) -> str | None:
        return self.auth.account_for_address(username)

    def _with_account(self, account: str, fn: Any) -> Any:
        acc = self.store.open_account(account)
        try:
            return fn(acc)
        finally:
            acc.close()

    def check_password(self, account: str, password: str) -> bool:
        return bool(self._with_account(account, lambda acc: acc.check_password(password)))

    def scram_secret(self, account: str, hash_name: str) -> Any:
        return self._with_account(account, lambda acc: acc.scram_secrets(hash_name))

    def cram_md5_state(self, account: str) -> Any:
        return self._with_account(account, lambda acc: acc.cram_md5_state())

    def tls_identity(self) -> tuple[str, str] | None:
        return self._tls_identity

    def check_unknown_password(self, password: str) -> None:
        from mox.auth.password import dummy_record, verify_password

        verify_password(dummy_record(), password)

    def unknown_scram_secret(self, username: str, hash_name: str) -> Any:
        from mox.auth.password import unknown_user_scram_secret

        return unknown_user_scram_secret(username, hash_name)

    def unknown_cram_md5_state(self) -> Any:
        from mox.auth.password import dummy_record

        return dummy_record().cram_md5



def server_mechanism_names(
    *, tls: bool, channel_binding: bool, require_tls_for_plain: bool = True, client_cert: bool = False
) -> list[str]:
    """Mechanisms to advertise: -PLUS only with a checkable channel binding, PLAIN and LOGIN
    only with TLS unless ``require_tls_for_plain`` is off, EXTERNAL only with TLS."""
    out = []
    for name in SERVER_MECHANISMS:
        if name.endswith("-PLUS") and not channel_binding:
            continue
        if name in ("PLAIN", "LOGIN") and require_tls_for_plain and not tls:
            continue
        if name == "EXTERNAL" and not tls:
            continue
        out.append(name)
    return out


# Server mechanisms.


class ServerMechanism:
    name = ""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.done = False

    def start(self, initial: bytes | None) -> Challenge | Success:
        """Without an initial response, an empty challenge asks for it (RFC 4422 5); with one,
        it is the first step. Mechanisms that differ override this."""
        if initial is None:
            return Challenge(b"")
        return self.step(initial)

    def step(self, response: bytes) -> Challenge | Success:
        raise NotImplementedError

    def _check_tls_account(self, account: str, username: str) -> None:
        ident = self.verifier.tls_identity()
        if ident is not None and ident[0] != account:
            raise OtherAccountThanCertificate(
                "cannot authenticate with credentials for another account than the tls client certificate",
                username=username,
            )

    def _authz(self, account: str, authc: str, authz: str) -> str:
        """The login identity: authc, or authz when it is an address of the same account."""
        if authz == "" or authz == authc:
            return authc
        if self.verifier.account_for_username(authz) != account:
            raise AuthorizationFailed("cannot assume other role", username=authc)
        return authz

    def _succeed(self, account: str, username: str) -> Success:
        self.done = True
        return Success(account, username, self.name)

    def _check_not_done(self) -> None:
        if self.done:
            raise MalformedResponse("authentication already finished")


def _utf8(b: bytes, what: str) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponse(f"{what} is not valid utf-8") from None


def _password_login(mech: ServerMechanism, username: str, password: str) -> str:
    """The account when username/password are valid; raises AuthenticationFailed."""
    account = mech.verifier.account_for_username(username)
    try:
        precis.prepare_password(password)
    except precis.PrecisError:
        raise AuthenticationFailed("bad user/pass", username=username) from None
    if account is None:
        mech.verifier.check_unknown_password(password)  # as slow as a known user's check
        raise AuthenticationFailed("bad user/pass", username=username)
    if not mech.verifier.check_password(account, password):
        raise AuthenticationFailed("bad user/pass", username=username)
    return account


class PlainServer(ServerMechanism):
    """RFC 4616: ``[authzid] NUL authcid NUL passwd``."""

    name = "PLAIN"

    def step(self, response: bytes) -> Challenge | Success:
        self._check_not_done()
        parts = response.split(b"\0")
        if len(parts) != 3:
            raise MalformedResponse(f"auth data should have 3 nul-separated tokens, got {len(parts)}")
        authz, authc, password = (_utf8(p, "plain response") for p in parts)
        authz, authc = precis.normalize_username(authz), precis.normalize_username(authc)
        account = _password_login(self, authc, password)
        self._check_tls_account(account, authc)
        return self._succeed(account, self._authz(account, authc, authz))


class LoginServer(ServerMechanism):
    """LOGIN: prompts ``Username:`` and ``Password:`` (an initial response is the user name)."""

    name = "LOGIN"

    def __init__(self, verifier: Verifier) -> None:
        super().__init__(verifier)
        self.username: str | None = None

    def start(self, initial: bytes | None) -> Challenge | Success:
        if initial is None:
            return Challenge(b"Username:")
        return self.step(initial)

    def step(self, response: bytes) -> Challenge | Success:
        self._check_not_done()
        text = _utf8(response, "login response")
        if self.username is None:
            self.username = precis.normalize_username(text)
            return Challenge(b"Password:")
        account = _password_login(self, self.username, text)
        self._check_tls_account(account, self.username)
        return self._succeed(account, self.username)


class CramMD5Server(ServerMechanism):
    """RFC 2195: challenge ``<random.time@hostname>``, response ``user hex(HMAC-MD5)``."""

    name = "CRAM-MD5"

    def __init__(self, verifier: Verifier, hostname: str = "localhost") -> None:
        super().__init__(verifier)
        self.challenge = f"<{int.from_bytes(os.urandom(8), 'big')}.{time.time_ns()}@{hostname}>".encode()

    def start(self, initial: bytes | None) -> Challenge | Success:
        if initial:
            raise MalformedResponse("cram-md5 has no initial response")
        return Challenge(self.challenge)

    def step(self, response: bytes) -> Challenge | Success:
        self._check_not_done()
        text = _utf8(response, "cram-md5 response")
        user, sep, digest = text.rpartition(" ")
        if not sep or not user or len(digest) != 32:
            raise MalformedResponse("cram-md5: expected user name, space and 32 hex digits")
        user = precis.normalize_username(user)
        account = self.verifier.account_for_username(user)
        if account is None:
            # The same HMAC work as for a known user, then the same failure.
            expected = self.verifier.unknown_cram_md5_state().hmac(self.challenge).hex()
            hmac.compare_digest(expected.encode(), digest.lower().encode())
            raise AuthenticationFailed("bad user/pass", username=user)
        state = self.verifier.cram_md5_state(account)
        if state is None:
            raise SecretUnavailable("no cram-md5 secret for account, set the password again", username=user)
        expected = state.hmac(self.challenge).hex()
        if not hmac.compare_digest(expected.encode(), digest.lower().encode()):
            raise AuthenticationFailed("bad user/pass", username=user)
        self._check_tls_account(account, user)
        return self._succeed(account, user)


class ScramServer(ServerMechanism):
    """RFC 5802 server. ``channel_bindings`` (name -> data) are those available on the
    connection; ``plus`` is the -PLUS variant."""

    def __init__(
        self, verifier: Verifier, hash_name: str, *, plus: bool = False, channel_bindings: dict[str, bytes] | None = None
    ) -> None:
        super().__init__(verifier)
        self.hash, self.hash_label = scram.SCRAM_HASHES[hash_name]
        self.plus = plus
        self.name = f"SCRAM-{hash_name}" + ("-PLUS" if plus else "")
        self.channel_bindings = dict(channel_bindings or {})
        self._state = "first"
        self._account = ""
        self._username = ""
        self._unknown = False

    def start(self, initial: bytes | None) -> Challenge | Success:
        if initial is None or initial == b"":
            return Challenge(b"")
        return self.step(initial)

    def step(self, response: bytes) -> Challenge | Success:
        self._check_not_done()
        if self._state == "first":
            return self._client_first(_utf8(response, "scram client-first message"))
        if self._state == "final":
            return self._client_final(_utf8(response, "scram client-final message"))
        if self._state == "ack":
            if response != b"":
                raise MalformedResponse("scram: expected empty response after server-final message")
            return self._succeed(self._account, self._username)
        raise MalformedResponse("scram: unexpected message")

    def _client_first(self, msg: str) -> Challenge:
        # gs2-header: cbind-flag "," [authzid] ","
        parts = msg.split(",", 2)
        if len(parts) != 3:
            raise MalformedResponse("scram: malformed client-first message")
        flag, authz_part, bare = parts
        cb_name = ""
        if flag == "n":
            if self.plus:
                raise MalformedResponse("scram: -PLUS mechanism requires channel binding (p=...)")
        elif flag == "y":
            if self.plus:
                raise MalformedResponse("scram: -PLUS mechanism requires channel binding (p=...)")
            # The client supports channel binding but thinks we don't: a downgrade when we do.
            if self.channel_bindings:
                raise ChannelBindingMismatch("channel binding supported by server but client thinks not, potential mitm")
        elif flag.startswith("p="):
            if not self.plus:  # RFC 5802 6: the client must have used the -PLUS mechanism
                raise AuthenticationFailed("channel binding not supported with this mechanism")
            cb_name = flag[2:]
            if cb_name not in self.channel_bindings:
                raise AuthenticationFailed(f"channel binding type {cb_name!r} not supported on this connection")
        else:
            raise MalformedResponse("scram: bad gs2 channel binding flag")
        authz = ""
        if authz_part:
            if not authz_part.startswith("a="):
                raise MalformedResponse("scram: bad authzid in gs2 header")
            authz = scram.saslname_decode(authz_part[2:])
        self._gs2_header = f"{flag},{authz_part},"
        self._cb_data = self.channel_bindings.get(cb_name, b"") if cb_name else b""
        if bare.startswith("m="):
            raise MalformedResponse("scram: mandatory extensions not supported")
        attrs = bare.split(",")
        if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r="):
            raise MalformedResponse("scram: client-first message needs n= and r=")
        username = scram.saslname_decode(attrs[0][2:])
        cnonce = attrs[1][2:]
        if not scram.printable_nonce(cnonce):
            raise MalformedResponse("scram: bad client nonce")
        if not precis.is_nfc(username) or not precis.is_nfc(authz):
            raise AuthenticationFailed("scram: user name not in normalization form C", username=username)
        self._client_first_bare = bare
        account = self.verifier.account_for_username(username)
        if account is None:
            # RFC 5802 5.1: go on with a made-up (but stable) salt and fail at the proof, so an
            # unknown user looks like a wrong password, in messages and in work done.
            secret = self.verifier.unknown_scram_secret(username, self.hash_label)
            self._unknown = True
            self._account = ""
            self._username = username
        else:
            secret = self.verifier.scram_secret(account, self.hash_label)
            if secret is None:
                raise SecretUnavailable(f"no {self.name} secret for account, set the password again", username=username)
            self._account = account
            self._username = self._authz(account, username, authz)
        self._secret = secret
        self._authc = username
        self._nonce = cnonce + base64.b64encode(os.urandom(15)).decode().replace(",", "_")
        self._server_first = f"r={self._nonce},s={base64.b64encode(secret.salt).decode()},i={secret.iterations}"
        self._state = "final"
        return Challenge(self._server_first.encode())

    def _client_final(self, msg: str) -> Challenge:
        attrs = msg.split(",")
        if len(attrs) < 3 or not attrs[0].startswith("c=") or not attrs[1].startswith("r=") or not attrs[-1].startswith("p="):
            raise MalformedResponse("scram: client-final message needs c=, r= and p=")
        try:
            cbind = base64.b64decode(attrs[0][2:], validate=True)
            proof = base64.b64decode(attrs[-1][2:], validate=True)
        except (binascii.Error, ValueError):
            raise MalformedResponse("scram: bad base64 in client-final message") from None
        if attrs[1][2:] != self._nonce:
            raise AuthenticationFailed("scram: nonce mismatch", username=self._authc)
        if not hmac.compare_digest(cbind, self._gs2_header.encode() + self._cb_data):
            raise ChannelBindingMismatch(
                "channel binding mismatch, potential mitm", username=self._authc
            )
        without_proof = msg[: msg.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        salted = self._secret.salted_password
        client_key = scram.hmac_digest(self.hash, salted, b"Client Key")
        stored_key = scram.hash_digest(self.hash, client_key)
        signature = scram.hmac_digest(self.hash, stored_key, auth_message)
        proof_ok = len(proof) == len(signature) and hmac.compare_digest(scram.hash_digest(self.hash, scram.xor(proof, signature)), stored_key)
        if not proof_ok or self._unknown:
            raise AuthenticationFailed("bad credentials", username=self._authc)
        self._check_tls_account(self._account, self._authc)
        server_key = scram.hmac_digest(self.hash, salted, b"Server Key")
        server_sig = scram.hmac_digest(self.hash, server_key, auth_message)
        self._state = "ack"
        return Challenge(b"v=" + base64.b64encode(server_sig))


class ExternalServer(ServerMechanism):
    """RFC 4422 appendix A with the TLS client certificate; the response is an optional authz:
    an address of the certificate's account (switching login address within it is allowed)."""

    name = "EXTERNAL"

    def step(self, response: bytes) -> Challenge | Success:
        self._check_not_done()
        authz = precis.normalize_username(_utf8(response, "external authorization identity"))
        ident = self.verifier.tls_identity()
        if ident is None:
            raise AuthenticationFailed("no tls client certificate or unknown public key")
        account, login_address = ident
        if authz == "":
            return self._succeed(account, login_address)
        if self.verifier.account_for_username(authz) != account:
            raise AuthorizationFailed("authorization identity is not an address of the certificate's account",
                                      username=login_address)
        return self._succeed(account, authz)


def server_mechanism(
    name: str,
    verifier: Verifier,
    *,
    hostname: str = "localhost",
    channel_bindings: dict[str, bytes] | None = None,
) -> ServerMechanism:
    """A fresh server state machine for mechanism ``name`` (case-insensitive); raises
    UnknownMechanism. -PLUS mechanisms need a channel binding in ``channel_bindings``."""
    n = name.upper()
    if n == "PLAIN":
        return PlainServer(verifier)
    if n == "LOGIN":
        return LoginServer(verifier)
    if n == "CRAM-MD5":
        return CramMD5Server(verifier, hostname)
    if n == "EXTERNAL":
        return ExternalServer(verifier)
    for h in ("SHA-1", "SHA-256"):
        if n == f"SCRAM-{h}":
            return ScramServer(verifier, h, channel_bindings=channel_bindings)
        if n == f"SCRAM-{h}-PLUS":
            if not channel_bindings:
                raise UnknownMechanism("mechanism not supported on this connection (no channel binding)")
            return ScramServer(verifier, h, plus=True, channel_bindings=channel_bindings)
    raise UnknownMechanism("mechanism not supported")


async def serve_exchange(
    mech: ServerMechanism,
    initial: bytes | None,
    *,
    send_challenge: SendChallenge,
    read_response: ReadResponse,
    run_sync: RunSync | None = None,
    limiter: Limiter | None = None,
    ip: str | None = None,
) -> Success:
    """Run a server exchange over a driver's I/O: ``await send_challenge(data)`` sends a
    challenge (the driver base64-encodes it into ``+ ...`` or ``334 ...``), ``await
    read_response()`` returns the client's raw line (``*`` aborts, else base64; see
    decode_response). ``run_sync`` (e.g. ``trio.to_thread.run_sync``) runs each step: PLAIN and
    LOGIN hash the password slowly. Raises SaslError subclasses; returns the Success.

    With ``limiter`` (``mox.limits.limiter.Limiter``: auth_allowed/auth_failed/auth_succeeded) and
    ``ip``, an IP over its failed-auth limit gets TooManyAuthFailures before anything is
    checked, failures that count are recorded, and a success resets the IP's count."""
    if limiter is not None and ip is not None and not limiter.auth_allowed(ip):
        raise TooManyAuthFailures("too many auth failures")
    try:
        result = await _exchange(mech, initial, send_challenge, read_response, run_sync)
    except SaslError as e:
        if limiter is not None and ip is not None and e.counts_as_failure:
            limiter.auth_failed(ip)
        raise
    if limiter is not None and ip is not None:
        limiter.auth_succeeded(ip)
    return result


async def _exchange(mech: ServerMechanism, initial: bytes | None, send_challenge: SendChallenge,
                    read_response: ReadResponse, run_sync: RunSync | None) -> Success:

    async def call(fn: Callable[[Any], Challenge | Success], arg: bytes | None) -> Challenge | Success:
        if run_sync is None:
            return fn(arg)
        step: Challenge | Success = await run_sync(fn, arg)
        return step

    step = await call(mech.start, initial)
    while isinstance(step, Challenge):
        await send_challenge(step.data)
        step = await call(mech.step, decode_response(await read_response()))
    return step

