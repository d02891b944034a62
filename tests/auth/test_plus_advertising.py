"""SCRAM-*-PLUS is advertised only where its channel binding can be checked (mox.auth.sasl): on TLS 1.2
(tls-unique), not on TLS 1.3 (Python's ssl cannot compute tls-exporter) nor without TLS. The rest of
the IMAP capability list and the EHLO AUTH line keep mox's order (``imapserver/server.go``,
``smtpserver/server.go``)."""

from __future__ import annotations

import base64
import re
import socket
import ssl

import pytest

from mox.auth import sasl

from .conftest import PASSWORD, Lines, tls_client


@pytest.fixture(scope="module")
def server(sasl_server):
    return sasl_server


TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3

IMAP_CAPS_HEAD = (
    "IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE SASL-IR BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE "
    "UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS "
)
IMAP_CAPS_TAIL = (
    " ID APPENDLIMIT=1073741824 CONDSTORE QRESYNC STATUS=SIZE QUOTA QUOTA=RES-STORAGE METADATA SAVEDATE WITHIN NAMESPACE LIST-METADATA MULTIAPPEND REPLACE PREVIEW INPROGRESS MULTISEARCH NOTIFY UIDONLY"
)
IMAP_AUTH_NO_PLUS = "AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 AUTH=CRAM-MD5"
IMAP_AUTH_PLUS = "AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1-PLUS AUTH=SCRAM-SHA-1 AUTH=CRAM-MD5"

SMTP_AUTH_NO_PLUS = "250-AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"
SMTP_AUTH_PLUS = "250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"


def imap_caps(auth: str, extra: str) -> str:
    return IMAP_CAPS_HEAD + auth + IMAP_CAPS_TAIL + extra


def imap_authenticate(c: Lines, mech: sasl.ClientMechanism, tag: str = "a") -> str:
    first = mech.initial_response()
    arg = "" if first is None else " " + (base64.b64encode(first).decode() or "=")
    c.send(f"{tag} AUTHENTICATE {mech.name}{arg}")
    while (line := c.line()).startswith("+"):
        c.send(base64.b64encode(mech.step(base64.b64decode(line[2:]))))
    return line


def ehlo(c: Lines) -> list[str]:
    c.send("EHLO client.example")
    lines = []
    while (line := c.line()).startswith("250-"):
        lines.append(line)
    lines.append(line)
    return lines


def smtp_authenticate(c: Lines, mech: sasl.ClientMechanism) -> str:
    first = mech.initial_response()
    arg = "" if first is None else " " + (base64.b64encode(first).decode() or "=")
    c.send(f"AUTH {mech.name}{arg}")
    while (line := c.line()).startswith("334 "):
        c.send(base64.b64encode(mech.step(base64.b64decode(line[4:]))))
    return line


def starttls(c: Lines, version: ssl.TLSVersion) -> None:
    """Switch a plain Lines connection to TLS (after the server said go ahead)."""
    c.f.close()
    c.sock = tls_client(version).wrap_socket(c.sock)
    c.f = c.sock.makefile("rb")


# IMAP.


def test_imap_plain_connection_no_plus(server):
    c = Lines(server.ports["imap"])
    try:
        assert c.line() == f"* OK [CAPABILITY {imap_caps(IMAP_AUTH_NO_PLUS, ' STARTTLS AUTH=PLAIN')}] mox imap"
        c.send("a CAPABILITY")
        assert c.line() == f"* CAPABILITY {imap_caps(IMAP_AUTH_NO_PLUS, ' STARTTLS AUTH=PLAIN')}"
        assert c.line() == "a OK CAPABILITY done"
        # Not offered, and a client trying anyway gets a clear answer.
        c.send("b AUTHENTICATE SCRAM-SHA-256-PLUS " + base64.b64encode(b"p=tls-unique,,n=mox@localhost,r=abcdefgh").decode())
        assert c.line() == "b NO [AUTHENTICATIONFAILED] channel binding requires tls"
    finally:
        c.close()


def test_imap_tls13_no_plus(server):
    c = Lines(server.ports["imaps"], TLS13)
    try:
        assert c.sock.version() == "TLSv1.3"
        assert c.line() == f"* OK [CAPABILITY {imap_caps(IMAP_AUTH_NO_PLUS, ' AUTH=PLAIN')}] mox imap"
        c.send("a AUTHENTICATE SCRAM-SHA-1-PLUS " + base64.b64encode(b"p=tls-unique,,n=mox@localhost,r=abcdefgh").decode())
        assert c.line() == (
            "a NO [AUTHENTICATIONFAILED] channel binding tls-exporter not supported, use the mechanism without -PLUS"
        )
        # The mechanism without -PLUS works.
        line = imap_authenticate(c, sasl.client_mechanism("SCRAM-SHA-256", "mox@localhost", PASSWORD), "b")
        assert line == f"b OK [CAPABILITY {imap_caps(IMAP_AUTH_NO_PLUS, ' AUTH=PLAIN')}] authenticate done"
    finally:
        c.close()


@pytest.mark.parametrize("name", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_imap_tls12_plus_offered_and_works(server, name):
    c = Lines(server.ports["imaps"], TLS12)
    try:
        assert c.sock.version() == "TLSv1.2"
        assert c.line() == f"* OK [CAPABILITY {imap_caps(IMAP_AUTH_PLUS, ' AUTH=PLAIN')}] mox imap"
        mech = sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=sasl.channel_bindings(c.sock))
        line = imap_authenticate(c, mech)
        assert line == f"a OK [CAPABILITY {imap_caps(IMAP_AUTH_PLUS, ' AUTH=PLAIN')}] authenticate done"
        assert mech.done  # the server's signature checked out
        c.send("b SELECT Inbox")
        while (line := c.line()).startswith("* "):
            pass
        assert line.startswith("b OK [READ-WRITE] ")
    finally:
        c.close()


def test_imap_starttls_tls12_then_plus(server):
    c = Lines(server.ports["imap"])
    try:
        assert c.line().startswith("* OK [CAPABILITY ")
        c.send("a STARTTLS")
        assert c.line() == "a OK STARTTLS done"
        starttls(c, TLS12)
        c.send("b CAPABILITY")
        assert c.line() == f"* CAPABILITY {imap_caps(IMAP_AUTH_PLUS, ' AUTH=PLAIN')}"
        assert c.line() == "b OK CAPABILITY done"
        mech = sasl.client_mechanism(
            "SCRAM-SHA-256-PLUS", "mox@localhost", PASSWORD, channel_bindings=sasl.channel_bindings(c.sock)
        )
        assert imap_authenticate(c, mech, "c").startswith("c OK [CAPABILITY ")
    finally:
        c.close()


def test_imap_tls12_binding_of_other_connection_fails(server):
    c, other = Lines(server.ports["imaps"], TLS12), Lines(server.ports["imaps"], TLS12)
    try:
        c.line(), other.line()
        wrong = sasl.channel_bindings(other.sock)
        mech = sasl.client_mechanism("SCRAM-SHA-256-PLUS", "mox@localhost", PASSWORD, channel_bindings=wrong)
        assert imap_authenticate(c, mech) == "a NO [AUTHENTICATIONFAILED] channel bindings do not match, potential mitm"
    finally:
        c.close()
        other.close()


# SMTP submission.


def test_smtp_plain_connection_no_plus(server):
    c = Lines(server.ports["submission"])
    try:
        assert c.line() == "220 localhost ESMTP mox " + _version()
        lines = ehlo(c)
        assert lines[:5] == ["250-localhost", "250-PIPELINING", "250-SIZE 104857600", "250-STARTTLS", SMTP_AUTH_NO_PLUS]
        c.send("AUTH SCRAM-SHA-256-PLUS")
        assert re.fullmatch(r"504 5\.5\.4 mechanism SCRAM-SHA-256-PLUS not supported \([0-9a-f]+\)", c.line())
    finally:
        c.close()


def test_smtp_tls13_no_plus(server):
    c = Lines(server.ports["submissions"], TLS13)
    try:
        assert c.sock.version() == "TLSv1.3"
        c.line()
        lines = ehlo(c)
        assert lines[:5] == ["250-localhost", "250-PIPELINING", "250-SIZE 104857600", "250-REQUIRETLS", SMTP_AUTH_NO_PLUS]
        c.send("AUTH SCRAM-SHA-1-PLUS")
        assert re.fullmatch(r"504 5\.5\.4 mechanism SCRAM-SHA-1-PLUS not supported \([0-9a-f]+\)", c.line())
        mech = sasl.client_mechanism("SCRAM-SHA-256", "mox@localhost", PASSWORD)
        assert smtp_authenticate(c, mech) == "235 2.7.0 nice"
    finally:
        c.close()


@pytest.mark.parametrize("name", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_smtp_tls12_plus_offered_and_works(server, name):
    c = Lines(server.ports["submissions"], TLS12)
    try:
        assert c.sock.version() == "TLSv1.2"
        c.line()
        lines = ehlo(c)
        assert lines[:5] == ["250-localhost", "250-PIPELINING", "250-SIZE 104857600", "250-REQUIRETLS", SMTP_AUTH_PLUS]
        mech = sasl.client_mechanism(name, "mox@localhost", PASSWORD, channel_bindings=sasl.channel_bindings(c.sock))
        assert smtp_authenticate(c, mech) == "235 2.7.0 nice"
        assert mech.done
    finally:
        c.close()


def test_smtp_starttls_tls12_then_plus(server):
    c = Lines(server.ports["submission"])
    try:
        c.line()
        ehlo(c)
        c.send("STARTTLS")
        assert c.line().startswith("220 ")
        starttls(c, TLS12)
        lines = ehlo(c)
        assert lines[:5] == ["250-localhost", "250-PIPELINING", "250-SIZE 104857600", "250-REQUIRETLS", SMTP_AUTH_PLUS]
        mech = sasl.client_mechanism(
            "SCRAM-SHA-256-PLUS", "mox@localhost", PASSWORD, channel_bindings=sasl.channel_bindings(c.sock)
        )
        assert smtp_authenticate(c, mech) == "235 2.7.0 nice"
    finally:
        c.close()


def _version() -> str:
    import mox

    return mox.__version__


def test_channel_bindings_per_version(server):
    # What decides the advertising, seen from the client side of real connections.
    for version, want in ((TLS12, ["tls-unique"]), (TLS13, [])):
        c = Lines(server.ports["imaps"], version)
        try:
            c.line()
            assert list(sasl.channel_bindings(c.sock)) == want
        finally:
            c.close()
    s = socket.create_connection(("127.0.0.1", server.ports["imap"]), timeout=10)
    try:
        assert sasl.channel_bindings(None) == {} and sasl.channel_bindings(s) == {}
    finally:
        s.close()


def test_imap_authenticate_plain_opens_per_address_view(server):
    # AUTHENTICATE PLAIN keeps localserve's per-address views (mox.ci.hooks.imap_login), as LOGIN has them:
    # any address without an account, with the shared password, logs into its own view.
    from mox.ci import hooks as ci

    shared = ci.state(server.ctx).settings.shared_password
    c = Lines(server.ports["imap"])
    try:
        c.line()
        bad = base64.b64encode(b"\0someone@example.org\0not-the-shared-password").decode()
        c.send("a AUTHENTICATE PLAIN " + bad)
        assert c.line() == "a NO [AUTHENTICATIONFAILED] bad credentials"
        good = base64.b64encode(f"\0someone@example.org\0{shared}".encode()).decode()
        c.send("b AUTHENTICATE PLAIN " + good)
        assert c.line().startswith("b OK [CAPABILITY ")
        c.send("c SELECT Inbox")
        while (line := c.line()).startswith("* "):
            pass
        assert line.startswith("c OK [READ-WRITE] ")
    finally:
        c.close()
    assert ci.view_account("someone@example.org") in server.store.account_names()
