"""Session transcripts: every SMTP and IMAP session of localserve, recorded line by line.

A :class:`RecordingLogger` wraps a connection's logger; the protocol lines the servers already
send to ``trace_line`` are recorded whatever the log level, with the same redaction kinds:
``auth`` lines (passwords, SASL exchanges) become ``***``, ``data`` (message contents) is kept up
to :data:`MAX_DATA` bytes. Transcripts live in memory while the session runs and are written to
``<data>/transcripts/<cid>.txt`` (UTF-8) after it ends: by a background writer (a worker thread
that takes every transcript finished meanwhile in one go) when the store has one, so no
connection waits for a file; until its file is written a finished transcript is served from
memory, so it is complete the moment the session ends (after QUIT's 221 / LOGOUT's OK), and a
listing writes what is pending first (the listed transcripts are on disk).

A delivered message links to the SMTP session that brought it through a record the server
makes when it stores the message: (account, message id) -> connection id, kept in memory and
appended to ``<data>/transcripts/deliveries.log`` (:meth:`TranscriptStore.record_delivery`,
:meth:`TranscriptStore.delivered_by`; by the background writer too, in batches). The link is made in memory before the message becomes
visible in the account (:meth:`TranscriptStore.bind_delivery`, called by the store under its
lock), so whoever finds the message finds its transcript; it goes to the file once the message
is durable, so a crash never leaves a link for a message id that was not stored. Message
headers are never trusted for this: an IMAP APPEND can carry any ``Received`` header, and it
makes no record, so another account's transcript cannot be reached through a message.
"""

from __future__ import annotations

import datetime
import re
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_LINES = 10000
MAX_LINE = 2000
MAX_DATA = 8192
KEEP_IN_MEMORY = 1000
KEEP_ON_DISK = 20000  # transcript files; the oldest go first
DELIVERIES_FILE = "deliveries.log"
KEEP_DELIVERIES = 100_000  # delivery records in memory; the oldest go first
WRITE_DELAY = 0.1  # seconds the background writer waits for more to write
_CID_RE = re.compile(r"^[0-9a-f]{1,32}$")
_PREFIX = {"RC:": "C:", "LS:": "S:", "C:": "C:", "S:": "S:"}


@dataclass
class Transcript:
    cid: str
    proto: str
    remote: str
    started: float
    lines: list[str] = field(default_factory=list)
    ended: float | None = None
    user: str | None = None
    truncated: bool = False

    def add(self, prefix: str, line: bytes | str, kind: str) -> None:
        if len(self.lines) >= MAX_LINES:
            self.truncated = True
            return
        p = _PREFIX.get(prefix, prefix)
        if kind == "auth":
            self.lines.append(f"{p} ***")
            return
        if isinstance(line, bytes):
            limit = MAX_DATA if kind == "data" else MAX_LINE
            text = line[:limit].decode("utf-8", "replace")
            cut = len(line) > limit
        else:
            text, cut = line, False
        text = text.rstrip("\r\n")
        if kind == "data":
            for part in text.split("\n"):
                self.lines.append(f"{p}   | {part.rstrip(chr(13))}")
            if cut:
                self.lines.append(f"{p}   | ... (more message data)")
        else:
            self.lines.append(f"{p} {text[:MAX_LINE]}")

    def note(self, text: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(f"-- {text}")

    def header(self, deterministic: bool) -> str:
        when = "" if deterministic else " at " + _iso(self.started)
        return f"# {self.proto} session {self.cid} from {self.remote or 'unknown'}{when}\n"

    def text(self, deterministic: bool = False) -> str:
        body = "".join(line + "\n" for line in self.lines)
        tail = "-- transcript truncated\n" if self.truncated else ""
        if self.ended is None:
            tail += "-- session still open\n"
        return self.header(deterministic) + body + tail

    def summary(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "proto": self.proto,
            "remote": self.remote,
            "started": _iso(self.started),
            "ended": _iso(self.ended) if self.ended is not None else None,
            "user": self.user,
            "lines": len(self.lines),
        }


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class RecordingLogger:
    """A logger that also records protocol lines into a transcript (see module docstring)."""

    def __init__(self, inner: Any, transcript: Transcript) -> None:
        self._inner = inner
        self.transcript = transcript

    def enabled(self, level: str) -> bool:
        # Once the transcript is full the protocol lines go only to the log (servers skip
        # preparing them when its level is off).
        if level == "trace":
            if len(self.transcript.lines) < MAX_LINES:
                return True
            self.transcript.truncated = True  # asked because a line is about to be written
        return bool(self._inner.enabled(level))

    def trace_line(self, prefix: str, line: bytes | str, kind: str = "text") -> None:
        try:
            self.transcript.add(prefix, line, kind)
        finally:
            self._inner.trace_line(prefix, line, kind=kind)

    def with_(self, **fields: Any) -> RecordingLogger:
        return RecordingLogger(self._inner.with_(**fields), self.transcript)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TranscriptStore:
    """The transcripts of one server: open ones in memory, finished ones on disk (or waiting
    for the writer, in memory).

    ``background``: how to run the writer off the caller's thread (called with a function of
    no arguments, e.g. trio's thread cache); None: files are written by the call that
    finishes a transcript or records a delivery."""

    def __init__(self, data_dir: Path, *, deterministic: bool = False,
                 background: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.dir = Path(data_dir) / "transcripts"
        self.deterministic = deterministic
        self._open: dict[str, Transcript] = {}
        #: finished sessions: summaries only (the text is on disk), the newest KEEP_IN_MEMORY.
        self._done: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._finished = 0
        #: (account, message id) -> cid; None until loaded from DELIVERIES_FILE.
        self._deliveries: OrderedDict[tuple[str, int], str] | None = None
        self._background = background
        #: finished transcripts whose file is not written yet, and delivery lines not yet
        #: appended to DELIVERIES_FILE (both under _lock).
        self._pending: dict[str, Transcript] = {}
        self._records: list[str] = []
        self._writing = False  # a background writer is running (under _lock)
        #: held while files are written, so clear() never races a write of what it removes.
        self._io_lock = threading.Lock()

    def start(self, cid: str, proto: str, remote: str | None) -> Transcript:
        t = Transcript(cid=cid, proto=proto, remote=remote or "", started=time.time())
        with self._lock:
            self._open[cid] = t
        return t

    def finish(self, t: Transcript) -> None:
        t.ended = time.time()
        with self._lock:
            self._pending[t.cid] = t
            self._open.pop(t.cid, None)
            self._done[t.cid] = t.summary()
            while len(self._done) > KEEP_IN_MEMORY:
                self._done.popitem(last=False)
            self._finished += 1
        self._written_soon()

    def _written_soon(self) -> None:
        """Pending files: to the background writer (started unless running), else now."""
        if self._background is None:
            self.flush()
            return
        with self._lock:
            if self._writing:
                return  # the running writer takes it (it checks for more before it stops)
            self._writing = True
        try:
            self._background(self._write_until_idle)
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def _write_until_idle(self) -> None:
        try:
            # A moment for more sessions to end: one run writes them all (on a busy server a
            # run per session costs more than the writes).
            time.sleep(WRITE_DELAY)
            while True:
                with self._lock:
                    if not self._pending and not self._records:
                        self._writing = False
                        return
                self.flush()
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def flush(self) -> None:
        """Write every pending transcript file and delivery line now (in the caller's thread)."""
        with self._io_lock:
            with self._lock:
                ts = list(self._pending.values())
                lines, self._records = self._records, []
                prune = self._finished >= 1000
                if prune:
                    self._finished = 0
            if not ts and not lines:
                return
            try:
                os.makedirs(self.dir, exist_ok=True)
            except OSError:
                pass
            d = os.fspath(self.dir)
            for t in ts:
                try:
                    with open(os.path.join(d, t.cid + ".txt"), "w", encoding="utf-8") as f:
                        f.write(t.text(self.deterministic))
                except OSError:
                    pass
            if lines:
                try:
                    with open(os.path.join(d, DELIVERIES_FILE), "a", encoding="utf-8") as f:
                        f.write("".join(lines))
                except OSError:
                    pass
            with self._lock:
                for t in ts:
                    if self._pending.get(t.cid) is t:
                        del self._pending[t.cid]
            if prune:
                self.prune()

    def prune(self, keep: int = KEEP_ON_DISK) -> None:
        """Remove the oldest transcript files beyond ``keep``."""
        try:
            files = sorted(self.dir.glob("*.txt"), key=lambda p: p.stat().st_mtime)
            for p in files[: max(0, len(files) - keep)]:
                p.unlink()
        except OSError:
            pass

    def get(self, cid: str) -> str | None:
        if not _CID_RE.match(cid):
            return None
        with self._lock:
            t = self._open.get(cid) or self._pending.get(cid)
        if t is not None:
            return t.text(self.deterministic)
        try:
            return (self.dir / f"{cid}.txt").read_text(encoding="utf-8")
        except OSError:
            return None

    def list(self, *, proto: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """The sessions (finished ones have their file on disk when this returns)."""
        self.flush()
        with self._lock:
            ts = list(self._done.values()) + [t.summary() for t in self._open.values()]
        out = [t for t in ts if (proto is None or t["proto"] == proto) and (user is None or (t["user"] or "").lower() == user.lower())]
        out.sort(key=lambda s: s["started"])
        return out

    def bind_delivery(self, account: str, message_id: int, cid: str) -> None:
        """Session ``cid`` is bringing message ``message_id`` into ``account``: the link in
        memory, made before the message becomes visible (the store calls this under the
        account's lock). An id whose delivery then fails is never handed out again by this
        server, so the link stays unused."""
        if not _CID_RE.match(cid):
            return
        with self._lock:
            self._bind_locked(account, message_id, cid)

    def _bind_locked(self, account: str, message_id: int, cid: str) -> None:
        deliveries = self._load_deliveries()
        deliveries[(account, message_id)] = cid
        while len(deliveries) > KEEP_DELIVERIES:
            deliveries.popitem(last=False)

    def record_delivery(self, account: str, message_id: int, cid: str) -> None:
        """Session ``cid`` brought message ``message_id`` into ``account`` (called by the server
        once the message is durable): the link in memory, and a line for the deliveries file
        (written as transcripts are)."""
        if not _CID_RE.match(cid):
            return
        with self._lock:
            self._bind_locked(account, message_id, cid)
            self._records.append(f"{cid}\t{message_id}\t{account}\n")
        self._written_soon()

    def delivered_by(self, account: str, message_id: int) -> str | None:
        """The cid of the session that brought the message, if this server recorded one."""
        with self._lock:
            return self._load_deliveries().get((account, message_id))

    def _load_deliveries(self) -> OrderedDict[tuple[str, int], str]:
        if self._deliveries is None:
            self._deliveries = OrderedDict()
            try:
                with open(self.dir / DELIVERIES_FILE, encoding="utf-8") as f:
                    for line in f:
                        cid, _, rest = line.rstrip("\n").partition("\t")
                        mid, _, account = rest.partition("\t")
                        if _CID_RE.match(cid) and mid.isdigit() and account:
                            self._deliveries[(account, int(mid))] = cid
            except OSError:
                pass
            while len(self._deliveries) > KEEP_DELIVERIES:
                self._deliveries.popitem(last=False)
        return self._deliveries

    def clear(self) -> None:
        with self._io_lock:
            with self._lock:
                self._done.clear()
                self._pending.clear()
                self._records.clear()
                self._deliveries = OrderedDict()
                try:
                    (self.dir / DELIVERIES_FILE).unlink(missing_ok=True)
                except OSError:
                    pass
            try:
                for p in self.dir.glob("*.txt"):
                    p.unlink()
            except OSError:
                pass
