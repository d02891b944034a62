"""Greeting, CAPABILITY, NOOP, LOGOUT, ID, LOGIN, AUTHENTICATE PLAIN, STARTTLS, ENABLE (RFC 9051 6.1, 6.2)."""

import base64

from mox.imap import response_write

# Without a checkable channel binding (no TLS, or TLS 1.3) the AUTH=...-PLUS entries of mox's list
# are not offered; the rest keeps mox's order (imapserver/server.go).
BASE_CAPABILITIES = (
    "IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE SASL-IR BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE "
    "UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 AUTH=CRAM-MD5 "
    "ID APPENDLIMIT=1073741824 CONDSTORE QRESYNC STATUS=SIZE QUOTA QUOTA=RES-STORAGE METADATA SAVEDATE WITHIN NAMESPACE "
    "LIST-METADATA MULTIAPPEND REPLACE PREVIEW INPROGRESS MULTISEARCH NOTIFY UIDONLY COMPRESS=DEFLATE "
    "SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS ESORT CONTEXT=SEARCH CONTEXT=SORT PARTIAL "
    "CATENATE URL-PARTIAL"
)
CAPS = BASE_CAPABILITIES + " STARTTLS AUTH=PLAIN"
CAPS_TLS = BASE_CAPABILITIES + " AUTH=PLAIN"


def test_greeting_capability_noop_logout(imap):
    tc = imap.connect(login=False)
    assert response_write.serialize(tc.conn.greeting) == f"* OK [CAPABILITY {CAPS}] mox imap\r\n".encode()
    tc.transact("ok", "capability")
    tc.expect_untagged(f"* CAPABILITY {CAPS}")
    assert tc.result.text == "CAPABILITY done"
    tc.transact("ok", "noop")
    tc.expect_no_untagged()
    tc.transact("ok", 'id ("name" "test")')
    tc.expect_untagged_some()
    assert tc.untagged[0][1].startswith(b'* ID ("name" "mox" "version" ')
    tc.transact("ok", "logout")
    tc.expect_untagged("* BYE thanks")
    assert tc.result.text == "LOGOUT done"
    tc.expect_closed()


def test_login(imap):
    tc = imap.connect(login=False)
    tc.transact("bad", "login")  # missing arguments
    tc.transact("no", "login mox@localhost wrong")
    tc.expect_code("AUTHENTICATIONFAILED")
    tc.transact("no", "login nobody@localhost moxmoxmox")
    tc.expect_code("AUTHENTICATIONFAILED")
    tc.transact("no", "select inbox")  # not yet authenticated
    assert tc.result.text == "SELECT not allowed in this connection state"
    tc.transact("ok", 'login "mox@localhost" "moxmoxmox"')
    assert tc.result.text == "login done"
    tc.expect_code(f"CAPABILITY {CAPS}")
    # Fixed quirk: LOGIN/AUTHENTICATE/STARTTLS only before authentication, also when selected.
    tc.transact("no", "login mox@localhost moxmoxmox")
    tc.transact("ok", "select inbox")
    tc.transact("no", "login mox@localhost moxmoxmox")
    assert tc.result.text == "LOGIN not allowed in this connection state"
    tc.transact("no", "authenticate plain")
    tc.transact("no", "starttls")


def test_login_catchall_and_literal(imap):
    tc = imap.connect(login=False)
    tc.transact("ok", "login mox+test@localhost ", b"moxmoxmox")


def test_login_requires_tls(imap):
    imap.start(no_require_starttls=False)
    tc = imap.connect(login=False)
    caps = BASE_CAPABILITIES + " STARTTLS LOGINDISABLED"
    tc.transact("ok", "capability")
    tc.expect_untagged(f"* CAPABILITY {caps}")
    tc.transact("no", "login mox@localhost moxmoxmox")
    tc.expect_code("PRIVACYREQUIRED")
    tc.transact("no", "authenticate plain " + base64.b64encode(b"\0mox@localhost\0moxmoxmox").decode())
    tc.expect_code("PRIVACYREQUIRED")
    # Implicit TLS: login works.
    tc2 = imap.connect(login=False, tls=True)
    tc2.transact("ok", "capability")
    tc2.expect_untagged(f"* CAPABILITY {BASE_CAPABILITIES} AUTH=PLAIN")
    tc2.transact("bad", "starttls")  # TLS already active
    tc2.transact("ok", "login mox@localhost moxmoxmox")


def test_starttls(imap):
    imap.start(no_require_starttls=False)
    tc = imap.connect(login=False, starttls=True)
    tc.transact("ok", "capability")
    tc.expect_untagged(f"* CAPABILITY {CAPS_TLS}")
    tc.transact("ok", "login mox@localhost moxmoxmox")


def test_authenticate_plain(imap):
    good = base64.b64encode(b"\0mox@localhost\0moxmoxmox").decode()
    tc = imap.connect(login=False)
    tc.transact("no", "authenticate bogus")
    assert tc.result.text == "method not supported"
    tc.transact("bad", "authenticate plain !!!")
    tc.transact("no", "authenticate plain " + base64.b64encode(b"other@localhost\0mox@localhost\0moxmoxmox").decode())
    tc.expect_code("AUTHORIZATIONFAILED")
    tc.transact("no", "authenticate plain " + base64.b64encode(b"\0mox@localhost\0bad").decode())
    tc.expect_code("AUTHENTICATIONFAILED")
    tc.transact("bad", "authenticate plain =")  # empty initial response: malformed
    # Continuation, then abort with "*".
    tc.command("authenticate plain")
    assert tc.read_line() == "+ "
    tc.write_line("*")
    tc.response("bad")
    assert tc.result.text == "authenticate aborted by client"
    # Continuation with the credentials.
    tc.command("authenticate plain")
    assert tc.read_line() == "+ "
    tc.write_line(good)
    tc.response("ok")
    assert tc.result.text == "authenticate done"
    tc2 = imap.connect(login=False)
    tc2.transact("ok", "authenticate plain " + good)  # SASL-IR
    tc2.transact("ok", "noop")


def test_enable(imap):
    tc = imap.connect(login=False)
    tc.transact("no", "enable condstore")
    tc.transact("ok", "login mox@localhost moxmoxmox")
    tc.transact("ok", "enable qresync bogus")
    tc.expect_untagged("* ENABLED QRESYNC CONDSTORE")
    tc.transact("ok", "enable condstore")
    tc.expect_untagged("* ENABLED")
    tc.transact("ok", "enable imap4rev2 utf8=accept")
    tc.expect_untagged("* ENABLED IMAP4rev2 UTF8=ACCEPT")
    tc.transact("bad", "enable")
    tc.transact("ok", "select inbox")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc2.transact("ok", "enable condstore")  # while selected: HIGHESTMODSEQ too (RFC 7162 3.1)
    tc2.expect_untagged("* ENABLED CONDSTORE", "* OK [HIGHESTMODSEQ 1] x")


def test_unknown_and_bad_commands(imap):
    tc = imap.connect()
    tc.transact("bad", "setquota x")
    assert tc.result.text == 'SETQUOTA unrecognized syntax/command: unknown command "SETQUOTA"'
    tc.transact("bad", "noop extra")
    tc.transact("bad", "uid noop")


def test_authenticate_scram(imap):
    for hash_name in ("sha256", "sha1"):
        tc = imap.connect(login=False)
        res = tc.conn.authenticate_scram("mox@localhost", "moxmoxmox", hash_name=hash_name)
        assert res.status == "OK" and res.text == "authenticate done"
        tc.transact("ok", "select inbox")
    tc2 = imap.connect(login=False)
    # Channel binding requested with a non-PLUS mechanism, and garbage.
    tc2.transact("no", "authenticate scram-sha-256 " + base64.b64encode(b"p=tls-unique,,n=mox@localhost,r=abc").decode())
    tc2.expect_code("AUTHENTICATIONFAILED")
    tc2.transact("bad", "authenticate scram-sha-256 " + base64.b64encode(b"garbage").decode())
    tc2.transact("ok", "noop")


def test_authenticate_scram_bad_password_transcript(imap):
    tc = imap.connect(login=False)
    ir = base64.b64encode(b"n,,n=mox@localhost,r=clientnonce").decode()
    tc.command(f"authenticate scram-sha-256 {ir}")
    first = base64.b64decode(tc.read_line()[2:]).decode()
    assert first.startswith("r=clientnonce") and ",s=" in first and first.endswith(",i=4096")
    nonce = first.split(",")[0][2:]
    final = f"c=biws,r={nonce},p=" + base64.b64encode(b"x" * 32).decode()
    tc.write_line(base64.b64encode(final.encode()).decode())
    tc.response("no")
    tc.expect_code("AUTHENTICATIONFAILED")
    assert tc.result.text == "bad credentials"


def test_authenticate_cram_md5(imap):
    tc = imap.connect(login=False)
    res = tc.conn.authenticate_cram_md5("mox@localhost", "moxmoxmox")
    assert res.status == "OK"
    tc.transact("ok", "select inbox")
    tc2 = imap.connect(login=False)
    tc2.command("authenticate cram-md5")
    challenge = base64.b64decode(tc2.read_line()[2:])
    assert challenge.startswith(b"<") and challenge.endswith(b"@localhost>")
    tc2.write_line(base64.b64encode(b"mox@localhost 00112233445566778899aabbccddeeff").decode())
    tc2.response("no")
    tc2.expect_code("AUTHENTICATIONFAILED")


def _scram_plus_login(c, password: str, cb: bytes) -> str:
    """A SCRAM-SHA-256-PLUS exchange with tls-unique binding data ``cb``; returns the result line."""
    import hashlib
    import hmac

    gs2 = "p=tls-unique,,"
    first_bare = "n=mox@localhost,r=plusnonce"
    c.write_line("p1 AUTHENTICATE SCRAM-SHA-256-PLUS " + base64.b64encode((gs2 + first_bare).encode()).decode())
    line = c.read_line()
    if not line.startswith(b"+ "):
        return line.decode()
    server_first = base64.b64decode(line[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    final_bare = f"c={base64.b64encode(gs2.encode() + cb).decode()},r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_bare}".encode()
    proof = bytes(a ^ b for a, b in zip(client_key, hmac.new(stored, auth_msg, "sha256").digest()))
    c.write_line(base64.b64encode(f"{final_bare},p={base64.b64encode(proof).decode()}".encode()))
    line = c.read_line()
    if line.startswith(b"+ "):
        c.write_line("")
        line = c.read_line()
    return line.decode()


def test_authenticate_scram_plus(imap):
    import ssl

    from mox.imap.client import Conn

    imap.start()
    ctx = imap.client_tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with Conn.connect("127.0.0.1", imap.ports["imaps"], tls=True, ssl_context=ctx, server_hostname="localhost") as c:
        cb = c.sock.get_channel_binding("tls-unique")
        assert _scram_plus_login(c, "moxmoxmox", b"wrong" + cb[5:]).startswith(
            "p1 NO [AUTHENTICATIONFAILED] channel bindings do not match"
        )
        assert _scram_plus_login(c, "moxmoxmox", cb).startswith("p1 OK [CAPABILITY ")
    # TLS 1.3 would need tls-exporter: a clear refusal, not a hang.
    with Conn.connect("127.0.0.1", imap.ports["imaps"], tls=True, ssl_context=imap.client_tls_context(),
                      server_hostname="localhost") as c:
        assert _scram_plus_login(c, "moxmoxmox", b"").startswith("p1 NO [AUTHENTICATIONFAILED] channel binding tls-exporter")
    # Without TLS.
    with Conn.connect("127.0.0.1", imap.ports["imap"]) as c:
        assert _scram_plus_login(c, "moxmoxmox", b"").startswith("p1 NO [AUTHENTICATIONFAILED] channel binding requires tls")


def test_starttls_discards_pipelined_plaintext(imap):
    # Commands sent after STARTTLS but before the handshake must not run (command injection).
    import socket

    imap.start()
    sock = socket.create_connection(("127.0.0.1", imap.ports["imap"]), timeout=10)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"* OK [CAPABILITY ")
    sock.sendall(b"a STARTTLS\r\nb LOGIN mox@localhost moxmoxmox\r\n")
    assert f.readline() == b"a OK STARTTLS done\r\n"
    tls = imap.client_tls_context().wrap_socket(sock, server_hostname="localhost")
    tf = tls.makefile("rb")
    tls.sendall(b"c NOOP\r\nd SELECT inbox\r\n")
    assert tf.readline() == b"c OK NOOP done\r\n"
    assert tf.readline().startswith(b"d NO ")  # still not logged in: "b LOGIN" was discarded
    tls.close()


def _client_cert(imap, tmp_path, no_preauth: bool):
    from mox.auth import tlspubkey

    gen = tlspubkey.generate(tmp_path / f"client{int(no_preauth)}")
    cert = tlspubkey.parse_certificate(gen.certificate_path.read_bytes())
    rec = tlspubkey.make_record(cert, account="mox", login_address="mox@localhost", no_imap_preauth=no_preauth)
    tlspubkey.keys_for(imap.data_dir).add(rec)
    tlspubkey.configure_server_context(imap.ctx.tls, imap.data_dir)
    ctx = imap.client_tls_context()
    ctx.load_cert_chain(gen.certificate_path, gen.private_key_path)
    return ctx


def test_tls_client_certificate_preauth_and_external(imap, tmp_path):
    from mox.imap.client import Conn

    imap.start()
    ctx = _client_cert(imap, tmp_path, no_preauth=False)
    with Conn.connect("127.0.0.1", imap.ports["imaps"], tls=True, ssl_context=ctx, server_hostname="localhost") as c:
        greeting = response_write.serialize(c.greeting).decode()
        assert greeting == f"* PREAUTH [CAPABILITY {CAPS_TLS} AUTH=EXTERNAL] mox imap welcomes mox@localhost\r\n"
        c.transact("SELECT Inbox")
    ctx = _client_cert(imap, tmp_path, no_preauth=True)
    with Conn.connect("127.0.0.1", imap.ports["imaps"], tls=True, ssl_context=ctx, server_hostname="localhost") as c:
        assert response_write.serialize(c.greeting).decode().startswith("* OK [CAPABILITY ")
        c.write_line("e1 AUTHENTICATE EXTERNAL " + base64.b64encode(b"other@localhost").decode())
        assert c.read_line().startswith(b"e1 NO [AUTHORIZATIONFAILED]")
        c.write_line("e2 AUTHENTICATE EXTERNAL =")
        assert c.read_line().startswith(b"e2 OK [CAPABILITY ")
    # No certificate: EXTERNAL is not offered and fails.
    tc = imap.connect(login=False, tls=True)
    tc.transact("no", "authenticate external =")
    tc.expect_code("AUTHENTICATIONFAILED")
    tc = imap.connect(login=False)
    tc.transact("no", "authenticate external =")
    assert tc.result.text == "tls required for tls client certificate authentication"


def test_repeated_failures_slow_down(imap, monkeypatch):
    from mox.imap import session

    monkeypatch.setattr(session, "AUTH_FAILURE_DELAY", 0.01)  # the real delay is 1 s per failure
    tc = imap.connect(login=False)
    for i in range(6):
        tc.transact("no", f"login mox@localhost wrong{i}")
        tc.expect_code("AUTHENTICATIONFAILED")
    tc.transact("ok", "login mox@localhost moxmoxmox")
