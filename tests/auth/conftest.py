"""Fixtures for the authentication tests: a store with two accounts, TLS 1.2 / 1.3 connections
over real sockets (for channel binding)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest

from mox.auth.authenticator import Authenticator
from mox.config import AccountConfig, Config, DomainConfig
from mox.auth.sasl import StoreVerifier
from mox.store import Store
from mox.testing import LocalServer

PASSWORD = "te\u0301st \u00a0\u2002\u200a"  # prepares to "tést    "
OTHER_PASSWORD = "otherpassword"


@pytest.fixture(scope="module")
def accounts(tmp_path_factory):
    """Store with account "mox" (mox@localhost, alias m\u00f3x@localhost) and "other"."""
    d = tmp_path_factory.mktemp("sasl-data")
    config = Config(
        data_dir=str(d),
        domains={"localhost": DomainConfig(localpart_catchall_separator="+")},
        accounts={
            "mox": AccountConfig.with_addresses(["mox@localhost", "m\u00f3x@localhost"]),
            "other": AccountConfig.with_addresses(["other@localhost"]),
        },
    )
    store = Store(Path(d), fsync=False)
    for name, pw in (("mox", PASSWORD), ("other", OTHER_PASSWORD)):
        store.create_account(name)
        acc = store.open_account(name)
        acc.set_password_sync(pw)
        acc.close()
    auth = Authenticator(config, store)
    yield auth, store
    store.close()


@pytest.fixture
def verifier(accounts):
    auth, store = accounts
    return lambda tls_identity=None: StoreVerifier(auth, store, tls_identity)


def make_cert(tmp: Path, cn: str = "localhost") -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{cn}.crt", tmp / f"{cn}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def server_cert(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("cert"))


def tls_pair(server_cert, version: ssl.TLSVersion, *, client_ctx: ssl.SSLContext | None = None,
             server_ctx: ssl.SSLContext | None = None):
    """A TLS connection over a real 127.0.0.1 TCP socket: (server ssl socket, client ssl socket)."""
    if server_ctx is None:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(*server_cert)
    server_ctx.maximum_version = version
    if client_ctx is None:
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.maximum_version = version
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    result: dict = {}

    def accept():
        conn, _ = lsock.accept()
        try:
            result["server"] = server_ctx.wrap_socket(conn, server_side=True)
        except Exception as e:  # noqa: BLE001 - reported to the test
            result["error"] = e
            conn.close()

    t = threading.Thread(target=accept)
    t.start()
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        client = client_ctx.wrap_socket(raw, server_hostname="localhost")
    except Exception:
        raw.close()
        t.join()
        lsock.close()
        raise
    t.join()
    lsock.close()
    if "error" in result:
        client.close()
        raise result["error"]
    return result["server"], client


# Servers for the SASL tests over IMAP and SMTP.

NFD_ADDRESS = "mo\u0301x@localhost"  # NFC form "m\u00f3x@localhost" is an address of account mox
PRECIS_EQUIVALENT = "t\u00e9st\u2003\u2009\u00a0 "  # prepares to the same "t\u00e9st    " as PASSWORD
PREPARED = "t\u00e9st    "  # what clients without PRECIS must send for CRAM-MD5 (an HMAC key)


@pytest.fixture(scope="module")
def sasl_server(tmp_path_factory):
    # localserve's config, with a non-ASCII address (in NFC, as configured addresses are) added.
    import json

    from mox import localserve

    d = tmp_path_factory.mktemp("serverauth") / "data"
    localserve.write_localserve_config(d, None)
    from mox import config as mconfig

    def edit(domains):
        domains["Accounts"]["mox"]["Destinations"]["m\u00f3x@localhost"] = {}
        domains["Accounts"]["other"] = {"Destinations": {"other@localhost": {}}}  # a real other account for authz tests

    mconfig.edit_file(d, mconfig.DOMAINS_CONF, edit)
    with LocalServer(d) as srv:
        acc = srv.store.open_account("mox")
        acc.set_password_sync(PASSWORD)
        acc.close()
        srv.store.create_account("other")
        acc = srv.store.open_account("other")
        acc.set_password_sync(OTHER_PASSWORD)
        acc.close()
        yield srv


def tls_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = version
    return ctx


class Lines:
    """A line-based client connection for transcripts."""

    def __init__(self, port: int, tls: ssl.TLSVersion | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = tls_client(tls).wrap_socket(sock) if tls else sock
        self.f = self.sock.makefile("rb")

    def line(self) -> str:
        return self.f.readline().decode().rstrip("\r\n")

    def send(self, line: str | bytes) -> None:
        self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def close(self) -> None:
        self.f.close()
        self.sock.close()


