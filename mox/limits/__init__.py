"""Limits per IP class and per connection.

- :mod:`mox.limits.limiter`: ``Limiter`` (``ctx.limiter``): connection rate, concurrent
  connections, authentication failures, and the cap on password hash jobs.
- :mod:`mox.limits.slowmode`: per-connection slow mode and delays after failed logins.
- :mod:`mox.limits.peer`: a connection's remote and local IP (the limiter's key), through the
  slow mode and TLS wrappers.
- :mod:`mox.limits.allocator`: glibc returns freed large blocks (a password hash's 16 MiB) to the
  system, whichever thread freed them.
"""
