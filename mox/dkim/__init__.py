"""DKIM (RFC 6376, ed25519-sha256 per RFC 8463) and the message authentication fields mox
writes (Authentication-Results, RFC 8601; Received-SPF, RFC 7208 9.1).

Sans-IO and synchronous, no trio, no store: callers run signing and verification in a worker
thread (hashing a large message takes time).

- :mod:`mox.dkim.canon`: header split and canonicalization (RFC 6376 3.4).
- :mod:`mox.dkim.sig`: the DKIM-Signature field; :mod:`mox.dkim.record`: key records.
- :mod:`mox.dkim.keys`: key generation and PEM files in mox's format.
- :mod:`mox.dkim.core`: :func:`sign` and :func:`verify` with a key record ``lookup``.
- :mod:`mox.dkim.authres`: Authentication-Results and Received-SPF writers.
- :mod:`mox.dkim.local`: the glue for a mox without DNS (localserve): keys from the config.
- :mod:`mox.dkim.dnsrecords`: the DNS records to create for a domain (``mox config dnsrecords``).
"""

from mox.dkim.authres import AuthMethod, AuthProp, AuthResults, ReceivedSPF
from mox.dkim.canon import MalformedHeader
from mox.dkim.core import (
    DEFAULT_HEADERS,
    KeyLookupError,
    Lookup,
    Result,
    Selector,
    SignError,
    Status,
    default_policy,
    sign,
    verify,
)
from mox.dkim.keys import KeyFileError, load_key_file, make_ed25519_key, make_rsa_key, parse_private_key
from mox.dkim.record import Record, RecordError, parse_record
from mox.dkim.sig import Identity, Sig, SigError, parse_signature

__all__ = [
    "DEFAULT_HEADERS",
    "AuthMethod",
    "AuthProp",
    "AuthResults",
    "Identity",
    "KeyFileError",
    "KeyLookupError",
    "Lookup",
    "MalformedHeader",
    "ReceivedSPF",
    "Record",
    "RecordError",
    "Result",
    "Selector",
    "Sig",
    "SigError",
    "SignError",
    "Status",
    "default_policy",
    "load_key_file",
    "make_ed25519_key",
    "make_rsa_key",
    "parse_private_key",
    "parse_record",
    "parse_signature",
    "sign",
    "verify",
]
