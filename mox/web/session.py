"""Web login sessions, cookies and CSRF tokens (mox ``webauth/webauth.go``).

Three kinds, one per interface: ``account`` and ``webmail`` log in with an account address and
password, ``admin`` with the admin password (the hashed ``adminpasswd`` file). A session is a
random token in an HttpOnly, SameSite=Strict cookie scoped to the interface (``Secure`` over
HTTPS) plus a CSRF token the page keeps and sends as ``x-mox-csrf`` on every call that changes
something. Sessions live in memory: account sessions 24 h after last use (at most 100 per
account), admin sessions 12 h (at most 10). Failed logins count in the shared limiter and cost
a second.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from mox import config as mconfig
from mox import mlog
from mox.auth import password as pwmod
from mox.context import ServerContext
from mox.web.router import Guard, HTTPError, Request, Response, Router, json_response

log = mlog.get_logger("http")

KINDS = ("account", "webmail", "admin")
COOKIE_NAMES = {"account": "webaccountsession", "webmail": "webmailsession", "admin": "webadminsession"}
ACCOUNT_LIFETIME = 24 * 3600.0
ADMIN_LIFETIME = 12 * 3600.0
MAX_ACCOUNT_SESSIONS = 100
MAX_ADMIN_SESSIONS = 10
FAILED_LOGIN_DELAY = 1.0
CSRF_HEADER = "x-mox-csrf"


@dataclass
class Session:
    token: str
    csrf: str
    kind: str
    account: str | None
    address: str | None
    created: float
    last_used: float

    def account_name(self) -> str:
        """The account of a webmail or account session (an admin session has none)."""
        if self.account is None:
            raise HTTPError(403, "user:noAccount", "this session belongs to no account")
        return self.account


class Sessions:
    """All web sessions, in memory."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.by_token: dict[str, Session] = {}

    def _lifetime(self, kind: str) -> float:
        return ADMIN_LIFETIME if kind == "admin" else ACCOUNT_LIFETIME

    def new(self, kind: str, account: str | None, address: str | None) -> Session:
        now = self.clock()
        self.expire()
        same = sorted(
            (s for s in self.by_token.values() if s.kind == kind and s.account == account),
            key=lambda s: s.last_used,
        )
        limit = MAX_ADMIN_SESSIONS if kind == "admin" else MAX_ACCOUNT_SESSIONS
        for old in same[: max(0, len(same) - limit + 1)]:
            del self.by_token[old.token]
        s = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24), kind, account, address, now, now)
        self.by_token[s.token] = s
        return s

    def get(self, kind: str, token: str | None) -> Session | None:
        if not token:
            return None
        s = self.by_token.get(token)
        if s is None or s.kind != kind:
            return None
        now = self.clock()
        if now - s.last_used > self._lifetime(kind):
            del self.by_token[token]
            return None
        s.last_used = now
        return s

    def remove(self, token: str) -> None:
        self.by_token.pop(token, None)

    def remove_account(self, account: str) -> None:
        """Log out every session of an account (after a password change, as mox)."""
        for token in [t for t, s in self.by_token.items() if s.account == account]:
            del self.by_token[token]

    def expire(self) -> None:
        now = self.clock()
        for token in [t for t, s in self.by_token.items() if now - s.last_used > self._lifetime(s.kind)]:
            del self.by_token[token]


def _sessions(req: Request) -> Sessions:
    return req.ctx.web.sessions


def check_csrf(req: Request, session: Session) -> None:
    """HTTPError 403 unless header x-mox-csrf (or form field csrf) equals the session's token."""
    got = req.header(CSRF_HEADER)
    if got is None and (req.header("content-type") or "").lower().startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        got = next(iter(req.form().get("csrf") or []), None)
    if not got or not hmac.compare_digest(got.encode("utf-8"), session.csrf.encode("utf-8")):
        raise HTTPError(403, "user:badCSRF", f"missing or wrong csrf token (header {CSRF_HEADER})")


def require_session(req: Request, kind: str = "account", *, csrf: bool | None = None) -> Session:
    """The logged-in session of ``kind`` for req, with the CSRF check (by default for every
    method except GET and HEAD); HTTPError 403 otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown session kind {kind!r}")
    s = _sessions(req).get(kind, req.cookies.get(COOKIE_NAMES[kind]))
    if s is None:
        raise HTTPError(403, "user:noAuth", "not logged in")
    if csrf is None:
        csrf = req.method not in ("GET", "HEAD")
    if csrf:
        check_csrf(req, s)
    return s


def session_cookie(req: Request, kind: str, value: str, *, max_age: int | None = None) -> tuple[str, str]:
    parts = [f"{COOKIE_NAMES[kind]}={value}", f"Path=/{kind}/", "HttpOnly", "SameSite=Strict"]
    if req.tls:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return ("Set-Cookie", "; ".join(parts))


def _credentials(req: Request) -> tuple[str, str]:
    ctype = (req.header("content-type") or "").lower()
    if ctype.startswith("application/json"):
        obj = req.json()
        if not isinstance(obj, dict):
            raise HTTPError(400, "user:badRequest", "login request must be a JSON object")
        username, password = obj.get("username", ""), obj.get("password", "")
    else:
        form = req.form()
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
    if not isinstance(username, str) or not isinstance(password, str):
        raise HTTPError(400, "user:badRequest", "username and password must be strings")
    return username, password


# One rewrite of the admin password file at a time (write_file uses one temporary name).
_admin_file_lock = threading.Lock()


def check_admin_password(ctx: ServerContext, password: str) -> bool:
    """The admin password check: the accounts' scheme (PRECIS, scrypt; mox.auth.password), slow
    by design: call it through :func:`check_admin_password_async`. A file still in the old
    PBKDF2 form is accepted and, after a successful check, rewritten in the current form."""
    path = ctx.config.admin_password_file
    if not path:
        return False
    try:
        stored = Path(path).read_text(encoding="utf-8")
    except OSError:
        return False
    check = pwmod.check_password_line(stored, password)
    if check.ok and check.outdated:
        with _admin_file_lock:
            try:
                if Path(path).read_text(encoding="utf-8") == stored:  # not rewritten meanwhile
                    line = pwmod.encode_password_line(password)
                    mconfig.write_file(Path(path), (line + "\n").encode("ascii"), secret=True)
                    log.info("admin password file rewritten in the current scheme", file=str(path))
            except OSError as e:  # the login still succeeds; the next one tries again
                log.info("rewriting the admin password file", file=str(path), err=str(e))
    return check.ok


async def check_admin_password_async(ctx: ServerContext, password: str) -> bool:
    """check_admin_password in a worker thread under the shared hash limiter; failures count in
    the limiter (by IP) only when the caller records them."""
    from mox.auth.authenticator import run_password_hash

    return bool(await run_password_hash(ctx.limiter, check_admin_password, ctx, password))


def _login_handler(kind: str) -> Any:
    async def login(ctx: ServerContext, req: Request) -> Response:
        username, password = _credentials(req)
        ip = req.remote_ip
        if not ctx.limiter.auth_allowed(ip):
            raise HTTPError(429, "user:tooManyAttempts", "too many authentication attempts")
        if kind == "admin":
            ok = await check_admin_password_async(ctx, password)
            if ok:
                ctx.limiter.auth_succeeded(ip)
            else:
                ctx.limiter.auth_failed(ip)
            account, address = None, None
        else:
            account = await ctx.auth.login_async(username, password, ip=ip)
            ok = account is not None
            address = username
            disabled = ctx.config.login_disabled(account) if account is not None else ""
            if disabled:
                # mox webauth: the account's message, after the password was verified.
                ctx.log.info("account login disabled", kind=kind, username=username)
                raise HTTPError(403, "user:loginFailed", f"login disabled for account: {disabled}")
        if not ok:
            ctx.log.info("web login failed", kind=kind, ip=ip)
            await trio.sleep(FAILED_LOGIN_DELAY)
            raise HTTPError(403, "user:loginFailed", "invalid credentials")
        s = ctx.web.sessions.new(kind, account, address)
        return json_response(
            {"csrf": s.csrf, "account": account, "address": address}, headers=[session_cookie(req, kind, s.token)]
        )

    return login


def _logout_handler(kind: str) -> Any:
    async def logout(ctx: ServerContext, req: Request) -> Response:
        s = require_session(req, kind, csrf=True)
        ctx.web.sessions.remove(s.token)
        return json_response({}, headers=[session_cookie(req, kind, "", max_age=0)])

    return logout


def _session_handler(kind: str) -> Any:
    async def session(ctx: ServerContext, req: Request) -> Response:
        s = require_session(req, kind, csrf=False)
        return json_response({"csrf": s.csrf, "account": s.account, "address": s.address})

    return session


def session_guard(kind: str) -> Guard:
    """A router guard: the request needs a session of ``kind`` (403 before its body is read;
    the CSRF token is checked by the handler, it may be a form field in the body)."""

    async def guard(ctx: ServerContext, req: Request) -> Response | None:
        require_session(req, kind, csrf=False)
        return None

    return guard


#: Login requests carry a user name and a password: small.
LOGIN_BODY_LIMIT = 64 * 1024


def register(router: Router) -> None:
    for kind in KINDS:
        router.add(f"/{kind}/login", _login_handler(kind), methods=("POST",))
        router.add(f"/{kind}/logout", _logout_handler(kind), methods=("POST",))
        router.add(f"/{kind}/session", _session_handler(kind), methods=("GET",))
        router.set_body_limit(f"/{kind}/login", LOGIN_BODY_LIMIT)
        router.set_body_limit(f"/{kind}/logout", LOGIN_BODY_LIMIT)
        router.add_guard(f"/{kind}/logout", session_guard(kind))
        router.add_guard(f"/{kind}/api/", session_guard(kind))
