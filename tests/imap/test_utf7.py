"""Modified UTF-7 mailbox names (RFC 3501 5.1.3)."""

import pytest

from mox.imap import utf7


@pytest.mark.parametrize(
    "text, encoded",
    [
        ("Inbox", "Inbox"),
        ("a&b", "a&-b"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("😀", "&2D3eAA-"),
    ],
)
def test_roundtrip(text, encoded):
    assert utf7.encode(text) == encoded
    assert utf7.decode(encoded) == text


@pytest.mark.parametrize(
    "bad",
    [
        "&",  # unterminated
        "&Jjo!-",  # bad base64
        "&AGE-",  # printable ascii ("a") encoded
        "&U,BTFw-&ZeVnLIqe-",  # two adjacent encoded runs: not canonical
        "ü",  # raw non-ascii
        "&2D0-",  # lone surrogate
    ],
)
def test_invalid(bad):
    with pytest.raises(utf7.Utf7Error):
        utf7.decode(bad)
