"""The HTML part of a reply or forward to an HTML message: the text the user wrote, with the
quoted original (the ``> `` lines of a reply, the forwarded text) replaced by the original's HTML,
cleaned as for display (mox.web.sanitize: no scripts, no external resources; inline images
kept as data: URIs). Pure functions: no I/O.

The webmail's compose form stays plain text (as mox's); this only adds a text/html alternative
so that a reply to an HTML message keeps the original's look for the recipient. The quote is
found the way the form writes it:

- reply: the longest run of lines starting with ``>`` (the quote; the "On ..., X wrote:" line
  before it stays text) becomes ``<blockquote type="cite">`` with the original's HTML;
- forward: the lines from ``---------- Forwarded message ----------`` to the first empty line
  stay text; everything after it (the forwarded text) becomes the original's HTML.

When the user removed the quote, there is no HTML part (None): the message is the text alone.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from mox.web.sanitize import sanitize_html

FORWARD_MARKER = "---------- Forwarded message ----------"
_QUOTE_STYLE = "margin: 0 0 0 0.8ex; border-left: 1px solid #ccc; padding-left: 1ex"


def _text(lines: list[str]) -> str:
    """Lines of plain text as HTML that shows them as written."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if not lines:
        return ""
    return '<div style="white-space: pre-wrap">' + html.escape("\n".join(lines)) + "</div>\n"


def _quote_run(lines: list[str]) -> tuple[int, int] | None:
    """(start, end) of the longest run of lines starting with ">"; None when there is none."""
    best: tuple[int, int] | None = None
    i = 0
    while i < len(lines):
        if not lines[i].startswith(">"):
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].startswith(">"):
            j += 1
        if best is None or j - i > best[1] - best[0]:
            best = (i, j)
        i = j
    return best


def html_body(body: str, original_html: str, mode: str, cids: Mapping[str, str] | None = None) -> str | None:
    """The text/html alternative for a ``reply`` or ``forward`` whose text is ``body``; None when
    the body holds no quote to replace (see the module doc)."""
    lines = body.replace("\r\n", "\n").split("\n")
    original = sanitize_html(original_html, allow_external=False, cids=cids)
    if mode == "reply":
        run = _quote_run(lines)
        if run is None:
            return None
        start, end = run
        middle = f'<blockquote type="cite" style="{_QUOTE_STYLE}">\n{original}\n</blockquote>\n'
    elif mode == "forward":
        if FORWARD_MARKER not in lines:
            return None
        start = lines.index(FORWARD_MARKER)
        k = start
        while k < len(lines) and lines[k].strip():
            k += 1
        middle = _text(lines[start:k]) + f"<div>\n{original}\n</div>\n"
        end = len(lines)
    else:
        return None
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8"></head><body>\n'
        + _text(lines[:start]) + middle + _text(lines[end:])
        + "</body></html>\n"
    )
