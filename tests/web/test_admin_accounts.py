"""Admin page account details against a running localserve: details, password (IMAP login
with the new one), limits written to the config, and the config files shown."""

from __future__ import annotations

import imaplib
import time
import uuid
from typing import Any

from tests.web.test_account_admin import ADMIN_PASSWORD, call, login


def new_account(client: Any, prefix: str, password: str) -> tuple[Any, str, str, str]:
    """An account made through the admin API: (admin client, its csrf, account name, address)."""
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    name = prefix + uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (mox localserve.go)
    address = f"{name}@localhost"
    call(admin, "admin", csrf, "AccountAdd", {"account": name, "address": address, "password": password})
    return admin, csrf, name, address


def submit_held(server: Any, rcpt: str, subject: str) -> None:
    """Submit a message as mox@localhost that waits in the queue an hour (HOLDFOR, RFC 4865)."""
    import email.policy
    import smtplib
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "mox@localhost", rcpt, subject
    m.set_content("later\n")
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", [rcpt], m.as_bytes(policy=email.policy.SMTP), mail_options=["HOLDFOR=3600"])


def test_account_details_password_limits_config(server: Any, client: Any) -> None:
    admin, csrf, name, address = new_account(client, "d", "first password")
    got = call(admin, "admin", csrf, "Account", {"account": name})
    assert (got["name"], got["addresses"], got["quota"], got["messages"]) == (name, [address], 0, 0)
    assert got["mailboxes"] == 6 and got["destinations"] == {address: {"Mailbox": "", "Rulesets": [], "FullName": ""}}
    assert call(admin, "admin", csrf, "Account", {"account": "nobody"}, status=404)["code"] == "user:notFound"

    assert call(admin, "admin", csrf, "SetPassword", {"account": name, "password": "second password"}) == {}
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login(address, "second password")
    assert call(admin, "admin", csrf, "SetPassword", {"account": name, "password": "short"}, status=400)["code"] == "user:badPassword"
    assert call(admin, "admin", csrf, "SetPassword", {"account": name}, status=400)

    got = call(admin, "admin", csrf, "SetAccountLimits", {"account": name, "quota": 1 << 20, "max_outgoing_messages_per_day": 5})
    assert (got["quota"], got["max_outgoing_messages_per_day"], got["max_first_time_recipients_per_day"]) == (1 << 20, 5, 0)
    assert call(admin, "admin", csrf, "SetAccountLimits", {"account": name, "quota": "big"}, status=400)["code"] == "user:badRequest"

    files = call(admin, "admin", csrf, "Config")["files"]
    assert set(files) == {"mox.conf", "domains.conf"}
    assert name in files["domains.conf"] and str(1 << 20) in files["domains.conf"]
    call(admin, "admin", csrf, "AccountRemove", {"account": name})


def test_queue_hold_release_next_attempt(server: Any, client: Any) -> None:
    import time

    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    rcpt = f"held{t}@example.org"
    submit_held(server, rcpt, f"held {t}")

    def entry() -> Any:
        found = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == rcpt]
        return found[0] if found else None

    e = entry()
    assert e is not None and e["hold"] is False
    r = call(admin, "admin", csrf, "QueueHoldSet", {"ids": [e["id"]], "hold": True})
    assert r["ids"] == [e["id"]] and entry()["hold"] is True
    assert call(admin, "admin", csrf, "QueueHoldSet", {"ids": [e["id"]], "hold": True})["ids"] == []
    # Due now, but held: it stays in the queue.
    call(admin, "admin", csrf, "QueueNextAttemptSet", {"ids": [e["id"]], "minutes": 0})
    held = entry()
    assert held["hold"] is True and held["next_attempt"] <= time.time()
    assert call(admin, "admin", csrf, "QueueHoldSet", {"ids": [e["id"]], "hold": "yes"}, status=400)["code"] == "user:badRequest"
    assert call(admin, "admin", csrf, "QueueNextAttemptSet", {"ids": [e["id"]], "minutes": -1}, status=400)
    # Released: delivered (localserve keeps outgoing mail local) and gone from the queue.
    call(admin, "admin", csrf, "QueueHoldSet", {"ids": [e["id"]], "hold": False})
    for _ in range(400):
        if entry() is None:
            break
        time.sleep(0.05)
    assert entry() is None


def test_aliases(server: Any, client: Any) -> None:
    """Aliases (mox's): made and changed on the admin page's API; a message to one goes to its
    members (over SMTP and through the queue), except the member who wrote it; a non-public
    alias refuses other writers with 550 5.7.2."""
    import smtplib

    from tests.web.test_webmail_api import Webmail

    admin, csrf, name, address = new_account(client, "m", "member password")
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    alias = f"team{t}@localhost"
    got = call(admin, "admin", csrf, "AliasSave", {"address": alias, "alias": {"Addresses": ["mox@localhost", address], "PostPublic": True}})
    assert {"address": alias, "Addresses": ["mox@localhost", address], "PostPublic": True, "ListMembers": False,
            "AllowMsgFrom": False} in got["aliases"]  # fmt: skip
    assert "Aliases" in call(admin, "admin", csrf, "Config")["files"]["domains.conf"]
    # Refused as mox's config refuses them.
    for bad in [{"Addresses": []}, {"Addresses": ["nobody@localhost"]}, {"Addresses": ["mox@localhost"], "Nope": 1}]:
        assert call(admin, "admin", csrf, "AliasSave", {"address": f"x{t}@localhost", "alias": bad}, status=400)["code"] == "user:badRequest"
    assert call(admin, "admin", csrf, "AliasSave", {"address": "mox@localhost", "alias": {"Addresses": [address]}}, status=400)
    assert call(admin, "admin", csrf, "AliasSave", {"address": f"x{t}@example.org", "alias": {"Addresses": [address]}}, status=400)

    def deliver(from_: str, subject: str) -> None:
        data = f"From: {from_}\r\nTo: {alias}\r\nSubject: {subject}\r\n\r\nhello team\r\n".encode()
        with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
            s.sendmail(from_, [alias], data)

    member = Webmail(client())  # mox@localhost
    other = Webmail.__new__(Webmail)
    other.c = client()
    r = other.c.post("/webmail/login", json_body={"username": address, "password": "member password"})
    other.csrf = r.json()["csrf"]

    def subjects(wm: Webmail, q: str) -> list[str]:
        return sorted(m["subject"] for m in wm.find(f"{q} mb:"))

    deliver("outsider@example.org", f"public {t}")
    for wm in (member, other):
        for _ in range(200):
            if subjects(wm, f"public {t}"):
                break
            time.sleep(0.05)
        assert subjects(wm, f"public {t}") == [f"public {t}"]
    # Members only: an outsider is refused; a member's message goes to the other members.
    call(admin, "admin", csrf, "AliasSave", {"address": alias, "alias": {"Addresses": ["mox@localhost", address]}})
    try:
        deliver("outsider@example.org", f"refused {t}")
        raise AssertionError("accepted")
    except smtplib.SMTPDataError as e:
        assert (e.smtp_code, e.smtp_error[:5]) == (550, b"5.7.2")
    deliver(address, f"from member {t}")
    for _ in range(200):
        if subjects(member, f"member {t}"):
            break
        time.sleep(0.05)
    assert subjects(member, f"member {t}") == [f"from member {t}"]
    # Through the queue: a submission to the alias reaches the other member.
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        s.sendmail("mox@localhost", [alias], f"From: mox@localhost\r\nTo: {alias}\r\nSubject: queued {t}\r\n\r\nhi\r\n".encode())
    for _ in range(200):
        if subjects(other, f"queued {t}"):
            break
        time.sleep(0.05)
    assert subjects(other, f"queued {t}") == [f"queued {t}"]
    assert subjects(other, f"member {t}") == []  # the writer gets no copy of their own message

    assert [a for a in call(admin, "admin", csrf, "AliasRemove", {"address": alias})["aliases"] if a["address"] == alias] == []
    assert call(admin, "admin", csrf, "AliasRemove", {"address": alias}, status=404)["code"] == "user:notFound"
    call(admin, "admin", csrf, "AccountRemove", {"account": name})


def test_domains_and_disabled_login(server: Any, client: Any) -> None:
    """A domain added on the admin page's API gets DKIM selectors and a new account with its
    address; it is removed once its addresses are gone. A disabled account's logins are refused
    with the message; enabled again, they work."""
    admin, csrf, name, address = new_account(client, "q", "disable me pw")
    t = uuid.uuid4().hex[:8] + "x"  # no failure-simulation suffix (three digits)
    domain = f"d{t}.example"
    got = call(admin, "admin", csrf, "DomainAdd", {"domain": domain, "account": f"dom{t}x", "localpart": "owner"})
    (d,) = [x for x in got["domains"] if x["domain"] == domain]
    assert d["catchall_separators"] == ["+"] and len(d["dkim_selectors"]) == 2 and len(d["dkim_sign"]) == 1
    assert d["addresses"] == [f"owner@{domain}"]
    assert call(admin, "admin", csrf, "DomainAdd", {"domain": domain, "account": "mox"}, status=400)["message"] == "domain already present"
    assert "still used by address" in call(admin, "admin", csrf, "DomainRemove", {"domain": domain}, status=400)["message"]
    call(admin, "admin", csrf, "AccountRemove", {"account": f"dom{t}x"})
    got = call(admin, "admin", csrf, "DomainRemove", {"domain": domain})
    assert domain not in [x["domain"] for x in got["domains"]]

    got = call(admin, "admin", csrf, "AccountDisabled", {"account": name, "message": "moved away"})
    assert got["login_disabled"] == "moved away"
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        try:
            im.login(address, "disable me pw")
            raise AssertionError("login allowed")
        except imaplib.IMAP4.error as e:
            assert "moved away" in str(e)
    assert call(admin, "admin", csrf, "AccountDisabled", {"account": name, "message": "two\nlines"}, status=400)
    call(admin, "admin", csrf, "AccountDisabled", {"account": name, "message": ""})
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"], timeout=30) as im:
        im.login(address, "disable me pw")
    call(admin, "admin", csrf, "AccountRemove", {"account": name})
