"""Test and CI features of localserve (nothing here is active outside localserve).

- :mod:`mox.ci.hooks`: settings, per-address views and the hooks the SMTP and IMAP drivers call.
- :mod:`mox.ci.faults`: scoped fault rules (sans-IO decisions; the hooks carry them out).
- :mod:`mox.ci.transcript`: session transcripts, recorded line by line.
- :mod:`mox.ci.lint`: message lint, what a strict receiver would say.
- :mod:`mox.ci.fixtures`: preload ``.eml``/Maildir/mbox at start, export on exit.

The test API that exposes them over HTTP is :mod:`mox.web.testapi_ci`; IMAP capability
profiles are :mod:`mox.imap.profiles`.
"""
