"""`mox setaccountpassword`, `mox setadminpassword`, `mox config account add/rm` and
`mox config address add/rm` against a running mox (mox ``main.go``), and their clear errors."""

from __future__ import annotations

import imaplib
import json

import pytest

from mox.auth.password import check_password_line
from mox.testing import LocalServer

from ..conftest import run_mox


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        yield srv


def mox(srv, *args, input=None):
    """Run `mox <args>` with -dir of srv inserted after the command words."""
    words = [a for a in args if not a.startswith("=")]
    n = 3 if args[0] == "config" else 1
    return run_mox(*words[:n], "-dir", str(srv.dir), *words[n:], input=input)


def imap_login(srv, address, password) -> str:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        typ, _ = c.login(address, password)
        c.logout()
        return typ
    except imaplib.IMAP4.error as e:
        return str(e)


def domains_conf(srv) -> dict:
    import msgspec

    from mox.config import read_domains

    return msgspec.to_builtins(read_domains(srv.dir))


def test_account_lifecycle(server):
    r = mox(server, "config", "account", "add", "alice", "alice@localhost")
    assert (r.returncode, r.stdout, r.stderr) == (0, 'account added, set a password with "mox setaccountpassword alice"\n', "")
    assert list(domains_conf(server)["Accounts"]["alice"]["Destinations"]) == ["alice@localhost"]
    assert server.ctx.auth.account_for_address("Alice@LOCALHOST") == "alice"

    r = mox(server, "setaccountpassword", "alice", input="alice password that is longer than sixty-four bytes, as mox reads more now\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    pw = "alice password that is longer than sixty-four bytes, as mox reads more now"
    assert imap_login(server, "alice@localhost", pw) == "OK"
    assert "AUTHENTICATIONFAILED" in imap_login(server, "alice@localhost", "wrong password")

    r = mox(server, "config", "address", "add", "alice2@localhost", "alice")
    assert (r.returncode, r.stdout, r.stderr) == (0, "address added\n", "")
    assert sorted(domains_conf(server)["Accounts"]["alice"]["Destinations"]) == ["alice2@localhost", "alice@localhost"]
    assert imap_login(server, "alice2@localhost", pw) == "OK"

    r = mox(server, "config", "address", "rm", "alice2@localhost")
    assert (r.returncode, r.stdout, r.stderr) == (0, "address removed\n", "")
    assert list(domains_conf(server)["Accounts"]["alice"]["Destinations"]) == ["alice@localhost"]
    assert "AUTHENTICATIONFAILED" in imap_login(server, "alice2@localhost", pw)

    r = mox(server, "config", "account", "rm", "alice")
    assert (r.returncode, r.stdout, r.stderr) == (0, "account removed\n", "")
    assert "alice" not in domains_conf(server)["Accounts"]
    assert "AUTHENTICATIONFAILED" in imap_login(server, "alice@localhost", pw)
    assert (server.dir / "accounts" / "alice").is_dir()  # message data is kept


@pytest.mark.parametrize(
    "args, error",
    [
        (("config", "account", "add", "mox", "new@localhost"), "account 'mox' already exists"),
        (("config", "account", "add", "bob", "mox@localhost"), "address 'mox@localhost' already in use by account 'mox'"),
        (("config", "account", "add", "bob", "MOX+tag@localhost"), "address 'MOX+tag@localhost' already in use by account 'mox'"),
        (("config", "account", "add", "bob", "bob@example.org"),
         "domain 'example.org' of address 'bob@example.org' is not configured (configured: localhost)"),
        (("config", "account", "add", "bob", "bob"), "invalid address 'bob': need localpart@domain"),
        (("config", "account", "add", "a/b", "bob@localhost"), "invalid account name 'a/b': path separator in name"),
        (("config", "account", "add", "CON", "bob@localhost"),
         "invalid account name 'CON': 'CON' is a reserved device name (windows)"),
        (("config", "account", "add", "nul.txt", "bob@localhost"),
         "invalid account name 'nul.txt': 'nul.txt' is a reserved device name (windows)"),
        (("config", "account", "add", "a:b", "bob@localhost"),
         "invalid account name 'a:b': character ':' not allowed in file names (windows)"),
        (("config", "account", "rm", "nobody"), "unknown account 'nobody'"),
        (("config", "account", "rm", "mox"), "cannot remove the last account"),
        (("config", "address", "add", "x@localhost", "nobody"), "unknown account 'nobody'"),
        (("config", "address", "add", "mox@localhost", "mox"), "address 'mox@localhost' already in use by account 'mox'"),
        (("config", "address", "rm", "nobody@localhost"), "unknown address 'nobody@localhost'"),
        (("config", "address", "rm", "mox@localhost"),
         "address 'mox@localhost' is the last address of account 'mox'; remove the account instead"),
    ],
)
def test_config_errors(server, args, error):
    before = (server.dir / "domains.conf").read_bytes()
    r = mox(server, *args)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: {error}\n")
    assert (server.dir / "domains.conf").read_bytes() == before


@pytest.mark.parametrize(
    "account, password, error",
    [
        ("nobody", "long enough password", "unknown account 'nobody'"),
        ("mox", "short", "password must be at least 8 bytes long (utf-8, after normalisation)"),
        ("mox", "", "empty password"),
    ],
)
def test_setaccountpassword_errors(server, account, password, error):
    r = mox(server, "setaccountpassword", account, input=password + "\n")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", f"mox: {error}\n")
    assert imap_login(server, LocalServer.address, LocalServer.password) == "OK"


def test_setaccountpassword_precis(tmp_path):
    with LocalServer() as srv:
        # NFD "é" and a no-break space: the password is stored PRECIS-prepared (NFC, spaces mapped).
        r = mox(srv, "setaccountpassword", "mox", input="ne\u0301w\u00a0password\r\n")
        assert (r.returncode, r.stderr) == (0, "")
        c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
        typ, _ = c.authenticate("PLAIN", lambda _: "\0mox@localhost\0n\u00e9w password".encode("utf-8"))
        assert typ == "OK"
        c.logout()
        assert "AUTHENTICATIONFAILED" in imap_login(srv, "mox@localhost", LocalServer.password)


def test_setadminpassword(tmp_path):
    with LocalServer() as srv:
        r = run_mox("setadminpassword", "-dir", str(srv.dir), input="new admin password\n")
        assert (r.returncode, r.stdout, r.stderr) == (0, "admin password changed\n", "")
        stored = (srv.dir / "adminpasswd").read_text(encoding="utf-8")
        assert stored.startswith("scrypt$")  # the accounts' scheme
        assert check_password_line(stored, "new admin password") == (True, False)
        assert check_password_line(stored, "new\u00a0admin password").ok  # PRECIS: the same password
        assert not check_password_line(stored, "moxadmin").ok
        assert "new admin password" not in stored

        r = run_mox("setadminpassword", "-dir", str(srv.dir), input="short\n")
        assert (r.returncode, r.stdout, r.stderr) == (1, "", "mox: password must be at least 8 bytes long (utf-8, after normalisation)\n")
        assert (srv.dir / "adminpasswd").read_text(encoding="utf-8") == stored

    # conf mode: no running server needed, but a config.
    r = run_mox("setadminpassword", "-dir", str(tmp_path), input="new admin password\n")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: {tmp_path / 'mox.conf'}: file not found\n"


@pytest.mark.parametrize(
    "args",
    [
        ("setaccountpassword", "mox"),
        ("config", "account", "add", "bob", "bob@localhost"),
        ("config", "account", "rm", "bob"),
        ("config", "address", "add", "bob@localhost", "mox"),
        ("config", "address", "rm", "bob@localhost"),
    ],
)
def test_not_running(tmp_path, args):
    n = 3 if args[0] == "config" else 1
    r = run_mox(*args[:n], "-dir", str(tmp_path), *args[n:], input="long enough password\n")
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == f"mox: mox is not running (no control channel at {tmp_path / 'ctl'})\n"


@pytest.mark.parametrize(
    "args, usage, text",
    [
        (("setaccountpassword",), "Usage: mox setaccountpassword [OPTIONS] ACCOUNT", "at least 8 bytes"),
        (("setadminpassword",), "Usage: mox setadminpassword [OPTIONS]", "admin password"),
        (("config", "account", "add"), "Usage: mox config account add [OPTIONS] ACCOUNT ADDRESS", "first email ADDRESS"),
        (("config", "account", "rm"), "Usage: mox config account rm [OPTIONS] ACCOUNT", "stay in the data dir"),
        (("config", "address", "add"), "Usage: mox config address add [OPTIONS] ADDRESS ACCOUNT", "to ACCOUNT"),
        (("config", "address", "rm"), "Usage: mox config address rm [OPTIONS] ADDRESS", "keeps at least one"),
    ],
)
def test_help(args, usage, text):
    r = run_mox(*args, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(usage + "\n")
    assert text in r.stdout
    assert "-dir" in r.stdout
