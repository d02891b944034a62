"""Logging: concise logfmt-style lines with levels, per-package levels and connection ids.

A line reads ``level: message; pkg=imapserver; cid=1a; key=value``, as mox writes them.

Levels, most verbose first: tracedata, traceauth, trace, debug, info, warn, error, fatal, print.
At any trace level protocol lines are logged; message data is shown only at ``tracedata`` and
authentication data (passwords, SASL responses) only at ``traceauth`` or ``tracedata``. Unlike mox
(which defaults to ``traceauth``, printing cleartext passwords), our default is ``info``.

Protocol drivers call :meth:`Logger.trace_line` with a ``kind`` of ``"text"``, ``"auth"`` or
``"data"`` so redaction is decided here, in one place.

An exception nobody expected (our bug, not the peer's fault) is logged in one way by every
driver (IMAP, SMTP, HTTP, the listeners in serve, the queue, the control channel):
:meth:`Logger.unexpected` writes one error-level line with the exception (``err=``), its
traceback (``trace=``) and the connection id (``cid=``). A connection's id is chosen when the
listener accepts it (:func:`start_connection`), so the listener's lines and the protocol
driver's lines of one connection carry the same ``cid``.
"""

from __future__ import annotations

import collections
import contextvars
import itertools
import sys
import threading
import time
import traceback
from typing import IO, Any

LEVELS = {
    "tracedata": 0,
    "traceauth": 1,
    "trace": 2,
    "debug": 3,
    "info": 4,
    "warn": 5,
    "error": 6,
    "fatal": 7,
    "print": 8,
}

_default_level = "info"
_pkg_levels: dict[str, str] = {}
_out: IO[str] = sys.stderr
_lock = threading.Lock()
_cid_counter = itertools.count(1)
_cid_base = int(time.time()) & 0xFFFFFF
#: Where error and fatal lines also go, whatever the configured level, for code running in this
#: context: mox.testing.LocalServer sets it inside its server's trio run, and trio hands a copy of
#: the context to every task and worker thread started from there.
_error_sink: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("mox_mlog_error_sink", default=None)
#: The id of the connection the current task serves (set by :func:`start_connection`; trio
#: copies the context into the tasks a connection starts).
_connection_cid: contextvars.ContextVar[str | None] = contextvars.ContextVar("mox_mlog_connection_cid", default=None)


#: The last lines written that carry a connection id, for ``mox cid`` (bounded memory).
RECENT_MAX = 20000
_recent: collections.deque[tuple[str, str]] = collections.deque(maxlen=RECENT_MAX)


def recent_lines(cid: str) -> list[str]:
    """The lines still kept (the last RECENT_MAX written with a cid) of connection ``cid``."""
    with _lock:
        return [line for c, line in _recent if c == cid]


def new_cid() -> str:
    """A connection id, unique within this process, short enough to read in logs."""
    return f"{_cid_base:x}{next(_cid_counter):x}"


def start_connection() -> str:
    """A new connection id for the connection the current task serves from now on (called by
    the listener for each accepted connection)."""
    cid = new_cid()
    _connection_cid.set(cid)
    return cid


def connection_cid() -> str:
    """The id of the connection the current task serves, or a new id when no listener chose one
    (a driver started directly, as tests do)."""
    return _connection_cid.get() or new_cid()


def set_level(level: str, pkg: str = "") -> None:
    """Set the default level (pkg empty) or a package's level; an empty level unsets a package."""
    if pkg:
        if level == "":
            _pkg_levels.pop(pkg, None)
            return
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}")
        _pkg_levels[pkg] = level
        return
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    global _default_level
    _default_level = level


def levels() -> dict[str, str]:
    """Current levels: "" is the default, other keys are packages."""
    d = {"": _default_level}
    d.update(_pkg_levels)
    return d


def set_output(out: IO[str]) -> None:
    global _out
    _out = out


def collect_errors(sink: list[str]) -> None:
    """From now on, in the current context (and the tasks and threads started from it), append
    each line logged at level error or fatal to ``sink`` too, also when the level hides it."""
    _error_sink.set(sink)


def _fmt_value(v: Any) -> str:
    s = str(v)
    if s == "" or any(c in s for c in " ;=\"\n\r\t"):
        s = '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
    return s


class Logger:
    """A logger for one package, optionally bound to fields such as ``cid``."""

    __slots__ = ("pkg", "fields")

    def __init__(self, pkg: str, fields: dict[str, Any] | None = None) -> None:
        self.pkg = pkg
        self.fields = fields or {}

    def with_(self, **fields: Any) -> Logger:
        f = dict(self.fields)
        f.update(fields)
        return Logger(self.pkg, f)

    def level(self) -> int:
        return LEVELS[_pkg_levels.get(self.pkg, _default_level)]

    def enabled(self, level: str) -> bool:
        return LEVELS[level] >= self.level()

    def log(self, level: str, msg: str, **fields: Any) -> None:
        enabled = LEVELS[level] >= self.level()
        sink = _error_sink.get() if level in ("error", "fatal") else None
        if not enabled and sink is None:
            return
        parts = [f"{level}: {msg}", f"pkg={self.pkg}"]
        for k, v in itertools.chain(self.fields.items(), fields.items()):
            if v is None:
                continue
            parts.append(f"{k}={_fmt_value(v)}")
        line = "; ".join(parts) + "\n"
        if sink is not None:
            sink.append(line.rstrip("\n"))
        if not enabled:
            return
        with _lock:
            cid = self.fields.get("cid") or fields.get("cid")
            if cid is not None:
                _recent.append((str(cid), line.rstrip("\n")))
            try:
                _out.write(line)
                _out.flush()
            except (OSError, ValueError):
                pass

    def tracedata(self, msg: str, **f: Any) -> None:
        self.log("tracedata", msg, **f)

    def trace(self, msg: str, **f: Any) -> None:
        self.log("trace", msg, **f)

    def debug(self, msg: str, **f: Any) -> None:
        self.log("debug", msg, **f)

    def info(self, msg: str, **f: Any) -> None:
        self.log("info", msg, **f)

    def warn(self, msg: str, **f: Any) -> None:
        self.log("warn", msg, **f)

    def error(self, msg: str, **f: Any) -> None:
        self.log("error", msg, **f)

    def fatal(self, msg: str, **f: Any) -> None:
        self.log("fatal", msg, **f)

    def print(self, msg: str, **f: Any) -> None:
        self.log("print", msg, **f)

    def unexpected(self, msg: str, exc: BaseException, **f: Any) -> str:
        """Log an exception nobody expected (a bug, never a peer's mistake) the one way every
        driver does: level error, the exception as ``err``, its traceback as ``trace`` and the
        connection id as ``cid`` (this logger's, else the current connection's, else a new one).
        Returns that cid: drivers put it in what the client is told, so that the line can be
        found from it (``mox cid``)."""
        fields: dict[str, Any] = {}
        cid = str(f.get("cid") or self.fields.get("cid") or connection_cid())
        if "cid" not in self.fields and "cid" not in f:
            fields["cid"] = cid
        fields.update(f)
        leaf = exc  # a nursery's group around one exception: name that one
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        fields["err"] = repr(leaf)
        fields["trace"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")
        self.log("error", msg, **fields)
        return cid

    def trace_line(self, prefix: str, line: bytes | str, kind: str = "text") -> None:
        """Log one protocol line at trace level.

        ``prefix`` is the direction (IMAP ``C:``/``S:``, SMTP ``RC:``/``LS:``). ``kind`` is
        ``"text"`` (logged at trace), ``"auth"`` (shown at traceauth, else ``***``) or ``"data"``
        (message data, shown at tracedata, else ``...``).
        """
        lvl = self.level()
        if lvl > LEVELS["trace"]:
            return
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        line = line.rstrip("\r\n")
        if kind == "auth" and lvl > LEVELS["traceauth"]:
            line = "***"
        elif kind == "data" and lvl > LEVELS["tracedata"]:
            line = "..."
        self.log("trace", f"{prefix} {line}")


def get_logger(pkg: str) -> Logger:
    return Logger(pkg)
