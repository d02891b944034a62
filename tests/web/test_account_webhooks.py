"""The account page's webhook and suppression-list API (mox webaccount: OutgoingWebhookSave,
IncomingWebhookSave, OutgoingWebhookTest, IncomingWebhookTest, KeepRetiredPeriodsSave,
SuppressionList/Add/Remove) over real sockets; the browser test drives the same through the
page (tests/web/test_browser.py)."""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.parse
import urllib.request
from typing import Any

from mox import config as mconfig
from tests.hookreceiver import HookReceiver
from tests.metrics.test_metrics import scrape, value
from tests.web.test_account_admin import call, login, new_account


def test_webhook_settings_and_test_calls(client, server):
    name, address = new_account(client)
    c = client()
    csrf = login(c, "account", address, "first password")
    info = call(c, "account", csrf, "Account")
    assert (info["outgoing_webhook"], info["incoming_webhook"], info["suppressions"]) == (None, None, [])
    assert info["events"] == ["delivered", "suppressed", "delayed", "failed", "relayed", "expanded", "canceled", "unrecognized"]
    with HookReceiver(statuses=[200, 418]) as recv:
        call(c, "account", csrf, "OutgoingWebhookSave", {"url": recv.url("/out"), "authorization": "Bearer a", "events": ["delivered", "failed"]})
        call(c, "account", csrf, "IncomingWebhookSave", {"url": recv.url("/in"), "authorization": ""})
        call(c, "account", csrf, "KeepRetiredPeriodsSave", {"keep_retired_message_period": "24h", "keep_retired_webhook_period": "1h30m"})
        # In the config (and domains.conf) at once.
        acc = server.ctx.config.accounts[name]
        assert acc.outgoing_webhook == mconfig.OutgoingWebhook(url=recv.url("/out"), authorization="Bearer a", events=["delivered", "failed"])
        assert acc.incoming_webhook == mconfig.IncomingWebhook(url=recv.url("/in"))
        assert (acc.keep_retired_message_period, acc.keep_retired_webhook_period) == (86400, 5400)
        assert mconfig.read_domains(server.dir).accounts[name] == acc
        info = call(c, "account", csrf, "Account")
        assert info["outgoing_webhook"] == {"url": recv.url("/out"), "authorization": "Bearer a", "events": ["delivered", "failed"]}
        assert (info["keep_retired_message_period"], info["keep_retired_webhook_period"]) == ("24h0m0s", "1h30m0s")

        # Test calls: one POST of the given payload, the answer shown as mox shows it; each is
        # counted in mox's webhook metrics (mox's page calls queue.HookPost).
        before = scrape(server.ports["metrics"])[2]
        r = call(c, "account", csrf, "OutgoingWebhookTest", {"url": recv.url("/t"), "authorization": "Bearer a", "data": {"Event": "failed", "QueueMsgID": 7, "Extra": {"a": "b"}}})
        assert r == {"code": 200, "response": "ok", "error": ""}
        [t] = recv.wait(1)
        assert (t.path, t.headers["authorization"], t.headers["x-mox-webhook-id"], t.headers["x-mox-webhook-attempt"]) == ("/t", "Bearer a", "1", "1")
        assert (t.json["Event"], t.json["QueueMsgID"], t.json["Extra"], t.json["Version"]) == ("failed", 7, {"a": "b"}, 0)
        r = call(c, "account", csrf, "IncomingWebhookTest", {"url": recv.url("/t2"), "data": {"Subject": "hi", "Structure": {"ContentType": "text/plain", "ContentTypeParams": {}}, "Meta": {"MsgID": 3}}})
        assert r == {"code": 418, "response": "receiver says no", "error": 'http status "418 I\'m a Teapot", expected 200 ok'}
        assert recv.wait(2)[1].json["Meta"]["MsgID"] == 3
        after = scrape(server.ports["metrics"])[2]
        for code in ("200", "418"):
            assert value(after, "mox_webhook_results_total", code=code) - value(before, "mox_webhook_results_total", code=code) == 1, code

        # The keep periods apply to what the account's own mail leaves behind: a message sent
        # through the webapi to itself retires for 24 hours, its "delivered" webhook for 1h30m.
        body = urllib.parse.urlencode({"request": json.dumps({"To": [{"Address": address}], "Text": "kept"})}).encode()
        auth = base64.b64encode(f"{address}:first password".encode()).decode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{server.ports['http']}/webapi/v0/Send", data=body, headers={"Authorization": "Basic " + auth}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            [sub] = json.loads(resp.read())["Submissions"]
        assert recv.wait(1, path="/out")[0].json["QueueMsgID"] == sub["QueueMsgID"]
        assert recv.wait(1, path="/in")[0].json["Text"] == "kept\n"  # delivered before the receiver closes

        def kept() -> tuple[list[float], list[float]]:
            q = server.ctx.queue
            msgs = [m.keep_until - m.last_activity for m in q.store.retired.values() if m.sender_account == name]
            hooks = [h.keep_until - h.last_activity for h in q.store.hooks_retired.values() if h.account == name and not h.is_incoming]
            return msgs, hooks

        deadline = time.monotonic() + 30
        while server.run_sync_in_server(kept) != ([86400], [5400]):
            assert time.monotonic() < deadline, server.run_sync_in_server(kept)
            time.sleep(0.01)

    # Errors: a clear 400, nothing saved.
    r = c.post("/account/api/OutgoingWebhookSave", json_body={"url": "ftp://x/"}, headers={"x-mox-csrf": csrf})
    assert (r.status, r.json()["code"]) == (400, "user:badConfig") and "scheme must be http or https" in r.json()["message"]
    r = c.post("/account/api/OutgoingWebhookSave", json_body={"url": "http://x/", "events": ["sent"]}, headers={"x-mox-csrf": csrf})
    assert (r.status, r.json()["code"]) == (400, "user:badConfig") and "unknown outgoing webhook event 'sent'" in r.json()["message"]
    r = c.post("/account/api/KeepRetiredPeriodsSave", json_body={"keep_retired_message_period": "a week"}, headers={"x-mox-csrf": csrf})
    assert (r.status, r.json()["code"]) == (400, "user:badConfig")
    assert server.ctx.config.accounts[name].outgoing_webhook is not None  # unchanged
    r = c.post("/account/api/OutgoingWebhookTest", json_body={"url": "file:///etc/passwd"}, headers={"x-mox-csrf": csrf})
    assert r.json() == {"code": "user:badRequest", "message": "parsing url: scheme must be http or https"}
    r = c.post("/account/api/OutgoingWebhookTest", json_body={"url": "http://x/", "data": {"QueueMsgID": "seven"}}, headers={"x-mox-csrf": csrf})
    assert (r.status, r.json()["code"]) == (400, "user:badRequest")
    # Nobody listening: the error, not a failure of the page.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    before = scrape(server.ports["metrics"])[2]
    r = call(c, "account", csrf, "OutgoingWebhookTest", {"url": f"http://127.0.0.1:{port}/"})
    assert r["code"] == 0 and r["error"].startswith("http transact: ")
    after = scrape(server.ports["metrics"])[2]
    assert value(after, "mox_webhook_results_total", code="error") - value(before, "mox_webhook_results_total", code="error") == 1
    # No session, no CSRF token: refused before anything is called.
    r = client().post("/account/api/OutgoingWebhookTest", json_body={"url": "http://127.0.0.1:1/"})
    assert r.status == 403
    r = c.post("/account/api/OutgoingWebhookTest", json_body={"url": "http://127.0.0.1:1/"})
    assert (r.status, r.json()["code"]) == (403, "user:badCSRF")

    # An empty URL removes a webhook.
    call(c, "account", csrf, "OutgoingWebhookSave", {"url": ""})
    call(c, "account", csrf, "IncomingWebhookSave", {"url": ""})
    assert server.ctx.config.accounts[name].outgoing_webhook is None
    assert server.ctx.config.accounts[name].incoming_webhook is None


def test_suppression_list(client, server):
    name, address = new_account(client)
    c = client()
    csrf = login(c, "account", address, "first password")
    r = call(c, "account", csrf, "SuppressionAdd", {"address": "Jane.Doe+x@Example.org", "manual": True, "reason": "asked"})
    sup = r["suppression"]
    assert {k: sup[k] for k in ("Account", "BaseAddress", "OriginalAddress", "Manual", "Reason")} == {
        "Account": name, "BaseAddress": "janedoe@example.org", "OriginalAddress": "Jane.Doe+x@example.org", "Manual": True, "Reason": "asked"
    }
    assert call(c, "account", csrf, "SuppressionList")["suppressions"] == [sup]
    assert call(c, "account", csrf, "Account")["suppressions"] == [sup]
    r = c.post("/account/api/SuppressionAdd", json_body={"address": "janedoe@example.org"}, headers={"x-mox-csrf": csrf})
    assert r.json() == {"code": "user:badRequest", "message": "address janedoe@example.org is already on the suppression list"}
    r = c.post("/account/api/SuppressionAdd", json_body={"address": "no address"}, headers={"x-mox-csrf": csrf})
    assert (r.status, r.json()["code"]) == (400, "user:badRequest")
    # Another account does not see it, and cannot remove it.
    other, other_address = new_account(client)
    c2 = client()
    csrf2 = login(c2, "account", other_address, "first password")
    assert call(c2, "account", csrf2, "SuppressionList")["suppressions"] == []
    r = c2.post("/account/api/SuppressionRemove", json_body={"address": "janedoe@example.org"}, headers={"x-mox-csrf": csrf2})
    assert r.status == 400
    call(c, "account", csrf, "SuppressionRemove", {"address": "janedoe-y@example.org"})
    assert call(c, "account", csrf, "SuppressionList")["suppressions"] == []
    json.dumps(sup)  # plain JSON values
