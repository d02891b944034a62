"""Counters, gauges and histograms, served in the Prometheus text format on the metrics port
(1081 in localserve, as mox's ``MetricsHTTP`` listener).

Names, help texts and labels are mox's (``smtpserver/server.go``, ``imapserver/server.go``,
``queue/queue.go``, ``queue/hook.go``, ``webapisrv/server.go``), so dashboards and alerts made
for mox work unchanged. Each server has its own :class:`Metrics` (``ctx.metrics``); the
drivers count through its methods, never through module globals, so several servers in one
process (tests) count apart.

The exposition format (Prometheus "text-based format", version 0.0.4): ``# HELP`` and
``# TYPE`` lines per family, then one line per labelled sample; histograms as cumulative
``_bucket{le=...}`` samples plus ``_sum`` and ``_count``. Written here (a few dozen lines)
rather than with a client library, to keep the runtime dependencies as they are.
"""

from __future__ import annotations

import bisect
from http import HTTPStatus
import math
import threading
from collections.abc import Callable, Iterable, Sequence

__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "Metrics", "Registry"]

#: The Content-Type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_help(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Family:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, values: Sequence[str]) -> tuple[str, ...]:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name}: want labels {self.label_names}, got {tuple(values)}")
        if all(type(v) is str for v in values):
            return tuple(values)
        return tuple(str(v) for v in values)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Family):
    """A value that only goes up, per combination of label values."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[tuple[str, ...], float] = {}
        if not self.label_names:
            self._values[()] = 0.0  # an unlabelled counter is shown from the start, as 0

    def inc(self, *labels: str, by: float = 1.0) -> None:
        if by < 0:
            raise ValueError("counters only go up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + by

    def value(self, *labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(self.label_names, k)} {_fmt(v)}" for k, v in items]


class Gauge(_Family):
    """A value read when the metrics are asked for (``func``), or set."""

    kind = "gauge"

    def __init__(self, name: str, help: str, func: Callable[[], float] | None = None) -> None:
        super().__init__(name, help)
        self.func = func
        self._value = 0.0

    def set(self, v: float) -> None:
        self._value = float(v)

    def value(self) -> float:
        return float(self.func()) if self.func is not None else self._value

    def samples(self) -> list[str]:
        return [f"{self.name} {_fmt(self.value())}"]


class Histogram(_Family):
    """Observations counted into cumulative buckets (upper bounds ``buckets``), with their sum."""

    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Sequence[str] = (), *, buckets: Iterable[float]) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        #: label values -> (count per bucket, not cumulative; the last one is +Inf), sum
        self._values: dict[tuple[str, ...], tuple[list[int], float]] = {}

    def observe(self, v: float, *labels: str) -> None:
        key = self._key(labels)
        i = bisect.bisect_left(self.buckets, v)  # the first bucket with v <= bound, else +Inf
        with self._lock:
            counts, total = self._values.get(key) or ([0] * (len(self.buckets) + 1), 0.0)
            counts[i] += 1
            self._values[key] = (counts, total + v)

    def count(self, *labels: str) -> int:
        got = self._values.get(self._key(labels))
        return sum(got[0]) if got else 0

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((k, (list(c), s)) for k, (c, s) in self._values.items())
        out = []
        for key, (counts, total) in items:
            n = 0
            for bound, c in zip((*self.buckets, math.inf), counts, strict=True):
                n += c
                le = 'le="' + _fmt(bound) + '"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {n}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_fmt(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {n}")
        return out


class Registry:
    def __init__(self) -> None:
        self.families: list[_Family] = []

    def add(self, family: _Family) -> _Family:
        if any(f.name == family.name for f in self.families):
            raise ValueError(f"metric {family.name} registered twice")
        self.families.append(family)
        return family

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        c = Counter(name, help, labels)
        self.add(c)
        return c

    def gauge(self, name: str, help: str, func: Callable[[], float] | None = None) -> Gauge:
        g = Gauge(name, help, func)
        self.add(g)
        return g

    def histogram(self, name: str, help: str, labels: Sequence[str] = (), *, buckets: Iterable[float]) -> Histogram:
        h = Histogram(name, help, labels, buckets=buckets)
        self.add(h)
        return h

    def exposition(self) -> bytes:
        """All families in the text format, ending in a newline."""
        lines: list[str] = []
        for f in self.families:
            lines += f.header()
            lines += f.samples()
        return ("\n".join(lines) + "\n").encode("utf-8")


def http_code_label(code: int | None) -> str:
    """A webhook result as mox labels it (queue/hook.go): the status for registered HTTP status
    codes, "<major>xx" for others, "error" when there was no HTTP response."""
    if code is None or code <= 0:
        return "error"
    if code in _KNOWN_STATUS:
        return str(code)
    return f"{code // 100}xx"


_KNOWN_STATUS = frozenset(int(s) for s in HTTPStatus)


class Metrics:
    """The metrics of one running server, with mox's names and labels."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        # smtpserver/server.go
        self.smtp_connection = r.counter(
            "mox_smtpserver_connection_total", "Incoming SMTP connections.", ("kind",)
        )  # kind: deliver or submit
        self.smtp_command = r.histogram(
            "mox_smtpserver_command_duration_seconds",
            "SMTP server command duration and result codes in seconds.",
            ("kind", "cmd", "code", "ecode"),
            buckets=(0.001, 0.005, 0.01, 0.05, 0.100, 0.5, 1, 5, 10, 20, 30, 60, 120),
        )
        self.smtp_delivery = r.counter(
            "mox_smtpserver_delivery_total",
            "SMTP incoming message delivery from external source, not submission. Result values: delivered, "
            "reject, unknownuser, accounterror, delivererror. Reason indicates why a message was rejected/accepted.",
            ("result", "reason"),
        )
        self.smtp_submission = r.counter(
            "mox_smtpserver_submission_total",
            "SMTP server incoming submission results, known values (those ending with error are server errors): "
            "ok, badmessage, badfrom, badheader, messagelimiterror, recipientlimiterror, localserveerror, queueerror.",
            ("result",),
        )
        # imapserver/server.go
        self.imap_connection = r.counter(
            "mox_imap_connection_total", "Incoming IMAP connections.", ("service",)
        )  # service: imap or imaps
        self.imap_command = r.histogram(
            "mox_imap_command_duration_seconds",
            "IMAP command duration and result codes in seconds.",
            ("cmd", "result"),
            buckets=(0.001, 0.005, 0.01, 0.05, 0.100, 0.5, 1, 5, 10, 20),
        )
        # queue/queue.go: one attempt at delivering one queued message.
        self.queue_delivery = r.histogram(
            "mox_queue_delivery_duration_seconds",
            "SMTP client delivery attempt to single host.",
            ("attempt", "transport", "tlsmode", "result"),
            buckets=(0.01, 0.05, 0.100, 0.5, 1, 5, 10, 20, 30, 60, 120),
        )
        self.queue_hold = r.gauge("mox_queue_hold", "Messages in queue that are on hold.")
        # queue/hook.go
        self.webhook_request = r.histogram(
            "mox_webhook_request_duration_seconds",
            "HTTP webhook call duration.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 20, 30),
        )
        self.webhook_results = r.counter(
            "mox_webhook_results_total", "HTTP webhook call results.", ("code",)
        )
        # webapisrv/server.go
        self.webapi_results = r.counter(
            "mox_webapi_results_total", "HTTP webapi results by method and result.", ("method", "result")
        )

    def webhook_result(self, code: int | None, duration: float) -> None:
        """Count one webhook call: its HTTP status (None or 0 when the request failed without one)
        and how long it took, in seconds."""
        self.webhook_request.observe(duration)
        self.webhook_results.inc(http_code_label(code))

    def exposition(self) -> bytes:
        return self.registry.exposition()
