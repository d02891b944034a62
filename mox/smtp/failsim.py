"""localserve failure simulation by local part (mox ``mox-/localserve.go``), pure functions.

First matching rule wins, evaluated on the local part:
``...temperror`` -> 451, ``...permerror`` -> 550, ``...timeout`` -> no answer for the configured
failure timeout, then 451; last three characters an integer in 400..600 -> that code.
Where it fires depends on a prefix: ``mailfrom`` (MAIL, sender), ``rcptto`` (RCPT), ``queue``
(accepted, then fails in the queue with a DSN), otherwise at DATA. The prefix counts at the start
of the local part (as mox) or right after a ``-``, ``+``, ``.`` or ``_``, so per-test unique
addresses such as ``t17-queue451@example.com`` or ``mox+rcptto550@localhost`` work too.
"""

from __future__ import annotations

TIMEOUT = "timeout"
_SEPARATORS = "-+._"


def special_code(localpart: str) -> int | str | None:
    """The simulated outcome for ``localpart``: a reply code, ``TIMEOUT`` or None (normal)."""
    lp = localpart.lower()
    if lp.endswith("temperror"):
        return 451
    if lp.endswith("permerror"):
        return 550
    if lp.endswith("timeout"):
        return TIMEOUT
    tail = lp[-3:]
    if len(tail) == 3 and tail.isdigit():
        n = int(tail)
        if 400 <= n <= 600:
            return n
    return None


def stage(localpart: str) -> str:
    """Where a trigger in ``localpart`` fires: ``"mailfrom"``, ``"rcptto"``, ``"queue"`` or ``"data"``."""
    lp = localpart.lower()
    best, where = "data", len(lp) + 1
    for p in ("mailfrom", "rcptto", "queue"):
        if lp.startswith(p):
            return p
        for sep in _SEPARATORS:
            i = lp.find(sep + p)
            if i >= 0 and i < where:  # the first prefix in the local part wins
                best, where = p, i
    return best


def failure_text(code: int) -> str:
    return f"failure with code {code} due to special localpart"


def enhanced_for(code: int) -> str:
    """``X.0.0`` for code ``Xnn`` (mox)."""
    return f"{code // 100}.0.0"
