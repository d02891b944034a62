"""Web benchmark: the test API and webapi on an account with many messages.

    python bench/bench_web.py [--messages 10000] [--requests 200] [--quick] [--smoke]

An account with ``--messages`` small messages (100 recipients, distinct subjects) is written
straight into the store (fsync off), then the whole localserve runs in a background thread
(mox.testing.LocalServer) and one keep-alive HTTP connection on 127.0.0.1 times, ``--requests``
times each:

- list the newest 50 (``GET /api/v1/messages?limit=50``);
- search by exact recipient (``to=``, 100 matches) and by subject substring (a full scan);
- open one message (``GET /api/v1/messages/<id>``: parse, text, links, codes);
- webapi ``MessageGet`` of one message (basic auth each time, cheap scrypt cost as in the tests).
- webmail (logged in with a session cookie and the CSRF header, as the single page does): list
  the newest 50 of the Inbox, search (``subject:`` and free text, newest 50), open one
  (``Message``: parse, headers, text, attachments; ``mark_read`` off so every request does the same).

Reports p50/p95 latency in milliseconds and the index build time at start.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def populate(d: Path, n: int) -> None:
    from mox import localserve, mlog
    from mox.store import Store
    from mox.auth import password as pwmod

    mlog.set_level("error")
    localserve.prepare(d, port_base=0)
    store = Store(d, fsync=False)
    try:
        if "mox" not in store.account_names():
            store.create_account("mox")
        acc = store.open_account("mox")
        try:
            saved = pwmod.SCRYPT_N
            pwmod.SCRYPT_N = 1 << 4
            try:
                acc.set_password_sync(localserve.PASSWORD)
            finally:
                pwmod.SCRYPT_N = saved
            for i in range(n):
                data = (
                    f"From: App <app{i % 7}@example.org>\r\nTo: user-{i % 100}@bench.example\r\n"
                    f"Subject: Message number {i}\r\nMessage-ID: <m{i}@bench.example>\r\n\r\n"
                    f"Hello, your verification code is {100000 + i}.\r\nOpen https://app.example/m/{i}\r\n"
                ).encode()
                acc.deliver_sync("Inbox", data)
        finally:
            acc.close()
    finally:
        store.close()


def timed(conn: http.client.HTTPConnection, method: str, path: str, n: int, body=None, headers=None) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        out.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
    return out


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="1,000 messages, 50 requests")
    ap.add_argument("--smoke", action="store_true", help="the smallest sizes, one command or message per measurement: shows that the script "
                        "still runs against the current code (CI runs it); the numbers measure nothing")
    args = ap.parse_args(argv)
    if args.quick:
        args.messages, args.requests = 1000, 50
    if args.smoke:
        args.messages, args.requests = 50, 1
        print("smoke run (smallest sizes): the numbers measure nothing", flush=True)

    from mox import mlog
    from mox.auth import password as pwmod
    from mox.testing import LocalServer

    with tempfile.TemporaryDirectory(prefix="mox-bench-web-") as tmp:
        d = Path(tmp) / "data"
        t0 = time.perf_counter()
        populate(d, args.messages)
        print(f"populated {args.messages} messages in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        mlog.set_level("error")
        pwmod.SCRYPT_N = 1 << 4
        t0 = time.perf_counter()
        with LocalServer(d, check_consistency=False) as srv:
            start = time.perf_counter() - t0
            conn = http.client.HTTPConnection("127.0.0.1", srv.ports["http"], timeout=60)
            n = args.requests
            t1 = time.perf_counter()
            newest = json.loads(_get(conn, "/api/v1/messages?limit=1"))
            first = time.perf_counter() - t1
            msg_id = newest["messages"][0]["id"]
            auth = {
                "Authorization": "Basic " + base64.b64encode(b"mox@localhost:moxmoxmox").decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            results = {
                "list newest 50": timed(conn, "GET", "/api/v1/messages?limit=50", n),
                "search to= (exact recipient), newest 50": timed(
                    conn, "GET", "/api/v1/messages?to=user-42@bench.example&limit=50", n
                ),
                "search subject substring (full scan), newest 50": timed(
                    conn, "GET", "/api/v1/messages?subject=number%2012&limit=50", n
                ),
                "open one (details, links, codes)": timed(conn, "GET", f"/api/v1/messages/{msg_id}", n),
                "webapi MessageGet": timed(
                    conn, "POST", "/webapi/v0/MessageGet", n, body=f'request={{"MsgID":{msg_id}}}', headers=auth
                ),
            }
            results.update(webmail_rows(conn, n))
            conn.close()
    print(
        f"messages: {args.messages}, requests per row: {args.requests}, localserve start: {start * 1000:.0f} ms, "
        f"first test API answer after that (index built): {first * 1000:.0f} ms"
    )
    print("| request | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, xs in results.items():
        print(f"| {name} | {statistics.median(xs):.1f} | {pct(xs, 95):.1f} |")
    return 0


def webmail_rows(conn: http.client.HTTPConnection, n: int) -> dict[str, list[float]]:
    """The webmail JSON API the browser page uses, on the same connection."""
    conn.request("POST", "/webmail/login", body=json.dumps({"username": "mox@localhost", "password": "moxmoxmox"}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"webmail login: {r.status} {body[:200]!r}")
    cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    h = {"Content-Type": "application/json", "Cookie": cookie, "x-mox-csrf": json.loads(body)["csrf"]}

    def call(method: str, obj: dict) -> dict:
        conn.request("POST", f"/webmail/api/{method}", body=json.dumps(obj), headers=h)
        return json.loads(conn.getresponse().read())

    inbox = next(m["id"] for m in call("Mailboxes", {})["mailboxes"] if m["name"] == "Inbox")
    newest = call("Messages", {"mailbox": inbox, "limit": 1})["messages"][0]
    api = "/webmail/api/"

    def q(obj: dict) -> str:
        return json.dumps(obj)

    return {
        "webmail: list Inbox newest 50": timed(conn, "POST", api + "Messages", n, q({"mailbox": inbox, "limit": 50}), h),
        "webmail: search subject: (full scan), newest 50": timed(
            conn, "POST", api + "Messages", n, q({"mailbox": inbox, "query": "subject:number subject:12", "limit": 50}), h
        ),
        "webmail: search free text, newest 50": timed(
            conn, "POST", api + "Messages", n, q({"mailbox": inbox, "query": "verification 10123", "limit": 50}), h
        ),
        "webmail: open one (Message)": timed(
            conn, "POST", api + "Message", n, q({"mailbox": newest["mailbox"], "uid": newest["uid"], "mark_read": False}), h
        ),
    }


def _get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    return conn.getresponse().read()


if __name__ == "__main__":
    raise SystemExit(main())
