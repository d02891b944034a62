"""A small synchronous IMAP client (plain sockets + ssl), parsing into ``mox.imap.responses`` values.

Made for tests and tools, usable as a library::

    with Conn.connect("localhost", 1143) as c:         # or tls=True (implicit), tls="starttls"
        c.login("mox@localhost", "moxmoxmox")
        c.select("Inbox")
        for f in c.fetch("1:*", "(UID FLAGS)"):
            print(f.seq, f.attr(FetchUID).uid)

Commands are free-form text: ``c.transact("UID FETCH 1:* (FLAGS)")``. A command's arguments can be
split into parts, where ``str`` parts are sent as they are and ``bytes`` parts are sent as literals:
``c.transact("APPEND Inbox (\\\\Seen) ", message)``. A literal is synchronizing (the client waits
for the server's ``+``) unless the server offers LITERAL+ (RFC 7888), then ``{n+}`` is used.

``transact`` returns ``(untagged, tagged)`` and raises :class:`ImapNo` / :class:`ImapBad` (carrying
the tagged result and its response code) unless ``check=False``. The helper methods (``login``,
``select``, ``fetch``, ...) always check.
"""

from __future__ import annotations

import base64
import builtins
import socket
import ssl
from collections.abc import Iterable
from typing import Any

from mox.imap import utf7, wire
from mox.imap.response_parse import parse_response
from mox.imap.response_reader import RemoteProtocolError
from mox.imap.responses import (
    UntaggedMetadata,
    Code,
    Continuation,
    Response,
    Tagged,
    UntaggedBye,
    UntaggedCapability,
    UntaggedEnabled,
    UntaggedFetch,
    UntaggedPreauth,
    UntaggedResult,
    UntaggedSearch,
    UntaggedSearchModSeq,
    UntaggedEsearch,
    UntaggedSort,
    UntaggedThread,
    ThreadNode,
    CodeCapability,
)

__all__ = [
    "Conn",
    "ImapError",
    "ImapNo",
    "ImapBad",
    "ImapClosed",
    "RemoteProtocolError",
    "quote",
    "mailbox_arg",
]


class ImapError(Exception):
    """Base of the client's errors."""


class ImapResultError(ImapError):
    """A command ended in NO or BAD; ``result`` is the tagged response, ``code`` its code."""

    def __init__(self, result: Tagged, untagged: list[Any] | None = None) -> None:
        self.result = result
        self.untagged = untagged or []
        super().__init__(f"{result.status} {'[' + result.code.name + '] ' if result.code else ''}{result.text}")

    @property
    def code(self) -> Code | None:
        return self.result.code


class ImapNo(ImapResultError):
    """The server answered NO."""


class ImapBad(ImapResultError):
    """The server answered BAD."""


class ImapClosed(ImapError):
    """The server closed the connection (``bye`` is its BYE response, if it sent one)."""

    def __init__(self, msg: str, bye: UntaggedBye | None = None) -> None:
        super().__init__(msg)
        self.bye = bye


def quote(s: str) -> str:
    """A quoted string for a command argument (no CR/LF: use a literal for those)."""
    b = s.encode("utf-8", "surrogateescape")
    if not wire.quotable(b, utf8=True):
        raise ValueError("CR, LF and NUL cannot be quoted; send a literal")
    return wire.quoted(b).decode("utf-8", "surrogateescape")


def mailbox_arg(name: str, utf8: bool = False) -> str:
    """A mailbox name as a quoted command argument (modified UTF-7 unless utf8)."""
    return quote(name if utf8 else utf7.encode(name))


class Conn:
    """One IMAP connection. Not thread-safe."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        timeout: float | None = 30.0,
        read_greeting: bool = True,
        log: Any = None,
    ) -> None:
        self.sock = sock
        #: an ``mlog.Logger``: protocol lines at trace level ("C:" sent, "S:" received)
        self.log = log
        self.timeout = timeout
        sock.settimeout(timeout)
        self.buf = bytearray()
        self.capabilities: set[str] = set()
        self.utf8 = False
        self.greeting: Response | None = None
        self.literal_plus = True  # use LITERAL+ when offered
        self.pending_untagged: list[tuple[Any, bytes]] = []
        self._tagnum = 0
        self._tag: str | None = None
        self._early_result: Tagged | None = None
        self.closed = False
        #: the server's BYE, once it sent one
        self.bye: UntaggedBye | None = None
        if read_greeting:
            self.read_greeting()

    # -- setup

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        tls: bool | str = False,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = 30.0,
        server_hostname: str | None = None,
        read_greeting: bool = True,
        log: Any = None,
    ) -> Conn:
        """Connect; ``tls``: False (plain), True (implicit TLS) or "starttls"."""
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            if tls is True:
                ctx = ssl_context or ssl.create_default_context()
                sock = ctx.wrap_socket(sock, server_hostname=server_hostname or host)
            c = cls(sock, timeout=timeout, read_greeting=read_greeting, log=log)
            if tls == "starttls":
                c.starttls(ssl_context, server_hostname=server_hostname or host)
            return c
        except BaseException:
            sock.close()
            raise

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_greeting(self) -> Response:
        resp, _ = self._read()
        self.greeting = resp
        if isinstance(resp, UntaggedBye):
            raise ImapClosed(f"server said bye: {resp.text}", resp)
        if not isinstance(resp, (UntaggedResult, UntaggedPreauth)) or (
            isinstance(resp, UntaggedResult) and resp.status != "OK"
        ):
            raise RemoteProtocolError(f"unexpected greeting {resp!r}")
        if isinstance(resp.code, CodeCapability):
            self._set_caps(resp.code.caps)
        else:
            self.capability()
        return resp

    def _set_caps(self, caps: Iterable[str]) -> None:
        self.capabilities = {c.upper() for c in caps}

    def tls_active(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket)

    # -- low level I/O

    def _recv(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ssl.SSLEOFError:
            data = b""
        if not data:
            self.closed = True
            if self.bye is not None:
                raise ImapClosed(f"connection closed by server after BYE {self.bye.text}", self.bye)
            raise ImapClosed("connection closed by server")
        self.buf += data

    def read_line(self) -> bytes:
        """One raw line without CRLF (literals are not interpreted)."""
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            self._recv()

    def _read(self) -> tuple[Any, bytes]:
        """The next response and its raw bytes (without the final CRLF)."""
        while True:
            resp, n = parse_response(self.buf, utf8=self.utf8)
            if resp is not None:
                raw = bytes(self.buf[: n - 2])
                del self.buf[:n]
                if self.log is not None:
                    self.log.trace_line("S:", raw, kind="data" if b"\r\n" in raw else "text")
                self._observe(resp)
                return resp, raw
            self._recv()

    def read_response(self) -> Any:
        """The next response from the server (untagged, continuation or tagged)."""
        return self._read()[0]

    def _observe(self, resp: Any) -> None:
        if isinstance(resp, UntaggedBye):
            self.bye = resp
        elif isinstance(resp, UntaggedCapability):
            self._set_caps(resp.caps)
        elif isinstance(resp, (UntaggedResult, Tagged)) and isinstance(resp.code, CodeCapability):
            self._set_caps(resp.code.caps)
        elif isinstance(resp, UntaggedEnabled):
            if {c.upper() for c in resp.caps} & {"UTF8=ACCEPT", "IMAP4REV2"}:
                self.utf8 = True

    def write(self, data: bytes) -> None:
        if self.log is not None:
            auth = data[:40].upper().split(b" ", 2)[1:2] in ([b"LOGIN"], [b"AUTHENTICATE"])
            self.log.trace_line("C:", data, kind="auth" if auth else ("data" if data.count(b"\r\n") > 1 else "text"))
        self.sock.sendall(data)

    def write_line(self, line: str | bytes) -> None:
        """Send a raw line; CRLF is appended."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.write(line + b"\r\n")

    def next_tag(self) -> str:
        self._tagnum += 1
        return f"x{self._tagnum:03d}"

    # -- commands

    def command(self, *parts: str | bytes, tag: str | None = None) -> str:
        """Send a command (without waiting for its result); returns its tag.

        ``str`` parts are sent as is, ``bytes`` parts as literals. When the server rejects a
        synchronizing literal with a tagged response, the rest is not sent and :meth:`response`
        returns that result.
        """
        if self._tag is not None:
            raise ImapError(f"command {self._tag} still in progress")
        tag = tag or self.next_tag()
        self._tag = tag
        self._early_result = None
        out = tag.encode("ascii") + b" "
        for part in parts:
            if isinstance(part, str):
                out += part.encode("utf-8")
                continue
            if self.literal_plus and "LITERAL+" in self.capabilities:
                out += wire.literal_announcement(len(part), non_sync=True) + part
                continue
            out += wire.literal_announcement(len(part))
            self.write(out)
            out = b""
            while True:
                resp, raw = self._read()
                if isinstance(resp, Continuation):
                    break
                if isinstance(resp, Tagged) and resp.tag == tag:
                    self._early_result = resp
                    return tag
                self.pending_untagged.append((resp, raw))
            out = part
        self.write(out + b"\r\n")
        return tag

    def response_raw(self) -> tuple[list[tuple[Any, bytes]], Tagged]:
        """Read to the tagged result of the command in progress: ((response, raw) list, result)."""
        if self._tag is None:
            raise ImapError("no command in progress")
        untagged = self.pending_untagged
        self.pending_untagged = []
        try:
            if self._early_result is not None:
                return untagged, self._early_result
            while True:
                resp, raw = self._read()
                if isinstance(resp, Tagged):
                    if resp.tag != self._tag:
                        raise RemoteProtocolError(f"tagged response for unknown tag {resp.tag!r}")
                    return untagged, resp
                if isinstance(resp, Continuation):
                    raise RemoteProtocolError(f"unexpected continuation {raw!r}")
                untagged.append((resp, raw))
        finally:
            self._tag = None
            self._early_result = None

    def response(self, check: bool = True) -> tuple[list[Any], Tagged]:
        """Read to the tagged result: (untagged responses, tagged result)."""
        pairs, result = self.response_raw()
        untagged = [r for r, _ in pairs]
        if check:
            self._check(result, untagged)
        return untagged, result

    @staticmethod
    def _check(result: Tagged, untagged: list[Any]) -> None:
        if result.status == "NO":
            raise ImapNo(result, untagged)
        if result.status == "BAD":
            raise ImapBad(result, untagged)

    def transact(self, *parts: str | bytes, check: bool = True) -> tuple[list[Any], Tagged]:
        """Send a command and read to its result."""
        self.command(*parts)
        return self.response(check)

    def read_untagged(self) -> Any:
        """The next untagged response (e.g. during IDLE)."""
        if self.pending_untagged:
            return self.pending_untagged.pop(0)[0]
        resp, raw = self._read()
        if isinstance(resp, (Tagged, Continuation)):
            raise RemoteProtocolError(f"expected untagged response, got {raw!r}")
        return resp

    # -- command helpers (RFC 9051 6)

    def mailbox(self, name: str) -> str:
        return mailbox_arg(name, self.utf8)

    def capability(self) -> set[str]:
        self.transact("CAPABILITY")
        return self.capabilities

    def noop(self) -> list[Any]:
        return self.transact("NOOP")[0]

    def logout(self) -> None:
        try:
            self.transact("LOGOUT")
        finally:
            self.close()

    def starttls(self, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> None:
        self.transact("STARTTLS")
        if self.buf:
            raise RemoteProtocolError("data after STARTTLS response (possible injection)")
        ctx = ssl_context or ssl.create_default_context()
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.capability()

    def login(self, username: str, password: str) -> Tagged:
        return self.transact(f"LOGIN {quote(username)} {quote(password)}")[1]

    def authenticate_plain(self, username: str, password: str, authz: str = "") -> Tagged:
        """AUTHENTICATE PLAIN (RFC 4616), with SASL-IR (RFC 4959) when offered."""
        ir = base64.b64encode(f"{authz}\0{username}\0{password}".encode()).decode("ascii")
        if "SASL-IR" in self.capabilities:
            return self.transact(f"AUTHENTICATE PLAIN {ir}")[1]
        tag = self.command("AUTHENTICATE PLAIN")
        resp, raw = self._read()
        while not isinstance(resp, (Continuation, Tagged)):
            self.pending_untagged.append((resp, raw))
            resp, raw = self._read()
        if isinstance(resp, Tagged):
            self._early_result = resp if resp.tag == tag else None
        else:
            self.write_line(ir)
        return self.response()[1]

    def _sasl_exchange(self, first: str, steps: Any) -> Tagged:
        """Run AUTHENTICATE: ``first`` is the command line, ``steps`` a primed generator that is
        sent each server challenge (decoded) and yields the next client response. A ValueError
        from it aborts the exchange with ``*`` (RFC 9051 6.2.2) and is raised as ImapError
        after the server's tagged reply."""
        tag = self.command(first)
        failure: Exception | None = None
        try:
            while True:
                resp, raw = self._read()
                if isinstance(resp, Tagged) and resp.tag == tag:
                    self._early_result = resp
                    break
                if not isinstance(resp, Continuation):
                    self.pending_untagged.append((resp, raw))
                    continue
                try:
                    challenge = base64.b64decode(resp.text.encode("ascii"), validate=True)
                    answer = steps.send(challenge)
                except StopIteration:
                    answer = b""
                except ValueError as e:
                    failure = e
                    self.write_line("*")
                    continue
                self.write_line(base64.b64encode(answer))
        finally:
            steps.close()
        untagged, result = self.response(check=failure is None)
        if failure is not None:
            raise ImapError(f"authentication aborted: {failure}; server said {result.status} {result.text}")
        return result

    def authenticate_cram_md5(self, username: str, password: str) -> Tagged:
        """AUTHENTICATE CRAM-MD5 (RFC 2195)."""
        import hashlib
        import hmac

        def steps() -> Any:
            challenge = yield b""
            digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
            yield f"{username} {digest}".encode()

        gen = steps()
        next(gen)
        return self._sasl_exchange("AUTHENTICATE CRAM-MD5", gen)

    def authenticate_scram(
        self, username: str, password: str, *, hash_name: str = "sha256", client_nonce: str | None = None
    ) -> Tagged:
        """AUTHENTICATE SCRAM-SHA-256 or SCRAM-SHA-1 (RFC 5802, RFC 7677), without channel
        binding; the server's signature is verified (``ImapError`` if it does not match)."""
        import hashlib
        import hmac
        import secrets

        mech = {"sha256": "SCRAM-SHA-256", "sha1": "SCRAM-SHA-1"}[hash_name]
        nonce = client_nonce or secrets.token_urlsafe(18)
        user = username.replace("=", "=3D").replace(",", "=2C")
        first_bare = f"n={user},r={nonce}"
        gs2 = "n,,"
        sasl_ir = "SASL-IR" in self.capabilities

        def h(key: bytes, msg: bytes) -> bytes:
            return hmac.new(key, msg, hash_name).digest()

        def steps() -> Any:
            challenge = yield b""
            if not sasl_ir:
                challenge = yield (gs2 + first_bare).encode()  # answer to the empty "+ "
            server_first = challenge.decode()
            try:
                attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
                salt = base64.b64decode(attrs["s"], validate=True)
                iterations = int(attrs["i"])
            except (KeyError, ValueError) as e:
                raise ValueError(f"bad server-first-message {server_first!r}") from e
            if not attrs.get("r", "").startswith(nonce):
                raise ValueError("server nonce does not extend ours")
            salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
            client_key = h(salted, b"Client Key")
            stored_key = hashlib.new(hash_name, client_key).digest()
            final_bare = f"c={base64.b64encode(gs2.encode()).decode()},r={attrs['r']}"
            auth_msg = f"{first_bare},{server_first},{final_bare}".encode()
            proof = bytes(a ^ b for a, b in zip(client_key, h(stored_key, auth_msg)))
            server_final = (yield f"{final_bare},p={base64.b64encode(proof).decode()}".encode()).decode()
            server_sig = h(h(salted, b"Server Key"), auth_msg)
            if server_final != "v=" + base64.b64encode(server_sig).decode():
                raise ValueError(f"bad server signature {server_final!r}")
            yield b""

        gen = steps()
        next(gen)
        if sasl_ir:
            ir = base64.b64encode((gs2 + first_bare).encode()).decode()
            return self._sasl_exchange(f"AUTHENTICATE {mech} {ir}", gen)
        return self._sasl_exchange(f"AUTHENTICATE {mech}", gen)

    def authenticate(
        self, mechanism: str | None = None, username: str = "", password: str = "", *, authz: str = ""
    ) -> Tagged:
        """AUTHENTICATE with any client mechanism of :mod:`mox.auth.sasl`: PLAIN, CRAM-MD5,
        SCRAM-SHA-1/-256 and their -PLUS forms bound to this TLS connection (tls-unique, TLS 1.2),
        EXTERNAL (the TLS client certificate). Without ``mechanism`` the best offered one is used
        (EXTERNAL only when named). The password is PRECIS-prepared by mox.auth.sasl; SASL-IR when
        offered; a SCRAM server that does not prove the password raises ImapError."""
        from mox.auth import sasl

        cbs = sasl.channel_bindings(self.sock if isinstance(self.sock, ssl.SSLSocket) else None)
        if mechanism is None:
            offered = [c[5:] for c in self.capabilities if c.startswith("AUTH=")]
            mechanism = sasl.choose_client_mechanism(offered, channel_bindings=cbs)
            if mechanism is None:
                raise ImapError(f"no supported authentication mechanism offered: {sorted(offered)}")
        try:
            mech = sasl.client_mechanism(mechanism, username, password, authz=authz, channel_bindings=cbs)
        except sasl.ClientError as e:
            raise ImapError(str(e)) from None
        first = mech.initial_response()
        sasl_ir = first is not None and "SASL-IR" in self.capabilities

        def steps() -> Any:
            challenge = yield b""
            if first is not None and not sasl_ir:
                challenge = yield first  # answer to the empty "+ "
            while True:
                try:
                    answer = mech.step(challenge)
                except sasl.ClientError as e:
                    raise ValueError(str(e)) from None
                challenge = yield answer

        gen = steps()
        next(gen)
        line = f"AUTHENTICATE {mech.name}"
        if sasl_ir and first is not None:
            line += " " + (base64.b64encode(first).decode("ascii") or "=")
        result = self._sasl_exchange(line, gen)
        if result.status == "OK" and not mech.done and mech.name.startswith("SCRAM-"):
            raise ImapError("server finished authentication without proving the password (scram)")
        return result

    def enable(self, *caps: str) -> list[str]:
        untagged, _ = self.transact("ENABLE " + " ".join(caps))
        return [c for r in untagged if isinstance(r, UntaggedEnabled) for c in r.caps]

    def select(self, mailbox: str, *, condstore: bool = False) -> list[Any]:
        return self.transact(f"SELECT {self.mailbox(mailbox)}" + (" (CONDSTORE)" if condstore else ""))[0]

    def examine(self, mailbox: str) -> list[Any]:
        return self.transact(f"EXAMINE {self.mailbox(mailbox)}")[0]

    def create(self, mailbox: str) -> list[Any]:
        return self.transact(f"CREATE {self.mailbox(mailbox)}")[0]

    def delete(self, mailbox: str) -> list[Any]:
        return self.transact(f"DELETE {self.mailbox(mailbox)}")[0]

    def rename(self, old: str, new: str) -> list[Any]:
        return self.transact(f"RENAME {self.mailbox(old)} {self.mailbox(new)}")[0]

    def subscribe(self, mailbox: str) -> list[Any]:
        return self.transact(f"SUBSCRIBE {self.mailbox(mailbox)}")[0]

    def unsubscribe(self, mailbox: str) -> list[Any]:
        return self.transact(f"UNSUBSCRIBE {self.mailbox(mailbox)}")[0]

    def list(self, ref: str = "", pattern: str = "*") -> list[Any]:
        return self.transact(f"LIST {self.mailbox(ref)} {self.mailbox(pattern)}")[0]

    def status(self, mailbox: str, items: str = "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)") -> builtins.list[Any]:
        return self.transact(f"STATUS {self.mailbox(mailbox)} {items}")[0]

    def append(
        self, mailbox: str, message: bytes, *, flags: Iterable[str] = (), date: str | None = None
    ) -> Tagged:
        """APPEND one message; the result carries ``[APPENDUID ...]`` (RFC 4315)."""
        args = f"APPEND {self.mailbox(mailbox)} "
        flags = list(flags)
        if flags:
            args += "(" + " ".join(flags) + ") "
        if date is not None:
            args += quote(date) + " "
        return self.transact(args, message)[1]

    def getmetadata(
        self, mailbox: str, *entries: str, depth: str | None = None, maxsize: int | None = None
    ) -> dict[str, bytes | None]:
        """GETMETADATA (RFC 5464): the entries found, by name; mailbox "" for the server's."""
        opts = ([f"DEPTH {depth}"] if depth is not None else []) + ([f"MAXSIZE {maxsize}"] if maxsize is not None else [])
        cmd = "GETMETADATA " + (f"({' '.join(opts)}) " if opts else "")
        mb = '""' if mailbox == "" else self.mailbox(mailbox)
        untagged, _ = self.transact(cmd + f"{mb} (" + " ".join(quote(e) for e in entries) + ")")
        out: dict[str, bytes | None] = {}
        for r in untagged:
            if isinstance(r, UntaggedMetadata) and r.values:
                out.update(r.entries)
        return out

    def setmetadata(self, mailbox: str, entries: dict[str, bytes | str | None]) -> Tagged:
        """SETMETADATA (RFC 5464): values as strings or bytes (sent as literals), None removes."""
        mb = '""' if mailbox == "" else self.mailbox(mailbox)
        parts: list[str | bytes] = [f"SETMETADATA {mb} ("]
        for i, (k, v) in enumerate(entries.items()):
            parts.append(("" if i == 0 else " ") + quote(k) + " ")
            if v is None:
                parts.append("NIL")
            else:
                parts.append(v.encode("utf-8") if isinstance(v, str) else v)
        parts.append(")")
        return self.transact(*parts)[1]

    def close_mailbox(self) -> builtins.list[Any]:
        return self.transact("CLOSE")[0]

    def unselect(self) -> builtins.list[Any]:
        return self.transact("UNSELECT")[0]

    def expunge(self) -> builtins.list[Any]:
        return self.transact("EXPUNGE")[0]

    def uid_expunge(self, uids: str) -> builtins.list[Any]:
        return self.transact(f"UID EXPUNGE {uids}")[0]

    def fetch(self, seqset: str, items: str, *, uid: bool = False) -> builtins.list[UntaggedFetch]:
        """FETCH; returns the FETCH responses (other untagged responses are dropped)."""
        untagged, _ = self.transact(("UID " if uid else "") + f"FETCH {seqset} {items}")
        return [r for r in untagged if isinstance(r, UntaggedFetch)]

    def store(
        self, seqset: str, op: str, flags: Iterable[str], *, uid: bool = False, silent: bool = False
    ) -> builtins.list[UntaggedFetch]:
        """STORE with op "+", "-" or "" (replace)."""
        item = f"{op}FLAGS{'.SILENT' if silent else ''}"
        untagged, _ = self.transact(("UID " if uid else "") + f"STORE {seqset} {item} (" + " ".join(flags) + ")")
        return [r for r in untagged if isinstance(r, UntaggedFetch)]

    def search(self, criteria: str = "ALL", *, uid: bool = False) -> builtins.list[int]:
        untagged, _ = self.transact(("UID " if uid else "") + f"SEARCH {criteria}")
        nums: builtins.list[int] = []
        for r in untagged:
            if isinstance(r, (UntaggedSearch, UntaggedSearchModSeq)):
                nums += r.nums
        return nums

    def sort(self, criteria: str, search: str = "ALL", *, charset: str = "UTF-8", uid: bool = False) -> builtins.list[int]:
        """SORT (RFC 5256): ``c.sort("(REVERSE DATE)", "UNSEEN")`` -> numbers in sort order."""
        untagged, _ = self.transact(("UID " if uid else "") + f"SORT {criteria} {charset} {search}")
        return [n for r in untagged if isinstance(r, UntaggedSort) for n in r.nums]

    def thread(
        self, algorithm: str = "REFERENCES", search: str = "ALL", *, charset: str = "UTF-8", uid: bool = False
    ) -> builtins.list[ThreadNode]:
        """THREAD (RFC 5256): the threads as ThreadNode trees (``num`` None for a missing parent)."""
        untagged, _ = self.transact(("UID " if uid else "") + f"THREAD {algorithm} {charset} {search}")
        return [t for r in untagged if isinstance(r, UntaggedThread) for t in r.threads]

    def esearch(self, command: str) -> UntaggedEsearch:
        """A SEARCH/SORT with RETURN options (RFC 4731, 5267, 9394), e.g. ``c.esearch("UID SORT RETURN
        (PARTIAL 1:50) (DATE) UTF-8 ALL")``: its ESEARCH response (the one with the command's tag)."""
        tag = self.command(command)
        untagged, _ = self.response()
        for r in untagged:
            if isinstance(r, UntaggedEsearch) and r.tag == tag:
                return r
        raise RemoteProtocolError(f"no ESEARCH response for {tag}")

    def cancelupdate(self, *tags: str) -> Tagged:
        """CANCELUPDATE (RFC 5267 4.3.5) for the UPDATE contexts of these command tags."""
        return self.transact("CANCELUPDATE " + " ".join(quote(t) for t in tags))[1]

    def copy(self, seqset: str, mailbox: str, *, uid: bool = False) -> Tagged:
        return self.transact(("UID " if uid else "") + f"COPY {seqset} {self.mailbox(mailbox)}")[1]

    def move(self, seqset: str, mailbox: str, *, uid: bool = False) -> tuple[builtins.list[Any], Tagged]:
        return self.transact(("UID " if uid else "") + f"MOVE {seqset} {self.mailbox(mailbox)}")

    def idle(self) -> None:
        """Start IDLE (RFC 2177); read pushes with :meth:`read_untagged`, end with :meth:`idle_done`."""
        tag = self.command("IDLE")
        while True:
            resp, raw = self._read()
            if isinstance(resp, Continuation):
                return
            if isinstance(resp, Tagged) and resp.tag == tag:
                self._tag = None
                self._check(resp, [])
                raise RemoteProtocolError(f"IDLE ended without continuation: {raw!r}")
            self.pending_untagged.append((resp, raw))

    def idle_done(self) -> tuple[builtins.list[Any], Tagged]:
        self.write_line("DONE")
        return self.response()

    def close(self) -> None:
        if self.closed and self.sock.fileno() < 0:
            return
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
