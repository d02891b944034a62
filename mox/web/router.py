"""Requests, responses and the router every web page plugs into (docs/architecture.md, "mox.web").

A handler is ``async def handler(ctx, req: Request) -> Response``. It may raise
:class:`HTTPError` anywhere; the driver turns that into a JSON error. Routes are exact paths,
patterns with ``{name}`` segments, or prefixes (ending in ``/``); exact and pattern routes win
over prefixes, the longest prefix wins among prefixes.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from mox.context import ServerContext

_json_encoder = msgspec.json.Encoder()


class HTTPError(Exception):
    """Raised by handlers; answered as ``{"code": code, "message": message}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = list(headers)


@dataclass
class FormFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    ctx: ServerContext
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    remote_ip: str = ""
    tls: bool = False
    cookies: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    #: set by the driver when the client closes its side while the handler runs (long-polls
    #: watch it to stop early); None outside the driver.
    disconnected: Any = None
    #: who is calling, as a guard established it before the body was read (e.g. the test
    #: API's mox.web.access.Caller, the webapi's (account, address)).
    principal: Any = None
    _form: tuple[dict[str, list[str]], list[FormFile]] | None = field(default=None, repr=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def arg(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default

    def json(self) -> Any:
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError as e:
            raise HTTPError(400, "user:badJSON", f"malformed JSON in request body: {e}") from None

    def form(self) -> dict[str, list[str]]:
        return self._parse_form()[0]

    def files(self) -> list[FormFile]:
        return self._parse_form()[1]

    def _parse_form(self) -> tuple[dict[str, list[str]], list[FormFile]]:
        if self._form is None:
            self._form = parse_form(self.header("content-type") or "", self.body)
        return self._form


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[FormFile]]:
    """Fields of an urlencoded or multipart/form-data body (HTTPError 400 when malformed)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in ("", "application/x-www-form-urlencoded"):
        try:
            text = body.decode("utf-8")
            return urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=False), []
        except (UnicodeDecodeError, ValueError) as e:
            raise HTTPError(400, "user:badRequest", f"malformed form data: {e}") from None
    if ctype == "multipart/form-data":
        return _parse_multipart(content_type, body)
    raise HTTPError(415, "user:badContentType", f"unsupported content-type {ctype!r} for form data")


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[FormFile]]:
    # The stdlib's email package (and http.cookies, gzip, mimetypes below) are imported where
    # used: this module is loaded at every start (the metrics listener), a request may never come.
    import email.parser
    import email.policy

    head = b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    try:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    except Exception as e:  # noqa: BLE001 - the stdlib parser is lenient; be safe anyway
        raise HTTPError(400, "user:badRequest", f"malformed multipart form data: {e}") from None
    if not msg.is_multipart() or msg.defects:
        raise HTTPError(400, "user:badRequest", "malformed multipart form data")
    fields: dict[str, list[str]] = {}
    files: list[FormFile] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            # A file input with no file chosen: browsers send an empty part with filename=""
            # (HTML's form submission algorithm); that is no file.
            if filename or data:
                files.append(FormFile(str(name), filename, part.get_content_type(), data))
        else:
            charset = part.get_content_charset() or "utf-8"
            try:
                fields.setdefault(str(name), []).append(data.decode(charset))
            except (LookupError, UnicodeDecodeError):
                raise HTTPError(400, "user:badRequest", f"form field {name!r} is not valid {charset}") from None
    return fields, files


def parse_cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    from http.cookies import CookieError, SimpleCookie

    out: dict[str, str] = {}
    for k, v in headers:
        if k != "cookie":
            continue
        for piece in v.split(";"):
            c = SimpleCookie()
            try:
                c.load(piece.strip())
            except CookieError:
                continue
            for name, morsel in c.items():
                out.setdefault(name, morsel.value)
    return out


@dataclass
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


def json_response(obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store"), *headers],
        _json_encoder.encode(obj) + b"\n",
    )


def json_error(status: int, code: str, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return json_response({"code": code, "message": message}, status, headers)


def text_response(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, [("Content-Type", content_type)], text.encode("utf-8"))


def html_response(html: str, status: int = 200) -> Response:
    return text_response(html, status, "text/html; charset=utf-8")


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, [("Location", location), ("Content-Type", "text/plain; charset=utf-8")], b"")


# Static files.

_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")
_TYPES = {
    "html": "text/html",
    "js": "text/javascript",
    "mjs": "text/javascript",
    "css": "text/css",
    "json": "application/json",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
    "woff2": "font/woff2",
    "txt": "text/plain",
}
_static_cache: dict[str, tuple[bytes, bytes | None, str, str]] = {}


def _static_root() -> Any:
    """mox/web/static/ (a Traversable: a directory, or inside the one-file archive)."""
    return importlib.resources.files("mox.web").joinpath("static")


def _load_static(relpath: str) -> tuple[bytes, bytes | None, str, str] | None:
    """(data, gzipped or None, content type, etag) of mox/web/static/<relpath>, cached."""
    hit = _static_cache.get(relpath)
    if hit is not None:
        return hit
    from mox.names import static_parts

    # Every component a valid file name on every platform: no "..", "D:", "con", backslash.
    got = static_parts(relpath)
    if got is None:
        return None
    parts = list(got)
    node = _static_root()
    for p in parts:
        node = node.joinpath(p)
    try:
        if not node.is_file():
            return None
        data = node.read_bytes()
    except OSError:
        return None
    import gzip
    import mimetypes

    ext = parts[-1].rpartition(".")[2].lower()
    # A fixed table first: the system's mime database differs (Windows reads the registry).
    ctype = _TYPES.get(ext) or mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json", "image/svg+xml"):
        ctype += "; charset=utf-8"
    gz = gzip.compress(data, 6, mtime=0) if ctype.startswith(_COMPRESSIBLE) and len(data) > 256 else None
    etag = '"' + hashlib.sha256(data).hexdigest()[:24] + '"'
    _static_cache[relpath] = (data, gz, ctype, etag)
    return _static_cache[relpath]


def accepts_gzip(req: Request) -> bool:
    for enc in (req.header("accept-encoding") or "").split(","):
        name, _, params = enc.strip().partition(";")
        if name.strip().lower() in ("gzip", "*") and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def static_response(req: Request, relpath: str, *, cache: str = "no-cache") -> Response:
    """A file from mox/web/static/, with ETag/304, gzip when accepted, and Cache-Control."""
    got = _load_static(relpath)
    if got is None:
        raise HTTPError(404, "user:notFound", "file not found")
    data, gz, ctype, etag = got
    headers = [("Content-Type", ctype), ("ETag", etag), ("Cache-Control", cache)]
    if gz is not None:
        headers.append(("Vary", "Accept-Encoding"))
    inm = req.header("if-none-match")
    if inm is not None and etag in [t.strip() for t in inm.split(",")]:
        return Response(304, headers, b"")
    if gz is not None and accepts_gzip(req):
        headers.append(("Content-Encoding", "gzip"))
        return Response(200, headers, gz)
    return Response(200, headers, data)


# Routing.

Handler = Callable[[Any, Request], Awaitable[Response]]
WebSocketHandler = Callable[[Any, Request, Any], Awaitable[None]]


@dataclass
class Route:
    pattern: str
    handler: Any
    methods: tuple[str, ...] | None
    websocket: bool = False
    segments: tuple[str, ...] = ()

    def match(self, path: str) -> dict[str, str] | None:
        if "{" not in self.pattern:
            return {} if path == self.pattern else None
        got = path.split("/")
        if len(got) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for want, have in zip(self.segments, got):
            if want.startswith("{") and want.endswith("}"):
                if not have:
                    return None
                params[want[1:-1]] = have
            elif want != have:
                return None
        return params


#: Request body limit of routes that set none (JSON calls): 1 MiB.
DEFAULT_BODY_LIMIT = 1024 * 1024

#: A check that runs on the request head, before its body is read (authentication): returns a
#: Response to send instead of running the handler (the body is then never read), or None.
Guard = Callable[["ServerContext", Request], Awaitable["Response | None"]]


class Router:
    def __init__(self) -> None:
        self.exact: list[Route] = []
        self.prefixes: list[Route] = []
        self.websockets: list[Route] = []
        #: service roots ("/webmail/") whose slash-less path redirects to them.
        self.roots: set[str] = set()
        #: path prefix -> request body limit (bytes, or a function of ctx), instead of the default.
        self.body_limits: dict[str, int | Callable[[Any], int]] = {}
        #: (path prefix, methods or None for all, guard), in registration order.
        self.guards: list[tuple[str, tuple[str, ...] | None, Guard]] = []

    def set_body_limit(self, prefix: str, limit: int | Callable[[Any], int]) -> None:
        """Bodies of requests below ``prefix`` (the longest matching prefix counts) may have at
        most ``limit`` bytes (413 above it, decided before reading when Content-Length says so)."""
        self.body_limits[prefix] = limit

    def body_limit(self, ctx: ServerContext, path: str, default: int = DEFAULT_BODY_LIMIT) -> int:
        best = ""
        for prefix in self.body_limits:
            if path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        if not best:
            return default
        limit = self.body_limits[best]
        return limit(ctx) if callable(limit) else limit

    def add_guard(self, prefix: str, guard: Guard, *, methods: Iterable[str] | None = None) -> None:
        """Run ``guard`` for requests below ``prefix`` (with one of ``methods``) on the head,
        before the body is read: authentication from headers comes first, so an unauthenticated
        client never gets to send a body."""
        self.guards.append((prefix, tuple(m.upper() for m in methods) if methods is not None else None, guard))

    async def check_guards(self, ctx: ServerContext, req: Request) -> Response | None:
        for prefix, methods, guard in self.guards:
            if req.path.startswith(prefix) and (methods is None or req.method in methods):
                resp = await guard(ctx, req)
                if resp is not None:
                    return resp
        return None

    def add(self, pattern: str, handler: Handler, *, methods: Iterable[str] | None = None) -> None:
        if not pattern.startswith("/"):
            raise ValueError(f"route must start with /: {pattern!r}")
        meths = tuple(m.upper() for m in methods) if methods is not None else None
        if meths is not None and "GET" in meths and "HEAD" not in meths:
            meths += ("HEAD",)
        route = Route(pattern, handler, meths, segments=tuple(pattern.split("/")))
        if pattern.endswith("/") and pattern != "/" and "{" not in pattern:
            self.prefixes.append(route)
            self.prefixes.sort(key=lambda r: len(r.pattern), reverse=True)
            if pattern.count("/") == 2:
                self.roots.add(pattern)
        else:
            self.exact.append(route)

    def add_websocket(self, pattern: str, handler: WebSocketHandler) -> None:
        self.websockets.append(Route(pattern, handler, ("GET",), True, tuple(pattern.split("/"))))

    def add_static(self, prefix: str, subdir: str, *, cache: str = "no-cache") -> None:
        """Serve the files of mox/web/static/<subdir>/ below ``prefix`` (GET/HEAD)."""
        if not prefix.endswith("/"):
            raise ValueError("static prefix must end with /")

        async def serve_static(ctx: ServerContext, req: Request) -> Response:
            rel = req.path[len(prefix) :]
            return static_response(req, f"{subdir.strip('/')}/{rel}" if subdir else rel, cache=cache)

        self.add(prefix, serve_static, methods=("GET",))

    def resolve(self, req: Request) -> Route:
        """The route for req (req.params filled in), or HTTPError 404/405."""
        wrong_method = False
        for route in self.exact:
            params = route.match(req.path)
            if params is None:
                continue
            if route.methods is not None and req.method not in route.methods:
                wrong_method = True
                continue
            req.params = params
            return route
        for route in self.prefixes:
            if req.path.startswith(route.pattern):
                if route.methods is not None and req.method not in route.methods:
                    wrong_method = True
                    continue
                return route
        if wrong_method:
            raise HTTPError(405, "user:methodNotAllowed", f"method {req.method} not allowed for {req.path}")
        if req.path + "/" in self.roots:
            raise _Redirect(req.path + "/")
        raise HTTPError(404, "user:notFound", f"no such path: {req.path}")

    def resolve_websocket(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.websockets:
            params = route.match(path)
            if params is not None:
                return route, params
        return None


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


async def dispatch(router: Router, req: Request) -> Response:
    """Route and run a handler; HTTPError becomes a JSON error (other exceptions propagate)."""
    try:
        route = router.resolve(req)
    except _Redirect as r:
        return redirect(r.location)
    except HTTPError as e:
        return json_error(e.status, e.code, e.message, e.headers)
    return await run_route(route, req)


def resolve_or_response(router: Router, req: Request) -> Route | Response:
    """The route for req, or the response that answers it instead (404, 405, a redirect)."""
    try:
        return router.resolve(req)
    except _Redirect as r:
        return redirect(r.location)
    except HTTPError as e:
        return json_error(e.status, e.code, e.message, e.headers)


async def run_route(route: Route, req: Request) -> Response:
    """Run a resolved route's handler; HTTPError becomes a JSON error (other exceptions propagate)."""
    try:
        return await route.handler(req.ctx, req)
    except HTTPError as e:
        return json_error(e.status, e.code, e.message, e.headers)
