"""POSTing a webhook: one HTTP/1.1 request with h11 over a trio stream (mox ``queue.HookPost``).

- Only ``http`` and ``https`` URLs; https verifies the server's certificate and name (the
  system's trust store). No redirects are followed: only ``200 OK`` is a success, as in mox.
- Headers as mox sends them: ``User-Agent: mox/<version> (webhook)``, ``Content-Type:
  application/json; charset=utf-8``, ``X-Mox-Webhook-ID``, ``X-Mox-Webhook-Attempt`` and, when
  configured, ``Authorization``.
- Bounded: the whole exchange has a deadline (60 s, as mox's), the response head at most 64 KiB,
  and at most :data:`MAX_RESPONSE` bytes of the body are read and kept; then the connection is
  closed. Name resolution runs in a worker thread (trio), never blocking the event loop.
"""

from __future__ import annotations

import ssl
import urllib.parse
from dataclasses import dataclass

import trio

import mox

#: Seconds for connecting, sending and reading the answer (mox: a 60 s context).
TIMEOUT = 60.0
#: Response body bytes kept in a result (mox: 512).
MAX_RESPONSE = 512
MAX_HEAD = 64 * 1024


class URLError(ValueError):
    """Not a webhook URL we can call (scheme, host, port)."""


@dataclass
class PostResult:
    code: int  # HTTP status, 0 when there was none
    response: str  # at most MAX_RESPONSE bytes of the body, decoded leniently
    error: str  # "" on success (status 200)


def check_url(url: str) -> urllib.parse.SplitResult:
    """The parsed URL, or URLError: http/https, a host, a valid port (mox xvalidURL)."""
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as e:
        raise URLError(f"parsing url: {e}") from None
    if u.scheme not in ("http", "https"):
        raise URLError("parsing url: scheme must be http or https")
    if not u.hostname:
        raise URLError("parsing url: missing host")
    if port == 0:
        raise URLError("parsing url: port 0")
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in url):
        raise URLError("parsing url: control characters or spaces")
    return u


def user_agent() -> str:
    return f"mox/{mox.__version__} (webhook)"


async def post(
    url: str,
    authorization: str,
    payload: bytes,
    *,
    hook_id: int,
    attempt: int,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> PostResult:
    """POST ``payload`` to ``url``; never raises for network or HTTP trouble (the result says)."""
    try:
        u = check_url(url)
    except URLError as e:
        return PostResult(0, "", str(e))
    host = u.hostname or ""
    port = u.port or (443 if u.scheme == "https" else 80)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    host_header = u.netloc.rpartition("@")[2]
    headers = [
        ("Host", host_header),
        ("User-Agent", user_agent()),
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(len(payload))),
        ("X-Mox-Webhook-ID", str(hook_id)),
        ("X-Mox-Webhook-Attempt", str(attempt)),
        ("Connection", "close"),
    ]
    if authorization:
        headers.append(("Authorization", authorization))
    import h11  # at the first webhook, not at every start

    try:
        with trio.fail_after(timeout):
            stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
            try:
                if u.scheme == "https":
                    ctx = ssl_context or ssl.create_default_context()
                    stream = trio.SSLStream(stream, ctx, server_hostname=host, https_compatible=True)
                    await stream.do_handshake()
                return await _exchange(stream, target, headers, payload)
            finally:
                await trio.aclose_forcefully(stream)
    except trio.TooSlowError:
        return PostResult(0, "", f"http transact: no response within {timeout:g}s")
    except (OSError, trio.BrokenResourceError, ssl.SSLError) as e:
        return PostResult(0, "", f"http transact: {e}")
    except (h11.RemoteProtocolError, h11.LocalProtocolError) as e:
        return PostResult(0, "", f"http transact: bad http: {e}")


async def _exchange(stream: trio.abc.Stream, target: str, headers: list[tuple[str, str]], payload: bytes) -> PostResult:
    import h11

    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    await stream.send_all(conn.send(h11.Request(method="POST", target=target, headers=headers)))
    await stream.send_all(conn.send(h11.Data(data=payload)))
    await stream.send_all(conn.send(h11.EndOfMessage()))
    status = 0
    reason = ""
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(16384)
            conn.receive_data(bytes(data))  # b"" means EOF
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            reason = event.reason.decode("latin-1", errors="replace")
            continue
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) >= MAX_RESPONSE:
                break  # enough: the rest is not read
            continue
        break  # EndOfMessage, ConnectionClosed
    if status == 0:
        return PostResult(0, "", "http transact: connection closed before a response")
    response = bytes(body[:MAX_RESPONSE]).decode("utf-8", errors="replace")
    error = ""
    if status != 200:  # mox: `http status "500 Internal Server Error", expected 200 ok`
        error = f'http status "{(str(status) + " " + reason).strip()}", expected 200 ok'
    return PostResult(status, response, error)
