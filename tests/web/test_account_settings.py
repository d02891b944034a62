"""Account page settings against a running localserve: full name (the From of sent mail),
destinations with rulesets (a message matching a ruleset lands in its mailbox), junk settings and
retraining, and the signature the webmail uses."""

from __future__ import annotations

from typing import Any

from tests.web.test_account_admin import call, login
from tests.web.test_webmail_api import ADDRESS, Webmail, simple, smtp_deliver, tag
from tests.web.test_webmail_compose import submit, wait_find


def test_full_name_and_signature(server: Any, client: Any) -> None:
    c = client()
    csrf = login(c, "account")
    got = call(c, "account", csrf, "Settings")
    assert ADDRESS in got["destinations"] and got["junk"]["JunkFilter"]["Threshold"] == 0.95
    t = tag()
    assert call(c, "account", csrf, "AccountSaveFullName", {"full_name": f"Mox {t}"}) == {"full_name": f"Mox {t}"}
    assert call(c, "account", csrf, "Settings")["full_name"] == f"Mox {t}"
    assert call(c, "account", csrf, "AccountSaveFullName", {"full_name": "two\nlines"}, status=400)["code"] == "user:badRequest"
    wm = Webmail(client())
    assert {"address": ADDRESS, "name": f"Mox {t}", "alias": False} in wm.call("Settings")["addresses"]
    submit(wm, {"to": ADDRESS, "subject": f"named {t}", "body": "x"})
    (m,) = wait_find(wm, f"subject:\"named {t}\" mb:Inbox")
    assert m["from"] == [{"name": f"Mox {t}", "address": ADDRESS}]
    # A per-address display name wins over the account's.
    call(c, "account", csrf, "DestinationSave", {"address": ADDRESS, "destination": {"FullName": f"Desk {t}"}})
    assert {"address": ADDRESS, "name": f"Desk {t}", "alias": False} in wm.call("Settings")["addresses"]
    call(c, "account", csrf, "DestinationSave", {"address": ADDRESS, "destination": {}})
    call(c, "account", csrf, "AccountSaveFullName", {"full_name": ""})

    # The signature saved on the account page is the webmail's.
    st = call(c, "account", csrf, "Settings")["settings"]
    call(c, "account", csrf, "SettingsSave", {"settings": {**st, "signature": f"Regards {t}"}})
    assert wm.call("Settings")["settings"]["signature"] == f"Regards {t}"
    assert call(c, "account", csrf, "SettingsSave", {"settings": {**st, "quoting": "x"}}, status=400)
    call(c, "account", csrf, "SettingsSave", {"settings": st})


def test_rulesets_and_junk_settings(server: Any, client: Any) -> None:
    c = client()
    csrf = login(c, "account")
    t = tag()
    dest = {"Rulesets": [{"MsgFromRegexp": f"^news{t}@", "Mailbox": f"News{t}", "Comment": "newsletters"}]}
    got = call(c, "account", csrf, "DestinationSave", {"address": ADDRESS, "destination": dest})
    assert got["destination"]["Rulesets"][0]["Mailbox"] == f"News{t}"
    assert call(c, "account", csrf, "Settings")["destinations"][ADDRESS]["Rulesets"][0]["Comment"] == "newsletters"
    smtp_deliver(server, simple(f"weekly {t}", sender=f"News <news{t}@example.org>"))
    smtp_deliver(server, simple(f"personal {t}"))
    wm = Webmail(client())
    (m,) = wait_find(wm, f"subject:\"weekly {t}\" mb:")
    assert m["mailbox"] == wm.mailbox(f"News{t}")["id"]
    (m,) = wait_find(wm, f"subject:\"personal {t}\" mb:")
    assert m["mailbox"] == wm.mailbox("Inbox")["id"]
    # Refused as the config refuses them.
    for bad, why in [
        ({"Rulesets": [{"Mailbox": "x"}]}, "at least one rule"),
        ({"Rulesets": [{"MsgFromRegexp": "("}]}, "Mailbox is required"),
        ({"Rulesets": [{"MsgFromRegexp": "(", "Mailbox": "x"}]}, "invalid MsgFromRegexp"),
        ({"Rulesets": [{"Nope": 1}]}, "unknown field"),
    ]:
        r = call(c, "account", csrf, "DestinationSave", {"address": ADDRESS, "destination": bad}, status=400)
        assert why in r["message"], r
    assert call(c, "account", csrf, "DestinationSave", {"address": "other@localhost", "destination": {}}, status=404)
    call(c, "account", csrf, "DestinationSave", {"address": ADDRESS, "destination": {}})
    assert call(c, "account", csrf, "Settings")["destinations"][ADDRESS]["Rulesets"] == []

    # Junk settings: changed, refused when invalid; retraining.
    junk = call(c, "account", csrf, "Settings")["junk"]
    new = {**junk, "JunkFilter": {**junk["JunkFilter"], "Threshold": 0.9}}
    assert call(c, "account", csrf, "JunkSettingsSave", {"junk": new})["junk"]["JunkFilter"]["Threshold"] == 0.9
    bad = {**junk, "JunkFilter": {**junk["JunkFilter"], "Threshold": 2}}
    assert "Threshold" in call(c, "account", csrf, "JunkSettingsSave", {"junk": bad}, status=400)["message"]
    r = call(c, "account", csrf, "JunkRetrain")
    assert r["messages"] >= 2 and r["trained"] >= 0
    call(c, "account", csrf, "JunkSettingsSave", {"junk": {**junk, "JunkFilter": None}})
    assert call(c, "account", csrf, "JunkRetrain", status=400)["code"] == "user:badRequest"
    call(c, "account", csrf, "JunkSettingsSave", {"junk": junk})
    assert call(c, "account", csrf, "Settings")["junk"] == junk


def test_tls_key_update_and_export_selected(server: Any, client: Any) -> None:
    import io
    import zipfile

    from tests.web.test_account_admin import self_signed_pem

    c = client()
    csrf = login(c, "account")
    key = call(c, "account", csrf, "TLSPubKeyAdd", {"pem": self_signed_pem("upd").decode(), "name": "upd"})["key"]
    fp = key["fingerprint"]
    got = call(c, "account", csrf, "TLSPubKeyUpdate", {"fingerprint": fp, "name": "renamed", "no_imap_preauth": True})["key"]
    assert (got["name"], got["no_imap_preauth"]) == ("renamed", True)
    listed = [k for k in call(c, "account", csrf, "TLSPubKeyList")["keys"] if k["fingerprint"] == fp]
    assert (listed[0]["name"], listed[0]["no_imap_preauth"]) == ("renamed", True)
    assert call(c, "account", csrf, "TLSPubKeyUpdate", {"fingerprint": fp, "login_address": "x@example.org"}, status=400)
    assert call(c, "account", csrf, "TLSPubKeyUpdate", {"fingerprint": "nope"}, status=404)["code"] == "user:notFound"
    call(c, "account", csrf, "TLSPubKeyRemove", {"fingerprint": fp})

    # Export only Sent and Drafts (zip, mbox).
    r = c.post("/account/export", json_body={"format": "mbox", "archive": "zip", "mailbox": ["Sent", "Drafts"]},
               headers={"x-mox-csrf": csrf})  # fmt: skip
    assert r.status == 200, r.body
    names = sorted(zipfile.ZipFile(io.BytesIO(r.body)).namelist())
    assert names == ["Drafts.mbox", "Sent.mbox"]
    r = c.post("/account/export", json_body={"format": "mbox", "archive": "zip", "mailbox": ["Nope"]}, headers={"x-mox-csrf": csrf})
    assert r.status == 404
