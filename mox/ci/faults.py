"""Scoped, deterministic fault injection for tests (localserve only), sans-IO.

The local-part triggers of :mod:`mox.smtp.failsim` stay as they are; these rules come on top,
set through the test API (``/api/v1/faults``) or the pytest plugin, and decide *what* goes wrong
*where*. The drivers (:mod:`mox.ci.hooks`) carry the decisions out.

A rule (JSON object, see :meth:`Rule.from_json`):

- ``proto``: ``smtp`` (default) or ``imap``.
- ``stage``: SMTP ``connect``, ``ehlo``, ``starttls``, ``auth``, ``mail``, ``rcpt``, ``data``
  (DATA/BDAT start), ``data_end`` (message received, before delivery); IMAP ``connect`` or a
  command name (``login``, ``select``, ``fetch``, ``idle``, ...); ``*`` for every stage.
- Scope (all given ones must match; none given = global): ``recipient`` and ``sender``
  (shell-style patterns, case-insensitive; for IMAP ``recipient`` and ``user`` match the login
  address), ``token`` (an address tag ``local+TOKEN@...``, an ``X-Mox-Fault-Token`` header at
  ``data_end``, or the first label of the EHLO name ``TOKEN.example``).
- ``action``: ``reply`` (SMTP ``code`` + ``text``), ``no``/``bad``/``bye`` (IMAP, ``text``),
  ``drop`` (close without answer; for IMAP IDLE after ``seconds``), ``delay`` (``seconds``, then
  go on normally), ``throttle`` (``rate`` bytes/s for the rest of the connection).
- ``times``: fire for the first N matching attempts, then let them through ("fail the first N").
- ``probability`` with ``seed``: fire for a seeded pseudo-random share of matches (the same
  sequence every run).
- ``ttl``: seconds until the rule expires; ``owner``: a label (the pytest plugin uses the test id)
  so a test's rules can be deleted together.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

SMTP_STAGES = ("connect", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "data_end")
SMTP_ACTIONS = ("reply", "drop", "delay", "throttle")
IMAP_ACTIONS = ("no", "bad", "bye", "drop", "delay", "throttle")
TOKEN_HEADER = "x-mox-fault-token"
MAX_SECONDS = 3600.0

_TOKEN_RE = re.compile(r"^[A-Za-z0-9._=-]{1,64}$")
_IMAP_STAGE_RE = re.compile(r"^[a-z]{2,20}$")


class RuleError(ValueError):
    """A rule that cannot be built (bad field), with a message for the client."""


@dataclass
class Subject:
    """What is known about the session at a stage, for matching."""

    sender: str | None = None
    recipients: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    user: str | None = None


@dataclass
class Rule:
    id: int
    proto: str
    stage: str
    action: str
    code: int = 0
    text: str = ""
    seconds: float = 0.0
    rate: int = 0
    times: int = 0
    probability: float = 1.0
    seed: int = 0
    recipient: str | None = None
    sender: str | None = None
    user: str | None = None
    token: str | None = None
    owner: str | None = None
    created: float = 0.0
    expires: float | None = None
    fired: int = 0
    matched: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_json(cls, obj: Any, *, id: int, now: float) -> Rule:
        if not isinstance(obj, dict):
            raise RuleError("rule must be a JSON object")
        known = {"proto", "stage", "action", "code", "text", "seconds", "rate", "times", "probability", "seed",
                 "recipient", "sender", "user", "token", "owner", "ttl"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise RuleError(f"unknown field(s): {', '.join(unknown)}")
        proto = _str(obj, "proto", "smtp").lower()
        if proto not in ("smtp", "imap"):
            raise RuleError("proto must be smtp or imap")
        stage = _str(obj, "stage", "").lower()
        if proto == "smtp" and stage not in SMTP_STAGES + ("*",):
            raise RuleError(f"stage must be one of {', '.join(SMTP_STAGES)} or *")
        if proto == "imap" and stage != "*" and not _IMAP_STAGE_RE.match(stage):
            raise RuleError("stage must be connect, an IMAP command name or *")
        action = _str(obj, "action", "").lower()
        actions = SMTP_ACTIONS if proto == "smtp" else IMAP_ACTIONS
        if action not in actions:
            raise RuleError(f"action must be one of {', '.join(actions)}")
        r = cls(id=id, proto=proto, stage=stage, action=action, created=now)
        r.text = _str(obj, "text", "")
        if not (r.text.isascii() and r.text.isprintable()) or len(r.text) > 400:
            raise RuleError("text must be one line of printable ASCII, at most 400 characters")
        if action == "reply":
            r.code = _int(obj, "code", 0)
            if not 400 <= r.code <= 599:  # a 2xx would claim what the server did not do
                raise RuleError("reply needs a code between 400 and 599")
            r.text = r.text or "fault injected by test rule"
        elif action in ("no", "bad", "bye"):
            r.text = r.text or "fault injected by test rule"
        r.seconds = _num(obj, "seconds", 0.0)
        if not 0 <= r.seconds <= MAX_SECONDS:
            raise RuleError(f"seconds must be between 0 and {MAX_SECONDS:g}")
        if action == "delay" and r.seconds <= 0:
            raise RuleError("delay needs seconds > 0")
        r.rate = _int(obj, "rate", 0)
        if action == "throttle" and r.rate <= 0:
            raise RuleError("throttle needs rate (bytes per second) > 0")
        r.times = _int(obj, "times", 0)
        if r.times < 0:
            raise RuleError("times must be >= 0 (0: always)")
        r.probability = _num(obj, "probability", 1.0)
        if not 0 <= r.probability <= 1:
            raise RuleError("probability must be between 0 and 1")
        r.seed = _int(obj, "seed", 0)
        r._rng = random.Random(r.seed)
        for name in ("recipient", "sender", "user", "owner"):
            v = obj.get(name)
            if v is not None:
                if not isinstance(v, str) or not v:
                    raise RuleError(f"{name} must be a non-empty string")
                setattr(r, name, v.lower() if name != "owner" else v)
        tok = obj.get("token")
        if tok is not None:
            if not isinstance(tok, str) or not _TOKEN_RE.match(tok):
                raise RuleError("token must be 1-64 characters of A-Z a-z 0-9 . _ = -")
            r.token = tok.lower()
        ttl = obj.get("ttl")
        if ttl is not None:
            ttl = _num(obj, "ttl", 0.0)
            if ttl <= 0:
                raise RuleError("ttl must be > 0 seconds")
            r.expires = now + ttl
        return r

    def to_json(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "proto": self.proto, "stage": self.stage, "action": self.action}
        for name in ("code", "text", "seconds", "rate", "times", "recipient", "sender", "user", "token", "owner"):
            v = getattr(self, name)
            if v:
                out[name] = v
        if self.probability != 1.0:
            out["probability"] = self.probability
            out["seed"] = self.seed
        if self.expires is not None:
            out["ttl_left"] = round(max(0.0, self.expires - now), 3)
        out["matched"] = self.matched
        out["fired"] = self.fired
        return out

    def scope_matches(self, s: Subject) -> bool:
        if self.recipient is not None and not any(_glob(r, self.recipient) for r in s.recipients):
            if not (self.proto == "imap" and s.user is not None and _glob(s.user, self.recipient)):
                return False
        if self.sender is not None and (s.sender is None or not _glob(s.sender, self.sender)):
            return False
        if self.user is not None and (s.user is None or not _glob(s.user, self.user)):
            return False
        if self.token is not None and self.token not in s.tokens:
            return False
        return True


def _glob(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value.lower(), pattern)


def _str(obj: dict[str, Any], name: str, default: str) -> str:
    v = obj.get(name, default)
    if not isinstance(v, str):
        raise RuleError(f"{name} must be a string")
    return v


def _int(obj: dict[str, Any], name: str, default: int) -> int:
    v = obj.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise RuleError(f"{name} must be an integer")
    return v


def _num(obj: dict[str, Any], name: str, default: float) -> float:
    v = obj.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RuleError(f"{name} must be a number")
    return float(v)


def address_tokens(address: str | None) -> set[str]:
    """The tag of ``local+tag@domain`` (lower case), as a token set."""
    if not address:
        return set()
    local = address.rpartition("@")[0] if "@" in address else address
    if "+" in local:
        return {local.split("+", 1)[1].lower()}
    return set()


def ehlo_tokens(name: str | None) -> set[str]:
    if not name:
        return set()
    label = name.strip().strip("[]").split(".", 1)[0].lower()
    return {label} if label else set()


def header_tokens(data: bytes) -> set[str]:
    """Values of ``X-Mox-Fault-Token`` header fields in the message header."""
    end = data.find(b"\r\n\r\n")
    head = data[: end if end >= 0 else min(len(data), 65536)]
    out: set[str] = set()
    for line in head.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == TOKEN_HEADER.encode():
            v = value.strip().decode("ascii", "replace").lower()
            if v:
                out.add(v)
    return out


class FaultTable:
    """The rules of one server; thread-safe (the pytest plugin adds rules from the test thread)."""

    def __init__(self) -> None:
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, obj: Any, now: float) -> Rule:
        return self.add_many([obj], now)[0]

    def add_many(self, objs: list[Any], now: float) -> list[Rule]:
        """All rules or none (RuleError names the first bad one)."""
        with self._lock:
            rules = []
            for i, obj in enumerate(objs):
                try:
                    rules.append(Rule.from_json(obj, id=0, now=now))
                except RuleError as e:
                    raise RuleError(f"rule {i}: {e}" if len(objs) > 1 else str(e)) from None
            for r in rules:
                r.id = next(self._ids)
            self._rules.extend(rules)
            return rules

    def prune(self, now: float) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r.expires is None or r.expires > now]

    def list(self, now: float, owner: str | None = None) -> list[Rule]:
        self.prune(now)
        with self._lock:
            return [r for r in self._rules if owner is None or r.owner == owner]

    def get(self, id: int, now: float) -> Rule | None:
        return next((r for r in self.list(now) if r.id == id), None)

    def delete(self, *, id: int | None = None, owner: str | None = None) -> int:
        with self._lock:
            before = len(self._rules)
            self._rules = [
                r for r in self._rules
                if not ((id is None or r.id == id) and (owner is None or r.owner == owner))
            ]
            return before - len(self._rules)

    def any_rules(self) -> bool:
        """Whether any rule is installed: without one, callers skip building the subject (a
        command's or message's tokens) that ``match`` would compare."""
        return bool(self._rules)

    def match(self, proto: str, stage: str, subject: Subject, now: float) -> Rule | None:
        """The first rule that fires for this attempt (counting it), else None."""
        self.prune(now)
        with self._lock:
            for r in self._rules:
                if r.proto != proto or (r.stage != "*" and r.stage != stage):
                    continue
                if not r.scope_matches(subject):
                    continue
                if r.times and r.fired >= r.times:
                    continue
                r.matched += 1
                if r.probability < 1.0 and not r._rng.random() < r.probability:
                    continue
                r.fired += 1
                return r
        return None
