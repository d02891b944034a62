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

Modules: ``errors`` (the SaslError family), ``wire`` (mechanism lists, Challenge/Success,
base64 helpers, channel bindings), ``server`` (Verifier, server mechanisms, serve_exchange),
``client`` (client mechanisms, Exchange) and ``scram`` (the SCRAM primitives both sides share).
Everything is re-exported here: use ``from mox.auth import sasl`` and ``sasl.<name>``.
"""

from mox.auth.sasl.client import (
    ClientMechanism,
    CramMD5Client,
    Exchange,
    ExternalClient,
    LoginClient,
    PlainClient,
    ScramClient,
    choose_client_mechanism,
    client_mechanism,
)
from mox.auth.sasl.errors import (
    Aborted,
    AuthenticationFailed,
    AuthorizationFailed,
    ChannelBindingMismatch,
    ClientError,
    MalformedResponse,
    OtherAccountThanCertificate,
    SaslError,
    SecretUnavailable,
    TooManyAuthFailures,
    UnknownMechanism,
)
from mox.auth.sasl.server import (
    CramMD5Server,
    ExternalServer,
    LoginServer,
    PlainServer,
    ScramServer,
    ServerMechanism,
    StoreVerifier,
    Verifier,
    serve_exchange,
    server_mechanism,
    server_mechanism_names,
)
from mox.auth.sasl.wire import (
    CLIENT_PREFERENCE,
    SERVER_MECHANISMS,
    Challenge,
    Success,
    channel_bindings,
    decode_initial,
    decode_response,
    encode_challenge,
)

__all__ = [
    "CLIENT_PREFERENCE",
    "SERVER_MECHANISMS",
    "Aborted",
    "AuthenticationFailed",
    "AuthorizationFailed",
    "Challenge",
    "ChannelBindingMismatch",
    "ClientError",
    "ClientMechanism",
    "CramMD5Client",
    "CramMD5Server",
    "Exchange",
    "ExternalClient",
    "ExternalServer",
    "LoginClient",
    "LoginServer",
    "MalformedResponse",
    "OtherAccountThanCertificate",
    "PlainClient",
    "PlainServer",
    "SaslError",
    "ScramClient",
    "ScramServer",
    "SecretUnavailable",
    "ServerMechanism",
    "StoreVerifier",
    "Success",
    "TooManyAuthFailures",
    "UnknownMechanism",
    "Verifier",
    "channel_bindings",
    "choose_client_mechanism",
    "client_mechanism",
    "decode_initial",
    "decode_response",
    "encode_challenge",
    "serve_exchange",
    "server_mechanism",
    "server_mechanism_names",
]
