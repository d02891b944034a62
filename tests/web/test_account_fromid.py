"""FromIDLoginAddresses (mox's account config) against a running localserve: set on the account
page's API (refused for an address that is not the account's), then a message submitted over
SMTP with that login goes out with a unique MAIL FROM per recipient (the id after the catchall
separator, in the queue as the entry's fromid); a fromid the client chose is kept, for one
recipient only."""

from __future__ import annotations

import smtplib
import uuid
from typing import Any

import pytest

from tests.web.test_account_admin import ADMIN_PASSWORD, call, login
from tests.web.test_admin_accounts import new_account


def submit(server: Any, login_addr: str, password: str, mail_from: str, rcpts: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30) as s:
        s.login(login_addr, password)
        data = f"From: {login_addr}\r\nSubject: fromid\r\n\r\nhi\r\n".encode()
        s.sendmail(mail_from, rcpts, data, mail_options=["HOLDFOR=3600"])


def test_fromid_login_addresses(server: Any, client: Any) -> None:
    admin, csrf, name, address = new_account(client, "f", "fromid pass")
    acc = client()
    acsrf = login(acc, "account", address, "fromid pass")
    assert call(acc, "account", acsrf, "Settings")["from_id_login_addresses"] == []
    bad = call(acc, "account", acsrf, "FromIDLoginAddressesSave", {"addresses": ["mox@localhost"]}, status=400)
    assert "does not match its destination addresses" in bad["message"]
    assert call(acc, "account", acsrf, "FromIDLoginAddressesSave", {"addresses": "x"}, status=400)["code"] == "user:badRequest"
    got = call(acc, "account", acsrf, "FromIDLoginAddressesSave", {"addresses": [address]})
    assert got == {"from_id_login_addresses": [address]}
    assert f"FromIDLoginAddresses:\n\t\t\t- {address}" in call(admin, "admin", csrf, "Config")["files"]["domains.conf"]

    t = uuid.uuid4().hex[:8] + "x"
    rcpts = [f"a{t}@example.org", f"b{t}@example.org"]
    submit(server, address, "fromid pass", address, rcpts)
    entries = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] in rcpts]
    assert len(entries) == 2
    local = address.split("@")[0]
    ids = set()
    for e in entries:
        assert e["mail_from"] == f"{local}+{e['from_id']}@localhost" and len(e["from_id"]) == 22
        ids.add(e["from_id"])
    assert len(ids) == 2  # unique per recipient

    # A fromid chosen by the client: kept, for a single recipient; refused for two.
    submit(server, address, "fromid pass", f"{local}+mine{t}@localhost", [f"c{t}@example.org"])
    (e,) = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"c{t}@example.org"]
    assert (e["mail_from"], e["from_id"]) == (f"{local}+mine{t}@localhost", f"mine{t}")
    with pytest.raises(smtplib.SMTPDataError) as exc:
        submit(server, address, "fromid pass", f"{local}+mine{t}@localhost", [f"d{t}@example.org", f"e{t}@example.org"])
    assert exc.value.smtp_code == 554 and b"5.5.3 cannot send to multiple recipients with chosen fromid" in exc.value.smtp_error

    # Another login of the same account (mox@localhost is not its address; the account's other
    # address is not in the list): MAIL FROM as given.
    call(admin, "admin", csrf, "AddressAdd", {"address": f"other{t}@localhost", "account": name})
    submit(server, f"other{t}@localhost", "fromid pass", f"other{t}@localhost", [f"f{t}@example.org"])
    (e,) = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"f{t}@example.org"]
    assert (e["mail_from"], e["from_id"]) == (f"other{t}@localhost", "")
    call(admin, "admin", csrf, "QueueDrop", {"ids": [e["id"] for e in call(admin, "admin", csrf, "Queue")["queue"] if t in e["recipient"]]})
    call(admin, "admin", csrf, "AccountRemove", {"account": name})


def test_fromid_webmail_and_webapi(server: Any, client: Any) -> None:
    """Webmail and the webapi always make a fromid per recipient for such a login (as mox);
    the webapi's Send answers it per submission."""
    import base64
    import datetime
    import json
    import time
    import urllib.parse

    from tests.web.test_webmail_api import Webmail
    from tests.web.test_webmail_compose import submit as webmail_submit

    admin, csrf, name, address = new_account(client, "w", "fromid pass")
    acc = client()
    call(acc, "account", login(acc, "account", address, "fromid pass"), "FromIDLoginAddressesSave", {"addresses": [address]})
    local = address.split("@")[0]
    t = uuid.uuid4().hex[:8] + "x"

    wm = Webmail.__new__(Webmail)
    wm.c = client()
    r = wm.c.post("/webmail/login", json_body={"username": address, "password": "fromid pass"})
    wm.csrf = r.json()["csrf"]
    webmail_submit(wm, {"to": f"g{t}@example.org, h{t}@example.org", "subject": "x", "body": "x", "send_at": str(time.time() + 3600)})
    entries = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] in (f"g{t}@example.org", f"h{t}@example.org")]
    assert len(entries) == 2 and len({e["from_id"] for e in entries}) == 2
    assert all(e["mail_from"] == f"{local}+{e['from_id']}@localhost" for e in entries)

    api = client()
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    req = {"To": [{"Address": f"i{t}@example.org"}], "Subject": "x", "Text": "x", "FutureRelease": later.strftime("%Y-%m-%dT%H:%M:%SZ")}
    body = urllib.parse.urlencode({"request": json.dumps(req)})
    auth = "Basic " + base64.b64encode(f"{address}:fromid pass".encode()).decode()
    r = api.post("/webapi/v0/Send", body=body, headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r.body
    (sub,) = r.json()["Submissions"]
    (e,) = [e for e in call(admin, "admin", csrf, "Queue")["queue"] if e["recipient"] == f"i{t}@example.org"]
    assert e["hold_until"] is not None and sub["FromID"] == e["from_id"] != "" and e["mail_from"] == f"{local}+{sub['FromID']}@localhost"
    call(admin, "admin", csrf, "QueueDrop", {"ids": [e["id"] for e in call(admin, "admin", csrf, "Queue")["queue"] if t in e["recipient"]]})
    call(admin, "admin", csrf, "AccountRemove", {"account": name})
