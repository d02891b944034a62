"""TLS client certificates made by `mox config tlspubkey gen`, registered with `mox config
tlspubkey add`, against a running mox: IMAPS PREAUTH, AUTHENTICATE EXTERNAL, SMTP AUTH EXTERNAL,
also after a restart (mox ``imapserver/server.go``, ``smtpserver/server.go``)."""

from __future__ import annotations

import base64
import socket
import ssl

import pytest

from mox.testing import LocalServer

from ..conftest import run_mox


def client_ctx(pem=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if pem is not None:
        ctx.load_cert_chain(pem)
    return ctx


class Conn:
    def __init__(self, port, pem=None):
        self.sock = client_ctx(pem).wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        self.f = self.sock.makefile("rb")

    def line(self):
        return self.f.readline().decode().rstrip("\r\n")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def close(self):
        self.f.close()
        self.sock.close()


def gen(tmp_path, stem):
    r = run_mox("config", "tlspubkey", "gen", str(tmp_path / stem))
    assert r.returncode == 0, r.stderr
    fp = r.stderr.splitlines()[-1].removeprefix("fingerprint: ")
    (both,) = tmp_path.glob(f"{stem}.*.ed25519privatekey-certificate.pem")
    (cert,) = tmp_path.glob(f"{stem}.*.certificate.pem")
    return fp, both, cert


def add(d, cert, *flags):
    r = run_mox("config", "tlspubkey", "add", "-dir", str(d), *flags, "mox@localhost",
                input=cert.read_text(encoding="utf-8"))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A localserve dir with two registered keys (one without IMAP preauth), added while a
    first mox ran; the tests run against a restarted mox."""
    tmp = tmp_path_factory.mktemp("certs")
    d = tmp / "data"
    pre = gen(tmp, "laptop")
    nopre = gen(tmp, "phone")
    with LocalServer(d):
        assert add(d, pre[2]) == pre[0]
        assert add(d, nopre[2], "-no-imap-preauth") == nopre[0]
        # A second account, for logins that do not match the certificate's account.
        r = run_mox("config", "account", "add", "-dir", str(d), "other", "other@localhost")
        assert r.returncode == 0, r.stderr
        r = run_mox("setaccountpassword", "-dir", str(d), "other", input="otherpassword\n")
        assert r.returncode == 0, r.stderr
    with LocalServer(d) as srv:
        yield srv, pre, nopre


def test_imaps_preauth(keys):
    srv, (fp, pem, _), _ = keys
    c = Conn(srv.ports["imaps"], pem)
    try:
        greeting = c.line()
        assert greeting.startswith("* PREAUTH [CAPABILITY ") and greeting.endswith("] mox imap welcomes mox@localhost")
        c.send("a SELECT inbox")
        while not (line := c.line()).startswith("a "):
            pass
        assert line.startswith("a OK ")
    finally:
        c.close()


def test_imaps_no_preauth_then_external(keys):
    srv, _, (fp, pem, _) = keys
    c = Conn(srv.ports["imaps"], pem)
    try:
        greeting = c.line()
        assert greeting.startswith("* OK [CAPABILITY ") and " AUTH=EXTERNAL" in greeting
        c.send("a AUTHENTICATE EXTERNAL =")
        assert c.line().startswith("a OK ")
    finally:
        c.close()


def test_imaps_without_certificate(keys):
    srv, _, _ = keys
    c = Conn(srv.ports["imaps"])
    try:
        greeting = c.line()
        assert greeting.startswith("* OK [CAPABILITY ")
        c.send("a AUTHENTICATE EXTERNAL =")
        assert c.line().startswith("a NO ")
    finally:
        c.close()


def test_smtp_external(keys):
    srv, (fp, pem, _), _ = keys
    c = Conn(srv.ports["submissions"], pem)
    try:
        assert c.line().startswith("220 ")
        c.send("EHLO client.example")
        lines = [c.line()]
        while lines[-1].startswith("250-"):
            lines.append(c.line())
        auth = next(x for x in lines if x.startswith("250-AUTH "))
        assert auth.startswith("250-AUTH EXTERNAL ")
        c.send("AUTH EXTERNAL " + base64.b64encode(b"mox@localhost").decode())
        assert c.line().startswith("235 2.7.0 ")
    finally:
        c.close()


OTHER_PLAIN = base64.b64encode(b"\0other@localhost\0otherpassword").decode()
OTHER_ACCOUNT = "authentication failed, tls client certificate public key belongs to another account"


def test_imap_starttls_then_external(keys):
    # After STARTTLS the certificate is known but the state stays "not authenticated" (no
    # PREAUTH, even for a key that allows it); credentials of another account are refused.
    srv, (fp, pem, _), _ = keys
    raw = socket.create_connection(("127.0.0.1", srv.ports["imap"]), timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"* OK [CAPABILITY ")
    raw.sendall(b"a STARTTLS\r\n")
    assert f.readline() == b"a OK STARTTLS done\r\n"
    f.close()
    c = Conn.__new__(Conn)
    c.sock = client_ctx(pem).wrap_socket(raw)
    c.f = c.sock.makefile("rb")
    try:
        c.send("b SELECT inbox")
        assert c.line() == "b NO SELECT not allowed in this connection state"
        c.send("c LOGIN other@localhost otherpassword")
        assert c.line() == f"c NO [AUTHENTICATIONFAILED] {OTHER_ACCOUNT}"
        c.send(f"d AUTHENTICATE PLAIN {OTHER_PLAIN}")
        assert c.line() == f"d NO [AUTHENTICATIONFAILED] {OTHER_ACCOUNT}"
        c.send("e AUTHENTICATE EXTERNAL =")
        line = c.line()
        assert line.startswith("e OK [CAPABILITY ") and line.endswith("] authenticate done"), line
        c.send("f SELECT inbox")
        while not (line := c.line()).startswith("f "):
            pass
        assert line.startswith("f OK ")
    finally:
        c.close()


@pytest.mark.parametrize("starttls", [False, True])
def test_smtp_certificate_authenticates(keys, starttls):
    # mox smtpserver/server.go: no SMTP preauth, but after the handshake the connection is authenticated:
    # MAIL FROM needs no AUTH; AUTH for another account is refused, AUTH EXTERNAL works.
    srv, (fp, pem, _), _ = keys
    if starttls:
        raw = socket.create_connection(("127.0.0.1", srv.ports["submission"]), timeout=10)
        f = raw.makefile("rb")
        assert f.readline().startswith(b"220 ")
        raw.sendall(b"EHLO client.example\r\n")
        while f.readline().startswith(b"250-"):
            pass
        raw.sendall(b"STARTTLS\r\n")
        assert f.readline().startswith(b"220 2.0.0 go! (")
        f.close()
        c = Conn.__new__(Conn)
        c.sock = client_ctx(pem).wrap_socket(raw)
        c.f = c.sock.makefile("rb")
    else:
        c = Conn(srv.ports["submissions"], pem)
        assert c.line().startswith("220 ")

    def cmd(line):
        c.send(line)
        lines = [c.line()]
        while lines[-1].startswith("250-"):
            lines.append(c.line())
        return lines

    try:
        assert "250-AUTH EXTERNAL SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN" in cmd("EHLO client.example")
        assert cmd("MAIL FROM:<mox@localhost>") == ["250 2.1.0 looking good"]
        assert cmd("RCPT TO:<mox@localhost>") == ["250 2.1.0 now on the list"]
        assert cmd("RSET") == ["250 2.0.0 all clear"]
        (line,) = cmd(f"AUTH PLAIN {OTHER_PLAIN}")
        assert line.startswith(f"535 5.7.8 {OTHER_ACCOUNT} ("), line
        assert cmd("MAIL FROM:<other@localhost>")[0].startswith("550 5.7.1 ")  # still the certificate's account
        assert cmd("RSET") == ["250 2.0.0 all clear"]
        assert cmd("AUTH EXTERNAL =") == ["235 2.7.0 nice"]
        (line,) = cmd("AUTH EXTERNAL =")
        assert line.startswith("503 5.5.1 already authenticated"), line
    finally:
        c.close()
