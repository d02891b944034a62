"""Limits per IP class and per connection.

- :mod:`mox.limits.limiter`: ``Limiter`` (``ctx.limiter``): connection rate, concurrent
  connections, authentication failures, and the cap on password hash jobs.
- :mod:`mox.limits.slowmode`: per-connection slow mode and delays after failed logins.
"""
