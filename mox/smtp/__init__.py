"""SMTP for mox.

Sans-IO (no trio, no store): :mod:`~mox.smtp.codes` (reply and enhanced status codes),
:mod:`~mox.smtp.address` (RFC 5321 paths, SMTPUTF8), :mod:`~mox.smtp.parse` (command lines and
parameters), :mod:`~mox.smtp.protocol` (the server state machine), :mod:`~mox.smtp.checks` (what
a message must pass before it is taken), :mod:`~mox.smtp.received` (the fields added to it),
:mod:`~mox.smtp.failsim` (localserve failure simulation). I/O: :mod:`~mox.smtp.server` (trio
driver, ``handle_connection``) and :mod:`~mox.smtp.client` (blocking client).
"""

from mox.smtp.address import Address, AddressError, parse_address, parse_path
from mox.smtp.codes import enhanced, format_reply
from mox.smtp.parse import MailFrom, ParseError, RcptTo, parse_mail_from, parse_rcpt_to
from mox.smtp.protocol import Reply, ReplyError, ServerConnection, State

__all__ = [
    "Address",
    "AddressError",
    "MailFrom",
    "ParseError",
    "RcptTo",
    "Reply",
    "ReplyError",
    "ServerConnection",
    "State",
    "enhanced",
    "format_reply",
    "parse_address",
    "parse_mail_from",
    "parse_path",
    "parse_rcpt_to",
]
