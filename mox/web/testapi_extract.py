"""Links and one-time codes in a message's text and HTML, for the test API's message details
(a test clicks a confirmation link or types a code without parsing the mail itself)."""

from __future__ import annotations

import html as htmlmod
import re

_URL_RE = re.compile(r"""\bhttps?://[^\s<>"'()\[\]{}]+""", re.IGNORECASE)
_HREF_RE = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_CODE_WORDS = re.compile(
    r"\b(code|codes|verification|verify|otp|one[- ]time|passcode|pin|token|2fa|security|confirm|confirmation|login)\b",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"(?<![\w.,/:-])(\d{4,8})(?![\w.,/:-]\d|\d)")
_TAG_RE = re.compile(r"<[^>]*>")
_SCRIPT_STYLE_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def html_to_text(h: str) -> str:
    h = _SCRIPT_STYLE_RE.sub(" ", h)
    return htmlmod.unescape(_TAG_RE.sub(" ", h))


def find_links(text: str, html: str) -> list[str]:
    """http(s) URLs in the text and the HTML (href attributes and bare URLs), in order, once each."""
    out: list[str] = []
    for m in _URL_RE.finditer(text):
        out.append(m.group(0).rstrip(".,;:!?"))
    for m in _HREF_RE.finditer(html):
        url = htmlmod.unescape(next(g for g in m.groups() if g is not None)).strip()
        if url.lower().startswith(("http://", "https://")):
            out.append(url)
    for m in _URL_RE.finditer(html_to_text(html)):
        out.append(m.group(0).rstrip(".,;:!?"))
    return list(dict.fromkeys(out))


def find_codes(text: str, html: str) -> list[str]:
    """4-8 digit numbers within 60 characters after (or 30 before) a word like code,
    verification or OTP on the same line (or on the non-blank line above a number starting its line); not
    parts of dates, times, prices, phone numbers or URLs."""
    out: list[str] = []
    for body in (text, html_to_text(html)):
        body = _URL_RE.sub(" ", body)
        for m in _NUMBER_RE.finditer(body):
            start = m.start()
            line_start = body.rfind("\n", 0, start) + 1
            before = body[max(line_start, start - 60) : start]
            if not before.strip() and line_start > 0:
                # The number starts its line: look at the nearest non-blank line above.
                above = body[:line_start].rstrip()
                before = above[above.rfind("\n") + 1 :][-60:]
            line_end = body.find("\n", m.end())
            after = body[m.end() : min(m.end() + 30, line_end if line_end >= 0 else len(body))]
            if _CODE_WORDS.search(before) or _CODE_WORDS.search(after):
                out.append(m.group(1))
    return list(dict.fromkeys(out))
