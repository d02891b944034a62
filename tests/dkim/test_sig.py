"""The DKIM-Signature field (RFC 6376 3.5) and key records (3.6.1): parsing, writing, and the
errors a verifier must give for bad ones."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from mox.dkim import Record, RecordError, Sig, SigError, parse_record, parse_signature
from mox.dkim.sig import Identity

BH = "LjkN2rUhrS3zKXfH2vNgUzz5ERRJkgP9CURXBX0JP0Q="


def test_parse_all_tags() -> None:
    raw = (
        "dkim-signature: v = 1 ; a=ed25519-sha256; s=test; d=mox.example; h=from:to:cc:bcc:date:subject:message-id;"
        f" b=dGVz\r\n\tdAo=; bh={BH} ; c=simple/relaxed; l=10; i=\"\"@sub.mox.example; q= dns/txt:other;"
        " t=10; x=100; z=From:<mjl@mox.example>|Subject:test=20=7C=20with=20pipe; unknown = must be ignored \r\n"
    ).encode()
    sig, hashed = parse_signature(raw)
    assert sig == Sig(
        algorithm_sign="ed25519",
        algorithm_hash="sha256",
        signature=b"test\n",
        body_hash=base64.b64decode(BH),
        domain="mox.example",
        signed_headers=["from", "to", "cc", "bcc", "date", "subject", "message-id"],
        selector="test",
        canonicalization="simple/relaxed",
        length=10,
        identity=Identity("", "sub.mox.example"),
        query_methods=["dns/txt", "other"],
        sign_time=10,
        expire_time=100,
        copied_headers=["From:<mjl@mox.example>", "Subject:test | with pipe"],
    )
    # RFC 6376 3.7: the value of b= (with its whitespace and folding) is removed for hashing.
    assert b"b=; bh=" in hashed and b"dGVz" not in hashed and not hashed.endswith(b"\r\n")
    # Written again and parsed again: the same signature.
    again, _ = parse_signature(sig.header().encode())
    assert again == sig
    assert "z=From:<mjl@mox.example>|Subject:test=20=7C=20with=20pipe;" in sig.header().replace("\r\n\t", "")


def test_header_form() -> None:
    """mox's tag order and folding at 76; defaults left out; l= only when set."""
    sig = Sig(
        algorithm_sign="ed25519", algorithm_hash="sha256", signature=bytes(64), body_hash=bytes(32), domain="localhost",
        selector="localserve", identity=Identity("mox", "localhost"), signed_headers=["From", "To", "Subject"],
        canonicalization="relaxed/relaxed", sign_time=946684800, expire_time=946944000,
    )
    assert sig.header() == (
        "DKIM-Signature: v=1; d=localhost; s=localserve; i=mox@localhost;\r\n"
        "\ta=ed25519-sha256; c=relaxed/relaxed; t=946684800; x=946944000; h=From:To:\r\n"
        "\tSubject; bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; b=AAAAAAAAAAAAAAA\r\n"
        "\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\r\n"
    )
    assert "l=" not in sig.header()
    assert Identity('a b"c', "x.example").__str__() == '"a b\\"c"@x.example'


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}\r\n", "missing required tag: 'b'"),
        (f"DKIM-Signature: v=2; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==\r\n", "unknown version"),
        (f"DKIM-Signature: v=1; v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==\r\n", "duplicate tag"),
        ("DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh=AAAA; b=AA==\r\n", "bad body hash size"),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==; t=10; x=10\r\n", "must be before"),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==; i=a@other.example\r\n", "not under domain"),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=A!A\r\n", "invalid base64"),
        (f"DKIM-Signature: v=1; a=rsa; d=x.example; s=s; h=from; bh={BH}; b=AA==\r\n", "invalid algorithm"),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==", "missing crlf"),
        (f"X-Other: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==\r\n", "not DKIM-Signature"),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=fr om; bh={BH}; b=AA==\r\n", "signed header fields"),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==; l=x\r\n", "invalid number in l="),
        (f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==; =x\r\n", "expected tag name"),
    ],
)
def test_bad_signatures(raw: str, error: str) -> None:
    with pytest.raises(SigError, match=error):
        parse_signature(raw.encode())


def test_identity_forms() -> None:
    base = f"DKIM-Signature: v=1; a=rsa-sha256; d=x.example; s=s; h=from; bh={BH}; b=AA==; "
    assert parse_signature((base + "i=@x.example\r\n").encode())[0].identity == Identity(None, "x.example")
    assert parse_signature((base + "i=a.b@sub.x.example\r\n").encode())[0].identity == Identity("a.b", "sub.x.example")
    assert parse_signature((base + 'i="a;b@c"@x.example\r\n').encode())[0].identity == Identity("a;b@c", "x.example")


def test_record_parse_and_write() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    r = Record(hashes=["sha256"], key="ed25519", public_key=key, flags=["s"])
    txt = r.text()
    assert txt.startswith("v=DKIM1;h=sha256;k=ed25519;t=s;p=") and len(base64.b64decode(txt.split("p=")[1])) == 32
    p = parse_record(txt.replace(";", " ; "))
    assert (p.hashes, p.key, p.flags, p.services, p.text()) == (["sha256"], "ed25519", ["s"], ["*"], txt)
    # Defaults are left out; unknown tags are ignored; an empty p= is a revoked key.
    assert parse_record("v=DKIM1; p=; x_unknown=y").public_key is None
    assert Record(pubkey=b"\x01").text() == "v=DKIM1;p=AQ=="
    assert parse_record("k=ed25519; s=email:*; n=a note; p=" + txt.split("p=")[1]).service_allowed("email")
    assert not parse_record("v=DKIM1; s=other; k=ed25519; p=").service_allowed("email")


@pytest.mark.parametrize(
    ("txt", "is_dkim", "error"),
    [
        ("v=spf1 -all", False, "not a dkim record"),
        ("k=ed25519; v=DKIM1; p=", True, "first field must be version"),
        ("v=DKIM1; k=ed25519; p=AAAA", True, "need 32"),
        ("v=DKIM1; p=AAAA", True, "bad public key"),
        ("v=DKIM1; k=dsa; p=", True, "unknown algorithm"),
        ("v=DKIM1; k=ed25519", True, "missing field"),
        ("v=DKIM1; p=; p=", True, "duplicate tag"),
    ],
)
def test_bad_records(txt: str, is_dkim: bool, error: str) -> None:
    with pytest.raises(RecordError, match=error) as e:
        parse_record(txt)
    assert e.value.is_dkim is is_dkim
