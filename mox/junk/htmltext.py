"""The text of an HTML part as mox's junk tokenizer (``junk/parse.go``) reads it (pure)."""

from __future__ import annotations

import html.parser


class _HTMLText(html.parser.HTMLParser):
    """The text of an HTML part as mox's tokenizer reads it: text tokens back to back (no
    separators), nothing inside script, style or svg, image alt texts."""

    _VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "img":
            for k, v in attrs:
                if k == "alt" and v:
                    self.out.append(v)
                    break
        if tag not in self._VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag == "img":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("script", "style", "svg"):
            return
        self.out.append(data)


def html_text(source: str) -> str:
    p = _HTMLText()
    p.feed(source)
    p.close()
    return "".join(p.out)
