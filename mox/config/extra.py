"""``extra.conf`` (``ExtraConfig``, optional): settings this implementation has and mox does not
(connection limits, timeouts, queue retry delays, web limits), named in mox's style. Keeping them
apart leaves mox.conf and domains.conf readable by mox itself."""

from __future__ import annotations

from typing import Annotated

from mox.config.base import Base, Seconds
from mox.config.sconf import field


class Limits(Base, kw_only=True, frozen=True):
    """Connection and authentication limits per IP class (narrow, middle, wide).

    IP classes are IPv4 /32, /26, /21 and IPv6 /64, /48, /32 (as mox). Defaults are mox's;
    localserve writes much higher values so parallel test suites on 127.0.0.1 never hit them.
    """

    connections_per_minute: Annotated[tuple[int, int, int], field(
        "New connections per minute from one IP class: IPv4 /32, /26 and /21, IPv6 /64, /48 and /32 "
        "(as mox's fixed limits). Over it, a connection is closed at once.")] = (300, 900, 2700)
    concurrent_connections: Annotated[tuple[int, int, int], field(
        "Connections open at once per IP class (same three classes).")] = (30, 90, 270)
    auth_failures_per_minute: Annotated[tuple[int, int, int], field(
        "Failed authentications per minute per IP class; over it, logins are refused.")] = (10, 30, 90)
    auth_failures_per_day: Annotated[tuple[int, int, int], field(
        "Failed authentications per day per IP class.")] = (50, 150, 450)
    #: Per connection (mox.limits.slowmode): slow mode from this many failed authentications (0: never),
    #: then seconds before each read, seconds per written byte, and at most this many seconds of
    #: slow writing per write (the rest goes at once).
    slow_after_auth_failures: Annotated[int, field(
        "Per connection: from this many failed authentications on, reads are delayed and writes "
        "slowed, as mox does. 0: never.")] = 3
    slow_read_delay: Annotated[float, field("Slow mode: delay before each read.", duration=True)] = 1.0
    slow_write_delay: Annotated[float, field("Slow mode: delay per written byte.", duration=True)] = 1.0
    slow_write_max: Annotated[float, field(
        "Slow mode: at most this much delay per write, the rest is written at once.", duration=True)] = 28.0
    #: Per connection: seconds times (failures - slow_after_auth_failures) before each attempt.
    auth_attempt_delay: Annotated[float, field(
        "Per connection: delay before an authentication attempt, times the failures beyond "
        "SlowAfterAuthFailures.", duration=True)] = 1.0
    #: Password hashes (scrypt and SCRAM's PBKDF2, in worker threads) running at once for IMAP, SMTP and web
    #: together; 0: one per CPU, at most 4 (each scrypt holds 16 MiB while it runs). More logins
    #: wait their turn instead of starving the machine.
    concurrent_password_hashes: Annotated[int, field(
        "Password hashes computed at once (IMAP, SMTP and web together); more logins wait their "
        "turn. 0: one per CPU, at most 4.")] = 0


LOCALSERVE_LIMITS = Limits(
    connections_per_minute=(100_000, 300_000, 900_000),
    concurrent_connections=(10_000, 30_000, 90_000),
    auth_failures_per_minute=(10_000, 30_000, 90_000),
    auth_failures_per_day=(1_000_000, 3_000_000, 9_000_000),
    # A test that fails logins on one connection is slowed (reads as mox), but a slow write
    # never takes more than 2 s.
    slow_write_max=2.0,
)


class ExtraConfig(Base, kw_only=True, frozen=True):
    """The contents of extra.conf: settings of this implementation that mox does not have."""

    limits: Annotated[Limits, field(
        "NOTE: This file holds the settings of this implementation of mox that Go mox does not have; "
        "mox.conf and domains.conf hold mox's own. Same 'sconf' format: indent with tabs, comments "
        "on their own line, strings not quoted.\n\n\n"
        "Limits on connections and authentication failures per IP class, and slow mode for "
        "connections with failed logins.")] = Limits()
    failure_timeout: Annotated[float, field(
        "How long a recipient whose localpart ends in \"timeout\" gets no answer (localserve).",
        duration=True)] = 3600.0
    smtp_idle_timeout: Annotated[float, field(
        "SMTP: silence between commands before the connection is closed with 421 4.4.2.", duration=True)] = 30.0
    smtp_data_timeout: Annotated[float, field("SMTP: time for a whole DATA or BDAT phase.", duration=True)] = 1800.0
    smtp_rcpt_max: Annotated[int, field(
        "SMTP: recipients per transaction (EHLO LIMITS RCPTMAX); over it 452 4.5.3.")] = 1000
    queue_retry_delays: Annotated[tuple[Seconds, ...], field(
        "Queue: delays between delivery attempts after a temporary failure; after the last, a "
        "delivery failure notice (DSN) goes to the sender.")] = (0.5, 1.0, 2.0)
    web_max_request_body: Annotated[int, field(
        "Web: largest upload (account import) in bytes; larger requests get 413. Other requests "
        "have smaller limits of their own.")] = 10 * 1024 * 1024
    web_request_deadline: Annotated[float, field(
        "Web: time from a request's first byte until its head and body are complete (else 408).",
        duration=True)] = 300.0
