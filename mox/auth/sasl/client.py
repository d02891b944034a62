"""The client side of SASL: one state machine per mechanism, the choice among the server's
mechanisms, and Exchange, which runs a client against a server mechanism in memory."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from mox.auth import precis
from mox.auth.sasl import scram
from mox.auth.sasl.errors import ClientError
from mox.auth.sasl.server import ServerMechanism
from mox.auth.sasl.wire import CLIENT_PREFERENCE, Challenge, Success

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
        self.hash, _ = scram.SCRAM_HASHES[hash_name]
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
        authz = "a=" + scram.saslname_encode(self.authz) if self.authz else ""
        self._gs2 = f"{flag},{authz},"
        self._first_bare = f"n={scram.saslname_encode(self.username)},r={self.nonce}"
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
            client_key = scram.hmac_digest(self.hash, salted, b"Client Key")
            signature = scram.hmac_digest(self.hash, scram.hash_digest(self.hash, client_key), auth_message)
            proof = base64.b64encode(scram.xor(client_key, signature)).decode()
            self._server_sig = scram.hmac_digest(self.hash, scram.hmac_digest(self.hash, salted, b"Server Key"), auth_message)
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

