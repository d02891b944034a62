"""IMAP4rev2/IMAP4rev1 server (and the small client used by tests and tools).

Sans-IO modules (no trio, no store): ``types``, ``parse``, ``protocol``, ``responses``, ``utf7``,
``errors``. The trio driver is ``server.handle_connection``; commands live in ``cmd_*`` modules,
one per command family, working on a ``session.Session``.
"""
