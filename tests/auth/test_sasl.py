"""Every SASL mechanism, our client against our server: success, wrong password, wrong channel
binding, aborted exchange, authorization for another account; NFD user names and PRECIS
passwords (RFC 4616, 2195, 5802, 7677, 8265; mox ``sasl/sasl.go``)."""

from __future__ import annotations

import base64
import ssl

import pytest

from mox.auth import sasl

from .conftest import OTHER_PASSWORD, PASSWORD, tls_pair

PASSWORD_MECHS = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
PLUS_MECHS = ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"]


@pytest.fixture(scope="module")
def tls12(server_cert):
    server, client = tls_pair(server_cert, ssl.TLSVersion.TLSv1_2)
    yield sasl.channel_bindings(server), sasl.channel_bindings(client)
    server.close()
    client.close()


def run(verifier, name, username, password, *, authz="", use_initial=True, server_cb=None, client_cb=None,
        tls_identity=None, client_knows_cb=False):
    # A client only tells the server about its channel binding for -PLUS (or to test downgrades).
    if not name.endswith("-PLUS") and not client_knows_cb:
        client_cb = None
    server = sasl.server_mechanism(name, verifier(tls_identity), hostname="mox.example", channel_bindings=server_cb)
    client = sasl.client_mechanism(name, username, password, authz=authz, channel_bindings=client_cb)
    ex = sasl.Exchange(client, server, use_initial=use_initial)
    result = ex.run()
    assert client.done
    return result, ex.transcript


@pytest.mark.parametrize("use_initial", [True, False])
@pytest.mark.parametrize("name", PASSWORD_MECHS + PLUS_MECHS)
def test_success(verifier, tls12, name, use_initial):
    scb, ccb = tls12
    res, _ = run(verifier, name, "mox@localhost", PASSWORD, use_initial=use_initial, server_cb=scb, client_cb=ccb)
    assert res == sasl.Success("mox", "mox@localhost", name)


@pytest.mark.parametrize("name", PASSWORD_MECHS + PLUS_MECHS)
def test_wrong_password(verifier, tls12, name):
    scb, ccb = tls12
    with pytest.raises(sasl.AuthenticationFailed) as e:
        run(verifier, name, "mox@localhost", "wrongpassword", server_cb=scb, client_cb=ccb)
    assert e.value.imap_code == "AUTHENTICATIONFAILED" and e.value.smtp_code == 535
    assert e.value.smtp_ecode == "5.7.8" and e.value.counts_as_failure


@pytest.mark.parametrize("name", PASSWORD_MECHS)
def test_unknown_user(verifier, name):
    with pytest.raises(sasl.AuthenticationFailed):
        run(verifier, name, "nobody@localhost", PASSWORD)


@pytest.mark.parametrize("name", PASSWORD_MECHS + PLUS_MECHS)
def test_precis_equivalent_password_and_nfd_username(verifier, tls12, name):
    # The raw password differs from the stored (prepared) one only by PRECIS mapping:
    # "t\u00e9st" + U+3000 (a Zs space) ... prepares to the same "tést    ".
    scb, ccb = tls12
    equivalent = "t\u00e9st\u2003\u2009\u00a0 "
    res, _ = run(verifier, name, "mo\u0301x@localhost", equivalent, server_cb=scb, client_cb=ccb)
    assert res.account == "mox"
    assert res.username == "m\u00f3x@localhost"  # NFC form of the NFD name


def test_scram_server_refuses_nfd_username(verifier):
    server = sasl.server_mechanism("SCRAM-SHA-256", verifier())
    with pytest.raises(sasl.AuthenticationFailed, match="normalization form C"):
        server.start(b"n,,n=mo\xcc\x81x@localhost,r=abcdefgh")


@pytest.mark.parametrize("name", PLUS_MECHS)
def test_wrong_channel_binding(verifier, tls12, server_cert, name):
    scb, _ = tls12
    # The client's tls-unique from another TLS connection: as a man in the middle would have.
    s2, c2 = tls_pair(server_cert, ssl.TLSVersion.TLSv1_2)
    try:
        other = sasl.channel_bindings(c2)
    finally:
        s2.close()
        c2.close()
    assert other["tls-unique"] != scb["tls-unique"]
    with pytest.raises(sasl.ChannelBindingMismatch, match="potential mitm") as e:
        run(verifier, name, "mox@localhost", PASSWORD, server_cb=scb, client_cb=other)
    assert e.value.imap_code == "AUTHENTICATIONFAILED"


@pytest.mark.parametrize("name", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_scram_downgrade_detected(verifier, tls12, name):
    # Client could bind (flag "y") but server offers binding too: someone removed -PLUS.
    scb, ccb = tls12
    with pytest.raises(sasl.ChannelBindingMismatch, match="potential mitm"):
        run(verifier, name, "mox@localhost", PASSWORD, server_cb=scb, client_cb=ccb, client_knows_cb=True)
    # Without binding on the server side, "y" is fine.
    res, t = run(verifier, name, "mox@localhost", PASSWORD, server_cb={}, client_cb=ccb, client_knows_cb=True)
    assert t[0] == ("C", b"y,,n=mox@localhost,r=" + t[0][1].split(b",r=")[1])
    assert res.account == "mox"


def test_plus_needs_binding(verifier):
    with pytest.raises(sasl.UnknownMechanism):
        sasl.server_mechanism("SCRAM-SHA-256-PLUS", verifier(), channel_bindings={})
    with pytest.raises(sasl.ClientError, match="tls-unique"):
        sasl.client_mechanism("SCRAM-SHA-256-PLUS", "mox@localhost", PASSWORD, channel_bindings={})


def test_channel_binding_tls13(server_cert):
    # TLS 1.3 has no tls-unique, and Python's ssl module cannot export tls-exporter keying
    # material: no binding, so no -PLUS.
    server, client = tls_pair(server_cert, ssl.TLSVersion.TLSv1_3)
    try:
        assert server.version() == "TLSv1.3"
        assert sasl.channel_bindings(server) == {} and sasl.channel_bindings(client) == {}
    finally:
        server.close()
        client.close()
    assert sasl.channel_bindings(None) == {}


def test_advertised_mechanisms():
    assert sasl.server_mechanism_names(tls=True, channel_binding=True) == [
        "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN",
        "EXTERNAL",
    ]
    assert sasl.server_mechanism_names(tls=True, channel_binding=False) == [
        "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN", "EXTERNAL",
    ]
    assert sasl.server_mechanism_names(tls=False, channel_binding=False) == ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"]
    assert sasl.server_mechanism_names(tls=False, channel_binding=False, require_tls_for_plain=False) == [
        "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN",
    ]


@pytest.mark.parametrize("name", PASSWORD_MECHS + PLUS_MECHS + ["EXTERNAL"])
def test_abort(verifier, tls12, name):
    scb, ccb = tls12
    server = sasl.server_mechanism(name, verifier(("mox", "mox@localhost")), channel_bindings=scb)
    step = server.start(None)
    assert isinstance(step, sasl.Challenge)
    with pytest.raises(sasl.Aborted) as e:
        server.step(sasl.decode_response(b"*"))
    assert e.value.imap_status == "BAD" and e.value.smtp_code == 501 and not e.value.counts_as_failure


def test_wire_helpers():
    assert sasl.decode_initial(None) is None
    assert sasl.decode_initial("=") == b""
    assert sasl.decode_initial(base64.b64encode(b"\0a\0b").decode()) == b"\0a\0b"
    with pytest.raises(sasl.Aborted):
        sasl.decode_initial("*")
    with pytest.raises(sasl.MalformedResponse):
        sasl.decode_initial("")
    with pytest.raises(sasl.MalformedResponse, match="base64"):
        sasl.decode_response(b"not base64!")
    assert sasl.decode_response(b"\r\n") == b""


@pytest.mark.parametrize("name", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_authz_other_account_refused(verifier, name):
    with pytest.raises(sasl.AuthorizationFailed) as e:
        run(verifier, name, "mox@localhost", PASSWORD, authz="other@localhost")
    assert e.value.imap_code == "AUTHORIZATIONFAILED" and e.value.smtp_code == 535


@pytest.mark.parametrize("name", ["PLAIN", "SCRAM-SHA-256"])
def test_authz_same_account(verifier, name):
    res, _ = run(verifier, name, "mox@localhost", PASSWORD, authz="m\u00f3x@localhost")
    assert res == sasl.Success("mox", "m\u00f3x@localhost", name)
    res, _ = run(verifier, name, "mox@localhost", PASSWORD, authz="mox@localhost")
    assert res.username == "mox@localhost"


def test_external(verifier):
    ident = ("mox", "mox@localhost")
    res, t = run(verifier, "EXTERNAL", "", "", tls_identity=ident)
    assert res == sasl.Success("mox", "mox@localhost", "EXTERNAL") and t == [("C", b"")]
    res, _ = run(verifier, "EXTERNAL", "", "", authz="m\u00f3x@localhost", tls_identity=ident)
    assert res.username == "m\u00f3x@localhost"
    with pytest.raises(sasl.AuthorizationFailed):
        run(verifier, "EXTERNAL", "", "", authz="other@localhost", tls_identity=ident)
    with pytest.raises(sasl.AuthenticationFailed, match="no tls client certificate"):
        run(verifier, "EXTERNAL", "", "")


@pytest.mark.parametrize("name", PASSWORD_MECHS)
def test_other_account_than_certificate(verifier, name):
    # With a client certificate of account "mox", logging in as "other" is refused.
    with pytest.raises(sasl.AuthenticationFailed, match="another account"):
        run(verifier, name, "other@localhost", OTHER_PASSWORD, tls_identity=("mox", "mox@localhost"))
    res, _ = run(verifier, name, "mox@localhost", PASSWORD, tls_identity=("mox", "mox@localhost"))
    assert res.account == "mox"


def test_cram_md5_transcript(verifier):
    res, t = run(verifier, "CRAM-MD5", "mox@localhost", PASSWORD)
    assert t[0][0] == "S" and t[0][1].startswith(b"<") and t[0][1].endswith(b"@mox.example>")
    user, digest = t[1][1].split(b" ")
    assert user == b"mox@localhost" and len(digest) == 32


def test_login_transcript(verifier):
    _, t = run(verifier, "LOGIN", "mox@localhost", PASSWORD)
    assert t == [("S", b"Username:"), ("C", b"mox@localhost"), ("S", b"Password:"), ("C", "t\u00e9st    ".encode())]


def test_scram_rfc7677_vector():
    # RFC 7677 3: user "user", password "pencil", fixed nonces and salt.
    class V:
        def account_for_username(self, u):
            return "user" if u == "user" else None

        def scram_secret(self, account, h):
            import hashlib

            from mox.store import ScramSecret

            salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            return ScramSecret(salt, 4096, hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096))

        def tls_identity(self):
            return None

    server = sasl.ScramServer(V(), "SHA-256")
    client = sasl.ScramClient("SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    first = client.initial_response()
    assert first == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server.start(first)
    # Replace the server's nonce and first message by the RFC's to check the proof bytes.
    server._nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    server._server_first = f"r={server._nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = client.step(server._server_first.encode())
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    step = server.step(final)
    assert step == sasl.Challenge(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    assert client.step(step.data) == b"" and client.done
    assert server.step(b"") == sasl.Success("user", "user", "SCRAM-SHA-256")


@pytest.mark.parametrize(
    ("first", "error"),
    [
        (b"x,,n=mox@localhost,r=abc", sasl.MalformedResponse),
        (b"n,,r=abc", sasl.MalformedResponse),
        (b"n,,n=mox=2Xlocalhost,r=abc", sasl.MalformedResponse),
        (b"p=tls-unique,,n=mox@localhost,r=abc", sasl.AuthenticationFailed),  # p= on non-PLUS
        (b"n,b,n=mox@localhost,r=abc", sasl.MalformedResponse),
        (b"m=x,n=mox@localhost,r=abc", sasl.MalformedResponse),
        (b"\xff", sasl.MalformedResponse),
    ],
)
def test_scram_malformed(verifier, first, error):
    with pytest.raises(error):
        sasl.server_mechanism("SCRAM-SHA-256", verifier()).start(first)


def test_plain_malformed(verifier):
    with pytest.raises(sasl.MalformedResponse, match="3 nul-separated"):
        sasl.server_mechanism("PLAIN", verifier()).start(b"mox@localhost")
    with pytest.raises(sasl.AuthenticationFailed):  # a password that is no valid OpaqueString
        sasl.server_mechanism("PLAIN", verifier()).start(b"\0mox@localhost\0bad\x07password")


def test_unknown_mechanism(verifier):
    with pytest.raises(sasl.UnknownMechanism) as e:
        sasl.server_mechanism("DIGEST-MD5", verifier())
    assert e.value.smtp_code == 504


def test_secret_unavailable():
    class NoSecrets:
        def account_for_username(self, u):
            return "mox"

        def scram_secret(self, account, h):
            return None

        def cram_md5_state(self, account):
            return None

        def tls_identity(self):
            return None

    for name in ("SCRAM-SHA-256", "CRAM-MD5"):
        client = sasl.client_mechanism(name, "mox@localhost", PASSWORD)
        with pytest.raises(sasl.SecretUnavailable) as e:
            sasl.Exchange(client, sasl.server_mechanism(name, NoSecrets())).run()
        assert not e.value.counts_as_failure


def test_client_detects_bad_server_signature(verifier):
    server = sasl.server_mechanism("SCRAM-SHA-256", verifier())
    client = sasl.client_mechanism("SCRAM-SHA-256", "mox@localhost", PASSWORD)
    step = server.start(client.initial_response())
    final = client.step(step.data)
    server.step(final)
    with pytest.raises(sasl.ClientError, match="bad server signature"):
        client.step(b"v=" + base64.b64encode(b"x" * 32))


def test_choose_client_mechanism():
    offered = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
    assert sasl.choose_client_mechanism(offered) == "SCRAM-SHA-256"
    assert sasl.choose_client_mechanism(offered, channel_bindings={"tls-unique": b"x"}) == "SCRAM-SHA-256-PLUS"
    assert sasl.choose_client_mechanism(["LOGIN"]) is None
    assert sasl.choose_client_mechanism(["EXTERNAL", "PLAIN"], have_client_cert=True) == "EXTERNAL"


async def test_serve_exchange_over_a_driver(verifier):
    # What IMAP and SMTP drivers do: base64 lines out and in, "*" aborts.
    import trio

    sent: list[bytes] = []

    def driver(lines):
        async def send(data):
            sent.append(base64.b64encode(data))

        async def read():
            return lines.pop(0)

        return send, read

    client = sasl.client_mechanism("SCRAM-SHA-256", "mox@localhost", PASSWORD)
    server = sasl.server_mechanism("SCRAM-SHA-256", verifier())
    first = client.initial_response()

    async def read_scram():
        data = base64.b64decode(sent[-1])
        return base64.b64encode(client.step(data))

    async def send(data):
        sent.append(base64.b64encode(data))

    res = await sasl.serve_exchange(server, first, send_challenge=send, read_response=read_scram,
                                    run_sync=trio.to_thread.run_sync)
    assert res == sasl.Success("mox", "mox@localhost", "SCRAM-SHA-256") and len(sent) == 2

    sent.clear()
    send, read = driver([base64.b64encode(b"mox@localhost"), base64.b64encode(PASSWORD.encode())])
    res = await sasl.serve_exchange(sasl.server_mechanism("LOGIN", verifier()), None, send_challenge=send,
                                    read_response=read, run_sync=trio.to_thread.run_sync)
    assert res.account == "mox" and sent == [b"VXNlcm5hbWU6", b"UGFzc3dvcmQ6"]

    send, read = driver([b"*"])
    with pytest.raises(sasl.Aborted):
        await sasl.serve_exchange(sasl.server_mechanism("PLAIN", verifier()), None, send_challenge=send,
                                  read_response=read)


async def test_serve_exchange_limiter(verifier):
    class Limiter:
        def __init__(self):
            self.failures = {}

        def auth_allowed(self, ip):
            return self.failures.get(ip, 0) < 2

        def auth_failed(self, ip):
            self.failures[ip] = self.failures.get(ip, 0) + 1

        def auth_succeeded(self, ip):
            self.failures.pop(ip, None)

    lim = Limiter()

    async def nothing(data):
        raise AssertionError("no challenge expected")

    async def attempt(password, ip="192.0.2.1"):
        mech = sasl.server_mechanism("PLAIN", verifier())
        ir = f"\0mox@localhost\0{password}".encode()
        return await sasl.serve_exchange(mech, ir, send_challenge=nothing, read_response=nothing, limiter=lim, ip=ip)

    with pytest.raises(sasl.AuthenticationFailed):
        await attempt("wrong")
    assert (await attempt(PASSWORD)).account == "mox" and lim.failures == {}  # success resets
    for _ in range(2):
        with pytest.raises(sasl.AuthenticationFailed):
            await attempt("wrong")
    with pytest.raises(sasl.TooManyAuthFailures) as e:
        await attempt(PASSWORD)  # refused without checking, even with the right password
    assert (e.value.smtp_code, e.value.smtp_ecode, e.value.imap_status) == (421, "4.7.0", "BYE")
    assert lim.failures == {"192.0.2.1": 2}
    assert (await attempt(PASSWORD, ip="192.0.2.2")).account == "mox"


def test_sans_io_imports():
    # The mechanisms are protocol code: no trio, no store (STYLE.md layering rule).
    import subprocess
    import sys

    code = "import sys, mox.auth.sasl, mox.auth.precis; print(sorted(m for m in ('trio', 'mox.store') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"
