"""SASL in SMTP submission over real sockets: every mechanism with our mox.auth.sasl clients and
smtplib, channel binding on TLS 1.2 only, failures as SMTP spells them (RFC 4954 6)."""

from __future__ import annotations

import base64
import smtplib
import ssl

import pytest

from mox.auth import sasl

from .conftest import NFD_ADDRESS, PASSWORD, PRECIS_EQUIVALENT, Lines


@pytest.fixture(scope="module")
def server(sasl_server):
    return sasl_server


PASSWORD_MECHS = ["PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]


def smtp_auth(c: Lines, mech: sasl.ClientMechanism) -> str:
    first = mech.initial_response()
    arg = "" if first is None else " " + (base64.b64encode(first).decode() or "=")
    c.send(f"AUTH {mech.name}{arg}")
    while True:
        line = c.line()
        if not line.startswith("334 "):
            return line
        c.send(base64.b64encode(mech.step(base64.b64decode(line[4:]))))


def smtp_conn(server, tls=None):
    c = Lines(server.ports["submissions" if tls else "submission"], tls)
    assert c.line().startswith("220 ")
    c.send("EHLO client.example")
    lines = []
    while (line := c.line()).startswith("250-"):
        lines.append(line)
    lines.append(line)
    return c, lines


@pytest.mark.parametrize("name", PASSWORD_MECHS + ["LOGIN"])
def test_smtp_mechanisms(server, name):
    c, ehlo = smtp_conn(server)
    try:
        assert "250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN" in ehlo
        line = smtp_auth(c, sasl.client_mechanism(name, "mox@localhost", "wrongpassword"))
        assert line.startswith("535 5.7.8 bad user/pass")
        c.send(f"AUTH {name}")
        assert c.line().startswith("334 ")
        c.send("*")
        assert c.line().startswith("501 5.5.0 authentication aborted")
        assert smtp_auth(c, sasl.client_mechanism(name, NFD_ADDRESS, PRECIS_EQUIVALENT)).startswith("235 2.7.0 nice")
    finally:
        c.close()


@pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_smtp_channel_binding(server, name):
    c, ehlo = smtp_conn(server, ssl.TLSVersion.TLSv1_2)
    try:
        assert "250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN" in ehlo
        cbs = sasl.channel_bindings(c.sock)
        assert smtp_auth(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=cbs)).startswith("235 ")
    finally:
        c.close()
    c, ehlo = smtp_conn(server, ssl.TLSVersion.TLSv1_3)
    try:
        assert "250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN" in ehlo
        c.send(f"AUTH {name}")
        assert c.line().startswith("504 5.5.4 ")
    finally:
        c.close()


@pytest.mark.parametrize("name", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_smtp_authz_other_account_refused(server, name):
    c, _ = smtp_conn(server)
    try:
        line = smtp_auth(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, authz="other@localhost"))
        assert line.startswith("535 5.7.8 cannot assume other role ("), line
        # Another address of the same account is allowed as authorization identity.
        line = smtp_auth(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, authz="m\u00f3x@localhost"))
        assert line.startswith("235 2.7.0 nice"), line
    finally:
        c.close()


@pytest.mark.parametrize("name", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_smtp_wrong_channel_binding(server, name):
    # The binding of another TLS connection, as a man in the middle would have it.
    c, _ = smtp_conn(server, ssl.TLSVersion.TLSv1_2)
    other, _ = smtp_conn(server, ssl.TLSVersion.TLSv1_2)
    try:
        wrong = sasl.channel_bindings(other.sock)
        line = smtp_auth(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=wrong))
        assert line.startswith("535 5.7.7 channel bindings do not match, potential mitm ("), line
        cbs = sasl.channel_bindings(c.sock)
        assert smtp_auth(c, sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=cbs)).startswith("235 ")
    finally:
        c.close()
        other.close()


@pytest.fixture
def ascii_password(server):
    """smtplib only sends ASCII: use the localserve password for a moment."""
    acc = server.store.open_account("mox")
    acc.set_password_sync("moxmoxmox")
    try:
        yield "moxmoxmox"
    finally:
        acc.set_password_sync(PASSWORD)
        acc.close()


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib(server, ascii_password, mech):
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=10) as s:
        s.ehlo("client.example")
        s.user, s.password = "mox@localhost", ascii_password
        auth = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
        code, _ = s.auth(mech, auth, initial_response_ok=mech != "CRAM-MD5")
        assert code == 235
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=10) as s:
        assert s.login("mox@localhost", ascii_password)[0] == 235  # smtplib's own choice: CRAM-MD5
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=10) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("mox@localhost", "wrongpassword")
        assert e.value.smtp_code == 535
