"""Independent clients against the server: stdlib smtplib, swaks, our own client, `mox sendmail`."""

from __future__ import annotations

import shutil
import smtplib
import ssl
import subprocess
import sys

import pytest

from mox.smtp.client import Client, SMTPError

ADDRESS = "mox@localhost"
PASSWORD = "moxmoxmox"
MSG = (
    b"From: <mox@localhost>\r\n"
    b"To: <other@example.com>\r\n"
    b"Subject: test\r\n"
    b"Message-ID: <t@localhost>\r\n"
    b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"hello\r\n"
)


def test_smtplib_plain_auth(smtp):
    smtp.start()
    with smtplib.SMTP("127.0.0.1", smtp.ports["submission"], timeout=10) as s:
        s.ehlo("client.example")
        assert s.has_extn("pipelining") and s.has_extn("smtputf8") and s.has_extn("chunking")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(ADDRESS, "wrong")
        assert e.value.smtp_code == 535
        s.login(ADDRESS, PASSWORD)
        refused = s.sendmail(ADDRESS, ["a@example.com", "b@example.com"], MSG)
        assert refused == {}
    assert len(smtp.wait_messages("Inbox", 2)) == 2


def test_smtplib_starttls_and_implicit_tls(smtp):
    smtp.start(no_require_starttls=False)
    ctx = smtp.client_tls_context()
    with smtplib.SMTP("127.0.0.1", smtp.ports["submission"], timeout=10) as s:
        s.ehlo("client.example")
        with pytest.raises(smtplib.SMTPException):
            s.login(ADDRESS, PASSWORD)  # no mechanisms offered without TLS
        s.starttls(context=ctx)
        s.ehlo("client.example")
        assert s.has_extn("requiretls")
        s.login(ADDRESS, PASSWORD)
        s.sendmail(ADDRESS, ["a@example.com"], MSG)
    with smtplib.SMTP_SSL("127.0.0.1", smtp.ports["submissions"], timeout=10, context=ctx) as s:
        s.ehlo("client.example")
        s.login(ADDRESS, PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail(ADDRESS, ["rcpttopermerror@example.com"], MSG)
        assert e.value.recipients["rcpttopermerror@example.com"][0] == 550
        with pytest.raises(smtplib.SMTPSenderRefused) as e2:
            s.sendmail("someone@example.com", ["a@example.com"], MSG)
        assert e2.value.smtp_code == 550
    assert len(smtp.wait_messages("Inbox", 1)) == 1


def test_smtplib_delivery_port_utf8(smtp):
    smtp.start()
    msg = "From: <jösé@example.org>\r\nTo: <ünï@localhost>\r\nSubject: ü\r\n\r\nhéllo\r\n".encode()
    with smtplib.SMTP("127.0.0.1", smtp.ports["smtp"], timeout=10) as s:
        s.ehlo("client.example")
        s.sendmail("jösé@example.org", ["ünï@localhost"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert smtp.messages("Inbox")[0].endswith(msg)


SWAKS = shutil.which("swaks")


@pytest.mark.skipif(SWAKS is None, reason="swaks not installed (CI installs it with apt-get; install the Debian package swaks)")
@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
def test_swaks(smtp, mode, tmp_path):
    smtp.start()
    port = smtp.ports["submissions" if mode == "tls" else "submission"]
    args = [
        SWAKS, "--server", f"127.0.0.1:{port}", "--helo", "client.example",
        "--from", ADDRESS, "--to", "other@example.com",
        "--auth", "PLAIN", "--auth-user", ADDRESS, "--auth-password", PASSWORD,
        "--header", "Subject: swaks " + mode, "--body", "from swaks",
        "--timeout", "10",
    ]
    if mode == "starttls":
        args.append("--tls")
    elif mode == "tls":
        args.append("--tls-on-connect")
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    recv = "<-  " if mode == "plain" else "<~  "  # swaks marks replies read over TLS with ~
    assert recv + "235 2.7.0 nice" in p.stdout
    assert recv + "250 2.2.0 it is done" in p.stdout
    msgs = smtp.wait_messages("Inbox", 1)
    assert b"Subject: swaks " + mode.encode() in msgs[0]


def test_our_client(smtp):
    smtp.start()
    ctx = smtp.client_tls_context()
    with Client.connect("127.0.0.1", smtp.ports["submission"], tls="starttls", tls_context=ctx, ehlo_hostname="client.example") as c:
        assert c.tls and c.supports("REQUIRETLS") and c.rcpt_max == 1000
        with pytest.raises(SMTPError) as e:
            c.auth(ADDRESS, "wrong")
        assert (e.value.code, e.value.secode, e.value.permanent, e.value.command) == (535, "5.7.8", True, "AUTH")
        c.auth(ADDRESS, PASSWORD, mechanism="LOGIN")
        replies = c.deliver(ADDRESS, ["a@example.com", "rcpttotemperror@example.com"], MSG)
        assert [r.code for r in replies] == [250, 451]
        with pytest.raises(SMTPError) as e:
            c.deliver(ADDRESS, ["rcpttopermerror@example.com"], MSG)
        assert e.value.code == 550 and e.value.command == "RCPT" and e.value.permanent
        assert e.value.lines[0].startswith("failure with code 550 due to special localpart (")
        c.deliver(ADDRESS, ["chunked@example.com"], MSG, chunking=True)
        c.deliver(ADDRESS, ["ünï@example.com"], MSG)  # SMTPUTF8 picked automatically
        c.quit()
    with Client.connect("127.0.0.1", smtp.ports["submissions"], tls="immediate", tls_context=ctx) as c:
        c.auth(ADDRESS, PASSWORD)
        with pytest.raises(SMTPError) as e:
            c.deliver(ADDRESS, ["x@example.com"], b"no header\r\n")
        assert (e.value.code, e.value.command) == (554, "DATA")
    assert len(smtp.wait_messages("Inbox", 3)) == 3


def test_sendmail(smtp, tmp_path, monkeypatch):
    smtp.start()
    conf = tmp_path / "moxsubmit.conf"
    conf.write_text(
        f"# test config\nHost: 127.0.0.1\nPort: {smtp.ports['submission']}\nUsername: {ADDRESS}\nPassword: {PASSWORD}\nFrom: {ADDRESS}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    cmd = [sys.executable, "-m", "mox", "sendmail"]
    p = subprocess.run(cmd + ["-config", str(conf), "-Fme", "-i", "other@example.com"], input=b"Subject: via sendmail\n\nline one\n.dot\n", capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    msgs = smtp.wait_messages("Inbox", 1)
    m = msgs[0]
    assert b"From: me <mox@localhost>\r\nTo: <other@example.com>\r\nSubject: via sendmail\r\n\r\nline one\r\n.dot\r\n" in m
    # -t reads the recipient from To; config from $MOXSUBMITCONF.
    env_p = subprocess.run(cmd + ["-t"], input=b"To: Someone <t@example.com>\nSubject: t\n\nbody\n", capture_output=True, timeout=60, env={**__import__("os").environ, "MOXSUBMITCONF": str(conf)})
    assert env_p.returncode == 0, env_p.stderr
    assert b"Subject: t\r\n" in smtp.wait_messages("Inbox", 2)[1]
    # Failure: exit code 1, message saved.
    bad = subprocess.run(cmd + ["-config", str(conf), "rcpttopermerror@example.com"], input=b"Subject: x\n\nbody\n", capture_output=True, timeout=60)
    assert bad.returncode == 1
    assert b"550" in bad.stderr and b"moxsubmit.failures" in bad.stderr
    assert len(list((tmp_path / "moxsubmit.failures").iterdir())) == 1
    usage = subprocess.run(cmd + ["-config", str(conf)], input=b"x", capture_output=True, timeout=60)
    assert usage.returncode == 2 and b"need exactly one recipient" in usage.stderr


def test_sendmail_default_config_is_localserve(tmp_path):
    from mox.cli.sendmail import SubmitConfig, parse_config

    assert SubmitConfig() == parse_config("")
    c = SubmitConfig()
    assert (c.host, c.port, c.username, c.password, c.from_) == ("127.0.0.1", 1587, ADDRESS, PASSWORD, ADDRESS)
    from mox.cli.sendmail import SendmailError

    with pytest.raises(SendmailError, match="unknown field 'Bogus'"):
        parse_config("Bogus: 1")
    with pytest.raises(SendmailError, match="must be true or false"):
        parse_config("TLS: maybe")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"])
def test_client_mechanisms(smtp, mechanism):
    smtp.start()
    with Client.connect("127.0.0.1", smtp.ports["submission"], tls="none") as c:
        with pytest.raises(SMTPError) as e:
            c.auth(ADDRESS, "wrong", mechanism=mechanism)
        assert (e.value.code, e.value.secode) == (535, "5.7.8")
        c.auth(ADDRESS, PASSWORD, mechanism=mechanism)
        c.deliver(ADDRESS, ["a@example.com"], MSG)
    assert len(smtp.wait_messages("Inbox", 1)) == 1


def test_scram_plus_with_tls12_channel_binding(smtp):
    smtp.start()
    ctx = smtp.client_tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with Client.connect("127.0.0.1", smtp.ports["submissions"], tls="immediate", tls_context=ctx) as c:
        assert c.extensions["AUTH"].split()[:2] == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        c.auth(ADDRESS, PASSWORD)  # picks SCRAM-SHA-256-PLUS, bound to this TLS connection
        c.deliver(ADDRESS, ["a@example.com"], MSG)
    ctx13 = smtp.client_tls_context()
    with Client.connect("127.0.0.1", smtp.ports["submissions"], tls="immediate", tls_context=ctx13) as c:
        # TLS 1.3 has no tls-unique: no -PLUS offered, accepting it would fail the exchange.
        assert "SCRAM-SHA-256-PLUS" not in c.extensions["AUTH"].split()
        with pytest.raises(SMTPError) as e:
            c.command("AUTH SCRAM-SHA-256-PLUS", expect=(334,))
        assert e.value.code == 504


def test_auth_external_with_client_certificate(smtp, tmp_path):
    from cryptography import x509

    from mox.auth import tlspubkey

    smtp.start()
    gen = tlspubkey.generate(tmp_path / "client")
    cert = x509.load_pem_x509_certificate(gen.certificate_path.read_bytes())
    tlspubkey.keys_for(smtp.data_dir).add(tlspubkey.make_record(cert, account="mox", login_address=ADDRESS))
    tlspubkey.configure_server_context(smtp.ctx.tls, smtp.data_dir)
    ctx = smtp.client_tls_context()
    ctx.load_cert_chain(gen.combined_path)
    with Client.connect("127.0.0.1", smtp.ports["submissions"], tls="immediate", tls_context=ctx) as c:
        # mox smtpserver/server.go: EXTERNAL is offered first when a registered certificate was presented.
        assert c.extensions["AUTH"].split()[:2] == ["EXTERNAL", "SCRAM-SHA-256"]
        c.auth("", "", mechanism="EXTERNAL")
        c.deliver(ADDRESS, ["a@example.com"], MSG)
    with Client.connect("127.0.0.1", smtp.ports["submissions"], tls="immediate", tls_context=smtp.client_tls_context()) as c:
        assert "EXTERNAL" not in c.extensions["AUTH"].split()  # no certificate, no EXTERNAL
    assert len(smtp.wait_messages("Inbox", 1)) == 1


@pytest.mark.parametrize("kind", ["ed25519-seed", "pem-file"])
def test_sendmail_client_certificate_and_requiretls(smtp, tmp_path, kind):
    from cryptography import x509

    from mox.auth import tlspubkey
    from mox.cli.sendmail import ed25519_cert_pem

    smtp.start()
    gen = tlspubkey.generate(tmp_path / "sendmail")
    if kind == "ed25519-seed":
        # The seed gives one deterministic certificate; that is the one registered.
        cert = x509.load_pem_x509_certificate(ed25519_cert_pem(gen.seed))
        auth_line = f"ClientAuthEd25519PrivateKey: {gen.seed}\n"
    else:
        cert = x509.load_pem_x509_certificate(gen.certificate_path.read_bytes())
        auth_line = f"ClientAuthCertPrivateKeyPEMFile: {gen.combined_path}\n"
    tlspubkey.keys_for(smtp.data_dir).add(tlspubkey.make_record(cert, account="mox", login_address=ADDRESS))
    tlspubkey.configure_server_context(smtp.ctx.tls, smtp.data_dir)
    conf = tmp_path / "moxsubmit.conf"
    conf.write_text(
        f"Host: 127.0.0.1\nPort: {smtp.ports['submissions']}\nTLS: true\nTLSInsecureSkipVerify: true\n"
        f"{auth_line}RequireTLS: yes\nFrom: {ADDRESS}\n",
        encoding="utf-8",
    )
    p = subprocess.run(
        [sys.executable, "-m", "mox", "sendmail", "-config", str(conf), "x@example.com"],
        input=b"Subject: cert\n\nbody\n",
        capture_output=True,
        timeout=60,
        env={**__import__("os").environ, "HOME": str(tmp_path)},
    )
    assert p.returncode == 0, p.stderr
    assert b"Subject: cert\r\n" in smtp.wait_messages("Inbox", 1)[0]


def test_client_pipelines_and_types_errors():
    """Against a scripted peer that answers nothing until it has MAIL, both RCPTs and DATA in
    hand: the client really pipelines (RFC 2920), and a rejected recipient comes back typed."""
    import socket as _socket
    import threading

    lsock = _socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    seen: list[bytes] = []
    problems: list[str] = []

    def peer() -> None:
        conn, _ = lsock.accept()
        conn.settimeout(10)
        buf = b""

        def until(marker: bytes) -> bytes:
            nonlocal buf
            while marker not in buf:
                d = conn.recv(65536)
                if not d:
                    raise EOFError(buf)
                buf += d
            got, _, buf = buf.partition(marker)
            return got + marker

        try:
            conn.sendall(b"220 peer.example ESMTP\r\n")
            seen.append(until(b"\r\n"))
            conn.sendall(b"250-peer.example\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
            seen.append(until(b"DATA\r\n"))  # the whole batch before any reply
            conn.sendall(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go ahead\r\n")
            seen.append(until(b"\r\n.\r\n"))
            conn.sendall(b"250 2.0.0 queued\r\n")
            seen.append(until(b"\r\n"))
            conn.sendall(b"221 2.0.0 bye\r\n")
        except Exception as e:  # reported by the assertions below
            problems.append(repr(e))
        finally:
            conn.close()

    t = threading.Thread(target=peer)
    t.start()
    try:
        with Client.connect("127.0.0.1", port, tls="none", ehlo_hostname="client.example", timeout=10) as c:
            replies = c.deliver("a@example.org", ["b@example.com", "gone@example.com"], b"Subject: p\r\n\r\n.dot\r\n")
            assert [(r.code, r.secode, r.lines) for r in replies] == [(250, "2.1.5", ["ok"]), (550, "5.1.1", ["no such user"])]
            c.quit()
    finally:
        t.join(15)
        lsock.close()
    assert problems == []
    assert seen == [
        b"EHLO client.example\r\n",
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<gone@example.com>\r\nDATA\r\n",
        b"Subject: p\r\n\r\n..dot\r\n.\r\n",
        b"QUIT\r\n",
    ]
