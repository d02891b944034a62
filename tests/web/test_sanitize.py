"""HTML sanitiser cases (the rules in ``mox/web/sanitize.py``): exact output for each kind of attack."""

from __future__ import annotations

import pytest

from mox.web.sanitize import clean_style, message_headers, sanitize_html, text_document

LINK = 'target="_blank" rel="noopener noreferrer"'
LINK_DROPPED = 'rel="noopener noreferrer" target="_blank"'  # ammonia's order after removing href


@pytest.mark.parametrize(
    ("html", "want"),
    [
        # <script> elements go with their content.
        ("<p>a</p><script>alert(1)</script><p>b</p>", "<p>a</p><p>b</p>"),
        ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>ok", "ok"),
        # Event handler attributes.
        ('<p onclick="steal()" onmouseover=x>hi</p>', "<p>hi</p>"),
        ('<img src="data:image/png;base64,AA==" onerror="alert(1)">', '<img src="data:image/png;base64,AA==">'),
        ('<body onload="alert(1)"><b>x</b></body>', "<b>x</b>"),
        # javascript: and vbscript: links, also obfuscated.
        ('<a href="javascript:alert(1)">x</a>', f"<a {LINK}>x</a>"),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', f"<a {LINK}>x</a>"),
        ('<a href="java&#x09;script:alert(1)">x</a>', f"<a {LINK}>x</a>"),
        ('<a href="vbscript:msgbox(1)">x</a>', f"<a {LINK}>x</a>"),
        # <base> is removed (it would redirect relative URLs); relative links are dropped.
        ('<base href="https://evil.example/"><a href="/login">x</a>', f"<a {LINK_DROPPED}>x</a>"),
        # CSS expressions, url() and binding properties are dropped declaration by declaration.
        ('<p style="color: red; width: expression(alert(1))">x</p>', '<p style="color: red">x</p>'),
        ('<p style="background: url(https://track.example/p.gif)">x</p>', "<p>x</p>"),
        ('<p style="behavior: url(x.htc); -moz-binding: url(x.xml#y); font-weight: bold">x</p>',
         '<p style="font-weight: bold">x</p>'),
        ('<p style="color: \\65 xpression(1)">x</p>', "<p>x</p>"),
        ("<style>@import url(https://evil.example/x.css); body{x:expression(1)}</style><b>y</b>", "<b>y</b>"),
        # data: HTML in links, frames and objects.
        ('<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">x</a>', f"<a {LINK_DROPPED}>x</a>"),
        ('<iframe src="data:text/html,<script>alert(1)</script>"></iframe>z', "z"),
        ('<object data="data:text/html,x"></object><embed src="data:text/html,x">z', "z"),
        ('<img src="data:text/html;base64,PHNjcmlwdD4=">', "<img>"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<img>"),
        # External images are blocked by default.
        ('<img src="https://track.example/pixel.gif" alt="p">', '<img alt="p">'),
        ('<img src="http://track.example/pixel.gif">', "<img>"),
        # Forms and meta refreshes.
        ('<form action="https://evil.example/"><input name=p></form>x', "x"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example/">x', "x"),
        # Links keep http(s)/mailto and get a new window without opener/referrer.
        ('<a href="https://example.org/a?b=c">x</a>', f'<a href="https://example.org/a?b=c" {LINK}>x</a>'),
        ('<a href="mailto:a@example.org">x</a>', f'<a href="mailto:a@example.org" {LINK}>x</a>'),
        # Comments (conditional comments) are stripped.
        ("<!--[if IE]><script>x</script><![endif]--><i>i</i>", "<i>i</i>"),
    ],
)
def test_sanitize(html: str, want: str) -> None:
    assert sanitize_html(html) == want


def test_external_images_when_allowed() -> None:
    assert sanitize_html('<img src="https://img.example/a.png">', allow_external=True) == (
        '<img src="https://img.example/a.png">'
    )
    # Still no scripts or javascript: with external content allowed.
    assert sanitize_html('<img src="javascript:alert(1)"><script>x</script>', allow_external=True) == "<img>"


def test_cid_images_inlined() -> None:
    got = sanitize_html('<img src="cid:logo@x">', cids={"logo@x": "data:image/png;base64,iVBO"})
    assert got == '<img src="data:image/png;base64,iVBO">'
    # An unknown cid is not an allowed URL: removed.
    assert sanitize_html('<img src="cid:other@x">', cids={"logo@x": "data:image/png;base64,iVBO"}) == "<img>"


def test_clean_style() -> None:
    assert clean_style("color:red;;font-size: 12px") == "color: red; font-size: 12px"
    assert clean_style("x: y /* c */") is None
    assert clean_style("list-style-image: url(a.png)") is None
    assert clean_style("") is None


def test_message_headers() -> None:
    h = dict(message_headers())
    assert h["Content-Security-Policy"] == (
        "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'"
    )
    assert h["X-Frame-Options"] == "sameorigin"
    assert h["Referrer-Policy"] == "no-referrer"
    assert "img-src data: http: https:" in dict(message_headers(allow_external=True))["Content-Security-Policy"]


def test_text_document() -> None:
    doc = text_document("see <b>https://example.org/x.</b> & bye")
    assert "&lt;b&gt;" in doc
    assert '<a href="https://example.org/x.&lt;/b&gt;"' not in doc
    doc = text_document("go to https://example.org/x. now")
    assert '<a href="https://example.org/x" rel="noopener noreferrer" target="_blank">https://example.org/x</a>. now' in doc
