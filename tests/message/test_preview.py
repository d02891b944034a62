"""Previews as mox's message/preview.go computes them (expected strings from mox's tests and
rules: quoted text as [...], no signature, first text part, HTML as text)."""

import pytest

from mox.message import parse_message
from mox.message.preview import html_text, preview, preview_text


@pytest.mark.parametrize(
    "body, want",
    [
        ("", ""),
        ("single line", "single line\n"),
        ("single line\n", "single line\n"),
        ("> quoted\n", "[...]\n"),
        ("> quoted\nresponse\n", "[...]\nresponse\n"),
        ("> quoted\n[...]\nresponse after author snip\n", "[...]\nresponse after author snip\n"),
        ("[...]\nresponse after author snip\n", "[...]\nresponse after author snip\n"),
        ("[…]\nresponse after author snip\n", "[…]\nresponse after author snip\n"),
        (">> quoted0\n> quoted1\n>quoted2\n[...]\nresponse after author snip\n", "[...]\nresponse after author snip\n"),
        (">quoted\n\n>quoted\ncoalesce line-separated quotes\n", "[...]\ncoalesce line-separated quotes\n"),
        ("On <date> <user> wrote:\n> hi\nresponse", "[...]\nresponse\n"),
        ("On <longdate>\n<user> wrote:\n> hi\nresponse", "[...]\nresponse\n"),
        ("> quote\nresponse\n--\nsignature\n", "[...]\nresponse\n"),
        ("> quote\nline1\nline2\nline3\n", "[...]\nline1\nline2\nline3\n"),
        ("hi\r\n\r\nOn Mon, 1 Jan 2024, Bob wrote:\r\n> earlier\r\nthanks\r\n", "hi\n[...]\nthanks\n"),
        # A line of dashes with 5 or more lines after it is no signature.
        ("text\n--\n1\n2\n3\n4\n5\n", "text\n--\n1\n2\n3\n4\n5\n"),
    ],
)
def test_preview_text(body, want):
    assert preview_text(body) == want


def test_preview_text_limit():
    # RFC 8970 3: at most 256 characters; mox stops adding lines past 250 bytes.
    assert preview_text("é" * 300 + "\n") == "é" * 256
    # Lines are added until the preview has more than 250 bytes.
    body = "".join(f"line {i} " + "é" * 20 + "\n" for i in range(40))
    assert preview_text(body) == "".join(f"line {i} " + "é" * 20 + "\n" for i in range(6))


MORE_HTML = """<!doctype html>
<html>
	<head>
		<title>title</title>
		<style>head style</style>
		<script>head script</script>
	</head>
<body>
<script>body script</script>
<style>body style</style>
<div>line1</div>
<div>line2</div>
<div><a href="about:blank">link1   </a> text <span>word</span><span>word2</span>.</div>
<table><tr><td>col1</td><th>col2</th></tr><tr><td>row2</td></tr></table>
</body></html>
"""


def test_html():
    assert preview_text(html_text(MORE_HTML)) == "line1\nline2\nlink1 text wordword2.\ncol1 col2\nrow2\n"
    quoted = "<html><div>On ... someone wrote:</div><blockquote>something worth replying</blockquote><div>agreed</div></body>"
    assert preview_text(html_text(quoted)) == "[...]\nagreed\n"
    assert html_text("<p>a &amp; b<p>c<br>d") == "a & b\nc\nd"
    assert html_text("<ul><li>one<li>two</ul>") == "one\ntwo"


def _msg(*parts: tuple[str, str], outer: str = "alternative") -> bytes:
    head = b"From: a@x\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
    if len(parts) == 1:
        ct, body = parts[0]
        return head + f"Content-Type: {ct}\r\n\r\n{body}".encode()
    out = [head + f'Content-Type: multipart/{outer}; boundary="b1"\r\n\r\n'.encode()]
    for ct, body in parts:
        out.append(f"--b1\r\nContent-Type: {ct}\r\n\r\n{body}\r\n".encode())
    out.append(b"--b1--\r\n")
    return b"".join(out)


@pytest.mark.parametrize(
    "data, want",
    [
        (_msg(("text/plain", "the text"), ("text/html", "<html><body>the html</body></html>")), "the text\n"),
        (_msg(("text/html", "<body>the html</body>"), ("text/plain", "the text")), "the html\n"),
        (_msg(("text/plain", "the text")), "the text\n"),
        (_msg(("text/html", "<body>the html</body>")), "the html\n"),
        (_msg(("text/other", "other text")), ""),
        (_msg(("application/pdf", "x"), ("text/plain", "after"), outer="mixed"), "after\n"),
        (_msg(("text/plain", ""), ("text/html", "<p>second</p>"), outer="mixed"), "second\n"),
        (b"From: a@x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n", "caf\u00e9\n"),
        (
            b"From: a@x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            b"soft=\r\nbreak =C3=A9\r\n",
            "softbreak \u00e9\n",
        ),
        (
            b"From: a@x\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nnot a preview\r\n",
            "",
        ),
        (_msg(("text/plain", "signed text"), ("application/pgp-signature", "sig"), outer="signed"), "signed text\n"),
        (_msg(("application/pgp-encrypted", "Version: 1"), ("text/plain", "secret"), outer="encrypted"), ""),
    ],
)
def test_preview_message(data, want):
    assert preview(data, parse_message(data)) == want


def test_embedded_message_is_not_previewed():
    inner = b"From: b@x\r\nSubject: inner\r\n\r\ninner text\r\n"
    data = (
        b'From: a@x\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    assert preview(data, parse_message(data)) == ""
