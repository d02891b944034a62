"""`mox webapi [METHOD [BASEURL]]`: the command-line client of the webapi (main.go cmdWebapi).

Without arguments: the method names. With a METHOD: an example request and response. With a
METHOD and a base URL holding the credentials (``http://mox%40localhost:moxmoxmox@localhost:1080/webapi/v0/``):
the request JSON is read from standard input, checked, sent as mox sends it (form field
``request``, HTTP basic auth from the URL), and the response printed as JSON. An API error
(HTTP 400) is printed as JSON and exits 1. Unlike mox, the raw output of MessageRawGet and
MessagePartGet is written as is, and other HTTP errors exit 1 too.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

#: Methods whose result is the message data, not JSON.
RAW_METHODS = ("MessageRawGet", "MessagePartGet")

#: Example results, with mox's field names (webapi/webapi.go).
_EXAMPLE_RESULTS: dict[str, Any] = {
    "Send": {"MessageID": "<example@localhost>", "Submissions": [{"Address": "mox@localhost", "QueueMsgID": 1, "FromID": "example"}]},
    "SuppressionList": {"Suppressions": [{"ID": 1, "Created": "2024-01-01T00:00:00Z", "Account": "mox", "BaseAddress": "bob@example.org",
                                          "OriginalAddress": "bob@example.org", "Manual": True, "Reason": "unsubscribed"}]},
    "SuppressionAdd": {},
    "SuppressionRemove": {},
    "SuppressionPresent": {"Present": True},
    "MessageGet": {
        "Message": {"From": [{"Name": "", "Address": "mox@localhost"}], "To": [{"Name": "", "Address": "mox@localhost"}],
                    "Subject": "hi", "MessageID": "<example@localhost>", "Date": "2024-01-01T00:00:00Z"},
        "Structure": {"ContentType": "text/plain", "ContentTypeParams": {"charset": "utf-8"}, "ContentID": "", "DecodedSize": 5, "Parts": []},
        "Meta": {"Size": 100, "DSN": False, "Flags": [], "MailFrom": "", "MailFromValidated": False, "MsgFrom": "mox@localhost",
                 "MsgFromValidated": True, "DKIMVerifiedDomains": [], "RemoteIP": "", "MailboxName": "Inbox"},
    },
    "MessageDelete": {},
    "MessageFlagsAdd": {},
    "MessageFlagsRemove": {},
    "MessageMove": {},
}


def _methods() -> dict[str, str]:
    """Method name -> example request JSON, sorted by name as mox lists them."""
    from mox.web.webapi import METHODS

    return {name: METHODS[name][-1] for name in sorted(METHODS)}


def _print_json(obj: Any, prefix: str = "") -> None:
    text = json.dumps(obj, indent="\t", ensure_ascii=False)
    click.echo("\n".join(prefix + line for line in text.splitlines()))


def _call(method: str, baseurl: str, request: bytes) -> tuple[int, bytes, str]:
    from mox.cli import UserError

    u = urllib.parse.urlsplit(baseurl + method)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise UserError(f"http post: bad base url {baseurl!r}, want http(s)://user:password@host:port/webapi/v0/")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if u.username is not None:
        cred = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode("utf-8")).decode("ascii")
    netloc = u.hostname if ":" not in u.hostname else f"[{u.hostname}]"
    if u.port is not None:
        netloc += f":{u.port}"
    url = urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, ""))
    body = urllib.parse.urlencode({"request": request.decode("utf-8")}).encode("ascii")
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read(), f"{resp.status} {resp.reason}"
    except urllib.error.HTTPError as e:
        return e.code, e.read(), f"{e.code} {e.reason}"
    except (urllib.error.URLError, OSError) as e:
        raise UserError(f"http post: {getattr(e, 'reason', e)}") from None


@click.command("webapi")
@click.argument("method", required=False)
@click.argument("baseurl", metavar="[BASEURL-WITH-CREDENTIALS]", required=False)
def webapi(method: str | None, baseurl: str | None) -> None:
    """Lists available methods, prints request/response parameters for method, or calls a method
    with a request read from standard input."""
    from mox.cli import UserError

    methods = _methods()
    if method is None:
        click.echo("\n".join(methods))
        return
    if method not in methods:
        raise UserError(f"unknown method {method!r}")
    if baseurl is None:
        click.echo("# Example request\n")
        _print_json(json.loads(methods[method]), "\t")
        click.echo()
        if method in RAW_METHODS:
            click.echo("Output is non-JSON data.")
            return
        click.echo("# Example response\n")
        _print_json(_EXAMPLE_RESULTS.get(method, {}), "\t")
        return
    click.echo("reading request from stdin...", err=True)
    request = sys.stdin.buffer.read()
    try:
        obj = json.loads(request)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"parsing request: {e}") from None
    if not isinstance(obj, dict):
        raise UserError("parsing request: request must be a JSON object")
    status, body, status_line = _call(method, baseurl, request)
    if status == 400:
        try:
            _print_json(json.loads(body))
        except ValueError:
            click.echo("(not json)", err=True)
            sys.stderr.buffer.write(body[: 10 * 1024])
        sys.exit(1)
    if status != 200:
        click.echo(f"http response {status_line}", err=True)
        sys.stderr.buffer.write(body[: 10 * 1024])
        sys.exit(1)
    if method in RAW_METHODS:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    try:
        _print_json(json.loads(body))
    except ValueError:
        raise UserError("unmarshal response: not json") from None
