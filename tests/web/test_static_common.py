"""The pages share their API client, login flow and base style sheet from /static/common/: each
page loads them (files: the CSP allows no inline script or style) and keeps no copy of its own."""

from __future__ import annotations

import re
from typing import Any

# The page, and the script that makes its call() with the shared client.
PAGES = {"/webmail/": "/webmail/static/webmail.js", "/account/": "/account/static/account.js", "/admin/": "/admin/static/admin.js"}


def test_pages_load_the_common_files(server: Any, client: Any) -> None:
    c = client()
    for path in ("/static/common/api.js", "/static/common/dom.js", "/static/common/login.js", "/static/common/base.css", "/static/common/settings.css"):
        r = c.get(path)
        assert r.status == 200, path
        assert (r.header("content-type") or "").split(";")[0] in ("text/javascript", "application/javascript", "text/css")
    for page, script in PAGES.items():
        html = c.get(page).body.decode("utf-8")
        links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
        scripts = re.findall(r'<script src="([^"]+)" defer></script>', html)
        assert links[0] == "/static/common/base.css", page
        assert scripts[:4] == ["/static/common/dom.js", "/static/common/api.js", "/static/common/login.js", script], page
        assert "<style" not in html and " style=" not in html and "<script>" not in html
        assert "apiCaller(" in c.get(script).body.decode("utf-8"), script
        for src in scripts[3:]:
            js = c.get(src).body.decode("utf-8")
            # The page's API calls go through the shared client: no fetch of its own JSON API.
            assert not re.search(r"fetch\('/\w+/api/' \+", js), src
            assert "class APIError" not in js and "async function call(" not in js, src
            # Logging in, resuming the session and logging out through the shared login flow.
            assert "/login'" not in js and "/session'" not in js and "/logout'" not in js, src
        assert "pageLogin(" in c.get(script).body.decode("utf-8"), script
