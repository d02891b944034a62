"""SASL in the IMAP server over real sockets: every mechanism with our mox.auth.sasl clients and
imaplib, channel binding on TLS 1.2, failures as IMAP spells them (RFC 9051 6.2.2)."""

from __future__ import annotations

import base64
import imaplib
import ssl

import pytest

from mox.auth import sasl

from .conftest import NFD_ADDRESS, PASSWORD, PRECIS_EQUIVALENT, PREPARED, Lines


@pytest.fixture(scope="module")
def server(sasl_server):
    return sasl_server


def imap_conn(server, tls=None):
    c = Lines(server.ports["imaps" if tls else "imap"], tls)
    greeting = c.line()
    assert greeting.startswith("* OK [CAPABILITY ")
    return c, greeting


def imap_authenticate(c: Lines, mech: sasl.ClientMechanism, *, ir: bool = True) -> str:
    """Run AUTHENTICATE with a client mechanism; returns the tagged response line."""
    first = mech.initial_response() if ir else None
    arg = "" if first is None else " " + (base64.b64encode(first).decode() or "=")
    c.send(f"a AUTHENTICATE {mech.name}{arg}")
    while True:
        line = c.line()
        if not line.startswith("+"):
            return line
        challenge = base64.b64decode(line[2:])
        c.send(base64.b64encode(mech.step(challenge)))


PASSWORD_MECHS = ["PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]


@pytest.mark.parametrize("name", PASSWORD_MECHS)
@pytest.mark.parametrize("ir", [True, False])
def test_imap_mechanisms(server, name, ir):
    c, _ = imap_conn(server)
    try:
        assert imap_authenticate(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD), ir=ir).startswith(
            "a OK [CAPABILITY "
        )
        c.send("b SELECT inbox")
        while not (line := c.line()).startswith("b "):
            pass
        assert line.startswith("b OK ")
    finally:
        c.close()


@pytest.mark.parametrize("name", PASSWORD_MECHS)
def test_imap_nfd_user_and_precis_password(server, name):
    c, _ = imap_conn(server)
    try:
        mech = sasl.client_mechanism(name, NFD_ADDRESS, PRECIS_EQUIVALENT)
        assert imap_authenticate(c, mech).startswith("a OK ")
    finally:
        c.close()


@pytest.mark.parametrize("name", PASSWORD_MECHS)
def test_imap_failures(server, name):
    c, _ = imap_conn(server)
    try:
        line = imap_authenticate(c, sasl.client_mechanism(name, "mox@localhost", "wrongpassword"))
        assert line.startswith("a NO [AUTHENTICATIONFAILED] ")
        c.send(f"b AUTHENTICATE {name}")
        assert c.line().startswith("+ ")
        c.send("*")
        assert c.line() == "b BAD authenticate aborted by client"
        if name != "CRAM-MD5":  # CRAM-MD5 has no authorization identity
            line = imap_authenticate(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, authz="other@localhost"))
            assert line.startswith("a NO [AUTHORIZATIONFAILED] ")
        assert imap_authenticate(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD)).startswith("a OK ")
    finally:
        c.close()


@pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_imap_channel_binding_tls12(server, name):
    c, greeting = imap_conn(server, ssl.TLSVersion.TLSv1_2)
    try:
        assert f" AUTH={name} " in greeting
        cbs = sasl.channel_bindings(c.sock)
        assert imap_authenticate(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=cbs)).startswith("a OK ")
    finally:
        c.close()
    # A binding from another TLS connection (as a man in the middle would have) fails.
    c, _ = imap_conn(server, ssl.TLSVersion.TLSv1_2)
    other, _ = imap_conn(server, ssl.TLSVersion.TLSv1_2)
    try:
        wrong = sasl.channel_bindings(other.sock)
        line = imap_authenticate(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=wrong))
        assert line.startswith("a NO [AUTHENTICATIONFAILED] ") and line.endswith("potential mitm")
    finally:
        c.close()
        other.close()


def test_imap_plus_refused_on_tls13(server):
    # TLS 1.3 has no tls-unique and Python cannot export tls-exporter: -PLUS cannot be checked.
    c, _ = imap_conn(server, ssl.TLSVersion.TLSv1_3)
    try:
        assert sasl.channel_bindings(c.sock) == {}
        c.send("a AUTHENTICATE SCRAM-SHA-256-PLUS " + base64.b64encode(b"p=tls-unique,,n=mox@localhost,r=abcdefgh").decode())
        assert c.line().startswith("a NO ")
    finally:
        c.close()


def test_imaplib(server):
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        typ, _ = m.authenticate("PLAIN", lambda _: f"\0mox@localhost\0{PASSWORD}".encode())
        assert typ == "OK"
    finally:
        m.logout()
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        assert m.login_cram_md5("mox@localhost", PREPARED)[0] == "OK"
        assert m.select("INBOX")[0] == "OK"
    finally:
        m.logout()
    m = imaplib.IMAP4("127.0.0.1", server.ports["imap"])
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            m.login_cram_md5("mox@localhost", "wrongpassword")
    finally:
        m.logout()


