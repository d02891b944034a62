"""Session transcripts: every SMTP and IMAP session of localserve, recorded line by line.

A :class:`RecordingLogger` wraps a connection's logger; the protocol lines the servers already
send to ``trace_line`` are recorded whatever the log level, with the same redaction kinds:
``auth`` lines (passwords, SASL exchanges) become ``***``, ``data`` (message contents) is kept up
to :data:`MAX_DATA` bytes. Transcripts live in memory while the session runs and are written to
``<data>/transcripts/<cid>.txt`` (UTF-8) when it ends.

A delivered message links to the SMTP session that received it through the connection id in
our own first ``Received`` header (``... with ESMTP id <cid> ...``): :func:`cid_from_message`.
"""

from __future__ import annotations

import datetime
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_LINES = 10000
MAX_LINE = 2000
MAX_DATA = 8192
KEEP_IN_MEMORY = 1000
KEEP_ON_DISK = 20000  # transcript files; the oldest go first
_CID_RE = re.compile(r"^[0-9a-f]{1,32}$")
_RECEIVED_ID = re.compile(rb"\bwith [A-Z0-9]+ id ([0-9a-f]+)\b")
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
        return level == "trace" or bool(self._inner.enabled(level))

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
    """The transcripts of one server: open ones in memory, finished ones on disk."""

    def __init__(self, data_dir: Path, *, deterministic: bool = False) -> None:
        self.dir = Path(data_dir) / "transcripts"
        self.deterministic = deterministic
        self._open: dict[str, Transcript] = {}
        #: finished sessions: summaries only (the text is on disk), the newest KEEP_IN_MEMORY.
        self._done: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._finished = 0

    def start(self, cid: str, proto: str, remote: str | None) -> Transcript:
        t = Transcript(cid=cid, proto=proto, remote=remote or "", started=time.time())
        with self._lock:
            self._open[cid] = t
        return t

    def finish(self, t: Transcript) -> None:
        t.ended = time.time()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / f"{t.cid}.txt").write_text(t.text(self.deterministic), encoding="utf-8")
        except OSError:
            pass
        with self._lock:
            self._open.pop(t.cid, None)
            self._done[t.cid] = t.summary()
            while len(self._done) > KEEP_IN_MEMORY:
                self._done.popitem(last=False)
            self._finished += 1
            prune = self._finished % 1000 == 0
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
            t = self._open.get(cid)
        if t is not None:
            return t.text(self.deterministic)
        try:
            return (self.dir / f"{cid}.txt").read_text(encoding="utf-8")
        except OSError:
            return None

    def list(self, *, proto: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            ts = list(self._done.values()) + [t.summary() for t in self._open.values()]
        out = [t for t in ts if (proto is None or t["proto"] == proto) and (user is None or (t["user"] or "").lower() == user.lower())]
        out.sort(key=lambda s: s["started"])
        return out

    def clear(self) -> None:
        with self._lock:
            self._done.clear()
        try:
            for p in self.dir.glob("*.txt"):
                p.unlink()
        except OSError:
            pass


def cid_from_message(data: bytes) -> str | None:
    """The connection id in the first ``Received`` header field (ours), else None."""
    end = data.find(b"\r\n\r\n")
    head = data[: end if end >= 0 else min(len(data), 65536)]
    i = 0
    lines = head.split(b"\r\n")
    while i < len(lines):
        line = lines[i]
        if line[:9].lower() == b"received:":
            field_ = line
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                field_ += b" " + lines[i].strip()
                i += 1
            m = _RECEIVED_ID.search(field_)
            return m.group(1).decode("ascii") if m else None
        i += 1
    return None
