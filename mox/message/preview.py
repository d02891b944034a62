"""Message previews: a few lines of new text from the first textual part, as mox's
``message/preview.go`` computes them (also the value of IMAP PREVIEW, RFC 8970).

The preview comes from the first text/plain or text/html part with textual content (depth
first; only the first part of multipart/signed; nothing from multipart/encrypted, attachments or
embedded messages). Quoted text and an "On ... wrote:" line become ``[...]``, a trailing
signature is left out, and the result has at most 256 characters (RFC 8970 3: at most 256
characters), typically ending with a newline.
"""

from __future__ import annotations

import html.parser
import re

from mox.message.part import Part
from mox.message.sections import decoded_or_raw

#: Decoded text of a part looked at for its preview (mox: the first MB).
TEXT_LIMIT = 1024 * 1024


def preview(data: bytes, part: Part) -> str:
    """The preview of the message (or part) ``part`` of ``data``; "" when it has no text."""
    # RFC 8970 3: the preview is made from the message's textual content.
    if part.disposition == "ATTACHMENT":
        return ""
    mt = f"{part.media_type}/{part.media_subtype}"
    if mt in ("TEXT/PLAIN", "TEXT/HTML"):
        text, complete = _part_text(data, part)
        if mt == "TEXT/HTML":
            text = html_text(text)
        return preview_text(text, complete=complete)
    if mt == "MULTIPART/ENCRYPTED" or part.media_type != "MULTIPART":
        return ""
    for i, sub in enumerate(part.parts):
        if mt == "MULTIPART/SIGNED" and i >= 1:
            break
        s = preview(data, sub)
        if s:
            return s
    return ""


def _part_text(data: bytes, part: Part) -> tuple[str, bool]:
    """The part's body decoded to text (transfer encoding, charset), at most TEXT_LIMIT bytes of
    it, and whether that is all of it."""
    raw = decoded_or_raw(data, part)
    complete = len(raw) <= TEXT_LIMIT
    raw = raw[:TEXT_LIMIT]
    cs = "utf-8"
    for k, v in part.params:
        if k == "charset":
            cs = v.strip().lower() or "utf-8"
    if cs in ("us-ascii", "ascii"):
        cs = "utf-8"
    try:
        return raw.decode(cs, errors="replace"), complete
    except (LookupError, ValueError):
        return raw.decode("utf-8", errors="replace"), complete


class _Truncated(Exception):
    """More lines were needed than the limited text had (mox: no preview in the first MB)."""


def _is_snipped(s: str) -> bool:
    return s in ("[...]", "[…]", "...")


def preview_text(text: str, *, complete: bool = True) -> str:
    """A preview of plain text: lines with only new information, quoted text and a quote's
    "On <date>, <person> wrote:" as ``[...]``, without a trailing signature; at most 256
    characters. ``complete`` False: ``text`` is the start of a longer text; a preview that needs
    lines past it is "" (as mox's limit on the first MB)."""
    # Lines as Go's bufio.Scanner splits them: at "\n", a "\r" before it dropped; a final
    # newline does not make an empty last line.
    all_lines = text.split("\n")
    if all_lines and all_lines[-1] == "":
        all_lines.pop()
    source = iter(all_lines)
    lines: list[str] = []
    exhausted = False

    def ensure() -> None:
        nonlocal exhausted
        while len(lines) < 10 and not exhausted:
            try:
                lines.append(next(source).strip())
            except StopIteration:
                exhausted = True
                if not complete:
                    raise _Truncated() from None

    def next_line_quoted(i: int) -> bool:
        if i + 1 < len(lines) and lines[i + 1] == "":
            i += 1
        return i + 1 < len(lines) and (lines[i + 1].startswith(">") or _is_snipped(lines[i + 1]))

    def is_signature() -> bool:
        # The rest is a signature after a line of only (at least 2) dashes, with no more empty
        # lines and fewer than 5 lines left.
        if not lines or not lines[0].startswith("--") or lines[0].strip().strip("-") != "":
            return False
        rest = lines[1:]
        while rest and rest[-1] == "":
            rest.pop()
        if len(rest) >= 5:
            return False
        return "" not in rest

    result = ""

    def result_snipped() -> bool:
        return result.endswith("[...]\n") or result.endswith("[…]")

    try:
        ensure()
        # An initial "On ... wrote:" line wrapped over two lines.
        if (
            len(lines) > 3
            and lines[0].startswith("On ")
            and not lines[0].endswith("wrote:")
            and lines[1].endswith(":")
            and next_line_quoted(1)
        ):
            result = "[...]\n"
            del lines[:3]
            ensure()
        while lines and not is_signature():
            line = lines[0]
            if line.startswith(">"):
                if not result_snipped():
                    result += "[...]\n"
                del lines[0]
            elif line == "":
                del lines[0]
            elif line.endswith(":") and (any(c in "0123456789" for c in line) or result == "") and next_line_quoted(0):
                # "On <date>, <person> wrote:" before a quote (digits required once there is text).
                if not result_snipped():
                    result += "[...]\n"
                del lines[0]
            else:
                if not _is_snipped(line) or not result_snipped():
                    result += line + "\n"
                del lines[0]
                if len(result.encode("utf-8")) > 250:
                    break
            ensure()
    except _Truncated:
        return ""
    # RFC 8970 3: at most 256 characters.
    return result[:256]


# Text inside these elements (at any depth) is left out.
_IGNORE = frozenset(["dialog", "head", "map", "math", "script", "style", "svg", "template", "title"])
# Inline elements add no newline around their text; td and th add a space instead.
_INLINE = frozenset(
    "a abbr b bdi bdo cite code data dfn em i kbd mark q rp rt ruby s samp small span strong sub "
    "sup time u var wbr del ins td th".split()
)
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Start tags that close an open element of these names first (HTML 13.2.6.4.7, simplified).
_CLOSES = {
    "li": {"li"},
    "dt": {"dt", "dd"},
    "dd": {"dt", "dd"},
    "tr": {"tr", "td", "th"},
    "td": {"td", "th"},
    "th": {"td", "th"},
    "option": {"option"},
}
_P_CLOSERS = frozenset(
    "address article aside blockquote details div dl fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr main menu nav ol p pre section table ul".split()
)

_SPACE = re.compile(r"[ \t]+")
_NEWLINES = re.compile(r"\n\n\n+")
_ZERO_WIDTH = re.compile("[\u00a0\u200b\u200c\u200d][\u00a0\u200b\u200c\u200d]+")


class _Node:
    __slots__ = ("tag", "children", "text")

    def __init__(self, tag: str | None, text: str = "") -> None:
        self.tag = tag  # None: a text node
        self.children: list[_Node] = []
        self.text = text


class _TreeBuilder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#document")
        self.stack = [self.root]

    def _close_to(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        closes = _CLOSES.get(tag)
        if closes is not None:
            for i in range(len(self.stack) - 1, 0, -1):
                t = self.stack[i].tag
                if t in closes:
                    del self.stack[i:]
                    break
                if t in ("ul", "ol", "dl", "table", "select"):
                    break
        if tag in _P_CLOSERS and any(n.tag == "p" for n in self.stack):
            self._close_to("p")
        node = _Node(tag)
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        self._close_to(tag)

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(_Node(None, data))


def html_text(source: str) -> str:
    """The text of an HTML document for a preview: text of ignored elements (head, script,
    style, ...) left out, a newline after each block element, a space after table cells,
    blockquotes as ``> `` quoted lines, whitespace collapsed."""
    b = _TreeBuilder()
    b.feed(source)
    b.close()
    text = ""
    ignores: list[bool] = []
    inlines: list[bool] = []
    quote_level = 0

    def walk(n: _Node) -> bool:
        nonlocal text, quote_level
        if n.tag is None:
            if any(ignores):
                return True
            s = n.text.replace("\r", "").replace("\t", " ")
            s = _ZERO_WIDTH.sub("", _NEWLINES.sub("\n", _SPACE.sub(" ", s)))
            inline = bool(inlines) and inlines[-1]
            ts = s.strip()
            if not inline and ts == "":
                return True
            if ts != "" or (not s.endswith(" ") and not s.endswith("\n")):
                if quote_level > 0:
                    q = "> " * quote_level
                    s = "".join(q + ln for ln in s.splitlines(keepends=True))
                text += s
            # About 256 characters are needed; after quoting is removed, 4 KiB is plenty.
            return len(text) < 4 * 1024
        element = n.tag != "#document"
        if element:
            ignores.append(n.tag in _IGNORE)
            inline = n.tag in _INLINE
            inlines.append(inline)
            if n.tag == "blockquote":
                quote_level += 1
        for c in n.children:
            if not walk(c):
                break
        if element:
            if n.tag == "blockquote":
                quote_level -= 1
            if not inline and not text.endswith("\n\n"):
                text += "\n"
            elif n.tag in ("td", "th") and not text.endswith(" "):
                text += " "
            ignores.pop()
            inlines.pop()
        return True

    walk(b.root)
    return _SPACE.sub(" ", text.strip())
