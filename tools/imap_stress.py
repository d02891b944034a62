#!/usr/bin/env python3
"""Randomized multi-client IMAP stress test with a model of what each session must have been told.

    python3 tools/imap_stress.py [--clients 10] [--seconds 60] [--churn] [--seed N]
                                 [--server mox | dovecot | HOST:PORT] [--user U] [--password P]

Several client connections (one thread each) log in to one account and work on one mailbox at
the same time with random commands: LIST, STATUS, SELECT, FETCH (FLAGS, MODSEQ, bodies, sizes),
STORE (also UNCHANGEDSINCE), EXPUNGE, UID EXPUNGE, APPEND, COPY, MOVE, SEARCH, IDLE, NOOP and
NOTIFY (SELECTED-DELAYED, with STATUS of the other mailboxes between commands);
with ``--churn`` clients also log out (or just drop the connection) and come back now and then.

Every response is checked against a model of the session (its sequence-number-to-UID view, the
flags and MODSEQ it was shown) and against what all clients together have observed:

- no ``NO [SERVERBUG]``, no BAD, no other unexpected NO, no unexpected BYE;
- sequence numbers (RFC 9051 7.5.1, 7.4.1): no EXPUNGE (or VANISHED) while a FETCH, STORE or
  SEARCH (not their UID forms) is in progress; EXISTS never shrinks; EXPUNGE and FETCH only name
  existing sequence numbers; a sequence number keeps its UID; UIDs ascend with sequence numbers;
- a FETCH returns data for every message the session has not been told is expunged (RFC 9051
  7.1 EXPUNGEISSUED is counted separately; ``--allow-expungeissued`` accepts it);
- MODSEQ (RFC 7162 3.1): a message's MODSEQ never goes down within a session; a FETCH started
  after any client saw MODSEQ m for a message reports at least m; one MODSEQ value of a message
  always comes with the same flags in every session;
- message bodies and RFC822.SIZE are what was appended (or copied);
- after NOOP or IDLE: messages some client already saw expunged before the command started are
  gone from the session's view, and messages appended or copied before it started are in it.

Against ``--server mox`` (the default) the tool starts ``python -m mox localserve`` itself and also
fails on any error-level line in its log. ``--server dovecot`` starts Dovecot from a throwaway
configuration (bench/peers/dovecot.py) to show the checker's verdict on a peer. The exit code is 0
when no violation was found. The seed is printed at the start and with any failure; rerun with
``--seed`` for the same random command choices (the interleaving of clients still varies).

The test suite runs a short version of this (tests/imap/test_concurrency.py) against the server
of its IMAP harness.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# Wire: reading whole responses (line plus literals) and turning them into tokens. Written here
# on purpose instead of using mox's own client parser, so the server is judged independently.

_LITERAL_END = re.compile(rb"~?\{(\d+)\+?\}\r\n\Z")


class Closed(Exception):
    pass


class Literal(bytes):
    """A literal's contents (a string the server sent as {n})."""


def tokenize(raw: bytes, pos: int = 0, depth: int = 0) -> tuple[list, int]:
    """Tokens of a response from ``pos``: nested lists for parentheses, ``bytes`` for atoms,
    numbers and quoted strings, ``Literal`` for literals. An atom that contains ``[`` extends to
    the matching ``]`` (``BODY[HEADER.FIELDS (A B)]<0>``)."""
    out: list = []
    n = len(raw)
    while pos < n:
        c = raw[pos]
        if c in b" \r\n":
            pos += 1
        elif c == 0x28:  # (
            sub, pos = tokenize(raw, pos + 1, depth + 1)
            out.append(sub)
        elif c == 0x29:  # )
            if depth:
                return out, pos + 1
            pos += 1
        elif c == 0x22:  # "
            pos += 1
            buf = bytearray()
            while pos < n and raw[pos] != 0x22:
                if raw[pos] == 0x5C and pos + 1 < n:
                    pos += 1
                buf.append(raw[pos])
                pos += 1
            out.append(bytes(buf))
            pos += 1
        elif c == 0x7B or (c == 0x7E and raw[pos + 1 : pos + 2] == b"{"):  # { or ~{
            if c == 0x7E:
                pos += 1
            end = raw.index(b"}", pos)
            size = int(raw[pos + 1 : end].rstrip(b"+"))
            start = end + 3  # }\r\n
            out.append(Literal(raw[start : start + size]))
            pos = start + size
        else:
            start = pos
            while pos < n and raw[pos] not in b" ()\r\n":
                if raw[pos] == 0x5B:  # [ ... ]
                    pos = raw.index(b"]", pos)
                pos += 1
            out.append(raw[start:pos])
    return out, pos


@dataclass
class Response:
    raw: bytes
    kind: str  # "untagged", "tagged", "continuation"
    tag: str = ""
    status: str = ""  # OK NO BAD BYE PREAUTH (tagged and untagged status responses)
    code: str = ""  # response code text without brackets, e.g. "APPENDUID 1 5"
    number: int = 0  # * n EXISTS / EXPUNGE / FETCH
    name: str = ""  # EXISTS EXPUNGE FETCH VANISHED SEARCH ESEARCH LIST STATUS FLAGS ...
    tokens: list = field(default_factory=list)

    def line(self) -> str:
        first = self.raw.split(b"\r\n", 1)[0]
        return first[:300].decode("utf-8", "replace")


def parse_response(raw: bytes) -> Response:
    if raw.startswith(b"+"):
        return Response(raw, "continuation")
    first, _, rest = raw.partition(b" ")
    tagged = first != b"*"
    word, _, rest2 = rest.partition(b" ")
    up = word.upper()
    if up in (b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH"):
        code = ""
        text = rest2
        if text.startswith(b"["):
            end = text.find(b"]")
            code = text[1:end].decode("utf-8", "replace")
        return Response(raw, "tagged" if tagged else "untagged", tag=first.decode(), status=up.decode(), code=code)
    if tagged:
        return Response(raw, "tagged", tag=first.decode(), status="?")
    if up.isdigit():
        name, _, rest3 = rest2.partition(b" ")
        toks, _ = tokenize(rest3) if name.upper() == b"FETCH" else ([], 0)
        return Response(raw, "untagged", number=int(up), name=name.upper().decode().strip("\r\n"), tokens=toks)
    toks, _ = tokenize(rest2)
    return Response(raw, "untagged", name=up.decode().strip("\r\n"), tokens=toks)


class Wire:
    def __init__(self, host: str, port: int, timeout: float, log=None) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.log = log  # a text file for the transcript (--transcripts)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise Closed("connection closed by server")
        self.buf += data

    def _take(self) -> bytes | None:
        """A whole response from the buffer (a line, and for a line ending in a literal's size the
        literal and the rest), or None when more data is needed; nothing is consumed then."""
        buf = self.buf
        pos = 0
        while True:
            i = buf.find(b"\r\n", pos)
            if i < 0:
                return None
            end = i + 2
            m = _LITERAL_END.search(buf, pos, end)
            if m is None:
                raw = bytes(buf[:end])
                del buf[:end]
                return raw
            pos = end + int(m.group(1))
            if len(buf) < pos:
                return None

    def read(self) -> Response:
        while (raw := self._take()) is None:
            self._fill()
        if self.log is not None:
            self.log.write("S: " + raw.split(b"\r\n", 1)[0][:500].decode("utf-8", "replace") + "\n")
        return parse_response(raw)

    def send(self, data: bytes) -> None:
        if self.log is not None:
            self.log.write("C: " + data.split(b"\r\n", 1)[0][:500].decode("utf-8", "replace") + "\n")
        self.sock.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def parse_numset(s: str) -> list[int]:
    out: list[int] = []
    for part in s.split(","):
        if ":" in part:
            a, b = part.split(":")
            lo, hi = sorted((int(a), int(b)))
            out.extend(range(lo, hi + 1))
        elif part:
            out.append(int(part))
    return out


def numset(nums: list[int]) -> str:
    nums = sorted(set(nums))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}:{nums[j]}")
        i = j + 1
    return ",".join(parts)


def fetch_items(tokens: list) -> dict[str, object]:
    """The data items of a FETCH response, names upper-cased: {"UID": b"5", "FLAGS": [...], ...}."""
    items: dict[str, object] = {}
    lst = tokens[0] if tokens and isinstance(tokens[0], list) else []
    for i in range(0, len(lst) - 1, 2):
        name = lst[i]
        if isinstance(name, bytes):
            items[name.decode("utf-8", "replace").upper()] = lst[i + 1]
    return items


def clean_flags(flags: object) -> tuple[str, ...]:
    """Flags as a sorted tuple, lower-cased, without \\Recent (session-specific by definition)."""
    if not isinstance(flags, list):
        return ()
    return tuple(sorted(f.decode().lower() for f in flags if isinstance(f, bytes) and f.lower() != b"\\recent"))


# ---------------------------------------------------------------------------------------------
# What all clients have observed together (one lock), and the violations found.


@dataclass
class Violation:
    kind: str
    client: int
    command: str
    detail: str
    responses: list[str]


class World:
    """Observations shared by all clients. ``clock`` orders events: a command sent at clock c
    started after everything observed at a clock below c."""

    def __init__(self, lenient_expunged: bool) -> None:
        self.lock = threading.Lock()
        self.clock = 0
        self.lenient_expunged = lenient_expunged
        self.nil_fetched: dict[int, str] = {}  # uid -> command that got NIL data (lenient mode)
        self.old_fetched: dict[int, tuple[str, str]] = {}  # uid -> (command, detail): older MODSEQ (lenient)
        self.content: dict[int, bytes] = {}  # uid in the mailbox -> message
        self.added: dict[int, tuple[int, int]] = {}  # uid -> clocks its APPEND/COPY was sent and confirmed
        self.added_by: dict[int, str] = {}  # uid -> client and command (for reports)
        self.expunged: dict[int, int] = {}  # uid -> clock some client first saw it expunged
        self.modseqs: dict[int, list[tuple[int, int]]] = {}  # uid -> [(clock, modseq)] ascending clock
        self.flags_at: dict[tuple[int, int], tuple[str, ...]] = {}  # (uid, modseq) -> flags
        self.status: dict[str, list[tuple[int, int]]] = {}  # STATUS item -> [(clock, value)]
        # Last clock at which some session was told of an expunge of a message it knew only by
        # count (its UID unknown): additions before that may have been expunged unseen.
        self.blind_expunge = 0
        # Commands that may expunge (EXPUNGE, UID EXPUNGE, MOVE) sent and not finished yet.
        self.expunging: set[str] = set()
        self.violations: list[Violation] = []
        self.ops: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.started = 0.0

    def done(self, deadline: float, args) -> bool:
        """Past --seconds and, with --min-ops, the clients together did that many commands
        (or --max-extra-seconds more went by): on a busy machine the run gets longer, not emptier."""
        now = time.monotonic()
        if now < deadline:
            return False
        with self.lock:
            total = sum(self.ops.values())
        return total >= args.min_ops or now >= deadline + args.max_extra_seconds

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def seen_modseq_before(self, uid: int, clock: int) -> int:
        with self.lock:
            best = 0
            for c, m in self.modseqs.get(uid, ()):
                if c < clock and m > best:
                    best = m
            return best


# ---------------------------------------------------------------------------------------------
# One client session and its model.


class ModelError(Exception):
    pass


class Session:
    """A client's connection, its view of the selected mailbox and the checks on each response."""

    def __init__(self, world: World, cid: int, host: str, port: int, user: str, password: str, mailbox: str,
                 rng: random.Random, timeout: float) -> None:
        self.world = world
        self.cid = cid
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.mailbox = mailbox
        self.rng = rng
        self.timeout = timeout
        self.log = None  # transcript file (--transcripts)
        self.wire: Wire | None = None
        self.ntag = 0
        self.view: list[int | None] = []  # sequence number n -> uid at index n-1 (None: not known yet)
        self.modseq: dict[int, int] = {}  # uid -> highest MODSEQ this session was shown
        self.flags: dict[int, tuple[str, ...]] = {}
        self.qresync = False
        self.uidvalidity = 0
        self.caps: set[str] = set()
        # Per command:
        self.command = ""
        self.no_expunge = False  # FETCH, STORE, SEARCH (RFC 9051 7.5.1)
        self.responses: list[Response] = []
        self.fetched: dict[int, dict[str, object]] = {}  # uid -> items of this command's FETCH responses
        self.last_modseq_in_cmd: dict[int, int] = {}
        self.expunged_in_cmd: set[int] = set()

    # -- reporting

    def violation(self, kind: str, detail: str) -> None:
        if self.log is not None:
            self.log.write(f"!! violation {kind}: {detail}\n")
        v = Violation(kind, self.cid, self.command, detail, [r.line() for r in self.responses[-12:]])
        with self.world.lock:
            self.world.violations.append(v)

    # -- connection

    def connect(self) -> None:
        self.wire = Wire(self.host, self.port, self.timeout, self.log)
        if self.log is not None:
            self.log.write("-- connected\n")
        greeting = self.wire.read()
        if greeting.status != "OK":
            raise ModelError(f"greeting {greeting.line()!r}")
        self.view = []
        self.modseq.clear()
        self.flags.clear()
        r = self.run(f"LOGIN {quote(self.user)} {quote(self.password)}")
        self.expect_ok(r)
        r = self.run("CAPABILITY")
        for resp in self.responses:
            if resp.name == "CAPABILITY":
                self.caps = {t.decode().upper() for t in resp.tokens if isinstance(t, bytes)}
        self.qresync = "QRESYNC" in self.caps and self.rng.random() < 0.4
        if self.qresync:
            self.expect_ok(self.run("ENABLE QRESYNC"))
        self.select()

    def disconnect(self, logout: bool) -> None:
        if self.wire is None:
            return
        if logout:
            with contextlib.suppress(Closed, OSError):
                r = self.run("LOGOUT")
                self.expect_ok(r)
        self.wire.close()
        self.wire = None
        self.view = []

    # -- commands

    def run(self, line: str, literal: bytes | None = None, idle: float | None = None) -> Response:
        """Send a command, read and check every response up to its tagged result."""
        assert self.wire is not None
        self.ntag += 1
        tag = f"c{self.cid}t{self.ntag}"
        words = line.split(" ", 2)
        verb = words[0].upper()
        uid = verb == "UID"
        name = words[1].upper() if uid else verb
        self.command = line
        self.no_expunge = not uid and name in ("FETCH", "STORE", "SEARCH")
        self.responses = []
        self.fetched = {}
        self.last_modseq_in_cmd = {}
        self.expunged_in_cmd = set()
        self.blind = False
        self.sets_seen = name == "FETCH" and "BODY[" in line.upper()
        self.expunging = name in ("EXPUNGE", "MOVE")
        with self.world.lock:
            self.world.clock += 1
            sent = self.world.clock
            if self.expunging:
                self.world.expunging.add(tag)
        self.sent_clock = sent
        if literal is not None:
            self.wire.send(f"{tag} {line} {{{len(literal)}}}\r\n".encode())
            while True:
                r = self.wire.read()
                self.responses.append(r)
                if r.kind == "continuation":
                    break
                if r.kind == "tagged":
                    return self._finish(r)
                self.untagged(r)
            self.wire.send(literal + b"\r\n")
        else:
            self.wire.send(f"{tag} {line}\r\n".encode())
        if idle is not None:
            while True:
                r = self.wire.read()
                self.responses.append(r)
                if r.kind == "continuation":
                    break
                if r.kind == "tagged":
                    return self._finish(r)
                self.untagged(r)
            deadline = time.monotonic() + idle
            self.wire.sock.settimeout(0.02)
            try:
                while time.monotonic() < deadline:
                    try:
                        r = self.wire.read()
                    except (TimeoutError, socket.timeout):
                        continue
                    self.responses.append(r)
                    self.untagged(r)
            finally:
                self.wire.sock.settimeout(self.timeout)
            self.wire.send(b"DONE\r\n")
        while True:
            r = self.wire.read()
            self.responses.append(r)
            if r.kind == "tagged":
                if r.tag != tag:
                    self.violation("protocol", f"tagged response for {r.tag!r}, expected {tag!r}")
                return self._finish(r)
            if r.kind == "continuation":
                self.violation("protocol", "unexpected continuation request")
                continue
            self.untagged(r)

    def _finish(self, r: Response) -> Response:
        if r.status == "BAD":
            self.violation("bad", f"BAD: {r.line()}")
        elif r.status == "NO":
            if "SERVERBUG" in r.code.upper():
                self.violation("serverbug", r.line())
            elif r.code.upper().startswith("EXPUNGEISSUED"):
                self.world.count("NO [EXPUNGEISSUED]")
                if not self.world.lenient_expunged and re.match(r"(UID )?FETCH ", self.command, re.I):
                    self.violation("expungeissued", f"FETCH answered {r.line()}")
            else:
                self.violation("no", f"unexpected NO: {r.line()}")
        # Whatever this command showed last for a message counts as observed by everyone.
        with self.world.lock:
            now = self.world.clock = self.world.clock + 1
            for uid, m in self.last_modseq_in_cmd.items():
                self.world.modseqs.setdefault(uid, []).append((now, m))
            for uid in self.expunged_in_cmd:
                self.world.expunged.setdefault(uid, now)
            if self.blind:
                self.world.blind_expunge = now
            self.world.expunging.discard(r.tag)
        return r

    def expect_ok(self, r: Response) -> bool:
        if r.status != "OK":
            if r.status not in ("NO", "BAD"):
                self.violation("protocol", f"expected OK: {r.line()}")
            return False
        return True

    # -- untagged responses

    def untagged(self, r: Response) -> None:
        name = r.name
        if r.status == "BYE":
            if not self.command.upper().startswith("LOGOUT"):
                self.violation("bye", r.line())
            return
        if r.status in ("OK", "NO", "BAD"):
            if r.status == "BAD" or "SERVERBUG" in r.code.upper():
                self.violation("bad", r.line())
            return
        if name == "EXISTS":
            if r.number < len(self.view):
                self.violation("seq", f"EXISTS {r.number} < {len(self.view)} messages known")
                return
            self.view.extend([None] * (r.number - len(self.view)))
        elif name == "EXPUNGE":
            if self.no_expunge:
                self.violation("seq", f"EXPUNGE during {self.command.split(' ')[0]}")
            n = r.number
            if not 1 <= n <= len(self.view):
                self.violation("seq", f"EXPUNGE {n} with {len(self.view)} messages")
                return
            uid = self.view.pop(n - 1)
            if uid is not None:
                self.expunged_in_cmd.add(uid)
            else:
                self.blind = True
        elif name == "VANISHED":
            toks = r.tokens
            if toks and isinstance(toks[0], list):
                return  # VANISHED (EARLIER): not a change of the view
            if self.no_expunge:
                self.violation("seq", f"VANISHED during {self.command.split(' ')[0]}")
            for uid in parse_numset(toks[0].decode()) if toks else []:
                self._vanish(uid)
        elif name == "FETCH":
            self._fetch(r)

    def _vanish(self, uid: int) -> None:
        if uid in self.view:
            self.view.remove(uid)
            self.expunged_in_cmd.add(uid)
            return
        # Not known by UID: it must be one of the messages only known by count (EXISTS), the one
        # whose known neighbours bracket it. Those are indistinguishable, any of them will do.
        prev = 0
        for i, u in enumerate(self.view):
            if u is None:
                nxt = next((x for x in self.view[i + 1 :] if x is not None), None)
                if prev < uid and (nxt is None or uid < nxt):
                    del self.view[i]
                    self.expunged_in_cmd.add(uid)
                    self.blind = True
                    return
            else:
                prev = u
        # A message this session never learned of (e.g. added and expunged between two commands).
        self.expunged_in_cmd.add(uid)
        self.world.count("VANISHED of a UID not in the view")

    def _fetch(self, r: Response) -> None:
        n = r.number
        if not 1 <= n <= len(self.view):
            self.violation("seq", f"FETCH for sequence number {n} with {len(self.view)} messages: {r.line()}")
            return
        items = fetch_items(r.tokens)
        uid = self.view[n - 1]
        if "UID" in items:
            got = int(items["UID"])  # type: ignore[arg-type]
            if uid is None:
                prev = max((u for u in self.view[: n - 1] if u is not None), default=0)
                nxt = min((u for u in self.view[n:] if u is not None), default=None)
                if got <= prev or (nxt is not None and got >= nxt):
                    self.violation("seq", f"sequence {n} gets UID {got}, neighbours {prev} and {nxt}")
                self.view[n - 1] = got
                uid = got
            elif uid != got:
                self.violation("seq", f"sequence {n} is UID {uid} for this session, response says UID {got}")
                return
        if uid is None:
            return
        self.fetched.setdefault(uid, {}).update(items)
        flags = clean_flags(items["FLAGS"]) if "FLAGS" in items else None
        if flags is not None:
            self.flags[uid] = flags
        if "MODSEQ" in items:
            ms = items["MODSEQ"]
            m = int(ms[0]) if isinstance(ms, list) and ms else 0
            if m < self.modseq.get(uid, 0):
                self.violation("modseq", f"UID {uid} MODSEQ went back from {self.modseq[uid]} to {m}")
            self.modseq[uid] = max(m, self.modseq.get(uid, 0))
            self.last_modseq_in_cmd[uid] = m
            if flags is not None and not self.sets_seen:
                # (A FETCH of BODY[] sets \Seen; some servers show the new flags with the old
                # MODSEQ in that response and give the change its MODSEQ afterwards.)
                with self.world.lock:
                    prev = self.world.flags_at.setdefault((uid, m), flags)
                if prev != flags:
                    self.violation("modseq", f"UID {uid} MODSEQ {m} has flags {flags}, another session saw {prev}")
        want = self.world.content.get(uid)
        body = items.get("BODY[]")
        size = items.get("RFC822.SIZE")
        if want is not None and self.world.lenient_expunged and (body == b"NIL" or size == b"0"):
            # RFC 2180 4.1.3: a server may answer NIL for a message another session expunged;
            # checked at the end that it really was expunged.
            with self.world.lock:
                self.world.nil_fetched.setdefault(uid, self.command)
            self.world.count("FETCH answered NIL (expunged elsewhere)")
            return
        if want is not None and isinstance(body, bytes) and body != want:
            self.violation("body", f"UID {uid} body differs from what was stored ({len(body)} vs {len(want)} bytes)")
        if want is not None and size is not None and int(size) != len(want):  # type: ignore[arg-type]
            self.violation("body", f"UID {uid} RFC822.SIZE {size!r}, stored {len(want)} bytes")

    # -- checks after commands

    def check_fetch_complete(self, want: list[int], what: str) -> None:
        """Every message in ``want`` (uids the session had when the command started) got data."""
        missing = [u for u in want if u not in self.fetched and u not in self.expunged_in_cmd]
        if missing:
            self.violation("missing", f"{what}: no data for UIDs {numset(missing)}")

    def check_modseq_not_older(self, before: dict[int, int]) -> None:
        """The last MODSEQ this command showed for a message is at least what any client had seen
        before the command was sent (RFC 7162 3.1)."""
        for uid, m in self.last_modseq_in_cmd.items():
            floor = before.get(uid, 0)
            if m >= floor:
                continue
            detail = f"UID {uid} MODSEQ {m}, but a client had seen {floor} before this command"
            if self.world.lenient_expunged:
                # RFC 2180 4.1: data of a message another session expunged may be out of date;
                # checked at the end that it really was expunged.
                with self.world.lock:
                    self.world.old_fetched.setdefault(uid, (self.command, detail))
                self.world.count("FETCH answered old data (expunged elsewhere)")
                continue
            self.violation("modseq", detail)

    def check_synced(self, sent: int) -> None:
        """After NOOP/IDLE: expunges and additions confirmed before ``sent`` are reflected."""
        with self.world.lock:
            gone = {u for u, c in self.world.expunged.items() if c < sent}
            added = {u for u, (c0, c1) in self.world.added.items() if self.world.blind_expunge < c0 and c1 < sent}
            everexp = set(self.world.expunged)
            # A command that may expunge is still running: it may have removed a message without
            # its client having heard of it yet.
            unsure = bool(self.world.expunging)
        stale = [u for u in self.view if u is not None and u in gone]
        if stale:
            self.violation("stale", f"UIDs {numset(stale)} still shown, another client saw them expunged before")
        if None not in self.view and not unsure:
            have = set(self.view)
            missing = sorted(u for u in added if u not in have and u not in everexp)
            if missing:
                with self.world.lock:
                    how = {u: self.world.added_by.get(u) for u in missing[:4]}
                self.violation("stale", f"UIDs {numset(missing)} appended before this command are not shown "
                               f"(view {numset([u for u in self.view if u])}; added by {how})")

    # -- the operations

    def select(self) -> None:
        self.view = []
        r = self.run(f"SELECT {self.mailbox} (CONDSTORE)")
        if not self.expect_ok(r):
            return
        for resp in self.responses:
            if resp.code.upper().startswith("UIDVALIDITY"):
                uv = int(resp.code.split()[1])
                if self.uidvalidity and uv != self.uidvalidity:
                    self.violation("seq", f"UIDVALIDITY changed {self.uidvalidity} -> {uv}")
                self.uidvalidity = uv
        self.fill_view()

    def fill_view(self) -> None:
        """Learn the UIDs of messages only known by count."""
        for _ in range(5):
            if None not in self.view:
                return
            first = self.view.index(None) + 1
            want = [u for u in self.view if u is not None and self.view.index(u) + 1 >= first]
            before = self._modseq_floors(want)
            r = self.run(f"FETCH {first}:* (UID FLAGS MODSEQ)")
            if self.expect_ok(r):
                self.check_fetch_complete(want, "FETCH n:*")
                self.check_modseq_not_older(before)

    def _modseq_floors(self, uids: list[int]) -> dict[int, int]:
        return {u: self.world.seen_modseq_before(u, self.sent_clock_next()) for u in uids}

    def sent_clock_next(self) -> int:
        with self.world.lock:
            return self.world.clock + 1

    def known(self) -> list[tuple[int, int]]:
        return [(i + 1, u) for i, u in enumerate(self.view) if u is not None]

    def pick_range(self) -> tuple[int, int] | None:
        if not self.view:
            return None
        n = len(self.view)
        a = self.rng.randint(1, n)
        b = min(n, a + self.rng.randint(0, 6))
        return a, b

    def op_fetch(self) -> None:
        rng = self.pick_range()
        if rng is None:
            return self.op_noop()
        a, b = rng
        use_uid = self.rng.random() < 0.4
        body = self.rng.random() < 0.35
        atts = "UID FLAGS MODSEQ" + (" RFC822.SIZE BODY.PEEK[]" if body and self.rng.random() < 0.8 else " RFC822.SIZE BODY[]" if body else "")
        want = [u for u in self.view[a - 1 : b] if u is not None]
        if use_uid:
            if not want:
                return self.op_noop()
            before = self._modseq_floors(want)
            r = self.run(f"UID FETCH {numset(want)} ({atts})")
        else:
            before = self._modseq_floors(want)
            r = self.run(f"FETCH {a}:{b} ({atts})")
        if r.status == "OK":
            self.check_fetch_complete(want, "FETCH")
            self.check_modseq_not_older(before)

    def op_store(self) -> None:
        rng = self.pick_range()
        if rng is None:
            return self.op_noop()
        a, b = rng
        flag = self.rng.choice(["\\Seen", "\\Flagged", "\\Answered", "\\Deleted", "$Forwarded", "stress"])
        mode = self.rng.choice(["+FLAGS", "-FLAGS", "+FLAGS.SILENT"])
        if flag == "\\Deleted" and len(self.view) < 15:
            flag = "\\Flagged"
        want = [u for u in self.view[a - 1 : b] if u is not None]
        use_uid = self.rng.random() < 0.4 and want
        target = f"UID STORE {numset(want)}" if use_uid else f"STORE {a}:{b}"
        mod = ""
        if self.rng.random() < 0.3 and a == b and self.view[a - 1] is not None and self.view[a - 1] in self.modseq:
            mod = f" (UNCHANGEDSINCE {self.modseq[self.view[a - 1]]})"
        before = self._modseq_floors(want)
        r = self.run(f"{target}{mod} {mode} ({flag})")
        if r.status == "OK":
            self.check_modseq_not_older(before)
            if mod and "MODIFIED" in r.code.upper():
                self.world.count("STORE UNCHANGEDSINCE refused ([MODIFIED])")

    def op_expunge(self) -> None:
        if len(self.view) < 10:
            return self.op_append()
        if self.rng.random() < 0.5:
            self.expect_ok(self.run("EXPUNGE"))
            return
        known = [u for u in self.view if u is not None and "\\deleted" in self.flags.get(u, ())]
        if not known:
            self.expect_ok(self.run("EXPUNGE"))
            return
        self.expect_ok(self.run(f"UID EXPUNGE {numset(self.rng.sample(known, min(len(known), 3)))}"))

    def op_append(self) -> None:
        token = f"{self.cid}-{self.ntag}-{self.rng.getrandbits(48):x}"
        size = self.rng.choice([200, 1000, 4000])
        body = (f"From: stress{self.cid}@localhost\r\nTo: mox@localhost\r\nSubject: stress {token}\r\n"
                f"Message-Id: <{token}@localhost>\r\n\r\n").encode()
        body += (f"{token} " * (size // (len(token) + 1) + 1)).encode()[:size] + b"\r\n"
        flags = self.rng.choice(["", "(\\Seen) ", "(\\Flagged stress) "])
        r = self.run(f"APPEND {self.mailbox} {flags}".rstrip(), literal=body)
        if self.expect_ok(r):
            m = re.match(r"APPENDUID (\d+) (\d+)", r.code, re.I)
            if m is None:
                self.violation("protocol", f"APPEND without APPENDUID: {r.line()}")
                return
            uid = int(m.group(2))
            with self.world.lock:
                self.world.content[uid] = body
                self.world.added[uid] = (self.sent_clock, self.world.clock)
                self.world.added_by[uid] = f"client {self.cid} {self.command}"
            self.fill_view()

    def op_copy(self) -> None:
        rng = self.pick_range()
        if rng is None or len(self.view) > 80:
            return self.op_noop()
        a, b = rng
        want = [u for u in self.view[a - 1 : b] if u is not None]
        use_uid = self.rng.random() < 0.5 and want
        r = self.run(f"UID COPY {numset(want)} {self.mailbox}" if use_uid else f"COPY {a}:{b} {self.mailbox}")
        if self.expect_ok(r):
            m = re.match(r"COPYUID (\d+) (\S+) (\S+)", r.code, re.I)
            if m is not None:
                src, dst = parse_numset(m.group(2)), parse_numset(m.group(3))
                with self.world.lock:
                    for s, d in zip(src, dst):
                        if s in self.world.content:
                            self.world.content[d] = self.world.content[s]
                        self.world.added[d] = (self.sent_clock, self.world.clock)
                        self.world.added_by[d] = f"client {self.cid} {self.command} {r.code}"
            self.fill_view()

    def op_move(self) -> None:
        if len(self.view) < 10:
            return self.op_append()
        rng = self.pick_range()
        if rng is None:
            return
        a, b = rng
        b = min(b, a + 2)
        want = [u for u in self.view[a - 1 : b] if u is not None]
        use_uid = self.rng.random() < 0.5 and want
        r = self.run(f"UID MOVE {numset(want)} Archive" if use_uid else f"MOVE {a}:{b} Archive")
        self.expect_ok(r)

    def op_search(self) -> None:
        key = self.rng.choice(["ALL", "UNSEEN", "FLAGGED", "DELETED", "KEYWORD stress"])
        use_uid = self.rng.random() < 0.5
        r = self.run(("UID SEARCH " if use_uid else "SEARCH ") + key)
        if not self.expect_ok(r):
            return
        for resp in self.responses:
            if resp.name != "SEARCH":
                continue
            nums = [int(t) for t in resp.tokens if isinstance(t, bytes) and t.isdigit()]
            if use_uid:
                continue
            bad = [n for n in nums if not 1 <= n <= len(self.view)]
            if bad:
                self.violation("seq", f"SEARCH returned sequence numbers {bad} with {len(self.view)} messages")

    def op_status(self) -> None:
        """STATUS of Archive (not selected: RFC 9051 6.3.11 lets a server answer STATUS of the
        selected mailbox from an older state): HIGHESTMODSEQ and UIDNEXT never go back, also
        across clients."""
        sent = self.sent_clock_next()
        r = self.run("STATUS Archive (MESSAGES UIDNEXT HIGHESTMODSEQ)")
        if not self.expect_ok(r):
            return
        for resp in self.responses:
            if resp.name != "STATUS" or len(resp.tokens) < 2 or not isinstance(resp.tokens[1], list):
                continue
            vals = resp.tokens[1]
            d = {vals[i].decode().upper(): int(vals[i + 1]) for i in range(0, len(vals) - 1, 2)}
            for key in ("HIGHESTMODSEQ", "UIDNEXT"):
                v = d.get(key)
                if v is None:
                    continue
                with self.world.lock:
                    seen = self.world.status.setdefault(key, [])
                    floor = max((x for c, x in seen if c < sent), default=0)
                    seen.append((self.world.clock + 1, v))
                    if len(seen) > 200:
                        seen[:] = [(0, max(x for c, x in seen if c < sent))] + [(c, x) for c, x in seen if c >= sent]
                if v < floor:
                    self.violation("modseq", f"STATUS Archive {key} {v} below {floor} seen before")

    def op_list(self) -> None:
        r = self.run('LIST "" "*"')
        if self.expect_ok(r) and not any(resp.name == "LIST" for resp in self.responses):
            self.violation("protocol", "LIST returned no mailboxes")

    def op_noop(self) -> None:
        sent = self.sent_clock_next()
        if self.expect_ok(self.run("NOOP")):
            self.fill_view()
            self.check_synced(sent)

    def op_idle(self) -> None:
        sent = self.sent_clock_next()
        if self.expect_ok(self.run("IDLE", idle=self.rng.uniform(0.0, 0.15))):
            self.fill_view()
            self.check_synced(sent)

    def op_select(self) -> None:
        self.select()

    def op_notify(self) -> None:
        """NOTIFY (RFC 5465) for the selected mailbox's events at the end of commands
        (SELECTED-DELAYED: sequence numbers keep their meaning while no command runs) and
        STATUS of other mailboxes between commands."""
        if "NOTIFY" not in self.caps:
            return self.op_noop()
        self.expect_ok(self.run(
            "NOTIFY SET (selected-delayed (MessageNew MessageExpunge FlagChange))"
            " (personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))"
        ))


OPS = {
    "fetch": 24, "store": 16, "noop": 8, "idle": 5, "append": 10, "expunge": 6, "copy": 4, "move": 4,
    "search": 6, "status": 4, "list": 2, "select": 3, "notify": 1,
}


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_client(world: World, cid: int, args, host: str, port: int, deadline: float, seed: int) -> None:
    rng = random.Random(f"{seed}-{cid}")
    names = list(OPS)
    weights = [OPS[n] for n in names]
    s = Session(world, cid, host, port, args.user, args.password, args.mailbox, rng, args.timeout)
    if args.transcripts:
        Path(args.transcripts).mkdir(parents=True, exist_ok=True)
        s.log = open(Path(args.transcripts) / f"client{cid}.txt", "w", encoding="utf-8")
    try:
        s.connect()
        while not world.done(deadline, args):
            if args.churn and rng.random() < 0.06:
                s.disconnect(logout=rng.random() < 0.7)
                world.count("reconnects")
                s.connect()
                continue
            op = rng.choices(names, weights)[0]
            if op in ("store", "copy") and len(s.view) > 90:
                op = "expunge"
            with world.lock:
                world.ops[op] = world.ops.get(op, 0) + 1
            getattr(s, "op_" + op)()
        s.disconnect(logout=True)
    except (Closed, OSError, ModelError, ValueError, IndexError) as e:
        s.violation("client", f"{type(e).__name__}: {e}")
        s.disconnect(logout=False)
    except Exception:  # a bug in this tool: reported, not a thread that quietly stops
        s.violation("client", "tool error: " + traceback.format_exc())
        s.disconnect(logout=False)
    finally:
        if s.log is not None:
            s.log.close()


def prepare(args, host: str, port: int, world: World, seed: int) -> None:
    """Archive exists, the mailbox has some messages to start with."""
    rng = random.Random(f"{seed}-setup")
    s = Session(world, 0, host, port, args.user, args.password, args.mailbox, rng, args.timeout)
    s.wire = Wire(host, port, args.timeout)
    s.wire.read()
    s.expect_ok(s.run(f"LOGIN {quote(args.user)} {quote(args.password)}"))
    s.expect_ok(s.run('LIST "" Archive'))
    if not any(resp.name == "LIST" for resp in s.responses):
        s.expect_ok(s.run("CREATE Archive"))
    s.select()
    for _ in range(max(0, 30 - len(s.view))):
        s.op_append()
    s.disconnect(logout=True)


def stress(host: str, port: int, args, seed: int) -> World:
    world = World(args.lenient_expunged)
    prepare(args, host, port, world, seed)
    deadline = time.monotonic() + args.seconds
    world.started = time.monotonic()
    threads = [
        threading.Thread(target=run_client, args=(world, i, args, host, port, deadline, seed), daemon=True)
        for i in range(1, args.clients + 1)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + args.max_extra_seconds + 10 * args.timeout)
        if t.is_alive():
            world.violations.append(Violation("client", 0, "", "a client did not finish (hung connection?)", []))
    for uid, cmd in world.nil_fetched.items():
        if uid not in world.expunged:
            world.violations.append(Violation("body", 0, cmd, f"UID {uid} answered NIL but never expunged", []))
    for uid, (cmd, detail) in world.old_fetched.items():
        if uid not in world.expunged:
            world.violations.append(Violation("modseq", 0, cmd, detail + " (and it was never expunged)", []))
    return world


def report(world: World, seed: int, out=sys.stdout) -> int:
    ops = sum(world.ops.values())
    print(f"commands: {ops} ({', '.join(f'{k} {v}' for k, v in sorted(world.ops.items()))})", file=out)
    for k, v in sorted(world.counts.items()):
        print(f"  {k}: {v}", file=out)
    if not world.violations:
        print("violations: 0", file=out)
        return 0
    kinds: dict[str, list[Violation]] = {}
    for v in world.violations:
        kinds.setdefault(v.kind, []).append(v)
    print(f"violations: {len(world.violations)} (seed {seed})", file=out)
    for kind, vs in sorted(kinds.items()):
        print(f"  {kind}: {len(vs)}", file=out)
        for v in vs[:3]:
            print(f"    client {v.client}, command {v.command!r}: {v.detail}", file=out)
            for line in v.responses:
                print(f"      {line}", file=out)
    return 1


# ---------------------------------------------------------------------------------------------
# Servers to test


@contextlib.contextmanager
def mox_server(python: str, pids: list[int] | None = None):
    """``python -m mox localserve`` on free ports; yields (port, log path). ``pids``: the
    server's pid is appended to it."""
    tmp = Path(tempfile.mkdtemp(prefix="imap-stress-mox-"))
    ready = tmp / "ready.json"
    log = tmp / "mox.log"
    cmd = [python, "-m", "mox", "-loglevel", "info", "localserve", "-dir", str(tmp / "data"), "-port-base", "0",
           "-ready-file", str(ready)]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, cwd=tmp)
    if pids is not None:
        pids.append(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mox did not start:\n{log.read_text(encoding='utf-8', errors='replace')[-3000:]}")
            time.sleep(0.05)
        time.sleep(0.05)
        info = json.loads(ready.read_text(encoding="utf-8"))
        yield info["imap"], log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of the server's process tree so far (Linux /proc), or None."""
    sys.path.insert(0, str(ROOT / "bench"))
    from peers import util  # noqa: PLC0415 - the benchmarks' helper

    return util.process_tree_cpu(pid) if Path("/proc").is_dir() else None


def report_cpu(world: World, cpu0: float | None, cpu1: float | None, out=sys.stdout) -> None:
    ops = sum(world.ops.values())
    if cpu0 is None or cpu1 is None or not ops:
        return
    print(f"server CPU (user+system, its process tree): {cpu1 - cpu0:.2f} s, "
          f"{(cpu1 - cpu0) * 1000 / ops:.3f} ms per command", file=out)


def server_errors(log: Path) -> list[str]:
    text = log.read_text(encoding="utf-8", errors="replace")
    return [l for l in text.splitlines() if l.startswith(("error:", "fatal:")) or "Traceback" in l]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--churn", action="store_true", help="clients log out (or drop the connection) and come back")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--min-ops", type=int, default=0,
                   help="go on after --seconds until the clients did this many commands in all (a busy machine)")
    p.add_argument("--max-extra-seconds", type=float, default=60, help="how long --min-ops may extend the run")
    p.add_argument("--server", default="mox", help="mox (start localserve), dovecot (start a throwaway Dovecot), or HOST:PORT")
    p.add_argument("--user", default="mox@localhost")
    p.add_argument("--password", default="moxmoxmox")
    p.add_argument("--mailbox", default="INBOX")
    p.add_argument("--timeout", type=float, default=30, help="seconds to wait for a response")
    p.add_argument("--lenient-expunged", action="store_true",
                   help="accept the other answers RFC 2180 4.1 allows for a FETCH of a message another "
                        "session expunged: NO [EXPUNGEISSUED], or NIL data (default with --server dovecot)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs mox (--server mox)")
    p.add_argument("--transcripts", metavar="DIR", help="write each client's protocol lines to DIR/client<n>.txt")
    args = p.parse_args(argv)
    if args.server == "dovecot":
        args.lenient_expunged = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"imap stress: {args.clients} clients, {args.seconds:g}s, churn {'on' if args.churn else 'off'}, "
          f"server {args.server}, seed {seed}", flush=True)
    if args.server == "mox":
        pids: list[int] = []
        with mox_server(args.python, pids) as (port, log):
            cpu0 = server_cpu(pids[0])
            world = stress("127.0.0.1", port, args, seed)
            cpu1 = server_cpu(pids[0])
            errors = server_errors(log)
        rc = report(world, seed)
        report_cpu(world, cpu0, cpu1)
        print(f"server error log lines: {len(errors)}")
        for line in errors[:10]:
            print(f"  {line[:300]}")
        return 1 if rc or errors else 0
    if args.server == "dovecot":
        sys.path.insert(0, str(ROOT / "bench"))
        from peers import dovecot  # noqa: PLC0415 - only needed for this server

        pids = []
        with dovecot.running(pids=pids) as (port, desc):
            print(f"server: {desc}", flush=True)
            cpu0 = server_cpu(pids[0])
            world = stress("127.0.0.1", port, args, seed)
            cpu1 = server_cpu(pids[0])
        rc = report(world, seed)
        report_cpu(world, cpu0, cpu1)
        return rc
    host, _, port = args.server.rpartition(":")
    return report(stress(host or "127.0.0.1", int(port), args, seed), seed)


if __name__ == "__main__":
    sys.exit(main())
