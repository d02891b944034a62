"""Command outcomes, named after who is at fault (mox's three error kinds).

- ``BadCommand``: the client sent something we cannot parse or that is not allowed: tagged ``BAD``.
- ``CommandFailed``: a valid command that we refuse or cannot do: tagged ``NO [code]``.
- ``ServerBug``: our fault; the client sees ``NO [SERVERBUG]`` and the error is logged with a traceback.
- ``Bye``: the connection ends with ``* BYE <text>``.
"""

from __future__ import annotations


class ImapError(Exception):
    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class BadCommand(ImapError):
    """Tagged BAD: syntax error or a command not allowed here (RFC 9051 7.1.3)."""


class CommandFailed(ImapError):
    """Tagged NO with an optional response code (RFC 9051 7.1.2, RFC 5530 codes)."""


class ServerBug(ImapError):
    """Our bug: tagged ``NO [SERVERBUG]``, logged with traceback."""

    def __init__(self, text: str = "server error") -> None:
        super().__init__(text, "SERVERBUG")


class Bye(Exception):
    """End the connection with ``* BYE <text>``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ReadTimeout(Exception):
    """The client sent nothing within the read deadline (the driver answers ``* BYE``)."""
