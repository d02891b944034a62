"""TLS public keys: fingerprints, types, names, persistence, lookup, `gen`, the server TLS
context, and every `mox config tlspubkey` command against a running mox (mox
``store/tlspubkey.go``)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from mox.auth import tlspubkey
from mox.testing import LocalServer

from ..conftest import run_mox
from .conftest import tls_pair


def _der_tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at i."""
    tag = data[i]
    n = data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i : i + k], "big")
        i += k
    return tag, i, i + n


def spki_from_der(cert_der: bytes) -> bytes:
    """SubjectPublicKeyInfo of a certificate, by walking the DER (independent of cryptography)."""
    _, s, _ = _der_tlv(cert_der, 0)  # Certificate
    _, s, _ = _der_tlv(cert_der, s)  # tbsCertificate
    i = s
    tag, vs, ve = _der_tlv(cert_der, i)
    if tag == 0xA0:  # [0] version
        i = ve
    for _ in range(5):  # serial, signature, issuer, validity, subject
        _, _, i = _der_tlv(cert_der, i)
    _, _, end = _der_tlv(cert_der, i)
    return cert_der[i:end]


def make_cert(key, *, cn: str | None = "client", serial: int = 0x1234AB, days: int = 365, past: bool = False):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "org")]
    name = x509.Name(attrs)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=2 * days) if past else now - datetime.timedelta(hours=1)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
    )
    algo = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return b.sign(key, algo)


def test_fingerprint_is_sha256_of_spki():
    cert = make_cert(ec.generate_private_key(ec.SECP256R1()))
    der = cert.public_bytes(serialization.Encoding.DER)
    want = base64.urlsafe_b64encode(hashlib.sha256(spki_from_der(der)).digest()).decode().rstrip("=")
    assert tlspubkey.fingerprint(cert) == want
    assert tlspubkey.fingerprint_der(der) == want
    assert len(want) == 43 and "=" not in want
    # The PEM form, also with a private key block before it, gives the same certificate.
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert tlspubkey.fingerprint(tlspubkey.parse_certificate(b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n" + pem)) == want


@pytest.mark.parametrize(
    ("key", "typ"),
    [
        (lambda: rsa.generate_private_key(65537, 2048), "rsa-2048"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-p384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ecdsa-p521"),
        (lambda: ed25519.Ed25519PrivateKey.generate(), "ed25519"),
    ],
)
def test_key_types(key, typ):
    assert tlspubkey.key_type(make_cert(key())) == typ


def test_key_type_refused():
    with pytest.raises(tlspubkey.TLSPubKeyError, match="rsa key of 1024 bits too small"):
        tlspubkey.key_type(make_cert(rsa.generate_private_key(65537, 1024)))
    with pytest.raises(tlspubkey.TLSPubKeyError, match="unsupported ecdsa curve secp256k1"):
        tlspubkey.key_type(make_cert(ec.generate_private_key(ec.SECP256K1())))


def test_names_and_parse_errors():
    key = ed25519.Ed25519PrivateKey.generate()
    assert tlspubkey.default_name(make_cert(key, cn="my phone")) == "my phone"
    assert tlspubkey.default_name(make_cert(key, cn=None, serial=0xBEEF01)) == "serial beef01"
    for bad, msg in ((b"junk", "parsing certificate"), (b"-----BEGIN PRIVATE KEY-----\n", "no certificate found"),
                     (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "unterminated certificate")):
        with pytest.raises(tlspubkey.TLSPubKeyError, match=msg):
            tlspubkey.parse_certificate(bad)


def _record(account="mox", login="mox@localhost", **kw):
    cert = make_cert(ed25519.Ed25519PrivateKey.generate(), **kw)
    return tlspubkey.make_record(cert, account=account, login_address=login)


def test_store_persistence(tmp_path):
    keys = tlspubkey.TLSPubKeys(tmp_path)
    assert keys.list() == [] and keys.get("nope") is None
    a, b, c = _record(), _record(cn="second"), _record("other", "other@localhost")
    for k in (a, b, c):
        keys.add(k)
    with pytest.raises(tlspubkey.TLSPubKeyError, match="already exists"):
        keys.add(a)
    assert [k.fingerprint for k in keys.list("mox")] == [a.fingerprint, b.fingerprint]
    assert keys.list("other") == [c]
    # A fresh reader (another process) sees the same, and no temporary files are left.
    again = tlspubkey.TLSPubKeys(tmp_path)
    assert again.get(a.fingerprint) == a
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auth.json"]
    doc = json.loads((tmp_path / "auth.json").read_text(encoding="utf-8"))
    assert doc["version"] == 1 and len(doc["tlspubkeys"]) == 3
    # Changes by one instance are seen by the other (cache keyed on mtime and size).
    assert again.remove(b.fingerprint) == b
    assert keys.get(b.fingerprint) is None
    with pytest.raises(tlspubkey.TLSPubKeyError, match="no tls public key with fingerprint x"):
        keys.remove("x")
    keys.update(tlspubkey.TLSPubKey(**{**{f: getattr(a, f) for f in a.__struct_fields__}, "no_imap_preauth": True}))
    assert again.get(a.fingerprint).no_imap_preauth is True
    assert keys.remove_account("mox") == 1
    assert [k.account for k in again.list()] == ["other"]


def test_corrupt_file(tmp_path):
    (tmp_path / "auth.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(tlspubkey.TLSPubKeyError, match="reading auth.json"):
        tlspubkey.TLSPubKeys(tmp_path).list()
    # A server still starts: the context requests certificates, none is trusted (logged).
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tlspubkey.configure_server_context(ctx, tmp_path)
    assert ctx.verify_mode == ssl.CERT_OPTIONAL and ctx.get_ca_certs() == []


class FakeAuth:
    def __init__(self, mapping):
        self.mapping = mapping

    def account_for_address(self, a):
        return self.mapping.get(a)


def test_identify(tmp_path):
    rec = _record()
    tlspubkey.keys_for(tmp_path).add(rec)
    auth = FakeAuth({"mox@localhost": "mox"})
    assert tlspubkey.identify(tmp_path, rec.cert_der, auth) == rec
    assert tlspubkey.identify(tmp_path, _record().cert_der, auth) is None  # unregistered
    assert tlspubkey.identify(tmp_path, None, auth) is None
    assert tlspubkey.identify(tmp_path, b"garbage", auth) is None
    # The login address moved to another account: the key no longer authenticates.
    assert tlspubkey.identify(tmp_path, rec.cert_der, FakeAuth({"mox@localhost": "other"})) is None


def test_generate(tmp_path):
    now = datetime.datetime(2026, 11, 26, 16, 5, tzinfo=datetime.timezone.utc)
    g = tlspubkey.generate(tmp_path / "laptop", now=now)
    assert [p.name for p in (g.private_key_path, g.certificate_path, g.combined_path)] == [
        "laptop.202611261605.ed25519privatekey.pkcs8.pem",
        "laptop.202611261605.certificate.pem",
        "laptop.202611261605.ed25519privatekey-certificate.pem",
    ]
    key_pem, cert_pem = g.private_key_path.read_bytes(), g.certificate_path.read_bytes()
    assert g.combined_path.read_bytes() == key_pem + cert_pem
    if os.name != "nt":
        assert g.private_key_path.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert tlspubkey.fingerprint(cert) == g.fingerprint
    assert tlspubkey.key_type(cert) == "ed25519" and tlspubkey.default_name(cert) == "laptop"
    key = serialization.load_pem_private_key(key_pem, None)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    assert base64.urlsafe_b64decode(g.seed + "=") == seed
    # Never overwrites: the same stem in the same minute fails, leaving the first files alone.
    with pytest.raises(tlspubkey.TLSPubKeyError, match="file exists"):
        tlspubkey.generate(tmp_path / "laptop", now=now)
    assert g.private_key_path.read_bytes() == key_pem
    assert len(list(tmp_path.iterdir())) == 3


def test_server_context_accepts_registered_keys_only(tmp_path, server_cert):
    # Registered: a generated key, and an expired certificate (only the public key counts).
    g = tlspubkey.generate(tmp_path / "client")
    gen_cert = tlspubkey.parse_certificate(g.certificate_path.read_bytes())
    tlspubkey.keys_for(tmp_path).add(tlspubkey.make_record(gen_cert, account="mox", login_address="mox@localhost"))
    old_key = ec.generate_private_key(ec.SECP256R1())
    old_cert = make_cert(old_key, cn="old", days=1, past=True)
    tlspubkey.keys_for(tmp_path).add(tlspubkey.make_record(old_cert, account="mox", login_address="mox@localhost"))
    old_pem = tmp_path / "old.pem"
    old_pem.write_bytes(
        old_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + old_cert.public_bytes(serialization.Encoding.PEM)
    )
    auth = FakeAuth({"mox@localhost": "mox"})

    def connect(certfile, version=ssl.TLSVersion.TLSv1_3):
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(*server_cert)
        tlspubkey.configure_server_context(server_ctx, tmp_path)
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
        if certfile:
            client_ctx.load_cert_chain(certfile)
        s, c = tls_pair(server_cert, version, client_ctx=client_ctx, server_ctx=server_ctx)
        try:
            c.sendall(b"x")  # TLS 1.3: the server reports a bad client certificate after the handshake
            assert s.recv(1) == b"x"
            return tlspubkey.identify_ssl(tmp_path, s, auth)
        finally:
            s.close()
            c.close()

    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert connect(g.combined_path, version).fingerprint == g.fingerprint
        assert connect(old_pem, version).name == "old"
        assert connect(None, version) is None  # no certificate: fine, just not identified
    # Documented difference with mox: an unregistered certificate fails the handshake.
    other = tlspubkey.generate(tmp_path / "unregistered")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        connect(other.combined_path)


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


def mox(srv, *args, input=None):
    r = run_mox(*args[:3], "-dir", str(srv.dir), *args[3:], input=input)
    return r


def test_cli(server, tmp_path):
    g = tlspubkey.generate(tmp_path / "phone")
    pem = g.certificate_path.read_text(encoding="utf-8")

    r = mox(server, "config", "tlspubkey", "list")
    assert (r.returncode, r.stdout, r.stderr) == (0, "# fingerprint, type, name, account, login address, no imap preauth (0)\n", "")

    r = mox(server, "config", "tlspubkey", "add", "-no-imap-preauth", "MOX+tag@localhost", "my phone", input=pem)
    assert (r.returncode, r.stdout, r.stderr) == (0, g.fingerprint + "\n", "")
    r = mox(server, "config", "tlspubkey", "add", "mox@localhost", input=pem)
    assert (r.returncode, r.stderr) == (1, f"mox: tls public key with fingerprint {g.fingerprint} already exists\n")

    r = mox(server, "config", "tlspubkey", "list", "mox")
    assert r.stdout == (
        "# fingerprint, type, name, account, login address, no imap preauth (1)\n"
        f"{g.fingerprint}\ted25519\tmy phone\tmox\tmox@localhost\ttrue\n"
    ), r.stderr
    r = mox(server, "config", "tlspubkey", "list", "nobody")
    assert (r.returncode, r.stderr) == (1, "mox: unknown account 'nobody'\n")

    r = mox(server, "config", "tlspubkey", "get", g.fingerprint)
    assert r.returncode == 0, r.stderr
    head, _, cert_text = r.stdout.partition("\n\n")
    lines = head.splitlines()
    assert lines[:6] == [
        f"fingerprint: {g.fingerprint}", "type: ed25519", "name: my phone", "account: mox",
        "login address: mox@localhost", "no imap preauth: true",
    ]
    assert lines[6].startswith("created: ")
    assert x509.load_pem_x509_certificate(cert_text.encode()) == tlspubkey.parse_certificate(pem.encode())
    # The server looks the key up by its fingerprint.
    cert_der = tlspubkey.parse_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    assert tlspubkey.identify(server.dir, cert_der, server.ctx.auth).login_address == "mox@localhost"

    r = mox(server, "config", "tlspubkey", "rm", g.fingerprint)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    for cmd in ("get", "rm"):
        r = mox(server, "config", "tlspubkey", cmd, g.fingerprint)
        assert (r.returncode, r.stderr) == (1, f"mox: no tls public key with fingerprint {g.fingerprint}\n")


def test_cli_errors(server, tmp_path):
    g = tlspubkey.generate(tmp_path / "x")
    r = mox(server, "config", "tlspubkey", "add", "nobody@example.org", input=g.certificate_path.read_text(encoding="utf-8"))
    assert (r.returncode, r.stderr) == (1, "mox: unknown address 'nobody@example.org'\n")
    r = mox(server, "config", "tlspubkey", "add", "mox@localhost", input="not a certificate")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("mox: parsing certificate: ")
    assert r.stderr.endswith(" (give the certificate in PEM on stdin)\n") and len(r.stderr.splitlines()) == 1
    r = mox(server, "config", "tlspubkey", "add", input="")
    assert r.returncode == 2 and "Missing argument 'ADDRESS'" in r.stderr


def test_cli_fingerprint_starting_with_dash(server):
    # A fingerprint is base64url: one in 64 starts with "-" (and may look like "-h" or "-dir").
    # It is an argument, not an option, after the command's own options.
    for cmd, fp in (("get", "-hXYZ"), ("rm", "-abc"), ("get", "--dirX")):
        r = mox(server, "config", "tlspubkey", cmd, fp)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: no tls public key with fingerprint {fp}\n"), (cmd, fp)
    r = run_mox("config", "tlspubkey", "rm", "-dir", str(server.dir), "-x")
    assert (r.returncode, r.stderr) == (1, "mox: no tls public key with fingerprint -x\n")
    r = mox(server, "config", "tlspubkey", "get", "-h")
    assert r.returncode == 0 and r.stdout.startswith("Usage:")


def test_cli_gen(tmp_path):
    r = run_mox("config", "tlspubkey", "gen", str(tmp_path / "stem"))
    assert r.returncode == 0 and r.stdout == ""
    lines = r.stderr.splitlines()
    (key,) = tmp_path.glob("stem.*.ed25519privatekey.pkcs8.pem")
    (cert,) = tmp_path.glob("stem.*.certificate.pem")
    (both,) = tmp_path.glob("stem.*.ed25519privatekey-certificate.pem")
    assert lines[:3] == [f"wrote {key}", f"wrote {cert}", f"wrote {both}"]
    assert len(lines) == 5 and len(list(tmp_path.iterdir())) == 3
    fp = lines[4].removeprefix("fingerprint: ")
    assert tlspubkey.fingerprint(tlspubkey.parse_certificate(cert.read_bytes())) == fp
    assert lines[3].startswith("ed25519 private key as raw-url-base64: ")


@pytest.mark.parametrize("cmd", [("list",), ("get", "x"), ("rm", "x"), ("add", "mox@localhost")])
def test_cli_not_running(tmp_path, cmd):
    g = tlspubkey.generate(tmp_path / "c")
    r = run_mox("config", "tlspubkey", cmd[0], "-dir", str(tmp_path), *cmd[1:], input=g.certificate_path.read_text(encoding="utf-8"))
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: mox is not running (no control channel at {tmp_path / 'ctl'})\n"


def test_cli_help():
    from click.testing import CliRunner

    from mox.cli import cli

    for sub in ("list", "get", "add", "rm", "gen"):
        r = CliRunner().invoke(cli, ["config", "tlspubkey", sub, "--help"], prog_name="mox")
        assert r.exit_code == 0 and r.output.startswith(f"Usage: mox config tlspubkey {sub} [OPTIONS]"), r.output
    r = CliRunner().invoke(cli, ["config", "tlspubkey", "add", "--help"], prog_name="mox")
    assert "-no-imap-preauth" in r.output


def test_account_rm_removes_its_keys(server, tmp_path):
    # mox store/tlspubkey.go: removing an account removes its TLS public keys.
    g = tlspubkey.generate(tmp_path / "bob")
    r = run_mox("config", "account", "add", "-dir", str(server.dir), "bob", "bob@localhost")
    assert r.returncode == 0, r.stderr
    r = mox(server, "config", "tlspubkey", "add", "bob@localhost", input=g.certificate_path.read_text(encoding="utf-8"))
    assert (r.returncode, r.stdout) == (0, g.fingerprint + "\n"), r.stderr
    r = mox(server, "config", "tlspubkey", "list", "bob")
    assert r.stdout.splitlines()[0] == "# fingerprint, type, name, account, login address, no imap preauth (1)"
    r = run_mox("config", "account", "rm", "-dir", str(server.dir), "bob")
    assert (r.returncode, r.stdout) == (0, "account removed\n"), r.stderr
    r = mox(server, "config", "tlspubkey", "get", g.fingerprint)
    assert (r.returncode, r.stderr) == (1, f"mox: no tls public key with fingerprint {g.fingerprint}\n")
