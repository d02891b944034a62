"""mox's web side: HTTP/1.1 on trio with h11, one router for the http and https listeners.

    mox/web/app.py         WebApp: the router with every page registered, sessions, background tasks
    mox/web/http.py        h11-over-trio driver: limits, timeouts, security headers, websocket hand-off
    mox/web/router.py      Request, Response, Router, HTTPError, json/static helpers
    mox/web/access.py      who may call what: local callers, Host rule, cross-site check
    mox/web/session.py     sessions, cookies, CSRF; /<kind>/login, /logout, /session
    mox/web/index.py       the / page and /readyz
    mox/web/webapi.py      /webapi/v0/ (as mox)
    mox/web/testapi.py     /api/v1/ (beyond mox: list, search, get, delete, wait)
    mox/web/testapi_ci.py  /api/v1/ test and CI features (faults, transcripts, lint)
    mox/web/webaccount.py  /account/, the account page
    mox/web/webmail.py     /webmail/ (with live.py: its websocket, and sanitize.py: message HTML)
    mox/web/webadmin.py    /admin/, the admin page
    mox/web/submit.py      what webapi Send and webmail Submit add to a message (DKIM)
    mox/web/static/        files shipped in the package (static/common/: shared by every page)

Import the modules themselves; this package re-exports nothing.
"""
