"""The FETCH attribute grammar (RFC 9051 6.4.5 and 9 fetch-att, section; RFC 3516 BINARY; RFC 8970
PREVIEW): the rules the FETCH command's arguments are made of, and the section spec that RFC 4469
CATENATE URLs reuse. ``parse.py``'s ``Parser`` combines them with the other commands' grammars.
"""

from __future__ import annotations

from .errors import BadCommand
from .grammar import Grammar
from .types import FetchAtt, Section

FETCH_SIMPLE = {
    "ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE", "RFC822.TEXT",
    "BODYSTRUCTURE", "UID", "MODSEQ", "SAVEDATE",
}
# RFC 9051 6.4.5: the macros ALL, FAST and FULL.
FETCH_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}

_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ATT_CHARS = _LETTERS | frozenset(b"0123456789.")


class FetchGrammar(Grammar):
    """fetch-att and its parts, on top of the basic rules."""

    def parse_fetch_atts(self) -> list[FetchAtt]:
        """RFC 9051 9: ``"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"``."""
        word = self._run(_LETTERS).decode().upper()
        if word in FETCH_MACROS and not self.peek(b"."):
            return [FetchAtt(a) for a in FETCH_MACROS[word]]
        self.pos -= len(word)
        if not self.take(b"("):
            return [self.parse_fetch_att()]
        atts: list[FetchAtt] = []
        while True:
            atts.append(self.parse_fetch_att())
            if self.take(b")"):
                return atts
            self.sp()

    def parse_fetch_att(self) -> FetchAtt:
        word = self._run(_ATT_CHARS).decode().upper()
        if word in ("BODY", "BODY.PEEK"):
            if not self.peek(b"["):
                if word == "BODY":
                    return FetchAtt("BODY")
                raise self.error("expected section")
            section = self.parse_section()
            return FetchAtt("BODY", section=section, partial=self.maybe_partial(), peek=word == "BODY.PEEK")
        if word in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
            section = self.parse_section_binary()
            if word == "BINARY.SIZE":
                return FetchAtt("BINARY.SIZE", section=section)
            return FetchAtt("BINARY", section=section, partial=self.maybe_partial(), peek=word == "BINARY.PEEK")
        if word == "PREVIEW":
            # RFC 8970 5: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]; preview-mod = "LAZY".
            # LAZY lets the server skip making a preview; ours are made fast enough (as mox).
            if self.take(b" ("):
                self.expect(b"LAZY")
                while self.take(b" "):
                    self.expect(b"LAZY")
                self.expect(b")")
            return FetchAtt("PREVIEW")
        if word in FETCH_SIMPLE:
            return FetchAtt(word)
        raise BadCommand(f"unknown fetch attribute {word!r}")

    def maybe_partial(self) -> tuple[int, int] | None:
        if not self.take(b"<"):
            return None
        offset = self.parse_number32()
        self.expect(b".")
        count = self.parse_number32()
        if count == 0:
            raise self.error("partial count must be non-zero")
        self.expect(b">")
        return (offset, count)

    def parse_section_binary(self) -> Section:
        self.expect(b"[")
        part: list[int] = []
        if not self.take(b"]"):
            while True:
                part.append(self.parse_nz_number())
                if self.take(b"]"):
                    break
                self.expect(b".")
        return Section(part=tuple(part))

    def parse_section(self) -> Section:
        # section = "[" [section-spec] "]"; section-spec = section-msgtext / (section-part ["." section-text])
        self.expect(b"[")
        part: list[int] = []
        text: str | None = None
        fields: list[str] = []
        if self.take(b"]"):
            return Section()
        dotted = False
        while self.pos < len(self.data) and 0x30 <= self.data[self.pos] <= 0x39:
            part.append(self.parse_nz_number())
            dotted = self.take(b".")
            if not dotted:
                break
        if part and not dotted and not self.peek(b"]"):
            raise self.error("bad section")
        if not self.peek(b"]"):
            if self.take(b"HEADER.FIELDS.NOT"):
                text = "HEADER.FIELDS.NOT"
            elif self.take(b"HEADER.FIELDS"):
                text = "HEADER.FIELDS"
            elif self.take(b"HEADER"):
                text = "HEADER"
            elif self.take(b"TEXT"):
                text = "TEXT"
            elif part and self.take(b"MIME"):
                text = "MIME"
            else:
                raise self.error("bad section")
            if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
                self.sp()
                self.expect(b"(")
                while True:
                    fields.append(self.parse_astring())
                    if self.take(b")"):
                        break
                    self.sp()
        elif dotted:
            raise self.error("bad section")
        self.expect(b"]")
        return Section(part=tuple(part), text=text, fields=tuple(fields))
