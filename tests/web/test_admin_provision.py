"""The admin page's account methods behave as the CLI's commands: the same sequence of changes,
through `mox config account/address add/rm` and `mox setaccountpassword` on one server and
through the admin API on another, gets the same answers (the same refusal texts) and leaves the
same domains.conf and the same working logins."""

from __future__ import annotations

import imaplib
from typing import Any

import msgspec

from mox import config as mconfig
from mox import localserve
from mox.localserve import ADMIN_PASSWORD
from mox.testing import LocalServer
from tests.conftest import run_mox
from tests.web.conftest import Client

# (CLI words, CLI arguments, password on stdin, admin method, its JSON object)
STEPS: list[tuple[tuple[str, ...], tuple[str, ...], str | None, str, dict[str, Any]]] = [
    (("config", "account", "add"), ("alice", "alice@localhost"), None, "AccountAdd", {"account": "alice", "address": "alice@localhost"}),
    (("config", "account", "add"), ("alice", "other@localhost"), None, "AccountAdd", {"account": "alice", "address": "other@localhost"}),
    (("config", "account", "add"), ("bob", "ALICE+tag@localhost"), None, "AccountAdd", {"account": "bob", "address": "ALICE+tag@localhost"}),
    (("config", "account", "add"), ("bob", "bob@example.org"), None, "AccountAdd", {"account": "bob", "address": "bob@example.org"}),
    (("config", "account", "add"), ("bob", "bob"), None, "AccountAdd", {"account": "bob", "address": "bob"}),
    (("config", "account", "add"), ("a:b", "ab@localhost"), None, "AccountAdd", {"account": "a:b", "address": "ab@localhost"}),
    (("config", "account", "add"), (" bob", "bob@localhost"), None, "AccountAdd", {"account": " bob", "address": "bob@localhost"}),
    (("config", "address", "add"), ("alice2@LOCALHOST", "alice"), None, "AddressAdd", {"address": "alice2@LOCALHOST", "account": "alice"}),
    (("config", "address", "add"), ("x@localhost", "nobody"), None, "AddressAdd", {"address": "x@localhost", "account": "nobody"}),
    (("config", "address", "add"), ("mox@localhost", "alice"), None, "AddressAdd", {"address": "mox@localhost", "account": "alice"}),
    (("setaccountpassword",), ("alice",), "short", "SetPassword", {"account": "alice", "password": "short"}),
    (("setaccountpassword",), ("nobody",), "long enough password", "SetPassword", {"account": "nobody", "password": "long enough password"}),
    (("setaccountpassword",), ("alice",), "alice pass\u00a0word", "SetPassword", {"account": "alice", "password": "alice pass\u00a0word"}),
    (("config", "address", "rm"), ("alice2@localhost",), None, "AddressRemove", {"address": "alice2@localhost"}),
    (("config", "address", "rm"), ("alice@localhost",), None, "AddressRemove", {"address": "alice@localhost"}),
    (("config", "address", "rm"), ("nobody@localhost",), None, "AddressRemove", {"address": "nobody@localhost"}),
    (("config", "account", "rm"), ("nobody",), None, "AccountRemove", {"account": "nobody"}),
    # An account's quota and send limits survive changes of its addresses.
    (("config", "address", "add"), ("mox2@localhost", "mox"), None, "AddressAdd", {"address": "mox2@localhost", "account": "mox"}),
    (("config", "address", "rm"), ("mox2@localhost",), None, "AddressRemove", {"address": "mox2@localhost"}),
]

LIMITS = {"QuotaMessageSize": 1 << 30, "MaxOutgoingMessagesPerDay": 3, "MaxFirstTimeRecipientsPerDay": 2}


def cli(srv: LocalServer, words: tuple[str, ...], args: tuple[str, ...], stdin: str | None) -> str | None:
    """None when the command succeeded, else its error text."""
    r = run_mox(*words, "-dir", str(srv.dir), *args, input=None if stdin is None else stdin + "\n")
    if r.returncode == 0:
        assert r.stderr == ""
        return None
    assert (r.returncode, r.stdout) == (1, "") and r.stderr.startswith("mox: "), r
    return r.stderr.removeprefix("mox: ").rstrip("\n")


def admin(c: Client, csrf: str, method: str, obj: dict[str, Any]) -> str | None:
    r = c.post(f"/admin/api/{method}", json_body=obj, headers={"x-mox-csrf": csrf})
    if r.status == 200:
        return None
    body = r.json()
    assert r.status in (400, 404, 409) and body["code"].startswith("user:"), (r.status, body)
    return str(body["message"])


def accounts(srv: LocalServer) -> dict[str, Any]:
    """domains.conf's Accounts, with mox's field names."""
    return dict(msgspec.to_builtins(mconfig.read_domains(srv.dir))["Accounts"])


def imap_login(srv: LocalServer, address: str, password: str) -> bool:
    c = imaplib.IMAP4("127.0.0.1", srv.ports["imap"])
    try:
        c.login(address, password)
    except imaplib.IMAP4.error:
        return False
    c.logout()
    return True


def prepare(d: Any) -> Any:
    """A localserve data dir whose account mox has a quota and send limits."""
    localserve.prepare(d, port_base=0)
    mconfig.edit_file(d, mconfig.DOMAINS_CONF, lambda x: x["Accounts"]["mox"].update(LIMITS))
    return d


def test_admin_api_behaves_as_the_cli(tmp_path: Any) -> None:
    with LocalServer(prepare(tmp_path / "cli")) as by_cli, LocalServer(prepare(tmp_path / "web")) as by_web:
        c = Client(by_web.ports["http"])
        try:
            r = c.post("/admin/login", json_body={"password": ADMIN_PASSWORD})
            assert r.status == 200
            csrf = r.json()["csrf"]
            outcomes = []
            for words, args, stdin, method, obj in STEPS:
                got_cli = cli(by_cli, words, args, stdin)
                got_web = admin(c, csrf, method, obj)
                assert got_web == got_cli, (words, args)
                assert accounts(by_web) == accounts(by_cli), (words, args)
                outcomes.append(got_cli is None)
            # The sequence tried both successes and refusals.
            assert outcomes.count(True) == 6 and outcomes.count(False) == len(STEPS) - 6
            assert list(accounts(by_cli)["alice"]["Destinations"]) == ["alice@localhost"]
            mox_account = accounts(by_cli)["mox"]
            assert list(mox_account["Destinations"]) == ["mox@localhost"]
            assert {k: mox_account.get(k) for k in LIMITS} == LIMITS
            for srv in (by_cli, by_web):
                assert imap_login(srv, "alice@localhost", "alice pass word")  # PRECIS: the same password
                assert not imap_login(srv, "alice@localhost", "short")
            # Removing the account: both log it out of IMAP the same way, and keep its data.
            assert cli(by_cli, ("config", "account", "rm"), ("alice",), None) is None
            assert admin(c, csrf, "AccountRemove", {"account": "alice"}) is None
            assert accounts(by_web) == accounts(by_cli) and "alice" not in accounts(by_web)
            for srv in (by_cli, by_web):
                assert not imap_login(srv, "alice@localhost", "alice pass word")
                assert (srv.dir / "accounts" / "alice").is_dir()
            # The last account stays.
            last_cli = cli(by_cli, ("config", "account", "rm"), ("mox",), None)
            assert last_cli == "cannot remove the last account"
            assert admin(c, csrf, "AccountRemove", {"account": "mox"}) == last_cli
        finally:
            c.close()
