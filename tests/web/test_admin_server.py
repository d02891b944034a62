"""The admin page's queue hold rules, queue entries' next attempt and transport, the running
config with secrets hidden, log levels and the connection log lookup, against a running
localserve."""

from __future__ import annotations

import imaplib
import re
import smtplib
import uuid
from pathlib import Path
from typing import Any

import msgspec

from mox import config as cfgmod
from mox.testing import LocalServer
from tests.web.conftest import Client
from tests.web.test_account_admin import ADMIN_PASSWORD, call, login
from tests.web.test_admin_accounts import submit_held


def admin(client: Any) -> tuple[Any, str]:
    c = client()
    return c, login(c, "admin", "", ADMIN_PASSWORD)


def delivered_received_id(server: Any, subject: str) -> str:
    """Deliver a message over SMTP to mox@localhost; the id of the Received header field mox
    added (the SMTP connection's cid)."""
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("remote@example.org", ["mox@localhost"], f"Subject: {subject}\r\n\r\nx\r\n".encode())
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login("mox@localhost", "moxmoxmox")
        im.select("Inbox", readonly=True)
        _, found = im.uid("search", None, "SUBJECT", f'"{subject}"')
        _, data = im.uid("fetch", found[0].split()[-1], "(BODY.PEEK[HEADER])")
    m = re.search(rb"Received: from .*? id ([0-9a-z]+)", data[0][1], re.S)
    assert m is not None
    return m.group(1).decode()


def test_hold_rules(server: Any, client: Any) -> None:
    c, csrf = admin(client)
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    dom = f"hold{t}.example"
    # A message queued before the rule: the new rule holds it (as `mox queue holdrules add`).
    submit_held(server, f"early@{dom}", f"early {t}")
    (early,) = [e for e in call(c, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"early@{dom}"]
    assert (early["hold"], early["transport"]) == (False, "")
    r = call(c, "admin", csrf, "QueueHoldRuleAdd", {"rule": {"Account": "mox", "RecipientDomainStr": dom.upper() + "."}})
    rule = r["rule"]
    assert (rule["Account"], rule["SenderDomainStr"], rule["RecipientDomainStr"]) == ("mox", "", dom)
    assert rule["description"] == f'account "mox", recipient domain "{dom}"'
    assert r["held"] == 1 and rule in r["rules"]
    assert rule in call(c, "admin", csrf, "QueueHoldRuleList")["rules"]

    # A message queued while the rule exists is held at once; one to another domain is not.
    submit_held(server, f"late@{dom}", f"late {t}")
    submit_held(server, f"other{t}@example.org", f"other {t}")
    held = {e["recipient"]: e["hold"] for e in call(c, "admin", csrf, "Queue")["queue"]}
    assert (held[f"early@{dom}"], held[f"late@{dom}"], held[f"other{t}@example.org"]) == (True, True, False)

    # Refusals: a bad domain, an unknown account, unknown fields, an unknown rule.
    bad = call(c, "admin", csrf, "QueueHoldRuleAdd", {"rule": {"SenderDomainStr": "a b"}}, status=400)
    assert bad["message"] == "parsing sender domain: invalid domain 'a b'"
    bad = call(c, "admin", csrf, "QueueHoldRuleAdd", {"rule": {"Account": "nobody"}}, status=400)
    assert bad["message"] == "add hold rule: unknown account 'nobody'"
    assert call(c, "admin", csrf, "QueueHoldRuleAdd", {"rule": {"Color": "red"}}, status=400)["code"] == "user:badRequest"
    assert call(c, "admin", csrf, "QueueHoldRuleRemove", {"id": "1"}, status=400)["code"] == "user:badRequest"
    assert call(c, "admin", csrf, "QueueHoldRuleRemove", {"id": 99999}, status=404)["message"] == "remove hold rule: not found"

    # Removed: the rule is gone, the messages it held stay held.
    r = call(c, "admin", csrf, "QueueHoldRuleRemove", {"id": rule["ID"]})
    assert all(x["ID"] != rule["ID"] for x in r["rules"])
    entries = [e for e in call(c, "admin", csrf, "Queue")["queue"] if e["recipient"].endswith(dom)]
    assert [e["hold"] for e in entries] == [True, True]
    call(c, "admin", csrf, "QueueDrop", {"ids": [e["id"] for e in call(c, "admin", csrf, "Queue")["queue"] if t in e["recipient"] or e["recipient"].endswith(dom)]})


def test_queue_next_attempt_and_transport(server: Any, client: Any) -> None:
    import time

    c, csrf = admin(client)
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    before = time.time()
    submit_held(server, f"later{t}@example.org", f"later {t}")  # HOLDFOR=3600
    (e,) = [e for e in call(c, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"later{t}@example.org"]
    assert before + 3500 < e["next_attempt"] < time.time() + 3700
    assert e["transport"] == "" and e["attempts"] == 0
    call(c, "admin", csrf, "QueueDrop", {"ids": [e["id"]]})


def test_loglevels_remove(server: Any, client: Any) -> None:
    c, csrf = admin(client)
    assert call(c, "admin", csrf, "LogLevelSet", {"pkg": "junk", "level": "debug"})["levels"]["junk"] == "debug"
    assert "junk" not in call(c, "admin", csrf, "LogLevelRemove", {"pkg": "junk"})["levels"]
    assert call(c, "admin", csrf, "LogLevelRemove", {"pkg": ""}, status=400)["message"] == "the default level cannot be removed"
    assert call(c, "admin", csrf, "LogLevelSet", {"pkg": "a b", "level": "debug"}, status=400)["code"] == "user:badRequest"


def test_lookup_cid(server: Any, client: Any) -> None:
    """The id of a Received header field gives the log lines of the SMTP connection that
    delivered the message (as `mox cid`)."""
    rid = delivered_received_id(server, f"cid {uuid.uuid4().hex[:8]}")
    c, csrf = admin(client)
    r = call(c, "admin", csrf, "LookupCid", {"cid": rid.upper()})
    assert r["cid"] == rid
    assert any(line.startswith("info: message delivered;") for line in r["lines"]), r["lines"]
    assert all(f"cid={rid}" in line for line in r["lines"])
    assert call(c, "admin", csrf, "LookupCid", {"cid": "ffffffffffffffffff"}) == {"cid": "ffffffffffffffffff", "lines": []}
    bad = call(c, "admin", csrf, "LookupCid", {"cid": "not-a-cid!"}, status=400)
    assert bad["message"] == "received id to cid: invalid id (a hexadecimal connection id)"


def test_config_running_secrets_hidden(tmp_path: Path) -> None:
    """The config shown is the running one with secrets hidden: a webhook's Authorization
    set in domains.conf never reaches the page; changes made through the page show at once."""
    from mox.auth import password as pwmod

    d = tmp_path / "d"
    with LocalServer(dir=d):
        pass
    (path,) = d.rglob(cfgmod.DOMAINS_CONF)
    domains = cfgmod.read_domains(path.parent)
    hook = cfgmod.OutgoingWebhook(url="http://127.0.0.1:9/hook", authorization="Basic c2VjcmV0LXRva2Vu")
    accounts = {n: (a if n != "mox" else msgspec.structs.replace(a, outgoing_webhook=hook)) for n, a in domains.accounts.items()}
    cfgmod.write_domains(path.parent, cfgmod.DomainsConfig(domains=domains.domains, accounts=accounts))
    saved = pwmod.SCRYPT_N
    pwmod.SCRYPT_N = 1 << 4
    try:
        with LocalServer(dir=d) as srv:
            c = Client(srv.ports["http"])
            try:
                csrf = login(c, "admin", "", ADMIN_PASSWORD)
                files = call(c, "admin", csrf, "Config")["files"]
                assert set(files) == {"mox.conf", "domains.conf"}
                assert "c2VjcmV0LXRva2Vu" not in files["domains.conf"] and "Authorization: (hidden)" in files["domains.conf"]
                assert "URL: http://127.0.0.1:9/hook" in files["domains.conf"]
                assert "Listeners:" in files["mox.conf"] and "AdminPasswordFile:" in files["mox.conf"]
                # The admin password's hash is in its own file, never shown.
                hashfile = next(p for p in d.rglob("*") if p.is_file() and p.name == "adminpasswd")
                assert hashfile.read_text(encoding="utf-8").strip() not in files["mox.conf"] + files["domains.conf"]
                # A change through the admin page is in the running config at once.
                call(c, "admin", csrf, "AccountAdd", {"account": "cfgshow", "address": "cfgshow@localhost"})
                assert "cfgshow@localhost" in call(c, "admin", csrf, "Config")["files"]["domains.conf"]
            finally:
                c.close()
    finally:
        pwmod.SCRYPT_N = saved
