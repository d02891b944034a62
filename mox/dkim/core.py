"""Signing and verifying DKIM signatures (RFC 6376; ed25519-sha256 per RFC 8463).

Pure and synchronous: the callers run these in a worker thread, since hashing a large message
takes a while. Key records come from a ``lookup`` callable, not DNS: localserve answers from
its own configuration (see mox.dkim.local), the CLI from records given to it.

Signing follows mox (dkim/dkim.go Sign): the body is hashed, a DKIM-Signature with empty b= is
made, the signed header fields and that field are hashed and signed. The body length (l=) is
never used when signing; verification refuses signatures with l= by policy (as mox).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mox.dkim.canon import Hasher, Header, MalformedHeader, body_hash, canonical_header, parse_headers, relaxed_header
from mox.dkim.keys import key_algorithm
from mox.dkim.record import Record, RecordError, parse_record
from mox.dkim.sig import Identity, Sig, SigError, parse_signature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes

# cryptography is imported where a key signs or verifies (not when this module is imported: a
# server start that signs nothing does not load it).

#: Header fields signed by default (mox's list, mox-/config.go): the addressing fields, date
#: and subject, message references and the parsing instruction (RFC 6376 5.4).
DEFAULT_HEADERS = ("From", "To", "Cc", "Bcc", "Reply-To", "References", "In-Reply-To", "Subject", "Date", "Message-Id", "Content-Type")


class Status(enum.StrEnum):
    """The result of verifying one signature (RFC 8601 2.7.1)."""

    NONE = "none"
    PASS = "pass"
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class SignError(ValueError):
    """The message cannot be signed (e.g. not exactly one From field)."""


class KeyLookupError(Exception):
    """A key record lookup that failed: ``status`` is TEMPERROR (try later) or PERMERROR (no
    record)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


#: (selector, domain) -> the TXT strings at <selector>._domainkey.<domain>; raises KeyLookupError.
Lookup = Callable[[str, str], Sequence[str]]


@dataclass(frozen=True)
class Selector:
    """A key to sign with, and how (mox config.Selector)."""

    selector: str
    private_key: Any  # ed25519.Ed25519PrivateKey or rsa.RSAPrivateKey
    hash: str = "sha256"
    header_relaxed: bool = True
    body_relaxed: bool = True
    headers: tuple[str, ...] = DEFAULT_HEADERS
    #: Sign each present field one more time than it occurs, so no field of these names can be
    #: added later without breaking the signature (RFC 6376 8.15).
    seal_headers: bool = True
    #: Seconds a signature stays valid (x=), 0: no expiration.
    expiration: int = 0


@dataclass
class Result:
    """The outcome of verifying one DKIM-Signature field."""

    status: Status
    sig: Sig | None = None
    record: Record | None = None
    record_txt: str = ""
    err: str = ""


def _hash(name: str) -> tuple[Callable[[], Hasher], hashes.HashAlgorithm] | None:
    from cryptography.hazmat.primitives import hashes

    n = name.lower()
    if n == "sha256":
        return hashlib.sha256, hashes.SHA256()
    if n == "sha1":
        return hashlib.sha1, hashes.SHA1()  # noqa: S324 - only to verify old signatures (RFC 8301 3.1)
    return None


def _data_hash(new_hash: Callable[[], Hasher], header_relaxed: bool, sig: Sig, fields: list[Header], sig_field: bytes) -> bytes:
    """RFC 6376 3.7: the signed header fields, bottom-most instance first for repeated names,
    then the DKIM-Signature field itself (b= empty, no final CRLF)."""
    h = new_hash()
    remaining: dict[str, list[Header]] = {}
    for f in fields:
        remaining.setdefault(f.lkey, []).insert(0, f)
    for name in sig.signed_headers:
        lst = remaining.get(name.lower())
        if not lst:
            continue  # a field not present hashes as nothing (RFC 6376 5.4.2)
        h.update(canonical_header(lst.pop(0).raw, relaxed=header_relaxed))
    # RFC 6376 3.7: the signature field itself, canonicalized, without its CRLF.
    h.update(relaxed_header(sig_field) if header_relaxed else sig_field)
    return h.digest()


def sign(localpart: str | None, domain: str, selectors: Sequence[Selector], message: bytes, *, now: float) -> str:
    """DKIM-Signature fields (each ending in CRLF) for ``message`` by ``domain``, one per
    selector, to be put on top of the message. ``localpart`` (None: none) goes into i=.
    Raises SignError or MalformedHeader."""
    fields, body_offset = parse_headers(message)
    nfrom = sum(1 for f in fields if f.lkey == "from")
    if nfrom != 1:
        raise SignError(f"dkim: bad from headers: message has {nfrom} from headers, need exactly 1")
    body = message[body_offset:]
    body_hashes: dict[tuple[bool, str], bytes] = {}
    out = []
    for sel in selectors:
        alg = _hash(sel.hash)
        if alg is None:
            raise SignError(f"unrecognized hash algorithm {sel.hash!r}")
        new_hash, halg = alg
        sig = Sig(
            algorithm_sign=key_algorithm(sel.private_key),
            algorithm_hash=sel.hash.lower(),
            domain=domain,
            selector=sel.selector,
            identity=Identity(localpart, domain),
            signed_headers=list(sel.headers),
            sign_time=int(now),
            canonicalization=("relaxed" if sel.header_relaxed else "simple") + "/" + ("relaxed" if sel.body_relaxed else "simple"),
        )
        if sel.seal_headers:
            counts: dict[str, int] = {}
            for f in fields:
                counts[f.lkey] = counts.get(f.lkey, 0) + 1
            for name in sel.headers:
                sig.signed_headers += [name] * counts.get(name.lower(), 0)
        if sel.expiration > 0:
            sig.expire_time = sig.sign_time + sel.expiration
        key = (sel.body_relaxed, sig.algorithm_hash)
        if key not in body_hashes:
            body_hashes[key] = body_hash(new_hash(), body, relaxed=sel.body_relaxed)
        sig.body_hash = body_hashes[key]
        sig_field = sig.header().encode("utf-8")[:-2]
        digest = _data_hash(new_hash, sel.header_relaxed, sig, fields, sig_field)
        pk = sel.private_key
        from cryptography.hazmat.primitives.asymmetric import ed25519, padding
        from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

        if isinstance(pk, ed25519.Ed25519PrivateKey):
            # RFC 8463 3: PureEdDSA over the hash of the canonicalized data.
            sig.signature = pk.sign(digest)
        else:
            sig.signature = pk.sign(digest, padding.PKCS1v15(), Prehashed(halg))
        out.append(sig.header())
    return "".join(out)


def default_policy(sig: Sig) -> str | None:
    """mox's policy (dkim/policy.go): no body length limit (l=), and Subject must be signed.
    Returns the reason for refusing, or None."""
    if sig.length >= 0:
        return "l= for length not acceptable"
    if not any(h.lower() == "subject" for h in sig.signed_headers):
        return "required header fields missing from signature: subject"
    return None


def lookup_record(lookup: Lookup, selector: str, domain: str) -> tuple[Status, Record | None, str, str]:
    """(status, record, its text, error) for the key record of selector at domain (RFC 6376
    6.1.2). NEUTRAL with a record means found; anything else is the error status."""
    try:
        txts = lookup(selector, domain)
    except KeyLookupError as e:
        return e.status, None, "", str(e)
    record = None
    text = ""
    status, err = Status.TEMPERROR, f"dkim: no dkim dns record for selector and domain: dns name {selector}._domainkey.{domain}."
    if not txts:
        return Status.PERMERROR, None, "", err
    for s in txts:
        try:
            r = parse_record(s)
        except RecordError as e:
            if e.is_dkim:
                return Status.PERMERROR, None, s, f"dkim: syntax error in dkim dns record: {e}"
            err = f"dkim: syntax error in dkim dns record: not a dkim record: {e}"
            continue
        if record is not None:
            # RFC 6376 3.6.2.2: more than one record; temporary, it may be fixed soon.
            return Status.TEMPERROR, None, "", f"dkim: multiple dkim dns record for selector and domain: dns name {selector}._domainkey.{domain}."
        record, text = r, s
    if record is None:
        return status, None, "", err
    return Status.NEUTRAL, record, text, ""


def _check_params(sig: Sig, now: float) -> tuple[Callable[[], Hasher], hashes.HashAlgorithm, bool, bool]:
    if not any(h.lower() == "from" for h in sig.signed_headers):
        # RFC 6376 5.4: From must be signed.
        raise SigError('dkim: bad from headers: required "from" header not signed')
    if 0 <= sig.expire_time < now:
        raise SigError(f"dkim: signature has expired: expiration time {sig.expire_time}")
    d = sig.domain.lower().rstrip(".")
    if "." not in d and d != "localhost":
        # RFC 6376 6.1.1: refuse a signing domain that is a top-level domain (mox uses the
        # public suffix list; without one we refuse single-label names, except localhost).
        raise SigError(f"dkim: signed domain is top-level domain, above organizational domain: {sig.domain}")
    alg = _hash(sig.algorithm_hash)
    if alg is None:
        raise SigError(f"dkim: unknown hash algorithm: {sig.algorithm_hash!r}")
    header_relaxed, body_relaxed = sig.canon()
    if sig.query_methods and not any(q.lower() == "dns/txt" for q in sig.query_methods):
        # RFC 6376 3.5 q=: dns/txt is the only method defined.
        raise SigError("dkim: no recognized query method: need dns/txt")
    return alg[0], alg[1], header_relaxed, body_relaxed


def verify(
    message: bytes,
    lookup: Lookup,
    *,
    now: float,
    policy: Callable[[Sig], str | None] = default_policy,
    ignore_test_mode: bool = False,
) -> list[Result]:
    """Verify each DKIM-Signature field of ``message`` (RFC 6376 6), in message order.

    With ``ignore_test_mode`` false, a failure under a key in test mode (t=y) counts as no
    signature (NONE). Raises MalformedHeader when the header cannot be split into fields.
    """
    fields, body_offset = parse_headers(message)
    body = message[body_offset:]
    results: list[Result] = []
    body_hashes: dict[tuple[bool, str], bytes] = {}
    for f in fields:
        if f.lkey != "dkim-signature":
            continue
        try:
            sig, sig_field = parse_signature(f.raw)
        except SigError as e:
            results.append(Result(Status.PERMERROR, err=f"parsing DKIM-Signature header: {e}"))
            continue
        try:
            new_hash, halg, header_relaxed, body_relaxed = _check_params(sig, now)
        except SigError as e:
            results.append(Result(Status.PERMERROR, sig, err=str(e)))
            continue
        reason = policy(sig)
        if reason is not None:
            results.append(Result(Status.POLICY, sig, err=f"dkim: signature rejected by policy: {reason}"))
            continue
        status, record, txt, err = lookup_record(lookup, sig.selector, sig.domain)
        if record is None:
            results.append(Result(status, sig, err=err))
            continue
        status, err = _verify_with_record(record, sig, new_hash, halg, header_relaxed, body_relaxed, fields, sig_field, body, body_hashes)
        if not ignore_test_mode and status != Status.PASS and any(fl.lower() == "y" for fl in record.flags):
            status = Status.NONE  # RFC 6376 3.6.1 t=y: the domain is testing DKIM
        results.append(Result(status, sig, record, txt, err))
    return results


def _verify_with_record(
    r: Record,
    sig: Sig,
    new_hash: Callable[[], Hasher],
    halg: hashes.HashAlgorithm,
    header_relaxed: bool,
    body_relaxed: bool,
    fields: list[Header],
    sig_field: bytes,
    body: bytes,
    body_hashes: dict[tuple[bool, str], bytes],
) -> tuple[Status, str]:
    if r.hashes and not any(h.lower() == sig.algorithm_hash.lower() for h in r.hashes):
        # RFC 6376 3.6.1 h=
        return Status.PERMERROR, (
            f"dkim: hash algorithm not allowed by dns record: dkim dns record expects one of "
            f"{','.join(r.hashes)!r}, message uses {sig.algorithm_hash!r}"
        )
    if r.key.lower() != sig.algorithm_sign.lower():
        # RFC 6376 6.1.3 step 3 (k= must match a=)
        return Status.PERMERROR, (
            f"dkim: signature algorithm mismatch with dns record: dkim dns record requires algorithm "
            f"{r.key!r}, message has {sig.algorithm_sign!r}"
        )
    if r.public_key is None:
        # RFC 6376 3.6.1 p=: an empty key is a revoked key.
        return Status.PERMERROR, "dkim: key has been revoked"
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    if isinstance(r.public_key, rsa.RSAPublicKey) and r.public_key.key_size < 1024:
        # RFC 8301 3.2
        return Status.PERMERROR, "dkim: key is too weak, need at least 1024 bits for rsa"
    if not r.service_allowed("email"):
        return Status.PERMERROR, "dkim: dns record not allowed for use with email"
    if any(fl.lower() == "s" for fl in r.flags) and sig.identity is not None:
        if sig.identity.domain.lower() != sig.domain.lower():
            # RFC 6376 3.6.1 t=s: i= must be in exactly the d= domain.
            return Status.PERMERROR, (
                f"dkim: dns record disallows mismatch of domain (d=) and identity (i=): i= identity domain "
                f"{sig.identity.domain!r} must match d= domain {sig.domain!r}"
            )
    if sig.length >= 0:
        return Status.PERMERROR, "l= (length) parameter in signature not yet implemented"
    # The header signature first: an invalid one need not read the whole body.
    try:
        digest = _data_hash(new_hash, header_relaxed, sig, fields, sig_field)
    except MalformedHeader as e:
        return Status.PERMERROR, f"calculating data hash: {e}"
    try:
        if isinstance(r.public_key, rsa.RSAPublicKey):
            r.public_key.verify(sig.signature, digest, padding.PKCS1v15(), Prehashed(halg))
        elif isinstance(r.public_key, ed25519.Ed25519PublicKey):
            r.public_key.verify(sig.signature, digest)
        else:  # pragma: no cover - parse_record only makes the two kinds
            return Status.PERMERROR, f"dkim: unknown signature algorithm: {r.key!r}"
    except InvalidSignature:
        return Status.FAIL, f"dkim: signature verification failed: {r.key.lower()} verification"
    key = (body_relaxed, sig.algorithm_hash.lower())
    if key not in body_hashes:
        body_hashes[key] = body_hash(new_hash(), body, relaxed=body_relaxed)
    bh = body_hashes[key]
    if bh != sig.body_hash:
        return Status.FAIL, (
            f"dkim: body hash does not match: signature bodyhash {sig.body_hash.hex()} != calculated bodyhash {bh.hex()}"
        )
    return Status.PASS, ""


__all__ = [
    "DEFAULT_HEADERS",
    "Lookup",
    "KeyLookupError",
    "Result",
    "Selector",
    "SignError",
    "Status",
    "default_policy",
    "lookup_record",
    "sign",
    "verify",
]
