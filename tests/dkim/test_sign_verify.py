"""Signing and verifying, judged by an independent implementation (dkimpy) both ways, and by
the signed example message of RFC 8463 Appendix A (ed25519-sha256 and rsa-sha256)."""

from __future__ import annotations

import base64
import time

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mox.dkim import DEFAULT_HEADERS, KeyLookupError, Record, Selector, SignError, Status, sign, verify
from mox.dkim.record import public_key_bytes

MSG = (
    b"From: Mox <mox@example.org>\r\n"
    b"To: Other <other@example.net>\r\n"
    b"Subject: hi  there\r\n"
    b"\tfolded \r\n"
    b"Date: Sat, 1 Jan 2000 00:00:00 +0000\r\n"
    b"Message-Id: <1@example.org>\r\n"
    b"\r\n"
    b"body  text \r\n"
    b"\r\n"
    b"\r\n"
)

ED = ed25519.Ed25519PrivateKey.generate()
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEYS = {"ed25519": ED, "rsa": RSA}
CANONS = [(h, b) for h in (True, False) for b in (True, False)]


def record(kind: str) -> str:
    key = KEYS[kind]
    return Record(key=kind, hashes=["sha256"], pubkey=public_key_bytes(key.public_key())).text()


def dnsfunc_for(records: dict[str, str]):
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        return records[name.decode()].encode()

    return dnsfunc


def dkimpy_ok(message: bytes, records: dict[str, str], idx: int = 0) -> bool:
    """dkimpy's verdict on signature ``idx`` (it raises for some failures, returns False for others)."""
    try:
        return bool(dkimpy.DKIM(message).verify(idx=idx, dnsfunc=dnsfunc_for(records)))
    except dkimpy.DKIMException:
        return False


def lookup_for(records: dict[str, str]):
    def lookup(selector: str, domain: str) -> list[str]:
        name = f"{selector}._domainkey.{domain}."
        if name not in records:
            raise KeyLookupError(Status.PERMERROR, f"no record at {name}")
        return [records[name]]

    return lookup


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
@pytest.mark.parametrize(("header_relaxed", "body_relaxed"), CANONS)
def test_we_sign_dkimpy_verifies(kind: str, header_relaxed: bool, body_relaxed: bool) -> None:
    sel = Selector("sel", KEYS[kind], header_relaxed=header_relaxed, body_relaxed=body_relaxed, expiration=3600)
    signed = sign("mox", "example.org", [sel], MSG, now=time.time()).encode() + MSG
    recs = {"sel._domainkey.example.org.": record(kind)}
    assert dkimpy_ok(signed, recs)
    # And a changed body or signed field is refused by dkimpy.
    assert not dkimpy_ok(signed.replace(b"body  text", b"body text!"), recs)
    assert not dkimpy_ok(signed.replace(b"Subject: hi", b"Subject: ho"), recs)


def test_both_keys_at_once_and_sealing() -> None:
    """Two selectors give two signatures; the signed fields are "sealed": each present field is
    signed once more than it occurs (RFC 6376 8.15), so adding a To breaks the signature."""
    sels = [Selector("ed", ED), Selector("rsa", RSA)]
    headers = sign(None, "example.org", sels, MSG, now=1000).encode()
    signed = headers + MSG
    recs = {"ed._domainkey.example.org.": record("ed25519"), "rsa._domainkey.example.org.": record("rsa")}
    for idx in (0, 1):
        assert dkimpy_ok(signed, recs, idx)
    h = headers.decode().replace("\r\n\t", "").split("h=")[1].split(";")[0]
    assert h == ":".join([*DEFAULT_HEADERS, "From", "To", "Subject", "Date", "Message-Id"])
    assert "i=@example.org;" in headers.decode()  # no local part given
    assert "t=1000;" in headers.decode() and "x=" not in headers.decode()
    added = signed.replace(b"\r\nFrom:", b"\r\nTo: intruder@example.com\r\nFrom:", 1)
    assert not dkimpy_ok(added, recs, 0)
    assert [r.status for r in verify(added, lookup_for(recs), now=1000)] == [Status.FAIL, Status.FAIL]


def test_sign_needs_one_from() -> None:
    with pytest.raises(SignError, match="has 0 from headers"):
        sign("a", "example.org", [Selector("s", ED)], b"To: x\r\n\r\nbody\r\n", now=0)
    with pytest.raises(SignError, match="has 2 from headers"):
        sign("a", "example.org", [Selector("s", ED)], b"From: a\r\nFrom: b\r\n\r\nbody\r\n", now=0)


def test_never_signs_length() -> None:
    """RFC 6376 8.2: l= lets others append content; we never write it."""
    headers = sign("a", "example.org", [Selector("s", ED), Selector("r", RSA, body_relaxed=False)], MSG, now=0)
    tags = [t.strip().split("=")[0] for t in headers.replace("\r\n\t", " ").replace("\r\n", "").split(";")]
    assert "bh" in tags and "l" not in tags


def _dkimpy_sign(kind: str, canon: tuple[bytes, bytes], **kw) -> bytes:
    if kind == "ed25519":
        seed = ED.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        priv, alg = base64.b64encode(seed), b"ed25519-sha256"
    else:
        priv = RSA.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
        alg = b"rsa-sha256"
    return dkimpy.sign(MSG, b"sel", b"example.org", priv, signature_algorithm=alg, canonicalize=canon, **kw) + MSG


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
@pytest.mark.parametrize("canon", [(b"relaxed", b"relaxed"), (b"simple", b"simple"), (b"relaxed", b"simple"), (b"simple", b"relaxed")])
def test_dkimpy_signs_we_verify(kind: str, canon: tuple[bytes, bytes]) -> None:
    signed = _dkimpy_sign(kind, canon, include_headers=[b"from", b"to", b"subject", b"date"])
    recs = {"sel._domainkey.example.org.": record(kind)}
    [r] = verify(signed, lookup_for(recs), now=time.time())
    assert (r.status, r.err) == (Status.PASS, "")
    assert r.sig is not None and r.sig.algorithm == f"{kind}-sha256"
    # Tampering is found: a changed body (body hash), a changed signed field (signature).
    [r] = verify(signed.replace(b"body  text", b"body text!"), lookup_for(recs), now=time.time())
    assert r.status == Status.FAIL and "body hash does not match" in r.err
    [r] = verify(signed.replace(b"To: Other", b"To: Another"), lookup_for(recs), now=time.time())
    assert r.status == Status.FAIL and "signature verification failed" in r.err
    if canon[0] == b"relaxed" and canon[1] == b"relaxed":
        # Relaxed tolerates whitespace and case changes in transit.
        moved = signed.replace(b"Subject: hi  there", b"SUBJECT:   hi there").replace(b"body  text ", b"body\ttext")
        assert [r.status for r in verify(moved, lookup_for(recs), now=time.time())] == [Status.PASS]


def test_dkimpy_length_signature_refused_by_policy() -> None:
    """dkimpy can sign with l=; we refuse such signatures by policy (mox dkim/policy.go)."""
    signed = _dkimpy_sign("ed25519", (b"relaxed", b"relaxed"), include_headers=[b"from", b"subject"], length=True)
    [r] = verify(signed, lookup_for({"sel._domainkey.example.org.": record("ed25519")}), now=time.time())
    assert r.status == Status.POLICY and "l= for length not acceptable" in r.err


# RFC 8463 Appendix A: the example message signed with ed25519-sha256 and rsa-sha256.
RFC8463_MESSAGE = b"""DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=brisbane; t=1528637909; h=from : to :
 subject : date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus
 Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=test; t=1528637909; h=from : to : subject :
 date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3
 DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz
 dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=
From: Joe SixPack <joe@football.example.com>
To: Suzie Q <suzie@shopping.example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
Message-ID: <20030712040037.46341.5F8J@football.example.com>

Hi.

We lost the game.  Are you hungry yet?

Joe.
""".replace(b"\n", b"\r\n")
RFC8463_RECORDS = {
    "brisbane._domainkey.football.example.com.": "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "test._domainkey.football.example.com.": (
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
        "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryO"
        "TIKT+l/K4w3QIDAQAB"
    ),
}


def test_rfc8463_example() -> None:
    results = verify(RFC8463_MESSAGE, lookup_for(RFC8463_RECORDS), now=time.time())
    assert [(r.status, r.err) for r in results] == [(Status.PASS, ""), (Status.PASS, "")]
    assert [r.sig.algorithm for r in results if r.sig] == ["ed25519-sha256", "rsa-sha256"]
    # dkimpy agrees on the same input.
    assert dkimpy_ok(RFC8463_MESSAGE, RFC8463_RECORDS, 0)


def test_verify_errors() -> None:
    now = 1_000_000
    recs = {"s._domainkey.example.org.": record("ed25519")}
    lookup = lookup_for(recs)

    def one(sel: Selector, msg: bytes = MSG, *, at: float = now, records=lookup, domain: str = "example.org"):
        signed = sign("a", domain, [sel], msg, now=now).encode() + msg
        [r] = verify(signed, records, now=at)
        return r.status, r.err

    assert one(Selector("s", ED)) == (Status.PASS, "")
    # x= passed (RFC 6376 3.5).
    assert one(Selector("s", ED, expiration=10), at=now + 11)[0] == Status.PERMERROR
    # No key record (RFC 6376 6.1.2) / key of another type / hash not allowed / revoked key.
    assert one(Selector("other", ED)) == (Status.PERMERROR, "no record at other._domainkey.example.org.")
    assert one(Selector("s", RSA))[0] == Status.PERMERROR
    assert one(Selector("s", ED), records=lambda s, d: ["v=DKIM1; h=sha1; k=ed25519; p=" + record("ed25519").split("p=")[1]])[0] == Status.PERMERROR
    assert one(Selector("s", ED), records=lambda s, d: ["v=DKIM1; k=ed25519; p="]) == (Status.PERMERROR, "dkim: key has been revoked")
    # Two valid records: temporary (RFC 6376 3.6.2.2); a broken one: permanent; none: permanent.
    assert one(Selector("s", ED), records=lambda s, d: [record("ed25519"), record("ed25519")])[0] == Status.TEMPERROR
    assert one(Selector("s", ED), records=lambda s, d: ["v=DKIM1; k=ed25519; p=AAAA"])[0] == Status.PERMERROR
    assert one(Selector("s", ED), records=lambda s, d: [])[0] == Status.PERMERROR
    # A failing signature under a key in test mode (t=y) counts as unsigned.
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    testing = lambda s, d: [Record(key="ed25519", flags=["y"], public_key=other).text()]  # noqa: E731
    assert one(Selector("s", ED), records=testing)[0] == Status.NONE
    # Policy: Subject must be signed (mox dkim/policy.go); From must be signed (RFC 6376 5.4).
    assert one(Selector("s", ED, headers=("From", "To")))[0] == Status.POLICY
    assert one(Selector("s", ED, headers=("To", "Subject")))[0] == Status.PERMERROR
    # t=s: i= must be in exactly d= (RFC 6376 3.6.1).
    strict = lambda s, d: [record("ed25519") + ";t=s"]  # noqa: E731
    assert one(Selector("s", ED), records=strict)[0] == Status.PASS
    # A single-label signing domain is refused, except localhost (mox localserve).
    assert one(Selector("s", ED), records=lambda s, d: [record("ed25519")], domain="com")[0] == Status.PERMERROR
    assert one(Selector("s", ED), records=lambda s, d: [record("ed25519")], domain="localhost")[0] == Status.PASS


def test_unparseable_signature_is_permerror() -> None:
    msg = b"DKIM-Signature: v=1\r\n" + MSG
    [r] = verify(msg, lookup_for({}), now=0)
    assert r.status == Status.PERMERROR and r.sig is None and r.err.startswith("parsing DKIM-Signature header: ")
    assert verify(MSG, lookup_for({}), now=0) == []
