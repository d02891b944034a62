"""Account and admin pages over real sockets: sessions/CSRF, password change, TLS public keys,
export and import, accounts and addresses, queue, log levels."""

from __future__ import annotations

import datetime
import email.policy
import io
import json
import smtplib
import tarfile
import uuid
import zipfile
from email.message import EmailMessage
from typing import Any

from tests.web.conftest import Client

ADMIN_PASSWORD = "moxadmin"


def login(c: Client, kind: str, username: str = "mox@localhost", password: str = "moxmoxmox") -> str:
    body = {"password": password} if kind == "admin" else {"username": username, "password": password}
    r = c.post(f"/{kind}/login", json_body=body)
    assert r.status == 200, r.body
    return r.json()["csrf"]


def call(c: Client, kind: str, csrf: str, method: str, obj: Any = None, *, status: int = 200) -> Any:
    r = c.post(f"/{kind}/api/{method}", json_body=obj if obj is not None else {}, headers={"x-mox-csrf": csrf})
    assert r.status == status, (r.status, r.body)
    return r.json()


def tag() -> str:
    # Ends with a letter: a local part ending in three digits 400-600 (or "temperror"...) would
    # trigger localserve's failure simulation (mox mox-/localserve.go).
    return uuid.uuid4().hex[:8] + "x"


def new_account(client: Any, password: str = "first password") -> tuple[str, str]:
    """A fresh account made through the admin API: (name, address)."""
    c = client()
    csrf = login(c, "admin", "", ADMIN_PASSWORD)
    name = "u" + tag()
    address = f"{name}@localhost"
    call(c, "admin", csrf, "AccountAdd", {"account": name, "address": address, "password": password})
    return name, address


def self_signed_pem(cn: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# Account page.


def test_account_session_and_info(server: Any, client: Any) -> None:
    c = client()
    assert c.post("/account/api/Account", json_body={}).json()["code"] == "user:noAuth"
    # A webmail session is not an account session.
    login(c, "webmail", "mox@localhost", "moxmoxmox")
    assert c.post("/account/api/Account", json_body={}).json()["code"] == "user:noAuth"
    csrf = login(c, "account", "mox@localhost", "moxmoxmox")
    r = c.post("/account/api/Account", json_body={})
    assert (r.status, r.json()["code"]) == (403, "user:badCSRF")
    info = call(c, "account", csrf, "Account")
    assert (info["account"], info["address"], info["addresses"]) == ("mox", "mox@localhost", ["mox@localhost"])
    assert info["mailboxes"] == 6
    r = c.get("/account/")
    assert r.status == 200 and b"mox account" in r.body
    assert call(c, "account", csrf, "Nope", status=404)["code"] == "user:notFound"


def test_change_password(server: Any, client: Any) -> None:
    name, address = new_account(client)
    c = client()
    csrf = login(c, "account", address, "first password")
    other = client()
    login(other, "webmail", address, "first password")
    assert call(c, "account", csrf, "SetPassword", {"password": "short"}, status=400)["code"] == "user:badPassword"
    assert call(c, "account", csrf, "SetPassword", {"password": 7}, status=400)["code"] == "user:badRequest"
    assert call(c, "account", csrf, "SetPassword", {"password": "a new password"}) == {}
    # Every session of the account is gone, the old password fails, the new one works.
    assert c.post("/account/api/Account", json_body={}, headers={"x-mox-csrf": csrf}).json()["code"] == "user:noAuth"
    assert other.post("/webmail/api/Mailboxes", json_body={}).json()["code"] == "user:noAuth"
    r = client().post("/account/login", json_body={"username": address, "password": "first password"})
    assert (r.status, r.json()["code"]) == (403, "user:loginFailed")
    login(client(), "account", address, "a new password")
    # PRECIS: width-mapped spaces normalise, so the NFC form logs in too.
    c2 = client()
    csrf2 = login(c2, "account", address, "a new password")
    assert call(c2, "account", csrf2, "SetPassword", {"password": "te\u0301st \u00a0\u2002\u200a"}) == {}
    login(client(), "account", address, "t\u00e9st    ")
    # IMAP logins use the new password too.
    import imaplib

    c3 = client()
    assert call(c3, "account", login(c3, "account", address, "t\u00e9st    "), "SetPassword", {"password": "ascii pass"}) == {}
    with imaplib.IMAP4("127.0.0.1", server.ports["imap"]) as imap:
        assert imap.login(address, "ascii pass")[0] == "OK"


def test_tlspubkeys(server: Any, client: Any) -> None:
    c = client()
    csrf = login(c, "account", "mox@localhost", "moxmoxmox")
    pem = self_signed_pem("laptop").decode()
    got = call(c, "account", csrf, "TLSPubKeyAdd", {"pem": pem, "name": "", "login_address": "mox@localhost"})["key"]
    assert (got["name"], got["type"], got["login_address"], got["no_imap_preauth"]) == (
        "laptop", "ed25519", "mox@localhost", False
    )
    keys = call(c, "account", csrf, "TLSPubKeyList")["keys"]
    assert got in keys
    r = call(c, "account", csrf, "TLSPubKeyAdd", {"pem": pem}, status=400)
    assert r["code"] == "user:badCertificate" and "already exists" in r["message"]
    r = call(c, "account", csrf, "TLSPubKeyAdd", {"pem": "-----BEGIN CERTIFICATE-----\nnope\n"}, status=400)
    assert r == {"code": "user:badCertificate", "message": "unterminated certificate in pem data"}
    r = call(c, "account", csrf, "TLSPubKeyAdd", {"pem": pem, "login_address": "other@example.org"}, status=400)
    assert r["message"] == "login address 'other@example.org' is not an address of this account"
    assert call(c, "account", csrf, "TLSPubKeyRemove", {"fingerprint": got["fingerprint"]}) == {}
    assert got not in call(c, "account", csrf, "TLSPubKeyList")["keys"]
    assert call(c, "account", csrf, "TLSPubKeyRemove", {"fingerprint": got["fingerprint"]}, status=404)


def deliver(server: Any, subject: str, to: str = "mox@localhost") -> None:
    m = EmailMessage()
    m["From"] = "x@example.org"
    m["To"] = to
    m["Subject"] = subject
    m.set_content("hi\n")
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=30) as s:
        s.sendmail("x@example.org", [to], m.as_bytes(policy=email.policy.SMTP))


def test_export(server: Any, client: Any) -> None:
    name, address = new_account(client)
    deliver(server, "export me", to=address)
    c = client()
    csrf = login(c, "account", address, "first password")
    r = c.post("/account/export", form={"format": "maildir", "archive": "zip"})
    assert (r.status, r.json()["code"]) == (403, "user:badCSRF")
    r = c.post("/account/export", form={"format": "maildir", "archive": "zip", "csrf": csrf})
    assert r.status == 200 and r.header("Content-Type") == "application/zip"
    assert r.header("Content-Disposition") == f'attachment; filename="mox-{name}-maildir.zip"'
    with zipfile.ZipFile(io.BytesIO(r.body)) as z:
        files = [n for n in z.namelist() if n.startswith("Inbox/cur/") and not n.endswith("/")]
        assert len(files) == 1 and b"Subject: export me\n" in z.read(files[0])
        assert {"Archive/", "Sent/", "Trash/"} <= set(z.namelist())
    r = c.post("/account/export", form={"format": "mbox", "archive": "tgz", "csrf": csrf})
    assert r.status == 200 and r.header("Content-Type") == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        data = t.extractfile("Inbox.mbox").read()
    assert data.startswith(b"From mox ") and b"Subject: export me\n" in data
    r = c.post("/account/export", form={"format": "pst", "archive": "zip", "csrf": csrf})
    assert r.status == 400


def _upload(c: Client, csrf: str, filename: str, data: bytes, mailbox: str = "") -> Any:
    boundary = "b" + tag()
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="mailbox"\r\n\r\n{mailbox}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return c.post("/account/import", body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "x-mox-csrf": csrf})


def _progress(c: Client, job: str) -> list[dict[str, Any]]:
    r = c.get(f"/account/importprogress/{job}")
    assert r.status == 200 and r.header("Content-Type") == "application/x-ndjson; charset=utf-8"
    return [json.loads(line) for line in r.body.splitlines()]


def test_import(server: Any, client: Any) -> None:
    name, address = new_account(client)
    c = client()
    csrf = login(c, "account", address, "first password")
    mbox = b"".join(
        b"From someone Thu Jan  1 00:00:00 2024\nSubject: imported %d\n\nbody %d\n>From here\n\n" % (i, i) for i in range(3)
    )
    r = _upload(c, csrf, "old.mbox", mbox, mailbox="Old")
    assert r.status == 200, r.body
    lines = _progress(c, r.json()["id"])
    assert lines[-1] == {"mailbox": "Old", "messages": 3, "mailboxes": 1, "done": True, "error": None, "problems": []}
    # A zip with a Maildir and an mbox.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Work/cur/1.host:2,S", b"Subject: maildir one\n\nx\n")
        z.writestr("Work/new/2.host", b"Subject: maildir two\n\ny\n")
        z.writestr("Work/tmp/", b"")
        z.writestr("Lists/dev.mbox", b"From a Thu Jan  1 00:00:00 2024\nSubject: list\n\nz\n")
        z.writestr("../evil.mbox", b"From a Thu Jan  1 00:00:00 2024\nSubject: evil\n\nz\n")
    r = _upload(c, csrf, "mail.zip", buf.getvalue())
    lines = _progress(c, r.json()["id"])
    assert lines[-1]["done"] and lines[-1]["error"] is None
    assert (lines[-1]["messages"], lines[-1]["mailboxes"]) == (3, 2)
    wm = client()
    wcsrf = login(wm, "webmail", address, "first password")
    boxes = {m["name"]: m for m in call(wm, "webmail", wcsrf, "Mailboxes")["mailboxes"]}
    assert (boxes["Old"]["total"], boxes["Work"]["total"], boxes["Lists/dev"]["total"]) == (3, 2, 1)
    assert "evil" not in boxes
    # A tgz with a Maildir (flags from the file name) into a new mailbox.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in (("Tgz/cur/1.host:2,FS", b"Subject: tgz one\n\nx\n"), ("Tgz/new/2.host", b"Subject: tgz two\n\ny\n")):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    r = _upload(c, csrf, "mail.tgz", buf.getvalue())
    lines = _progress(c, r.json()["id"])
    assert lines[-1]["done"] and lines[-1]["error"] is None, lines
    assert (lines[-1]["messages"], lines[-1]["mailboxes"]) == (2, 1)
    boxes = {m["name"]: m for m in call(wm, "webmail", wcsrf, "Mailboxes")["mailboxes"]}
    assert (boxes["Tgz"]["total"], boxes["Tgz"]["unread"]) == (2, 1)
    # Garbage is a clear error in the progress stream.
    r = _upload(c, csrf, "x.zip", b"PK\x03\x04garbage")
    lines = _progress(c, r.json()["id"])
    assert lines[-1]["done"] and lines[-1]["error"]
    assert c.post("/account/import", b"", headers={"x-mox-csrf": csrf, "Content-Type": "multipart/form-data; boundary=x"}).status == 400
    # Someone else's import progress is not visible.
    other = client()
    login(other, "account", "mox@localhost", "moxmoxmox")
    assert other.get(f"/account/importprogress/{r.json()['id']}").status == 404


# Admin page.


def test_admin_login_and_accounts(server: Any, client: Any) -> None:
    c = client()
    r = c.post("/admin/login", json_body={"password": "wrong"})
    assert (r.status, r.json()["code"]) == (403, "user:loginFailed")
    csrf = login(c, "admin", "", ADMIN_PASSWORD)
    r = c.post("/admin/api/Accounts", json_body={})
    assert (r.status, r.json()["code"]) == (403, "user:badCSRF")
    got = call(c, "admin", csrf, "Accounts")
    assert got["domains"] == ["localhost"]
    assert {"name": "mox", "addresses": ["mox@localhost"]}.items() <= next(a for a in got["accounts"] if a["name"] == "mox").items()
    name = "a" + tag()
    got = call(c, "admin", csrf, "AccountAdd", {"account": name, "address": f"{name}@localhost", "password": "password one"})
    assert any(a["name"] == name for a in got["accounts"])
    assert call(c, "admin", csrf, "AccountAdd", {"account": name, "address": f"x{name}@localhost"}, status=409)
    assert call(c, "admin", csrf, "AccountAdd", {"account": "b" + name, "address": "x@example.com"}, status=400)
    # The new account logs in at once, with its address and a second one.
    login(client(), "webmail", f"{name}@localhost", "password one")
    call(c, "admin", csrf, "AddressAdd", {"account": name, "address": f"second.{name}@localhost"})
    login(client(), "webmail", f"second.{name}@localhost", "password one")
    assert call(c, "admin", csrf, "AddressAdd", {"account": name, "address": "mox@localhost"}, status=409)
    got = call(c, "admin", csrf, "AddressRemove", {"address": f"second.{name}@localhost"})
    assert next(a for a in got["accounts"] if a["name"] == name)["addresses"] == [f"{name}@localhost"]
    assert call(c, "admin", csrf, "AddressRemove", {"address": f"{name}@localhost"}, status=400)
    # domains.conf on disk has the account.
    from mox import config as mconfig

    assert mconfig.read_domains(server.dir).accounts[name].addresses == [f"{name}@localhost"]
    got = call(c, "admin", csrf, "AccountRemove", {"account": name})
    assert all(a["name"] != name for a in got["accounts"])
    r = client().post("/webmail/login", json_body={"username": f"{name}@localhost", "password": "password one"})
    assert r.status == 403
    assert call(c, "admin", csrf, "AccountRemove", {"account": name}, status=404)


def test_admin_queue(server: Any, client: Any) -> None:
    c = client()
    csrf = login(c, "admin", "", ADMIN_PASSWORD)
    m = EmailMessage()
    m["From"] = "mox@localhost"
    m["To"] = "held@example.org"
    m["Subject"] = "held"
    m.set_content("later\n")
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login("mox@localhost", "moxmoxmox")
        for _ in range(2):
            s.sendmail("mox@localhost", ["held@example.org"], m.as_bytes(policy=email.policy.SMTP), mail_options=["HOLDFOR=3600"])
    q = call(c, "admin", csrf, "Queue")["queue"]
    held = [e["id"] for e in q if e["recipient"] == "held@example.org"]
    assert len(held) == 2
    got = call(c, "admin", csrf, "QueueDrop", {"ids": [held[0]]})
    assert got["ids"] == [held[0]] and held[0] not in [e["id"] for e in got["queue"]]
    got = call(c, "admin", csrf, "QueueFail", {"ids": [held[1]]})
    assert got["ids"] == [held[1]] and held[1] not in [e["id"] for e in got["queue"]]
    assert call(c, "admin", csrf, "QueueDrop", {"ids": "all"}, status=400)
    # Both are retired messages now, shown read-only, newest first: the failed one, then the
    # dropped one, kept for localserve's 72 hours.
    got = call(c, "admin", csrf, "QueueRetired")
    mine = [m for m in got["retired"] if m["id"] in held]
    assert [(m["id"], m["account"], m["mail_from"], m["recipient"], m["success"]) for m in mine] == [
        (held[1], "mox", "mox@localhost", "held@example.org", False), (held[0], "mox", "mox@localhost", "held@example.org", False),
    ]
    assert (mine[0]["last_error"], mine[1]["last_error"]) == ("550 5.0.0 delivery failed by admin", "delivery canceled by admin")
    assert all(m["keep_until"] - m["last_activity"] == 72 * 3600 for m in mine)
    assert got["total"] == len(got["retired"]) >= 2
    assert client().post("/admin/api/QueueRetired", json_body={}).status == 403  # no admin session


def test_admin_loglevels(server: Any, client: Any) -> None:
    c = client()
    csrf = login(c, "admin", "", ADMIN_PASSWORD)
    got = call(c, "admin", csrf, "LogLevels")
    assert "smtpserver" in got["known"] and "" in got["levels"]
    got = call(c, "admin", csrf, "LogLevelSet", {"pkg": "queue", "level": "debug"})
    assert got["levels"]["queue"] == "debug"
    got = call(c, "admin", csrf, "LogLevelSet", {"pkg": "queue", "level": ""})
    assert "queue" not in got["levels"]
    assert call(c, "admin", csrf, "LogLevelSet", {"pkg": "queue", "level": "loud"}, status=400)["message"] == "unknown log level 'loud'"
    assert c.post("/admin/logout", headers={"x-mox-csrf": csrf}).status == 200
    assert c.post("/admin/api/Accounts", json_body={}, headers={"x-mox-csrf": csrf}).json()["code"] == "user:noAuth"


def test_import_limits(server: Any, client: Any, monkeypatch: Any) -> None:
    """An archive that would unpack beyond the limits is refused as a whole, nothing imported."""
    from mox.web import webaccount as account

    monkeypatch.setattr(account, "MAX_EXTRACTED_BYTES", 1000)
    name, address = new_account(client)
    c = client()
    csrf = login(c, "account", address, "first password")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b"From a Thu Jan  1 00:00:00 2024\nSubject: big\n\n" + b"x" * 2000 + b"\n"
        info = tarfile.TarInfo("Big.mbox")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    r = _upload(c, csrf, "big.tgz", buf.getvalue())
    last = _progress(c, r.json()["id"])[-1]
    assert last["done"] and last["messages"] == 0
    assert last["error"] == "archive too large when extracted (at most 200000 files and 1000 bytes)"
