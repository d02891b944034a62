"""The fields mox writes on messages, in mox's form: Received (RFC 5321 4.4), Authentication-
Results (RFC 8601) and Received-SPF (RFC 7208 9.1), and what localserve puts in them without
DNS (mox.dkim.local)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from mox import localserve
from mox.config import load_config
from mox.dkim import AuthMethod, AuthProp, AuthResults, ReceivedSPF
from mox.dkim.local import check_spf, incoming_headers, iprev_name, sign_message
from mox.smtp.received import address_literal, format_date, received, with_protocol

T = 946684800.0  # 2000-01-01T00:00:00Z


def test_received_forms() -> None:
    sub = received(from_="localhost", by="localhost ([127.0.0.1])", with_="ESMTPSA", id_="d1", date=T,
                   tls=["(TLS1.3", "TLS_AES_256_GCM_SHA384)"], for_="a@example.org")
    assert sub == (
        b"Received: from localhost by localhost ([127.0.0.1]) via tcp with ESMTPSA id\r\n"
        b"\td1 (TLS1.3 TLS_AES_256_GCM_SHA384) for <a@example.org>;\r\n"
        b"\t1 Jan 2000 00:00:00 +0000\r\n"
    )
    # Without a "for" clause the ";" before the date is still written (mox leaves it out).
    assert received(from_="localhost", by="localhost", via=None, id_="x", date=T) == (
        b"Received: from localhost by localhost id x; 1 Jan 2000 00:00:00 +0000\r\n"
    )
    assert b"with ESMTPS (requiretls) id" in received(from_="a", by="b", with_="ESMTPS", requiretls=True, id_="i", date=T)
    assert format_date(T + 86400 * 40 + 3661) == "10 Feb 2000 01:01:01 +0000"
    assert [address_literal(ip) for ip in ("127.0.0.1", "::1", "::ffff:127.0.0.2", "junk")] == [
        "[127.0.0.1]", "[IPv6:::1]", "[127.0.0.2]", "[unknown]",
    ]
    # RFC 3848 / RFC 6531 3.7.3 protocol names.
    assert with_protocol(smtputf8=False, ehlo=True, tls=False, authenticated=False) == "ESMTP"
    assert with_protocol(smtputf8=False, ehlo=True, tls=True, authenticated=True) == "ESMTPSA"
    assert with_protocol(smtputf8=True, ehlo=True, tls=False, authenticated=True) == "UTF8SMTPA"
    assert with_protocol(smtputf8=False, ehlo=False, tls=True, authenticated=False) == "SMTPS"


def test_authentication_results_form() -> None:
    ar = AuthResults(
        "localhost",
        methods=[
            AuthMethod("iprev", "pass", comment="without dnssec", props=[AuthProp("policy", "iprev", "127.0.0.1")]),
            AuthMethod("dkim", "none", reason="no dkim signatures"),
            AuthMethod("spf", "none", comment="without dnssec"),  # a comment without reason or props is left out
            AuthMethod("auth", "pass", props=[AuthProp("smtp", "mailfrom", "", addr_like=True)]),
            AuthMethod("x", "y", props=[AuthProp("header", "i", "a b@c", addr_like=True), AuthProp("header", "b", "a@b")]),
        ],
    )
    assert ar.header() == (
        "Authentication-Results: localhost;\r\n"
        "\tiprev=pass (without dnssec) policy.iprev=127.0.0.1;\r\n"
        '\tdkim=none reason="no dkim signatures";\r\n'
        "\tspf=none;\r\n"
        '\tauth=pass smtp.mailfrom="";\r\n'
        '\tx=y header.i="a b@c" header.b="a@b"\r\n'
    )
    spf = ReceivedSPF("pass", "domain localhost", "127.0.0.1", "mox@localhost", "localhost", "localhost", "mailfrom", mechanism="ip4:127.0.0.1/8")
    assert spf.header() == (
        'Received-SPF: pass (domain localhost) client-ip=127.0.0.1;\r\n'
        '\tenvelope-from="mox@localhost"; helo=localhost; mechanism="ip4:127.0.0.1/8";\r\n'
        "\treceiver=localhost; identity=mailfrom\r\n"
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("fields") / "ls"
    localserve.write_localserve_config(d)
    return load_config(d)


def test_spf_without_dns(config) -> None:
    def spf(ip: str, mail_from: str, ehlo: str = "client.example") -> tuple[str, str, str, str]:
        r = check_spf(config, remote_ip=ip, ehlo=ehlo, mail_from=mail_from, hostname="localhost")
        return r.status, r.identity, r.domain, r.received.mechanism

    # A configured domain from loopback: the record mox's localserve assumes.
    assert spf("127.0.0.1", "mox@localhost") == ("pass", "mailfrom", "localhost", "ip4:127.0.0.1/8")
    assert spf("127.3.4.5", "mox@LOCALHOST") == ("pass", "mailfrom", "localhost", "ip4:127.0.0.1/8")
    assert spf("::1", "mox@localhost") == ("pass", "mailfrom", "localhost", "ip6:::1")
    assert spf("::ffff:127.0.0.1", "mox@localhost") == ("pass", "mailfrom", "localhost", "ip4:127.0.0.1/8")
    # Not from loopback, or another domain: no record without DNS.
    assert spf("192.0.2.1", "mox@localhost")[:1] == ("none",)
    assert spf("127.0.0.1", "a@example.org")[:1] == ("none",)
    # Empty MAIL FROM: the EHLO name, as postmaster (RFC 7208 2.3); an address literal: nothing.
    r = check_spf(config, remote_ip="127.0.0.1", ehlo="localhost", mail_from="", hostname="localhost")
    assert (r.status, r.identity, r.received.envelope_from) == ("pass", "helo", "postmaster@localhost")
    assert "from ehlo because mailfrom is empty" in r.received.comment
    r = check_spf(config, remote_ip="127.0.0.1", ehlo="[127.0.0.1]", mail_from="", hostname="localhost")
    assert (r.status, r.identity, r.received.comment) == ("none", "", "no domain, ehlo is an ip literal and mailfrom is empty")


def test_iprev_without_dns() -> None:
    assert [iprev_name(ip) for ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "192.0.2.1", "")] == [
        "localhost", "localhost", "localhost", None, None,
    ]


def test_incoming_headers(config) -> None:
    msg = b"From: mox@localhost\r\nSubject: x\r\n\r\nhi\r\n"
    signed = sign_message(config, "mox", "localhost", msg, now=T) + msg
    h = incoming_headers(config, signed, remote_ip="192.0.2.1", ehlo="client.example", mail_from="mox@localhost", now=T + 60).decode()
    assert h.startswith("Authentication-Results: localhost;\r\n\tdkim=pass (without dnssec)")  # no iprev: not looked up
    assert "\tspf=none (without dnssec) smtp.mailfrom=localhost;\r\n" in h
    # Past x= (72 hours): permerror.
    h = incoming_headers(config, signed, remote_ip="127.0.0.1", ehlo="localhost", mail_from="mox@localhost", now=T + 73 * 3600).decode()
    h = h.replace("\r\n\t", " ")
    assert "dkim=permerror (without dnssec) reason=\"dkim: signature has expired" in h
    # A From without domain, or two: dmarc=none without header.from.
    h = incoming_headers(config, b"Subject: x\r\n\r\nhi\r\n", remote_ip="127.0.0.1", ehlo="x", mail_from="", now=T).decode()
    assert "\tdmarc=none\r\nReceived-SPF: " in h
    # A header that cannot be split: dkim=none with the reason, never an exception.
    h = incoming_headers(config, b"no header at all", remote_ip="127.0.0.1", ehlo="x", mail_from="", now=T).decode()
    h = h.replace("\r\n\t", " ")
    assert 'dkim=none reason="dkim: mail message header is malformed: header does not end with an empty line"' in h


def test_key_file_gone_after_start(config, tmp_path: Path) -> None:
    """A key file removed while running: signing raises (the hooks log it and send unsigned),
    verifying gives temperror; neither takes a delivery down."""
    import shutil

    from mox.dkim import KeyFileError

    d = tmp_path / "copy"
    shutil.copytree(config.config_dir, d)
    c = msgspec.structs.replace(config, config_dir=str(d))
    msg = b"From: mox@localhost\r\nSubject: x\r\n\r\nhi\r\n"
    signed = sign_message(c, "mox", "localhost", msg, now=T) + msg
    (d / localserve.DKIM_KEY_FILE).unlink()
    with pytest.raises(KeyFileError):
        sign_message(c, "mox", "localhost", msg, now=T)
    h = incoming_headers(c, signed, remote_ip="127.0.0.1", ehlo="x", mail_from="", now=T).decode().replace("\r\n\t", " ")
    assert "dkim=temperror (without dnssec) reason=\"dkim: lookup of dkim dns record: localserve._domainkey.localhost.: reading private key" in h
