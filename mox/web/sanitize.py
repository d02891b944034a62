"""Server-side HTML sanitising for message display (mox ``webmail/webmail.go``,
``inlineSanitizeHTML``; our rules are below).

HTML from a message is cleaned with nh3 (the binding to Rust's ammonia, an allow-list HTML5
sanitiser that re-serialises the parsed tree, so what leaves here is well-formed). On top of
ammonia's defaults:

- no ``<script>``, ``<style>``, ``<base>``, forms, frames, objects or embeds (not allowed tags;
  the content of script/style is dropped with them); no ``on*`` attributes (never allowed);
- URLs: links may be ``http``, ``https`` or ``mailto``; ``javascript:``, ``vbscript:`` and
  ``data:`` links are removed; image sources may be ``data:image/*`` (not SVG) and, only with
  ``allow_external``, ``http``/``https``. ``cid:`` sources are replaced by the data URIs of the
  related parts before cleaning;
- inline ``style`` attributes keep only plain declarations: a declaration whose value has
  ``url(``, ``expression(``, ``image-set(``, a backslash escape, ``javascript:`` or ``@import``,
  or a property like ``behavior`` / ``-moz-binding`` is dropped;
- links get ``target="_blank"`` and ``rel="noopener noreferrer"``.

The result is put in a small document of its own (:func:`message_document`) that is served with
a strict CSP into a sandboxed iframe without ``allow-scripts``: even if something slipped through
here, scripts would not run and external resources would not load unless allowed.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Mapping

import nh3

#: Tags allowed in message HTML: ammonia's defaults plus a few harmless presentational ones.
ALLOWED_TAGS = (set(nh3.ALLOWED_TAGS) | {"center", "font", "big", "tt"}) - {"area", "map"}
_GENERIC_ATTRS = {"style", "title", "dir", "lang", "align", "valign", "class", "width", "height", "bgcolor"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": _GENERIC_ATTRS,
    "a": {"href", "name", "target"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "summary"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type", "reversed"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}

_BAD_CSS_VALUE = re.compile(r"url\s*\(|expression\s*\(|image-set\s*\(|\\|javascript:|vbscript:|@import|<|>", re.I)
_BAD_CSS_PROPERTY = re.compile(r"^(behavior|-moz-binding|-ms-behavior|binding)$", re.I)
_DATA_IMAGE = re.compile(r"^data:image/(png|gif|jpeg|jpg|webp|bmp);", re.I)
_LINK = re.compile(r"^(https?:|mailto:|#)", re.I)
_EXTERNAL = re.compile(r"^https?:", re.I)
_CID_SRC = re.compile(r"""(\ssrc\s*=\s*)(["']?)cid:([^"'\s>]+)\2""", re.I)


def clean_style(value: str) -> str | None:
    """A style attribute value with only safe declarations, or None when none is left."""
    keep = []
    for decl in value.split(";"):
        prop, sep, val = decl.partition(":")
        prop, val = prop.strip(), val.strip()
        if not sep or not prop or not val:
            continue
        if not re.fullmatch(r"-?[a-zA-Z][a-zA-Z0-9-]*", prop) or _BAD_CSS_PROPERTY.match(prop):
            continue
        if _BAD_CSS_VALUE.search(val) or "/*" in val:
            continue
        keep.append(f"{prop.lower()}: {val}")
    return "; ".join(keep) or None


def _attribute_filter(allow_external: bool):  # noqa: ANN202 - nh3 callback
    def filt(element: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return clean_style(value)
        v = value.strip()
        if attribute == "href" or attribute == "cite":
            # Absolute http(s)/mailto links and in-page anchors only: a relative link would
            # point into this server.
            return value if _LINK.match(v) else None
        if attribute == "src":
            if _DATA_IMAGE.match(v):
                return value
            if allow_external and _EXTERNAL.match(v):
                return value
            return None
        return value

    return filt


def sanitize_html(html: str, *, allow_external: bool = False, cids: Mapping[str, str] | None = None) -> str:
    """Clean message HTML for display; ``cids`` maps Content-IDs (without <>) to data: URIs."""
    if cids:

        def inline(m: re.Match[str]) -> str:
            uri = cids.get(_html.unescape(m.group(3)))
            return f'{m.group(1)}"{uri}"' if uri else m.group(0)

        html = _CID_SRC.sub(inline, html)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        attribute_filter=_attribute_filter(allow_external),
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


#: CSP for message content: nothing may load except inline styles and data: images; with external
#: content allowed, images and fonts over http(s) too. No scripts in any case.
MESSAGE_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; default-src 'none'; "
    "img-src data:; style-src 'unsafe-inline'"
)
MESSAGE_CSP_EXTERNAL = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'; default-src 'none'; "
    "img-src data: http: https:; style-src 'unsafe-inline'; font-src http: https: data:"
)


#: CSP for message bytes served as they are (raw messages, parts, transcripts): a sandbox
#: without scripts, nothing may load. Whatever a browser makes of the bytes, no script of the
#: message runs in mox's origin.
CONTENT_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def content_headers(content_type: str, *, filename: str | None = None, attachment: bool = True) -> list[tuple[str, str]]:
    """Headers for a response that carries message bytes as they are (everywhere a message byte
    is served outside the sanitised view): the sandbox CSP, nosniff, no framing, no caching,
    and (by default) ``Content-Disposition: attachment``, so a browser saves instead of showing."""
    headers = [
        ("Content-Type", content_type),
        ("Content-Security-Policy", CONTENT_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "deny"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]
    if attachment:
        headers.append(("Content-Disposition", disposition(filename)))
    return headers


def disposition(filename: str | None) -> str:
    """``attachment`` with an ASCII ``filename`` and RFC 6266 / RFC 8187 ``filename*``."""
    if not filename:
        return "attachment"
    from urllib.parse import quote

    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", filename) or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def message_headers(*, allow_external: bool = False) -> list[tuple[str, str]]:
    """Headers for a response with message content (to be shown in a sandboxed iframe)."""
    return [
        ("Content-Security-Policy", MESSAGE_CSP_EXTERNAL if allow_external else MESSAGE_CSP),
        ("X-Frame-Options", "sameorigin"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]


_DOC_STYLE = (
    "body{font-family:system-ui,sans-serif;font-size:14px;margin:8px;overflow-wrap:anywhere}"
    "pre{white-space:pre-wrap}img{max-width:100%;height:auto}"
)


def message_document(fragment: str) -> str:
    """A whole HTML document around an already sanitised fragment (or escaped text)."""
    return (
        '<!doctype html><html><head><meta charset="utf-8"><base target="_blank">'
        f"<style>{_DOC_STYLE}</style></head><body>{fragment}</body></html>"
    )


def text_document(text: str) -> str:
    """A plain text body as an HTML document: escaped, links made clickable."""
    out = []
    pos = 0
    for m in re.finditer(r"https?://[^\s<>\"']+", text):
        out.append(_html.escape(text[pos : m.start()]))
        url = m.group(0).rstrip(".,;:!?)")
        out.append(f'<a href="{_html.escape(url)}" rel="noopener noreferrer" target="_blank">{_html.escape(url)}</a>')
        out.append(_html.escape(m.group(0)[len(url) :]))
        pos = m.end()
    out.append(_html.escape(text[pos:]))
    return message_document("<pre>" + "".join(out) + "</pre>")
