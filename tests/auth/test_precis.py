"""PRECIS OpaqueString preparation of passwords and NFC user names (RFC 8265 4.2)."""

from __future__ import annotations

import pytest

from mox.auth import precis


@pytest.mark.parametrize(
    ("raw", "prepared"),
    [
        ("te\u0301st \u00a0\u2002\u200a", "t\u00e9st    "),  # mox's own example: NFC and non-ASCII spaces
        ("moxmoxmox", "moxmoxmox"),
        ("\u212b", "\u00c5"),  # ANGSTROM SIGN -> NFC A WITH RING
        ("Pass\u3000word", "Pass word"),  # IDEOGRAPHIC SPACE mapped
        ("\uff21\uff22", "\uff21\uff22"),  # fullwidth letters: no width mapping in OpaqueString
        ("l\u00b7l", "l\u00b7l"),  # MIDDLE DOT between two l (RFC 5892 A.3)
        ("\u0915\u094d\u200d", "\u0915\u094d\u200d"),  # ZWJ after a virama (A.2)
        ("\u2163", "\u2163"),  # ROMAN NUMERAL FOUR: compatibility character, allowed in freeform
        ("\u00dfe", "\u00dfe"),  # sharp s: exception, PVALID
    ],
)
def test_opaque_string(raw, prepared):
    assert precis.opaque_string(raw) == prepared
    assert precis.prepare_password(raw) == prepared


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("abc\u200bdef", "U+200B"),  # ZERO WIDTH SPACE: default ignorable (confusable)
        ("abc\u00addef", "U+00AD"),  # SOFT HYPHEN: ignorable
        ("abc\x07def", "U+0007"),  # control
        ("abc\tdef", "U+0009"),  # tab is a control too
        ("abc\u202edef", "U+202E"),  # RIGHT-TO-LEFT OVERRIDE
        ("abc\ue000def", "U+E000"),  # private use
        ("abc\u2028def", "U+2028"),  # LINE SEPARATOR (Zl)
        ("a\u00b7b", "U+00B7"),  # middle dot outside l.l
        ("x\u200dy", "U+200D"),  # ZWJ without virama
        ("abc\ufdd0", "U+FDD0"),  # noncharacter
        ("\u1100x", "U+1100"),  # old hangul jamo (alone: NFC does not compose it)
        ("\u0640abc", "U+0640"),  # ARABIC TATWEEL: exception, disallowed
    ],
)
def test_opaque_string_refused(raw, why):
    with pytest.raises(precis.PrecisError) as e:
        precis.opaque_string(raw)
    assert why in str(e.value)


def test_check_new_password():
    assert precis.check_new_password("te\u0301st \u00a0\u2002\u200a") == "t\u00e9st    "
    with pytest.raises(precis.PrecisError, match="at least 8 bytes"):
        precis.check_new_password("short")
    with pytest.raises(precis.PrecisError, match="at least 8 bytes"):
        precis.check_new_password("\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0")  # 7 spaces after mapping
    with pytest.raises(precis.PrecisError, match="password not allowed: .*U\\+200B"):
        precis.check_new_password("password\u200b")  # looks like "password", is not


def test_lenient_for_clients():
    assert precis.prepare_password_lenient("a\u00a0b") == "a b"
    assert precis.prepare_password_lenient("bad\x00") == "bad\x00"  # server decides


def test_usernames_nfc():
    assert precis.normalize_username("mo\u0301x@localhost") == "m\u00f3x@localhost"
    assert precis.is_nfc("m\u00f3x") and not precis.is_nfc("mo\u0301x")
