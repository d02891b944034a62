"""DKIM in a running localserve, judged by an independent verifier: dkimpy, given only the key
records that `mox config dnsrecords localhost` prints.

Messages submitted over real SMTP submission (smtplib, STARTTLS-less and implicit TLS) and
through the webapi's Send are signed with the localserve ed25519 key (and an RSA key when the
config adds one); what arrives in the Inbox carries mox's Authentication-Results, Received-SPF
and Received fields. Port 25 deliveries are checked against the local keys."""

from __future__ import annotations

import base64
import json
import os
import re
import smtplib
import ssl
import stat
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import dkim as dkimpy
import msgspec
import pytest

from mox import config as mconfig
from mox import localserve
from mox.testing import LocalServer

from ..conftest import MOX, mox_env, run_mox

MSG = b"From: mox@localhost\r\nTo: other@localhost\r\nSubject: signed  please\r\nMessage-ID: <s1@localhost>\r\n\r\nHello  world.\r\n"


def zone_records(text: str) -> dict[str, bytes]:
    """TXT records of a zone file, read the way a DNS server would (strings joined, a record
    in parentheses may span lines); written here, independent of mox's own parser."""
    out: dict[str, bytes] = {}
    for m in re.finditer(r'^(\S+)\s+TXT\s+(\([^)]*\)|"[^"\n]*")', text, re.M):
        out[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
    return out


def dnsrecords(srv: LocalServer) -> dict[str, bytes]:
    r = run_mox("config", "dnsrecords", "-dir", str(srv.dir), "localhost")
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return zone_records(r.stdout)


def dkimpy_verify(message: bytes, records: dict[str, bytes], idx: int = 0) -> bool:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        return records[name.decode()]

    try:
        return bool(dkimpy.DKIM(message).verify(idx=idx, dnsfunc=dnsfunc))
    except dkimpy.DKIMException:
        return False


def wait_inbox(srv: LocalServer, subject: bytes, timeout: float = 20) -> bytes:
    """The raw Inbox message of account mox whose Subject line contains ``subject``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        acc = srv.store.open_account("mox")
        try:
            mb = acc.mailbox("Inbox")
            assert mb is not None
            for m in acc.messages(mb.id):
                data = acc.read_message(m)
                head = data.split(b"\r\n\r\n", 1)[0]
                if re.search(rb"(?m)^Subject: [^\r\n]*" + re.escape(subject), head):
                    return data
        finally:
            acc.close()
        time.sleep(0.05)
    raise AssertionError(f"no message with subject {subject!r}")


def submit(srv: LocalServer, msg: bytes, rcpts: list[str], *, tls: bool = False) -> None:
    if tls:
        ctx = ssl.create_default_context(cafile=str(srv.dir / localserve.CERT_FILE))
        with smtplib.SMTP_SSL("127.0.0.1", srv.ports["submissions"], context=ctx) as c:
            c.login(srv.address, srv.password)
            c.sendmail(srv.address, rcpts, msg)
    else:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"]) as c:
            c.login(srv.address, srv.password)
            c.sendmail(srv.address, rcpts, msg)


def fields(message: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) of each header field, in order."""
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    out: list[tuple[str, str]] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t"):
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        else:
            n, _, v = line.partition(":")
            out.append((n, v.strip()))
    return out


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def server_rsa(tmp_path_factory: pytest.TempPathFactory):
    """A localserve whose domain localhost signs with its ed25519 key and an RSA key made with
    `mox dkim genrsa` (mox's config: selector "rsa", Sign lists both)."""
    d = tmp_path_factory.mktemp("rsa") / "ls"
    localserve.write_localserve_config(d)
    r = subprocess.run([*MOX, "dkim", "genrsa"], capture_output=True, env=mox_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    (d / "dkim.rsa.privatekey.pkcs8.pem").write_bytes(r.stdout)

    def add_rsa(conf: dict[str, Any]) -> None:
        dkim = conf["Domains"]["localhost"]["DKIM"]
        dkim["Selectors"]["rsa"] = {
            "PrivateKeyFile": "dkim.rsa.privatekey.pkcs8.pem",
            "Canonicalization": {"HeaderRelaxed": True, "BodyRelaxed": False},
        }
        dkim["Sign"] = ["localserve", "rsa"]

    mconfig.edit_file(d, mconfig.DOMAINS_CONF, add_rsa)
    with LocalServer(d) as srv:
        yield srv


def test_first_start_writes_ed25519_key(server: LocalServer) -> None:
    key = server.dir / localserve.DKIM_KEY_FILE
    pem = key.read_text(encoding="ascii")
    assert pem.startswith(
        "-----BEGIN PRIVATE KEY-----\nNote: ed25519 dkim private key for localserve._domainkey.localhost, generated by mox on "
    )
    if os.name != "nt":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    text = (server.dir / "domains.conf").read_text(encoding="utf-8")
    conf = msgspec.to_builtins(mconfig.read_domains(server.dir))
    assert conf["Domains"]["localhost"]["DKIM"] == {
        "Selectors": {
            "localserve": {
                "PrivateKeyFile": "dkim.localserve.privatekey.pkcs8.pem",
                "Hash": "",
                "Canonicalization": {"HeaderRelaxed": True, "BodyRelaxed": True},
                "Headers": [],
                "DontSealHeaders": False,
                "Expiration": "72h",
            }
        },
        "Sign": ["localserve"],
    }
    assert "\t\tDKIM:\n" in text and "\t\t\t\t\tPrivateKeyFile: dkim.localserve.privatekey.pkcs8.pem\n" in text
    records = dnsrecords(server)
    assert re.fullmatch(rb"v=DKIM1;h=sha256;k=ed25519;p=[A-Za-z0-9+/]{43}=", records["localserve._domainkey.localhost."])


def test_submission_signed_and_verified_by_dkimpy(server: LocalServer) -> None:
    submit(server, MSG, ["other@localhost"])
    got = wait_inbox(server, b"signed  please")
    records = dnsrecords(server)
    assert dkimpy_verify(got, records)
    # What arrives: mox's trace and authentication fields, in mox's order.
    names = [n for n, _ in fields(got)]
    assert names[:8] == [
        "Delivered-To", "Return-Path", "Authentication-Results", "Received-SPF", "Received",
        "Date",  # added by submission (RFC 6409 8.3), signed
        "DKIM-Signature", "Authentication-Results",
    ]
    f = dict(reversed(fields(got)))  # first occurrence wins
    sig_b = re.search(r"\bb=([A-Za-z0-9+/= ]+)", f["DKIM-Signature"].replace("; bh=", "; x=")).group(1).replace(" ", "")
    # RFC 8601 2.2: a value with "/" (a tspecial) is a quoted string.
    b = sig_b[:12] if "/" not in sig_b[:12] else f'"{sig_b[:12]}"'
    assert f["Authentication-Results"] == (
        "localhost; iprev=pass (without dnssec) policy.iprev=127.0.0.1; "
        "dkim=pass (without dnssec) header.d=localhost header.s=localserve "
        f"header.a=ed25519-sha256 header.b={b} header.i=mox@localhost; "
        "spf=pass (without dnssec) smtp.mailfrom=localhost; "
        "dmarc=none (without dnssec) header.from=localhost"
    )
    assert f["Received-SPF"] == (
        'pass (domain localhost) client-ip=127.0.0.1; envelope-from="mox@localhost"; helo=localhost; '
        'mechanism="ip4:127.0.0.1/8"; receiver=localhost; identity=mailfrom'
    )
    assert re.fullmatch(
        r"from localhost by localhost \(\[127\.0\.0\.1\]\) via tcp with ESMTPA id \S+ for <other@localhost>; "
        r"\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000",
        f["Received"],
    ), f["Received"]
    sig = f["DKIM-Signature"]
    assert sig.startswith("v=1; d=localhost; s=localserve; i=mox@localhost; a=ed25519-sha256; c=relaxed/relaxed; t=")
    assert "h=From:To:Cc:Bcc:Reply-To:References:In-Reply-To:Subject:Date:Message-Id:Content-Type:From:To:Subject:Date:Message-Id;" in sig.replace(": ", ":")
    t = int(re.search(r"t=(\d+);", sig).group(1))
    x = int(re.search(r"x=(\d+);", sig).group(1))
    assert x - t == 72 * 3600
    assert [v for n, v in fields(got) if n == "Authentication-Results"][1] == "localhost; auth=pass smtp.mailfrom=mox@localhost"


def test_submission_multiple_recipients_over_tls(server: LocalServer) -> None:
    msg = MSG.replace(b"signed  please", b"tls and two").replace(b"To: other@localhost", b"To: a@localhost, b@localhost")
    submit(server, msg, ["a@localhost", "b@localhost"], tls=True)
    got = wait_inbox(server, b"tls and two")
    assert dkimpy_verify(got, dnsrecords(server))
    received = [v for n, v in fields(got) if n == "Received"]
    # Two recipients: no "for" clause (the same queued message for both); implicit TLS named.
    assert re.fullmatch(
        r"from localhost by localhost \(\[127\.0\.0\.1\]\) via tcp with ESMTPSA id \S+ \(TLS1\.[23] [A-Z0-9_]+\); .*",
        received[0],
    ), received[0]


def webapi_send(srv: LocalServer, to: str, subject: str) -> None:
    req = {"To": [{"Address": to}], "Subject": subject, "Text": "Hello  from the webapi.\n"}
    body = urllib.parse.urlencode({"request": json.dumps(req)}).encode()
    auth = base64.b64encode(f"{srv.address}:{srv.password}".encode()).decode()
    r = urllib.request.Request(
        f"http://localhost:{srv.ports['http']}/webapi/v0/Send",
        data=body,
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(r, timeout=20) as resp:
        assert resp.status == 200


def test_webapi_send_signed_and_verified_by_dkimpy(server: LocalServer) -> None:
    webapi_send(server, "webapi@localhost", "from the webapi")
    got = wait_inbox(server, b"from the webapi")
    assert dkimpy_verify(got, dnsrecords(server))
    f = dict(reversed(fields(got)))
    assert re.fullmatch(r"from localhost by localhost id \S+ for <webapi@localhost>; .* \+0000", f["Received"]), f["Received"]
    assert "dkim=pass (without dnssec) header.d=localhost header.s=localserve" in f["Authentication-Results"]
    assert "i=mox@localhost;" in f["DKIM-Signature"]


def test_webmail_submit_signed_and_verified_by_dkimpy(server: LocalServer) -> None:
    from tests.web.conftest import Client

    c = Client(server.ports["http"])
    try:
        r = c.post("/webmail/login", json_body={"username": server.address, "password": server.password})
        assert r.status == 200, r.body
        r = c.post(
            "/webmail/api/Submit",
            form={"to": "webmail@localhost", "subject": "from webmail", "body": "Hello  from webmail.\n"},
            headers={"x-mox-csrf": r.json()["csrf"]},
        )
        assert r.status == 200, r.body
    finally:
        c.close()
    got = wait_inbox(server, b"from webmail")
    assert dkimpy_verify(got, dnsrecords(server))
    assert re.fullmatch(r"from localhost by localhost id \S+ for <webmail@localhost>; .* \+0000", dict(reversed(fields(got)))["Received"])


def test_sendmail_signed_and_verified_by_dkimpy(server: LocalServer, tmp_path: Path) -> None:
    conf = tmp_path / "moxsubmit.conf"
    conf.write_text(
        f"Host: 127.0.0.1\nPort: {server.ports['submission']}\nUsername: {server.address}\n"
        f"Password: {server.password}\nFrom: {server.address}\n",
        encoding="utf-8",
    )
    r = subprocess.run(
        [*MOX, "sendmail", "-config", str(conf), "sendmail@localhost"],
        input=b"Subject: from sendmail\n\nHello  from sendmail.\n", capture_output=True, env=mox_env(), timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert dkimpy_verify(wait_inbox(server, b"from sendmail"), dnsrecords(server))


def test_rsa_and_ed25519_verified_by_dkimpy(server_rsa: LocalServer) -> None:
    submit(server_rsa, MSG.replace(b"signed  please", b"two keys"), ["other@localhost"])
    got = wait_inbox(server_rsa, b"two keys")
    records = dnsrecords(server_rsa)
    assert {n for n in records if "._domainkey." in n} == {"localserve._domainkey.localhost.", "rsa._domainkey.localhost."}
    assert records["rsa._domainkey.localhost."].startswith(b"v=DKIM1;h=sha256;p=MIIBIjAN")
    sigs = [v for n, v in fields(got) if n == "DKIM-Signature"]
    assert [re.search(r"a=([a-z0-9-]+);", s).group(1) for s in sigs] == ["ed25519-sha256", "rsa-sha256"]
    assert "c=relaxed/simple;" in sigs[1]
    assert dkimpy_verify(got, records, 0) and dkimpy_verify(got, records, 1)
    ar = dict(reversed(fields(got)))["Authentication-Results"]
    assert "dkim=pass (2048 bit rsa, without dnssec) header.d=localhost header.s=rsa header.a=rsa-sha256" in ar
    # The webapi's Send is signed with both keys too.
    webapi_send(server_rsa, "webapi@localhost", "two keys by webapi")
    got = wait_inbox(server_rsa, b"two keys by webapi")
    assert dkimpy_verify(got, records, 0) and dkimpy_verify(got, records, 1)
    # The RSA record is longer than 100 characters: mox's NOTE and parenthesized strings.
    out = run_mox("config", "dnsrecords", "-dir", str(server_rsa.dir), "localhost").stdout
    assert "; NOTE: The following is a single long record split over several lines for use\n" in out
    assert re.search(r'\nrsa\._domainkey\.localhost\.   TXT \(\n \t\t"v=DKIM1;h=sha256;p=[^"]{81}"\n( \t\t"[^"]{1,100}"\n)+\t\)\n', out)


def _smtp_deliver(srv: LocalServer, msg: bytes, rcpt: str, mail_from: str = "sender@example.org") -> None:
    with smtplib.SMTP("127.0.0.1", srv.ports["smtp"]) as c:
        c.ehlo("client.example")
        c.sendmail(mail_from, [rcpt], msg)


def test_port25_checks_local_keys(server: LocalServer, tmp_path: Path) -> None:
    # Signed with the localserve key by `mox dkim sign` (no submission): dkim=pass.
    (tmp_path / "m.eml").write_bytes(MSG.replace(b"signed  please", b"cli signed").replace(b"<s1@", b"<s2@"))
    r = subprocess.run([*MOX, "dkim", "sign", "-dir", str(server.dir), str(tmp_path / "m.eml")], capture_output=True, env=mox_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    _smtp_deliver(server, r.stdout, "incoming@localhost", mail_from="mox@localhost")
    ar = dict(reversed(fields(wait_inbox(server, b"cli signed"))))["Authentication-Results"]
    assert "dkim=pass (without dnssec) header.d=localhost header.s=localserve header.a=ed25519-sha256" in ar
    assert "spf=pass (without dnssec) smtp.mailfrom=localhost" in ar
    # The same, changed in transit: dkim=fail with the reason.
    _smtp_deliver(server, r.stdout.replace(b"cli signed", b"cli changed"), "incoming@localhost", mail_from="mox@localhost")
    ar = dict(reversed(fields(wait_inbox(server, b"cli changed"))))["Authentication-Results"]
    assert 'dkim=fail (without dnssec) reason="dkim: signature verification failed: ed25519 verification"' in ar
    # Unsigned, from elsewhere: dkim=none; spf/dmarc none (no DNS in localserve).
    _smtp_deliver(server, b"From: <sender@example.org>\r\nSubject: unsigned\r\n\r\nhi\r\n", "incoming@localhost")
    got = wait_inbox(server, b"unsigned")
    f = dict(reversed(fields(got)))
    assert f["Authentication-Results"] == (
        "localhost; iprev=pass (without dnssec) policy.iprev=127.0.0.1; "
        'dkim=none reason="no dkim signatures"; '
        "spf=none (without dnssec) smtp.mailfrom=example.org; "
        "dmarc=none (without dnssec) header.from=example.org"
    )
    assert f["Received-SPF"] == (
        'none (domain example.org) client-ip=127.0.0.1; envelope-from="sender@example.org"; helo=client.example; '
        'problem="spf: lookup of dns record: example.org.: no dns in localserve"; receiver=localhost; identity=mailfrom'
    )
    assert re.fullmatch(
        r"from client\.example \(localhost \[127\.0\.0\.1\]\) by localhost \(\[127\.0\.0\.1\]\) via tcp with ESMTP id \S+ "
        r"for <incoming@localhost>; .* \+0000",
        f["Received"],
    ), f["Received"]
    assert got.startswith(b"Delivered-To: incoming@localhost\r\nReturn-Path: <sender@example.org>\r\n")
    # Signed by a domain whose key is not local: no DNS to look it up, temperror.
    foreign = dkimpy.sign(
        b"From: <a@example.org>\r\nSubject: foreign\r\n\r\nhi\r\n", b"sel", b"example.org",
        base64.b64encode(bytes(range(32))), signature_algorithm=b"ed25519-sha256", include_headers=[b"from", b"subject"],
    )
    _smtp_deliver(server, foreign + b"From: <a@example.org>\r\nSubject: foreign\r\n\r\nhi\r\n", "incoming@localhost", "a@example.org")
    ar = dict(reversed(fields(wait_inbox(server, b"foreign"))))["Authentication-Results"]
    assert re.search(
        r'dkim=temperror \(without dnssec\) reason="dkim: lookup of dkim dns record: sel\._domainkey\.example\.org\.: no dns in localserve" '
        r'header\.d=example\.org header\.s=sel header\.a=ed25519-sha256 header\.b=("[^"]{12}"|[^"\s]{12}) header\.i=@example\.org;',
        ar,
    ), ar


def test_old_config_gets_a_key(tmp_path: Path) -> None:
    """A localserve dir written before DKIM signing gets its key and selector at the next start."""
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    (d / localserve.DKIM_KEY_FILE).unlink()
    mconfig.edit_file(d, mconfig.DOMAINS_CONF, lambda conf: conf["Domains"]["localhost"].pop("DKIM"))
    config, new = localserve.prepare(d)
    assert not new
    assert config.domains["localhost"].dkim.sign == ["localserve"]
    assert (d / localserve.DKIM_KEY_FILE).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\nNote: ed25519 dkim")
    before = (d / "domains.conf").read_bytes()
    localserve.prepare(d)  # once only
    assert (d / "domains.conf").read_bytes() == before


def test_broken_key_stops_startup(tmp_path: Path) -> None:
    d = tmp_path / "ls"
    localserve.write_localserve_config(d)
    (d / localserve.DKIM_KEY_FILE).write_text("not a key\n", encoding="ascii")
    r = run_mox("localserve", "-dir", str(d), "-port-base", "0")
    assert r.returncode == 1
    assert "domains.conf: domain localhost: selector localserve: decoding pem: no pem block found" in r.stderr
    text = (d / "domains.conf").read_text(encoding="utf-8")
    (d / "domains.conf").write_text(text.replace("\t\t\t\t- localserve\n", "\t\t\t\t- nosuch\n"), encoding="utf-8")
    r = run_mox("localserve", "-dir", str(d), "-port-base", "0")
    assert r.returncode == 1 and "unknown selector nosuch for signing" in r.stderr
