"""Writing header fields that fold at about 76 characters, the way mox writes its own fields
(``Received``, ``Authentication-Results``, ``DKIM-Signature``, ``Received-SPF``): words are
separated by a separator (usually a space) and a line that would grow past 76 characters is
continued on a new line starting with a tab (RFC 5322 2.2.3 folding; mox message/headerwriter.go).
"""

from __future__ import annotations

_MAX_LINE = 76


class HeaderWriter:
    """Collects the words of one header field; :meth:`string` gives the field ending in CRLF."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._line_len = 0
        self._nonfirst = False

    def add(self, separator: str, *texts: str) -> None:
        """Add each text, preceded by ``separator``, or by a fold when the line would grow past
        76 characters. A text itself is never folded."""
        for text in texts:
            n = len(text)
            if self._nonfirst and self._line_len > 1 and self._line_len + len(separator) + n > _MAX_LINE:
                self._parts.append("\r\n\t")
                self._line_len = 1
            elif self._nonfirst and separator:
                self._parts.append(separator)
                self._line_len += len(separator)
            self._parts.append(text)
            self._line_len += n
            self._nonfirst = True

    def add_wrap(self, data: str, *, text: bool) -> None:
        """Add ``data``, folding it where needed: at a space or tab when ``text``, anywhere
        otherwise (base64)."""
        while data:
            n = _MAX_LINE - self._line_len
            if len(data) > n:
                if n < 1:
                    n = 1
                if text:
                    i = max(data.rfind(" ", 0, n), data.rfind("\t", 0, n))
                    if i > 0:
                        n = i
                    else:
                        js = [j for j in (data.find(" "), data.find("\t")) if j > 0]
                        if js:
                            n = min(js)
                line, data = data[:n], data[n:]
            else:
                line, data = data, ""
            self._parts.append(line)
            self._line_len += len(line)
            if data:
                self._parts.append("\r\n\t")
                self._line_len = 1
        self._nonfirst = True

    def newline(self) -> None:
        """Continue on a new line."""
        self._parts.append("\r\n\t")
        self._line_len = 1
        self._nonfirst = True

    def string(self) -> str:
        """The header field, ending in CRLF."""
        return "".join(self._parts) + "\r\n"
