"""TLS public keys of client certificates (mox ``store/tlspubkey.go``,
``imapserver/server.go``).

A client certificate authenticates by its public key only: the fingerprint is the raw-url-base64
(no padding) SHA-256 of the certificate's SubjectPublicKeyInfo DER. Each registered key has a
type (``rsa-<bits>``, 2048 bits or more; ``ecdsa-p256``/``-p384``/``-p521``; ``ed25519``), a
name (default: the certificate's CN, else ``serial <hex>``), the owning account, the login
address (an address of that account, the identity after EXTERNAL/PREAUTH) and
``no_imap_preauth`` (IMAPS greets with OK instead of PREAUTH).

Persistence: ``<data>/auth.json``, ``{"version": 1, "tlspubkeys": [...]}``, rewritten as a
whole: temporary file, fsync, rename, directory fsync (not on Windows). A crash leaves either
the old or the new file. Readers cache it by modification time and size.

Control channel commands (in mox.ctl.commands' table): ``tlspubkeylist``
(account line, may be empty -> ok + stream of JSON lines), ``tlspubkeyget`` (fingerprint -> ok +
stream with one JSON record), ``tlspubkeyadd`` (login address, name, no-imap-preauth "true" /
"false", then a stream with the PEM certificate -> ok + fingerprint line), ``tlspubkeyrm``
(fingerprint -> ok).

Server TLS: Python's ``ssl`` module has no way to request a client certificate without
verifying it against trust anchors (no verify callback). :func:`configure_server_context` makes
the server context request (not require) certificates and trusts exactly the registered
certificates as anchors (partial chains, no time check), so a registered certificate is
accepted whatever its issuer or expiry, as mox. The difference with mox: a client presenting an
*unregistered* certificate fails the TLS handshake (unknown CA) instead of continuing
unauthenticated. Removing a key takes effect for lookups at once; the anchor stays in the context
until the server restarts, which is harmless: lookups decide.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from mox import mlog
from mox.store.layout import write_file_durable
from mox.context import ServerContext

AUTH_FILE = "auth.json"

log = mlog.get_logger("ctl")


class TLSPubKeyError(Exception):
    """A user-facing error: bad certificate, unknown fingerprint, duplicate key."""


class TLSPubKey(msgspec.Struct, frozen=True, kw_only=True):
    fingerprint: str
    created: float
    type: str
    name: str
    account: str
    login_address: str
    no_imap_preauth: bool = False
    cert_der: bytes = b""

    def public(self) -> dict[str, Any]:
        """JSON-friendly form without the certificate, for listings."""
        return {
            "fingerprint": self.fingerprint,
            "created": datetime.datetime.fromtimestamp(self.created, datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "type": self.type,
            "name": self.name,
            "account": self.account,
            "login_address": self.login_address,
            "no_imap_preauth": self.no_imap_preauth,
        }


class _AuthFile(msgspec.Struct):
    version: int = 1
    tlspubkeys: list[TLSPubKey] = []


_decoder = msgspec.json.Decoder(_AuthFile)
_encoder = msgspec.json.Encoder()


# Certificates.


def parse_certificate(data: bytes) -> Any:
    """The first certificate in PEM data (other PEM blocks, like a private key, are skipped),
    or a DER certificate. Raises TLSPubKeyError."""
    from cryptography import x509

    if b"-----BEGIN" in data:
        begin = data.find(b"-----BEGIN CERTIFICATE-----")
        if begin < 0:
            raise TLSPubKeyError("no certificate found in pem data")
        end = data.find(b"-----END CERTIFICATE-----", begin)
        if end < 0:
            raise TLSPubKeyError("unterminated certificate in pem data")
        block = data[begin : end + len(b"-----END CERTIFICATE-----")]
        try:
            return x509.load_pem_x509_certificate(block)
        except ValueError as e:
            raise TLSPubKeyError(f"parsing certificate: {e}") from None
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise TLSPubKeyError(f"parsing certificate: {e}") from None


def _spki_der(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(cert: Any) -> str:
    """raw-url-base64 of SHA-256 over the SubjectPublicKeyInfo DER."""
    digest = hashlib.sha256(_spki_der(cert)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def fingerprint_der(cert_der: bytes) -> str:
    """Fingerprint of a DER certificate (as ``SSLObject.getpeercert(binary_form=True)`` gives)."""
    return fingerprint(parse_certificate(cert_der))


def key_type(cert: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise TLSPubKeyError(f"rsa key of {key.key_size} bits too small, need at least 2048 bits")
        return f"rsa-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}.get(key.curve.name)
        if curve is None:
            raise TLSPubKeyError(f"unsupported ecdsa curve {key.curve.name}")
        return curve
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise TLSPubKeyError(f"unsupported public key type {type(key).__name__}")


def default_name(cert: Any) -> str:
    from cryptography.x509.oid import NameOID

    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns and str(cns[0].value):
        return str(cns[0].value)
    return f"serial {cert.serial_number:x}"


def make_record(
    cert: Any, *, account: str, login_address: str, name: str = "", no_imap_preauth: bool = False,
    created: float | None = None,
) -> TLSPubKey:
    from cryptography.hazmat.primitives import serialization

    return TLSPubKey(
        fingerprint=fingerprint(cert),
        created=time.time() if created is None else created,
        type=key_type(cert),
        name=name or default_name(cert),
        account=account,
        login_address=login_address,
        no_imap_preauth=no_imap_preauth,
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


# Persistence.


class TLSPubKeys:
    """The registered keys of a data dir. Thread-safe within a process; one writer process
    (the server, through ctl) is assumed, as for the rest of the data dir."""

    def __init__(self, data_dir: Path | str, *, fsync: bool = True) -> None:
        self.path = Path(data_dir) / AUTH_FILE
        self.fsync = fsync
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, TLSPubKey] = {}

    def _load_locked(self) -> dict[str, TLSPubKey]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._keys = None, {}
            return self._keys
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = _decoder.decode(self.path.read_bytes())
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise TLSPubKeyError(f"reading {self.path.name}: {e}") from None
            self._keys = {k.fingerprint: k for k in data.tlspubkeys}
            self._stamp = stamp
        return self._keys

    def _save_locked(self, keys: dict[str, TLSPubKey]) -> None:
        data = _encoder.encode(_AuthFile(tlspubkeys=sorted(keys.values(), key=lambda k: (k.account, k.created))))
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        write_file_durable(self.path, tmp, data, fsync=self.fsync)
        self._keys = dict(keys)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)

    def list(self, account: str | None = None) -> list[TLSPubKey]:
        with self._lock:
            keys = list(self._load_locked().values())
        return sorted((k for k in keys if account is None or k.account == account), key=lambda k: (k.account, k.created))

    def get(self, fp: str) -> TLSPubKey | None:
        with self._lock:
            return self._load_locked().get(fp)

    def add(self, key: TLSPubKey) -> None:
        with self._lock:
            keys = dict(self._load_locked())
            if key.fingerprint in keys:
                raise TLSPubKeyError(f"tls public key with fingerprint {key.fingerprint} already exists")
            keys[key.fingerprint] = key
            self._save_locked(keys)

    def update(self, key: TLSPubKey) -> None:
        with self._lock:
            keys = dict(self._load_locked())
            if key.fingerprint not in keys:
                raise TLSPubKeyError(f"no tls public key with fingerprint {key.fingerprint}")
            keys[key.fingerprint] = key
            self._save_locked(keys)

    def remove(self, fp: str) -> TLSPubKey:
        with self._lock:
            keys = dict(self._load_locked())
            key = keys.pop(fp, None)
            if key is None:
                raise TLSPubKeyError(f"no tls public key with fingerprint {fp}")
            self._save_locked(keys)
            return key

    def remove_account(self, account: str) -> int:
        """Remove every key of account (when the account is removed); returns how many."""
        with self._lock:
            keys = dict(self._load_locked())
            gone = [fp for fp, k in keys.items() if k.account == account]
            for fp in gone:
                del keys[fp]
            if gone:
                self._save_locked(keys)
            return len(gone)


_stores: dict[Path, TLSPubKeys] = {}
_stores_lock = threading.Lock()


def keys_for(data_dir: Path | str) -> TLSPubKeys:
    """The shared TLSPubKeys of a data dir (one cache per process)."""
    p = Path(data_dir).resolve()
    with _stores_lock:
        ks = _stores.get(p)
        if ks is None:
            ks = _stores[p] = TLSPubKeys(p)
        return ks


# Server side: identifying a connection.


def identify(data_dir: Path | str, cert_der: bytes | None, auth: Any) -> TLSPubKey | None:
    """The registered key of a peer certificate (DER), or None. The key's login address must
    still belong to its account (``auth.account_for_address``)."""
    if not cert_der:
        return None
    try:
        fp = fingerprint_der(cert_der)
    except TLSPubKeyError:
        return None
    key = keys_for(data_dir).get(fp)
    if key is None:
        return None
    if auth is not None and auth.account_for_address(key.login_address) != key.account:
        log.info("tls public key login address no longer belongs to its account", fingerprint=fp)
        return None
    return key


def identify_ssl(data_dir: Path | str, ssl_object: Any, auth: Any) -> TLSPubKey | None:
    """As identify, for a server-side SSLObject / trio SSLStream after the handshake."""
    try:
        der = ssl_object.getpeercert(binary_form=True)
    except (ValueError, AttributeError):
        return None
    return identify(data_dir, der, auth)


_X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL; not named in the ssl module


def configure_server_context(tls: ssl.SSLContext, data_dir: Path | str) -> None:
    """Make a server context request client certificates and accept the registered ones (see
    the module docstring). Call again after adding keys (anchors are only added)."""
    tls.verify_mode = ssl.CERT_OPTIONAL
    tls.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | _X509_V_FLAG_NO_CHECK_TIME
    try:
        keys = keys_for(data_dir).list()
    except TLSPubKeyError as e:  # a broken auth.json must not keep the server from starting
        log.error("tls public keys not loaded", err=str(e))
        return
    for key in keys:
        try:
            tls.load_verify_locations(cadata=key.cert_der)
        except ssl.SSLError as e:
            log.error("loading tls public key certificate", fingerprint=key.fingerprint, err=str(e))


# Generating a key and minimal certificate (`mox config tlspubkey gen`).


class Generated(msgspec.Struct, frozen=True):
    private_key_path: Path
    certificate_path: Path
    combined_path: Path
    fingerprint: str
    seed: str  # raw-url-base64 of the ed25519 private key seed (for mox sendmail's config)


def generate(stem: str | Path, *, now: datetime.datetime | None = None) -> Generated:
    """Write ``<stem>.<YYYYmmddHHMM>.ed25519privatekey.pkcs8.pem``, ``.certificate.pem`` and
    ``.ed25519privatekey-certificate.pem`` (key and certificate). The certificate is minimal and
    self-signed: CN the stem's file name, serial 1, valid from now for 100 years. Files are
    created exclusively: an existing file is an error, never overwritten."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    now = now or datetime.datetime.now(datetime.timezone.utc)
    stem = Path(stem)
    base = f"{stem.name}.{now.strftime('%Y%m%d%H%M')}"
    paths = [stem.with_name(f"{base}.{suffix}") for suffix in (
        "ed25519privatekey.pkcs8.pem", "certificate.pem", "ed25519privatekey-certificate.pem")]
    key = ed25519.Ed25519PrivateKey.generate()
    cn = stem.name or "mox client"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=36525))
        .sign(key, None)
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    written: list[Path] = []
    try:
        for path, data in zip(paths, (key_pem, cert_pem, key_pem + cert_pem)):
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            fd = os.open(path, flags, 0o600 if b"PRIVATE KEY" in data else 0o644)
            written.append(path)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
    except FileExistsError as e:
        for p in written:  # only files this call created
            p.unlink(missing_ok=True)
        raise TLSPubKeyError(f"file exists: {e.filename}") from None
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return Generated(
        private_key_path=paths[0],
        certificate_path=paths[1],
        combined_path=paths[2],
        fingerprint=fingerprint(cert),
        seed=base64.urlsafe_b64encode(seed).rstrip(b"=").decode(),
    )


# Control channel commands.


async def cmd_tlspubkeylist(ctx: ServerContext, conn: Any) -> None:
    account = await conn.read_line()
    keys = keys_for(ctx.config.data_dir)
    if account and account not in ctx.config.accounts:
        await conn.write_line(f"unknown account {account!r}")
        return
    out = [json.dumps(k.public()) + "\n" for k in keys.list(account or None)]
    await conn.write_line("ok")
    await conn.write_stream("".join(out).encode("utf-8"))


async def cmd_tlspubkeyget(ctx: ServerContext, conn: Any) -> None:
    fp = await conn.read_line()
    key = keys_for(ctx.config.data_dir).get(fp)
    if key is None:
        await conn.write_line(f"no tls public key with fingerprint {fp}")
        return
    await conn.write_line("ok")
    d = key.public()
    d["certificate_pem"] = _pem(key.cert_der)
    await conn.write_stream((json.dumps(d) + "\n").encode("utf-8"))


def _pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


async def cmd_tlspubkeyadd(ctx: ServerContext, conn: Any) -> None:
    address = await conn.read_line()
    name = await conn.read_line()
    no_preauth = await conn.read_line()
    pem = await conn.read_stream()
    account = ctx.auth.account_for_address(address)
    if account is None:
        await conn.write_line(f"unknown address {address!r}")
        return
    try:
        cert = parse_certificate(pem)
        key = make_record(
            cert, account=account, login_address=ctx.auth.normalize_address(address) or address, name=name,
            no_imap_preauth=no_preauth == "true",
        )
        keys_for(ctx.config.data_dir).add(key)
    except TLSPubKeyError as e:
        await conn.write_line(str(e))
        return
    if ctx.tls is not None:
        configure_server_context(ctx.tls, ctx.config.data_dir)
    log.info("tls public key added", fingerprint=key.fingerprint, account=account)
    await conn.write_line("ok")
    await conn.write_line(key.fingerprint)


async def cmd_tlspubkeyrm(ctx: ServerContext, conn: Any) -> None:
    fp = await conn.read_line()
    try:
        key = keys_for(ctx.config.data_dir).remove(fp)
    except TLSPubKeyError as e:
        await conn.write_line(str(e))
        return
    log.info("tls public key removed", fingerprint=fp, account=key.account)
    await conn.write_line("ok")
