"""IMAP4rev2/IMAP4rev1 server (and the small client used by tests and tools).

Sans-IO modules (no trio, no store): ``wire`` (the wire primitives: quoting, literals, character
classes, sequence sets, dates), ``types`` and the command grammar (``grammar``: basic rules;
``parse``: each command's arguments; ``parse_fetch``: FETCH attributes; ``parse_search``: SEARCH
keys and SORT criteria), ``protocol`` (the connection's state machine), ``responses`` (response
values), the response parser (``response_parse``, over ``response_reader``'s basic rules and
``response_fetch``'s FETCH attributes) and ``response_write``, ``fetch`` and ``search`` (FETCH and
SEARCH over stored messages), ``sort`` and ``thread`` (SORT keys, the i;unicode-casemap collation,
the THREAD algorithms), ``contexts`` (RFC 5267 UPDATE contexts), ``profiles``, ``utf7``,
``errors``. The trio driver is ``server.handle_connection``; commands live in ``cmd_*`` modules,
one per command family, working on a ``session.Session`` that queues typed responses.
"""
