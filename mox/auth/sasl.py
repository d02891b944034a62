"""SASL mechanisms, server and client side, sans-IO (RFC 4422; mox ``sasl/sasl.go``).

Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195),
SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) with their -PLUS forms (channel binding), and
EXTERNAL (RFC 4422 appendix A, with the TLS client certificate).

Server side: ``mech = server_mechanism(name, verifier, hostname=..., channel_bindings=...)``, then
``mech.start(initial)`` and ``mech.step(response)`` return a :class:`Challenge` (send its data,
base64-encoded, as ``+ ...`` / ``334 ...``) or a :class:`Success` (the client is authenticated
as ``account``, logged in as ``username``). Failures raise a :class:`SaslError` subclass, each
telling the drivers what the client sees:

=========================  ==============================  ================================
error                      IMAP                            SMTP
=========================  ==============================  ================================
``AuthenticationFailed``   ``NO [AUTHENTICATIONFAILED]``   ``535 5.7.8``
``AuthorizationFailed``    ``NO [AUTHORIZATIONFAILED]``    ``535 5.7.8``
``Aborted`` (``*``)        ``BAD``                         ``501 5.0.0 authentication aborted``
``MalformedResponse``      ``BAD``                         ``501 5.5.4``
=========================  ==============================  ================================

(``ChannelBindingMismatch`` and ``SecretUnavailable`` are AuthenticationFailed; the latter, for
an account without stored SCRAM/CRAM-MD5 secrets, does not count as a failed attempt.)

The server verifies through a :class:`Verifier` (the drivers give one backed by ``ctx.auth``
and the store: ``StoreVerifier``). PLAIN and LOGIN run the slow password hash: drivers call
``step``/``start`` in a worker thread (``trio.to_thread.run_sync``).

Channel binding (RFC 5929, RFC 9266): ``tls-unique`` comes from
``SSLObject.get_channel_binding("tls-unique")`` and is only defined up to TLS 1.2. TLS 1.3 needs
``tls-exporter`` (RFC 9266), an exported keying material value; Python's ``ssl`` module does not
expose ``SSL_export_keying_material`` (CPython issue 82133, still open; nothing in 3.13 either),
and OpenSSL happily returns a "tls-unique" for TLS 1.3 that no client will match. So
:func:`channel_bindings` only returns ``tls-unique`` on TLS <= 1.2 connections, and -PLUS is only
advertised (:func:`server_mechanism_names`) where a binding is available.

Client side: ``client_mechanism(name, username, password, ...)`` returns an object with
``initial_response() -> bytes | None`` and ``step(challenge) -> bytes``; ``done`` tells whether
the exchange is complete from the client's view (SCRAM checks the server signature).

User names are NFC-normalised (SCRAM refuses non-NFC names, as mox; its client normalises),
passwords PRECIS OpaqueString-prepared (:mod:`mox.auth.precis`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from mox.auth import precis

# Server mechanisms in the order they are advertised.
SERVER_MECHANISMS = (
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
    "EXTERNAL",
)

# Client preference (mox sendmail.go): never LOGIN automatically.
CLIENT_PREFERENCE = (
    "EXTERNAL",
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
)


# Errors.


class SaslError(Exception):
    """An exchange ended unsuccessfully. Attributes tell drivers what to answer."""

    imap_status = "NO"
    imap_code: str | None = "AUTHENTICATIONFAILED"
    smtp_code = 535
    smtp_ecode = "5.7.8"
    #: whether the failed-auth limiter counts it
    counts_as_failure = True

    def __init__(self, message: str, *, username: str = "") -> None:
        super().__init__(message)
        self.username = username


class AuthenticationFailed(SaslError):
    """Bad credentials, unknown user."""


class ChannelBindingMismatch(AuthenticationFailed):
    """SCRAM channel binding data does not match the connection (potential mitm)."""


class OtherAccountThanCertificate(AuthenticationFailed):
    """Credentials of another account than the connection's TLS client certificate."""


class SecretUnavailable(AuthenticationFailed):
    """The account has no stored secret for this mechanism (password set before it existed)."""

    counts_as_failure = False


class AuthorizationFailed(SaslError):
    """Authenticated, but the requested authorization identity is not allowed."""

    imap_code = "AUTHORIZATIONFAILED"


class Aborted(SaslError):
    """The client sent ``*``."""

    imap_status = "BAD"
    imap_code = None
    smtp_code = 501
    smtp_ecode = "5.0.0"
    counts_as_failure = False


class MalformedResponse(SaslError):
    """The client broke the mechanism's syntax."""

    imap_status = "BAD"
    imap_code = None
    smtp_code = 501
    smtp_ecode = "5.5.4"


class UnknownMechanism(SaslError):
    imap_code = None
    smtp_code = 504
    smtp_ecode = "5.5.4"
    counts_as_failure = False


class TooManyAuthFailures(SaslError):
    """The remote IP is over its failed-authentication limit: refused without checking
    (IMAP ``* BYE too many auth failures``, SMTP ``421 4.7.0 too many auth failures``; the
    drivers close the connection)."""

    imap_status = "BYE"
    imap_code = None
    smtp_code = 421
    smtp_ecode = "4.7.0"
    counts_as_failure = False


class ClientError(Exception):
    """Client side: the server's messages are wrong (e.g. a bad SCRAM server signature)."""


# Steps.


@dataclass(frozen=True)
class Challenge:
    """Send ``data`` to the client (base64 in a continuation) and feed its answer to step()."""

    data: bytes


@dataclass(frozen=True)
class Success:
    account: str
    username: str  # the login address (NFC); for EXTERNAL the key's login address or authz
    mechanism: str
    #: RFC 4422 additional data with success; always empty (SCRAM's server-final goes in a
    #: Challenge, and the client answers it with an empty response, as mox).
    data: bytes = b""


# Wire helpers for drivers.


def decode_response(line: bytes | str) -> bytes:
    """A client's continuation line: ``*`` aborts, else base64 (an empty line is empty data)."""
    if isinstance(line, str):
        line = line.encode("ascii", "replace")
    line = line.strip(b"\r\n")
    if line == b"*":
        raise Aborted("authentication aborted")
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedResponse("invalid base64 in authentication response") from None


def decode_initial(ir: bytes | str | None) -> bytes | None:
    """A SASL-IR / AUTH initial response: None when absent, ``=`` is empty, ``*`` aborts."""
    if ir is None:
        return None
    if isinstance(ir, str):
        ir = ir.encode("ascii", "replace")
    if ir == b"=":
        return b""
    if ir == b"":
        raise MalformedResponse("empty initial response, use = for empty")
    return decode_response(ir)


def encode_challenge(data: bytes) -> bytes:
    return base64.b64encode(data)


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

    def __init__(self, auth: Any, store: Any, tls_identity: tuple[str, str] | None = None) -> None:
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


# Channel binding.


def channel_bindings(ssl_object: Any) -> dict[str, bytes]:
    """The channel bindings that can be checked on this TLS connection (server or client side):
    ``{"tls-unique": ...}`` on TLS 1.2 and older, ``{}`` on TLS 1.3 or without TLS."""
    if ssl_object is None:
        return {}
    try:
        version = ssl_object.version()
    except (AttributeError, ValueError):
        return {}
    if version not in ("TLSv1.2", "TLSv1.1", "TLSv1"):
        return {}
    try:
        cb = ssl_object.get_channel_binding("tls-unique")
    except (ValueError, AttributeError):
        return {}
    return {"tls-unique": cb} if cb else {}


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


_SCRAM_HASHES = {"SHA-1": ("sha1", "SHA-1"), "SHA-256": ("sha256", "SHA-256")}


def _hmac(hash_name: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hash_name).digest()


def _h(hash_name: str, data: bytes) -> bytes:
    return hashlib.new(hash_name, data).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def _saslname_decode(s: str) -> str:
    # RFC 5802 5.1: "," is =2C, "=" is =3D; any other "=" is invalid.
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "=":
            esc = s[i : i + 3]
            if esc == "=2C":
                out.append(",")
            elif esc == "=3D":
                out.append("=")
            else:
                raise MalformedResponse("scram: invalid escape in name")
            i += 3
            continue
        if c == ",":
            raise MalformedResponse("scram: unescaped comma in name")
        out.append(c)
        i += 1
    return "".join(out)


def _saslname_encode(s: str) -> str:
    return s.replace("=", "=3D").replace(",", "=2C")


def _printable_nonce(s: str) -> bool:
    return bool(s) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in s)


class ScramServer(ServerMechanism):
    """RFC 5802 server. ``channel_bindings`` (name -> data) are those available on the
    connection; ``plus`` is the -PLUS variant."""

    def __init__(
        self, verifier: Verifier, hash_name: str, *, plus: bool = False, channel_bindings: dict[str, bytes] | None = None
    ) -> None:
        super().__init__(verifier)
        self.hash, self.hash_label = _SCRAM_HASHES[hash_name]
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
            authz = _saslname_decode(authz_part[2:])
        self._gs2_header = f"{flag},{authz_part},"
        self._cb_data = self.channel_bindings.get(cb_name, b"") if cb_name else b""
        if bare.startswith("m="):
            raise MalformedResponse("scram: mandatory extensions not supported")
        attrs = bare.split(",")
        if len(attrs) < 2 or not attrs[0].startswith("n=") or not attrs[1].startswith("r="):
            raise MalformedResponse("scram: client-first message needs n= and r=")
        username = _saslname_decode(attrs[0][2:])
        cnonce = attrs[1][2:]
        if not _printable_nonce(cnonce):
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
        client_key = _hmac(self.hash, salted, b"Client Key")
        stored_key = _h(self.hash, client_key)
        signature = _hmac(self.hash, stored_key, auth_message)
        proof_ok = len(proof) == len(signature) and hmac.compare_digest(_h(self.hash, _xor(proof, signature)), stored_key)
        if not proof_ok or self._unknown:
            raise AuthenticationFailed("bad credentials", username=self._authc)
        self._check_tls_account(self._account, self._authc)
        server_key = _hmac(self.hash, salted, b"Server Key")
        server_sig = _hmac(self.hash, server_key, auth_message)
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
    send_challenge: Any,
    read_response: Any,
    run_sync: Any = None,
    limiter: Any = None,
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


async def _exchange(mech: ServerMechanism, initial: bytes | None, send_challenge: Any, read_response: Any,
                    run_sync: Any) -> Success:

    async def call(fn: Any, arg: Any) -> Challenge | Success:
        if run_sync is None:
            return fn(arg)
        return await run_sync(fn, arg)

    step = await call(mech.start, initial)
    while isinstance(step, Challenge):
        await send_challenge(step.data)
        step = await call(mech.step, decode_response(await read_response()))
    return step


# Client mechanisms.


class ClientMechanism:
    name = ""

    def __init__(self) -> None:
        self.done = False

    def initial_response(self) -> bytes | None:
        """The initial response (SASL-IR / AUTH argument), or None to wait for a challenge."""
        raise NotImplementedError

    def step(self, challenge: bytes) -> bytes:
        raise NotImplementedError


class PlainClient(ClientMechanism):
    name = "PLAIN"

    def __init__(self, username: str, password: str, authz: str = "") -> None:
        super().__init__()
        self.username = precis.normalize_username(username)
        self.password = precis.prepare_password_lenient(password)
        self.authz = precis.normalize_username(authz)

    def initial_response(self) -> bytes | None:
        self.done = True
        return f"{self.authz}\0{self.username}\0{self.password}".encode()

    def step(self, challenge: bytes) -> bytes:
        if challenge:
            raise ClientError("plain: unexpected challenge")
        return self.initial_response() or b""


class LoginClient(ClientMechanism):
    name = "LOGIN"

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self.username = precis.normalize_username(username)
        self.password = precis.prepare_password_lenient(password)
        self._sent_user = False

    def initial_response(self) -> bytes | None:
        return None

    def step(self, challenge: bytes) -> bytes:
        if not self._sent_user:
            self._sent_user = True
            return self.username.encode()
        self.done = True
        return self.password.encode()


class CramMD5Client(ClientMechanism):
    name = "CRAM-MD5"

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self.username = precis.normalize_username(username)
        self.password = precis.prepare_password_lenient(password)

    def initial_response(self) -> bytes | None:
        return None

    def step(self, challenge: bytes) -> bytes:
        self.done = True
        digest = hmac.new(self.password.encode(), challenge, "md5").hexdigest()
        return f"{self.username} {digest}".encode()


class ScramClient(ClientMechanism):
    """RFC 5802 client. ``channel_binding`` is ``(name, data)`` for -PLUS; without it, ``y`` is
    sent when ``cb_supported`` (we could bind but the server offered no -PLUS), else ``n``."""

    def __init__(
        self,
        hash_name: str,
        username: str,
        password: str,
        *,
        authz: str = "",
        channel_binding: tuple[str, bytes] | None = None,
        cb_supported: bool = False,
        nonce: str | None = None,
    ) -> None:
        super().__init__()
        self.hash, _ = _SCRAM_HASHES[hash_name]
        self.name = f"SCRAM-{hash_name}" + ("-PLUS" if channel_binding else "")
        self.username = precis.normalize_username(username)
        self.password = precis.prepare_password_lenient(password)
        self.authz = precis.normalize_username(authz)
        self.channel_binding = channel_binding
        self.cb_supported = cb_supported
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self._state = "first"

    def initial_response(self) -> bytes | None:
        if self.channel_binding:
            flag = "p=" + self.channel_binding[0]
        else:
            flag = "y" if self.cb_supported else "n"
        authz = "a=" + _saslname_encode(self.authz) if self.authz else ""
        self._gs2 = f"{flag},{authz},"
        self._first_bare = f"n={_saslname_encode(self.username)},r={self.nonce}"
        self._state = "server-first"
        return (self._gs2 + self._first_bare).encode()

    def step(self, challenge: bytes) -> bytes:
        if self._state == "first":
            if challenge:
                raise ClientError("scram: unexpected challenge before client-first message")
            return self.initial_response() or b""
        text = challenge.decode("utf-8", "replace")
        if self._state == "server-first":
            attrs = dict(a.split("=", 1) for a in text.split(",") if "=" in a)
            try:
                nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
            except (KeyError, ValueError, binascii.Error):
                raise ClientError(f"scram: bad server-first message {text!r}") from None
            if not nonce.startswith(self.nonce) or nonce == self.nonce:
                raise ClientError("scram: server nonce does not extend ours")
            if iterations < 1:
                raise ClientError("scram: bad iteration count")
            cb = base64.b64encode(self._gs2.encode() + (self.channel_binding[1] if self.channel_binding else b""))
            without_proof = f"c={cb.decode()},r={nonce}"
            auth_message = f"{self._first_bare},{text},{without_proof}".encode()
            salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), salt, iterations)
            client_key = _hmac(self.hash, salted, b"Client Key")
            signature = _hmac(self.hash, _h(self.hash, client_key), auth_message)
            proof = base64.b64encode(_xor(client_key, signature)).decode()
            self._server_sig = _hmac(self.hash, _hmac(self.hash, salted, b"Server Key"), auth_message)
            self._state = "server-final"
            return f"{without_proof},p={proof}".encode()
        if self._state == "server-final":
            if text.startswith("e="):
                raise ClientError(f"scram: server error {text[2:]}")
            if not text.startswith("v="):
                raise ClientError("scram: bad server-final message")
            try:
                sig = base64.b64decode(text[2:], validate=True)
            except (binascii.Error, ValueError):
                raise ClientError("scram: bad base64 in server signature") from None
            if not hmac.compare_digest(sig, self._server_sig):
                raise ClientError("scram: bad server signature, server does not know the password")
            self._state = "done"
            self.done = True
            return b""
        raise ClientError("scram: unexpected challenge after the exchange finished")


class ExternalClient(ClientMechanism):
    name = "EXTERNAL"

    def __init__(self, authz: str = "") -> None:
        super().__init__()
        self.authz = precis.normalize_username(authz)

    def initial_response(self) -> bytes | None:
        self.done = True
        return self.authz.encode()

    def step(self, challenge: bytes) -> bytes:
        return self.initial_response() or b""


def client_mechanism(
    name: str,
    username: str = "",
    password: str = "",
    *,
    authz: str = "",
    channel_bindings: dict[str, bytes] | None = None,
) -> ClientMechanism:
    """A client state machine for ``name``. ``channel_bindings`` from :func:`channel_bindings` of
    the client's TLS connection; required for -PLUS."""
    n = name.upper()
    cbs = channel_bindings or {}
    if n == "PLAIN":
        return PlainClient(username, password, authz)
    if n == "LOGIN":
        return LoginClient(username, password)
    if n == "CRAM-MD5":
        return CramMD5Client(username, password)
    if n == "EXTERNAL":
        return ExternalClient(authz)
    for h in ("SHA-1", "SHA-256"):
        if n == f"SCRAM-{h}":
            return ScramClient(h, username, password, authz=authz, cb_supported=bool(cbs))
        if n == f"SCRAM-{h}-PLUS":
            if "tls-unique" not in cbs:
                raise ClientError(f"{n} needs a tls-unique channel binding (tls 1.2)")
            return ScramClient(h, username, password, authz=authz, channel_binding=("tls-unique", cbs["tls-unique"]))
    raise ClientError(f"unknown mechanism {name!r}")


def choose_client_mechanism(
    offered: list[str] | tuple[str, ...],
    *,
    channel_bindings: dict[str, bytes] | None = None,
    have_password: bool = True,
    have_client_cert: bool = False,
) -> str | None:
    """The mechanism a client picks from the server's list (mox ``sendmail.go`` order), or None."""
    offered_set = {m.upper() for m in offered}
    for name in CLIENT_PREFERENCE:
        if name not in offered_set:
            continue
        if name == "EXTERNAL" and not have_client_cert:
            continue
        if name.endswith("-PLUS") and "tls-unique" not in (channel_bindings or {}):
            continue
        if name != "EXTERNAL" and not have_password:
            continue
        return name
    return None


@dataclass
class Exchange:
    """Drive a client mechanism against a server mechanism in memory (tests, tools)."""

    client: ClientMechanism
    server: ServerMechanism
    use_initial: bool = True
    transcript: list[tuple[str, bytes]] = field(default_factory=list)

    def run(self) -> Success:
        ir = self.client.initial_response() if self.use_initial else None
        if ir is not None:
            self.transcript.append(("C", ir))
        step = self.server.start(ir)
        while isinstance(step, Challenge):
            self.transcript.append(("S", step.data))
            resp = self.client.step(step.data)
            self.transcript.append(("C", resp))
            step = self.server.step(resp)
        return step
