"""Cross-site requests from a browser are refused (mox.web.access): any page a developer opens
can make the browser POST to http://localhost:1080 without asking (a form, or fetch in no-cors
mode with text/plain). State-changing requests marked cross-site by ``Origin`` or
``Sec-Fetch-Site`` get 403, and the test API takes state-changing requests only as JSON (or
without a body), so even a browser that sends neither header cannot make a simple request
count. curl, Python and the pytest plugin send no such headers and keep working."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mox.testing import MoxServer
from tests.web.conftest import smtp_deliver, wait_one
from tests.web.test_account_admin import ADMIN_PASSWORD, login, tag

RULE = {"stage": "rcpt", "recipient": "nobody@cross.example", "action": "reply", "code": 451, "text": "x"}
EVIL = "http://evil.example"


def _one_message(server: Any, client: Any) -> dict[str, Any]:
    t = tag()
    to = f"cross-{t}@example.org"
    smtp_deliver(server, [to], f"From: <a@example.org>\r\nTo: <{to}>\r\nSubject: cross {t}\r\n\r\nx\r\n".encode())
    return wait_one(client(), f"to={to}")


def _rules(client: Any) -> list[dict[str, Any]]:
    return client().get("/api/v1/faults").json()["rules"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},  # sandboxed frames, file: pages
        {"Origin": "http://localhost:1"},  # another port on localhost is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # e.g. a dev server on localhost:3000
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
    ],
)
def test_test_api_refuses_cross_site(server: Any, client: Any, headers: dict[str, str]) -> None:
    m = _one_message(server, client)
    c = client()
    for method, path, body in (("POST", "/api/v1/reset", None), ("POST", "/api/v1/faults", RULE),
                               ("DELETE", "/api/v1/faults", None), ("DELETE", f"/api/v1/messages/{m['id']}", None)):
        r = c.request(method, path, json_body=body, headers=headers)
        assert (r.status, r.json()["code"]) == (403, "user:crossSite"), (method, path, r.body)
    assert client().get(f"/api/v1/messages/{m['id']}").status == 200  # nothing was reset or deleted
    assert [r for r in _rules(client) if r.get("recipient") == "nobody@cross.example"] == []


@pytest.mark.parametrize(
    "ctype,body",
    [
        ("text/plain", json.dumps(RULE)),  # fetch(url, {method: "POST", mode: "no-cors", body: "..."})
        ("text/plain;charset=UTF-8", json.dumps(RULE)),
        ("application/x-www-form-urlencoded", json.dumps(RULE)),  # <form method=post>
        ("multipart/form-data; boundary=x", "--x--\r\n"),
    ],
)
def test_test_api_refuses_simple_content_types(client: Any, ctype: str, body: str) -> None:
    """Without Origin (an old browser, or one that left it out): the content type gives it away."""
    c = client()
    for path in ("/api/v1/faults", "/api/v1/reset"):
        r = c.post(path, body, headers={"Content-Type": ctype})
        assert (r.status, r.json()["code"]) == (415, "user:badContentType"), (path, r.body)
    assert [r for r in _rules(client) if r.get("recipient") == "nobody@cross.example"] == []


def test_same_origin_and_tools_work(server: Any, client: Any) -> None:
    port = server.ports["http"]
    c = client()
    # A page of this server (same origin) may; the Origin's port must be the Host's.
    for origin, host in ((f"http://localhost:{port}", f"localhost:{port}"), (f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")):
        r = c.post("/api/v1/faults", json_body={**RULE, "owner": "same-origin"},
                   headers={"Origin": origin, "Host": host, "Sec-Fetch-Site": "same-origin"})
        assert r.status == 201, r.body
    assert c.request("DELETE", "/api/v1/faults?owner=same-origin", headers={"Sec-Fetch-Site": "same-origin"}).json() == {"deleted": 2}
    # curl -X POST (no body, no content type), curl -H 'Content-Type: application/json' -d ...
    assert c.post("/api/v1/faults", json.dumps({**RULE, "owner": "curl"}), headers={"Content-Type": "application/json"}).status == 201
    assert c.request("DELETE", "/api/v1/faults?owner=curl").json() == {"deleted": 1}
    # A typed URL (Sec-Fetch-Site: none) is the user's own action.
    assert c.get("/api/v1/faults", headers={"Sec-Fetch-Site": "none"}).status == 200
    # Reads are not refused (a browser does not let the other page read the answer anyway).
    assert c.get("/api/v1/messages", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}).status == 200
    # The stateless lint takes a raw message whatever its type.
    r = c.post("/api/v1/lint", b"Subject: x\r\n\r\nbody\r\n", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200 and "findings" in r.json()


def test_pytest_plugin_unchanged(tmp_path: Any) -> None:
    with MoxServer.open(tmp_path / "d") as srv:
        with srv.faults.add(stage="rcpt", recipient="x@plugin.example", action="reply", code=451, text="later"):
            assert [r["recipient"] for r in srv.faults.list()] == ["x@plugin.example"]
        assert srv.reset() == {"deleted": 0, "rules": 0}
        assert "findings" in srv.api("POST", "lint", b"Subject: x\r\n\r\nbody\r\n")


def test_session_endpoints_refuse_cross_site(server: Any, client: Any) -> None:
    """Webmail, account and admin: a session cookie is what a cross-site request would ride on
    (SameSite=Strict keeps browsers from sending it; the Origin check is the second lock)."""
    c = client()
    csrf = login(c, "webmail")
    [cookie] = [v for v in c.set_cookies if v.startswith("webmailsession=")]
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie
    h = {"x-mox-csrf": csrf, "Origin": EVIL}
    r = c.post("/webmail/api/MailboxCreate", json_body={"name": "CrossSite"}, headers=h)
    assert (r.status, r.json()["code"]) == (403, "user:crossSite")
    r = c.post("/webmail/api/MailboxCreate", json_body={"name": "CrossSite"}, headers={"x-mox-csrf": csrf, "Sec-Fetch-Site": "cross-site"})
    assert r.status == 403
    assert c.post("/webmail/api/Mailboxes", json_body={}, headers={"x-mox-csrf": csrf}).status == 200
    assert "CrossSite" not in [m["name"] for m in c.post("/webmail/api/Mailboxes", json_body={}, headers={"x-mox-csrf": csrf}).json()["mailboxes"]]
    # Logging in from another site (login CSRF) and the other interfaces.
    a = client()
    r = a.post("/account/login", json_body={"username": "mox@localhost", "password": "moxmoxmox"}, headers={"Origin": EVIL})
    assert r.status == 403 and a.cookies == {}
    r = a.post("/admin/login", json_body={"password": ADMIN_PASSWORD}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403 and a.cookies == {}
    acsrf = login(a, "admin", "", ADMIN_PASSWORD)
    r = a.post("/admin/api/AccountAdd", json_body={"account": "crosssite", "address": "crosssite@localhost"},
               headers={"x-mox-csrf": acsrf, "Origin": EVIL})
    assert r.status == 403
    assert "crosssite" not in server.ctx.config.accounts
    r = a.post("/account/export", "format=maildir&archive=zip&csrf=x",
               headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
    assert r.status == 403


def test_webapi_refuses_cross_site(server: Any, client: Any) -> None:
    """Basic auth credentials a browser remembers would be sent along with a cross-site form."""
    c = client()
    req = {"To": [{"Address": "cross-webapi@example.org"}], "Subject": "cross", "Text": "x"}
    r = c.post("/webapi/v0/Send", form={"request": json.dumps(req)}, auth=("mox@localhost", "moxmoxmox"),
               headers={"Origin": EVIL})
    assert (r.status, r.json()["code"]) == (403, "user:crossSite")
    r = c.post("/webapi/v0/Send", form={"request": json.dumps(req)}, auth=("mox@localhost", "moxmoxmox"),
               headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403
    assert client().get("/api/v1/wait?to=cross-webapi@example.org&timeout=0.5").json()["total"] == 0
    # mox's own clients (no Origin) and the example form on the same origin still work.
    port = server.ports["http"]
    r = c.post("/webapi/v0/Send", form={"request": json.dumps(req)}, auth=("mox@localhost", "moxmoxmox"),
               headers={"Origin": f"http://127.0.0.1:{port}", "Host": f"127.0.0.1:{port}"})
    assert r.status == 200, r.body
