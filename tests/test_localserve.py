"""`mox localserve` end to end, started the way the README says, talked to with stdlib clients."""

from __future__ import annotations

import imaplib
import json
import signal
import smtplib
import socket
import ssl
import sys
import time

import pytest

from mox.testing import LocalServer

MESSAGE = (
    b"From: mox@localhost\r\n"
    b"To: mox@localhost\r\n"
    b"Subject: round trip \xc3\xa9\r\n"
    b"Message-ID: <roundtrip-1@localhost>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hello from the localserve test, caf\xc3\xa9.\r\n"
    b".leading dot survives\r\n"
)


def fetch_all(imap: imaplib.IMAP4, want: int, timeout: float = 30) -> list[bytes]:
    """Wait (the queue delivers asynchronously) until Inbox has `want` messages; their bytes."""
    deadline = time.monotonic() + timeout
    while True:
        typ, data = imap.select("Inbox")
        assert typ == "OK", data
        n = int(data[0])
        if n >= want or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert n == want, f"{n} messages in Inbox, expected {want}"
    out = []
    for i in range(1, n + 1):
        typ, data = imap.fetch(str(i), "(BODY.PEEK[])")
        assert typ == "OK", data
        out.append(data[0][1])
    return out


def submit(port: int, message: bytes, rcpt: str = "mox@localhost", tls: ssl.SSLContext | None = None) -> None:
    if tls is not None:
        c = smtplib.SMTP_SSL("127.0.0.1", port, context=tls, timeout=30)
    else:
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    with c:
        c.ehlo("localhost")
        c.login("mox@localhost", "moxmoxmox")  # AUTH PLAIN: allowed without TLS in localserve
        assert c.sendmail("mox@localhost", [rcpt], message, mail_options=["BODY=8BITMIME"]) == {}


def client_tls(d) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(d / "localhost.crt"))
    return ctx


def test_localserve_roundtrip(tmp_path, mox_process):
    d = tmp_path / "d"
    p = mox_process("localserve", "-dir", str(d), "-port-base", "0")
    info = p.wait_ready()
    assert set(info) == {"smtp", "submission", "submissions", "imap", "imaps", "http", "https", "metrics", "dir", "pid"}
    assert info["dir"] == str(d) and info["pid"] == p.proc.pid
    log = p.log()
    assert f"mox: ready {json.dumps(info)}\n" in log
    # Banner: real ports, truthful lines.
    assert "the default user is mox@localhost, with password moxmoxmox\n" in log
    assert f"smtp://mox%40localhost:moxmoxmox@localhost:{info['submission']} - send email (without tls)\n" in log
    assert f"imaps://mox%40localhost:moxmoxmox@localhost:{info['imaps']} - read email\n" in log
    assert f" smtp://localhost:{info['smtp']}" in log
    assert f"tls uses generated self-signed certificate {d / 'localhost.crt'}\n" in log
    assert f"serving from newly created config dir {d}" in log

    submit(info["submission"], MESSAGE)
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        [got] = fetch_all(imap, 1)
    # The server prepends trace headers (Received); what we sent follows byte for byte.
    assert got.endswith(MESSAGE), got
    assert b"Received: from " in got[: -len(MESSAGE)]

    # Over TLS: submissions in, IMAPS out, verifying the generated certificate for "localhost".
    tls = client_tls(d)
    second = MESSAGE.replace(b"roundtrip-1", b"roundtrip-2")
    submit(info["submissions"], second, tls=tls)
    with imaplib.IMAP4_SSL("localhost", info["imaps"], ssl_context=tls, timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        msgs = fetch_all(imap, 2)
    assert msgs[1].endswith(second)

    # Graceful shutdown with a connection still open: it gets a BYE or is closed after the
    # grace period, and mox exits 0.
    idle = socket.create_connection(("127.0.0.1", info["imap"]), timeout=30)
    assert idle.recv(1000).startswith(b"* OK ")
    p.terminate()
    rest = b""
    while data := idle.recv(1000):
        rest += data
    idle.close()
    assert rest in (b"", b"* BYE mox shutting down\r\n"), rest
    assert p.wait() == 0
    log = p.log()
    assert "print: shutting down, waiting max 3s for existing connections; pkg=serve\n" in log
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", info["imap"]), timeout=5)
    assert "Traceback" not in log

    # Restart on the same dir: existing config, mail still there.
    p2 = mox_process("localserve", "-dir", str(d), "-port-base", "0")
    info2 = p2.wait_ready()
    assert f"serving from existing config dir {d}" in p2.log()
    with imaplib.IMAP4("127.0.0.1", info2["imap"], timeout=30) as imap:
        imap.login("mox+anything@localhost", "moxmoxmox")
        assert [m.endswith(x) for m, x in zip(fetch_all(imap, 2), [MESSAGE, second])] == [True, True]
    p2.terminate()
    assert p2.wait() == 0


def test_ephemeral_and_no_passwords_in_trace(tmp_path, mox_process):
    p = mox_process("-loglevel", "trace", "localserve", "-ephemeral", "-port-base", "0")
    info = p.wait_ready()
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        imap.logout()
    with smtplib.SMTP("127.0.0.1", info["submission"], timeout=30) as c:
        c.login("mox@localhost", "moxmoxmox")
    if sys.platform == "win32":
        p.terminate()
    else:
        p.proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert p.wait() == 0
    from pathlib import Path

    assert not Path(info["dir"]).exists()  # ephemeral dir removed
    trace = [line for line in p.log().splitlines() if line.startswith("trace: ")]
    assert any(" C: " in line or " RC: " in line for line in trace)
    import base64

    plain = base64.b64encode(b"\0mox@localhost\0moxmoxmox").decode()
    assert not [line for line in trace if "moxmoxmox" in line or plain in line]


def test_localserver_class():
    with LocalServer() as srv:
        assert srv.address == "mox@localhost" and srv.password == "moxmoxmox"
        assert srv.store is not None and srv.dir.is_dir()
        submit(srv.ports["submission"], MESSAGE, rcpt="someone-else@example.org")
        with imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30) as imap:
            imap.login(srv.address, srv.password)
            [got] = fetch_all(imap, 1)
        assert got.endswith(MESSAGE)
        d = srv.dir
    assert not d.exists()


@pytest.mark.parametrize("rcpt,code", [("x-permerror@localhost", 550), ("rcptto451@localhost", 451)])
def test_special_localparts(rcpt, code):
    with LocalServer() as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["smtp"], timeout=30) as c:
            c.ehlo("localhost")
            with pytest.raises(smtplib.SMTPRecipientsRefused if rcpt.startswith("rcptto") else smtplib.SMTPDataError) as e:
                c.sendmail("sender@example.org", [rcpt], MESSAGE, mail_options=["BODY=8BITMIME"])
        err = e.value.recipients[rcpt] if isinstance(e.value, smtplib.SMTPRecipientsRefused) else (e.value.smtp_code, e.value.smtp_error)
        assert err[0] == code


def test_queue_prefix_fails_in_queue_with_dsn():
    # The banner's promise: a "queue..." local part is accepted, then fails in the queue, and
    # a delivery failure notice comes back to the sender.
    msg = b"From: mox@localhost\r\nTo: queue550@localhost\r\nSubject: to the queue\r\nMessage-ID: <q1@localhost>\r\n\r\nhi\r\n"
    with LocalServer() as srv:
        with smtplib.SMTP("127.0.0.1", srv.ports["submission"], timeout=30) as c:
            c.login(srv.address, srv.password)
            assert c.sendmail("mox@localhost", ["queue550@localhost"], msg) == {}
        with imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30) as imap:
            imap.login(srv.address, srv.password)
            [dsn] = fetch_all(imap, 1)
    headers = dsn.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nSubject: mail delivery failed\r\n" in headers
    assert b"<q1@localhost>" in dsn  # the original (or its headers) is referenced


def _host_has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _host_has_ipv6_loopback(), reason="this host has no ::1")
def test_listens_on_ipv6_loopback_too(mox_process):
    # localserve listens on 127.0.0.1 and ::1, the same port on both.
    p = mox_process("localserve", "-ephemeral", "-port-base", "0")
    info = p.wait_ready()
    with smtplib.SMTP("::1", info["submission"], timeout=30) as c:
        c.ehlo("localhost")
        c.login("mox@localhost", "moxmoxmox")
        assert c.sendmail("mox@localhost", ["v6@example.org"], MESSAGE, mail_options=["BODY=8BITMIME"]) == {}
    with imaplib.IMAP4("::1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        [got] = fetch_all(imap, 1)
    assert got.endswith(MESSAGE)
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        assert fetch_all(imap, 1) == [got]
    p.terminate()
    assert p.wait() == 0


def test_readme_first_command_runs_the_console_script(tmp_path, mox_process, monkeypatch):
    # The README's first command ends in `.venv/bin/mox localserve`: the installed console script,
    # with the default config dir (here under a throwaway home). Only `-port-base 0` is added, so
    # that runs in parallel never collide on 1587/1143.
    from pathlib import Path

    from mox import config as mconfig

    script = Path(sys.executable).with_name("mox.exe" if sys.platform == "win32" else "mox")
    assert script.is_file(), f"no console script next to {sys.executable}"
    home = tmp_path / "home"
    for var in ("XDG_CONFIG_HOME", "HOME", "APPDATA", "USERPROFILE"):
        monkeypatch.setenv(var, str(home))
    want_dir = mconfig.default_localserve_dir()
    if sys.platform not in ("win32", "darwin"):
        assert want_dir == home / "mox-localserve"
    p = mox_process("localserve", "-port-base", "0", cmd=[str(script)])
    info = p.wait_ready()
    assert info["dir"] == str(want_dir)
    assert f"config created in {want_dir}" in p.log()
    submit(info["submission"], MESSAGE)
    with imaplib.IMAP4("127.0.0.1", info["imap"], timeout=30) as imap:
        imap.login("mox@localhost", "moxmoxmox")
        [got] = fetch_all(imap, 1)
    assert got.endswith(MESSAGE)
    p.terminate()
    assert p.wait() == 0
    assert (want_dir / "localhost.crt").is_file()  # not ephemeral: the config stays


def test_published_passwords_are_hashed_cheaply_and_new_ones_fully():
    """localserve's default passwords are printed at every start: their scrypt cost is the
    cheap one for published passwords; a password set later gets the full cost."""
    from mox.auth import password as pwmod

    from .conftest import run_mox

    def account_cost(srv: LocalServer) -> int:
        acc = srv.store.open_account("mox")
        try:
            return acc._password.scrypt_n
        finally:
            acc.close()

    def admin_cost(srv: LocalServer) -> int:
        return int((srv.dir / "adminpasswd").read_text(encoding="ascii").split("$")[1])

    with LocalServer() as srv:
        assert account_cost(srv) == admin_cost(srv) == pwmod.PUBLISHED_SCRYPT_N < pwmod.SCRYPT_N
        with imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30) as imap:
            assert imap.login(srv.address, srv.password)[0] == "OK"
        r = run_mox("setaccountpassword", "-dir", str(srv.dir), "mox", input="a password of my own\n")
        assert r.returncode == 0, r.stderr
        r = run_mox("setadminpassword", "-dir", str(srv.dir), input="an admin password of my own\n")
        assert r.returncode == 0, r.stderr
        assert account_cost(srv) == admin_cost(srv) == pwmod.SCRYPT_N
        with imaplib.IMAP4("127.0.0.1", srv.ports["imap"], timeout=30) as imap:
            assert imap.login(srv.address, "a password of my own")[0] == "OK"
