"""The IMAP client module (mox.imap.client) authenticates with every mox.auth.sasl mechanism against
a running mox: PLAIN, CRAM-MD5, SCRAM-SHA-1/256 and -PLUS on TLS 1.2, EXTERNAL with a client
certificate from tlspubkey.generate; failures come back as the server's NO."""

from __future__ import annotations

import ssl

import pytest

from mox.auth import tlspubkey
from mox.imap.client import Conn, ImapError, ImapNo

from .conftest import NFD_ADDRESS, PASSWORD, PRECIS_EQUIVALENT, tls_client


@pytest.fixture(scope="module")
def server(sasl_server):
    return sasl_server


def connect(server, tls=None, ctx=None):
    if tls is None and ctx is None:
        return Conn.connect("127.0.0.1", server.ports["imap"], timeout=10)
    return Conn.connect("127.0.0.1", server.ports["imaps"], tls=True, ssl_context=ctx or tls_client(tls), timeout=10)


@pytest.mark.parametrize("name", ["PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_password_mechanisms(server, name):
    with connect(server) as c:
        with pytest.raises(ImapNo) as e:
            c.authenticate(name, "mox@localhost", "wrongpassword")
        assert str(e.value) == "NO [AUTHENTICATIONFAILED] bad credentials"
        r = c.authenticate(name, NFD_ADDRESS, PRECIS_EQUIVALENT)  # PRECIS and NFC done by mox.auth.sasl
        assert r.status == "OK" and r.text == "authenticate done"
        c.select("Inbox")  # raises unless OK


@pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_plus_on_tls12(server, name):
    with connect(server, ssl.TLSVersion.TLSv1_2) as c:
        assert c.authenticate(name, "mox@localhost", PASSWORD).status == "OK"
    with connect(server, ssl.TLSVersion.TLSv1_2) as c:
        assert c.authenticate(None, "mox@localhost", PASSWORD).status == "OK"  # picks SCRAM-SHA-256-PLUS
    with connect(server, ssl.TLSVersion.TLSv1_3) as c:  # no checkable binding: refused by the client itself
        with pytest.raises(ImapError, match=f"^{name} needs a tls-unique channel binding"):
            c.authenticate(name, "mox@localhost", PASSWORD)


def test_external(server, tmp_path):
    g = tlspubkey.generate(tmp_path / "client")
    cert = tlspubkey.parse_certificate(g.certificate_path.read_bytes())
    rec = tlspubkey.make_record(cert, account="mox", login_address="mox@localhost", no_imap_preauth=True)
    tlspubkey.keys_for(server.dir).add(rec)
    try:
        tlspubkey.configure_server_context(server.ctx.tls, server.dir)
        ctx = tls_client(ssl.TLSVersion.TLSv1_3)
        ctx.load_cert_chain(g.combined_path)
        with connect(server, ctx=ctx) as c:
            assert "AUTH=EXTERNAL" in c.capabilities
            r = c.authenticate("EXTERNAL")
            assert r.status == "OK" and r.text == "authenticate done"
        with connect(server, ssl.TLSVersion.TLSv1_3) as c:  # no certificate
            with pytest.raises(ImapNo) as e:
                c.authenticate("EXTERNAL")
            assert str(e.value).startswith("NO [AUTHENTICATIONFAILED] ")
    finally:
        tlspubkey.keys_for(server.dir).remove(g.fingerprint)
