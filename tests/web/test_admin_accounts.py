"""Admin page account details against a running localserve: details, password (IMAP login
with the new one), limits written to the config, and the config files shown."""

from __future__ import annotations

import imaplib
import uuid
from typing import Any

from tests.web.test_account_admin import ADMIN_PASSWORD, call, login


def test_account_details_password_limits_config(server: Any, client: Any) -> None:
    admin = client()
    csrf = login(admin, "admin", "", ADMIN_PASSWORD)
    name = "d" + uuid.uuid4().hex[:8] + "x"
    address = f"{name}@localhost"
    call(admin, "admin", csrf, "AccountAdd", {"account": name, "address": address, "password": "first password"})
    got = call(admin, "admin", csrf, "Account", {"account": name})
    assert (got["name"], got["addresses"], got["quota"], got["messages"]) == (name, [address], 0, 0)
    assert got["mailboxes"] == 6 and got["destinations"] == {}
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
