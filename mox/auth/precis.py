"""PRECIS preparation of passwords and normalisation of user names (RFC 8265 4.2,
RFC 5198; mox ``store/account.go``).

Passwords follow the OpaqueString profile (RFC 8265 4.2) of the PRECIS FreeformClass
(RFC 8264 4.3), applied in the order of RFC 8264 7:

1. width mapping: none; 2. additional mapping: every non-ASCII space (category Zs) becomes
   U+0020; 3. case mapping: none; 4. normalisation: NFC; 5. directionality: none.

Then every code point must be valid in the FreeformClass (RFC 8264 9 derived property, with the
RFC 5892 exceptions and contextual rules), and the result must not be empty. Python's
``unicodedata`` has categories, combining classes and names but no Default_Ignorable_Code_Point
or script property: the ignorable ranges are listed below (Unicode DerivedCoreProperties), and
the few contextual rules that need a script look at character names ("GREEK", "HEBREW", ...).

User names (email addresses) are NFC-normalised only: ``mo\\u0301x@localhost`` is
``m\\u00f3x@localhost``.

The reference example: ``"te\\u0301st \\u00a0\\u2002\\u200a"`` prepares to ``"t\\u00e9st    "``.
"""

from __future__ import annotations

import unicodedata

MIN_PASSWORD_LENGTH = 8  # bytes of the UTF-8 form, after preparation (as mox)


class PrecisError(ValueError):
    """A string is not valid in the PRECIS profile; the message names the offending code point."""


# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt), RFC 8264 9.13.
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

# Hangul_Syllable_Type L, V and T (RFC 8264 9.9, OldHangulJamo).
_OLD_HANGUL_JAMO = ((0x1100, 0x11FF), (0xA960, 0xA97C), (0xD7B0, 0xD7C6), (0xD7CB, 0xD7FB))

# RFC 5892 2.6 exceptions.
_EXC_PVALID = {0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007}
_EXC_DISALLOWED = {0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303B}
_EXC_CONTEXTO = {0x00B7, 0x0375, 0x05F3, 0x05F4, 0x30FB} | set(range(0x0660, 0x066A)) | set(range(0x06F0, 0x06FA))

_FREEFORM_CATEGORIES = {
    # LetterDigits (PVALID) and OtherLetterDigits, Spaces, Symbols, Punctuation (FREE_PVAL).
    "Ll", "Lu", "Lo", "Nd", "Lm", "Mn", "Mc",
    "Lt", "Nl", "No", "Me",
    "Zs",
    "Sm", "Sc", "Sk", "So",
    "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
}  # fmt: skip


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def _name(c: str) -> str:
    return unicodedata.name(c, "")


def _context_ok(s: str, i: int) -> bool:
    """RFC 5892 appendix A rules for CONTEXTJ and CONTEXTO code points at s[i]."""
    cp = ord(s[i])
    before = s[i - 1] if i > 0 else ""
    after = s[i + 1] if i + 1 < len(s) else ""
    if cp in (0x200C, 0x200D):  # ZERO WIDTH NON-JOINER / JOINER: after a virama (A.1, A.2)
        return bool(before) and unicodedata.combining(before) == 9
    if cp == 0x00B7:  # MIDDLE DOT: between two "l" (A.3)
        return before == "l" and after == "l"
    if cp == 0x0375:  # GREEK LOWER NUMERAL SIGN: before a Greek character (A.4)
        return _name(after).startswith("GREEK")
    if cp in (0x05F3, 0x05F4):  # HEBREW GERESH / GERSHAYIM: after a Hebrew character (A.5, A.6)
        return _name(before).startswith("HEBREW")
    if cp == 0x30FB:  # KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the string (A.7)
        return any(
            c != "\u30fb" and _name(c).startswith(("HIRAGANA", "KATAKANA", "CJK UNIFIED IDEOGRAPH")) for c in s
        )
    if 0x0660 <= cp <= 0x0669:  # ARABIC-INDIC DIGITS: no extended ones in the string (A.8)
        return not any(0x06F0 <= ord(c) <= 0x06F9 for c in s)
    if 0x06F0 <= cp <= 0x06F9:  # EXTENDED ARABIC-INDIC DIGITS: no plain ones (A.9)
        return not any(0x0660 <= ord(c) <= 0x0669 for c in s)
    return False


def freeform_valid(s: str) -> None:
    """Raise PrecisError unless every code point of s is valid in the FreeformClass."""
    for i, c in enumerate(s):
        cp = ord(c)
        if cp in _EXC_PVALID:
            continue
        if cp in _EXC_DISALLOWED:
            raise PrecisError(f"disallowed character U+{cp:04X}")
        if cp in _EXC_CONTEXTO or cp in (0x200C, 0x200D):
            if not _context_ok(s, i):
                raise PrecisError(f"character U+{cp:04X} not allowed in this context")
            continue
        cat = unicodedata.category(c)
        if cat == "Cn" and not _noncharacter(cp):
            raise PrecisError(f"unassigned character U+{cp:04X}")
        if 0x21 <= cp <= 0x7E:
            continue
        if _in(cp, _OLD_HANGUL_JAMO):
            raise PrecisError(f"old hangul jamo U+{cp:04X} not allowed")
        if _in(cp, _IGNORABLE) or _noncharacter(cp):
            raise PrecisError(f"ignorable or noncharacter U+{cp:04X} not allowed")
        if cat == "Cc":
            raise PrecisError(f"control character U+{cp:04X} not allowed")
        if unicodedata.normalize("NFKC", c) != c:
            continue  # HasCompat: FREE_PVAL
        if cat not in _FREEFORM_CATEGORIES:
            raise PrecisError(f"character U+{cp:04X} (category {cat}) not allowed")


def opaque_string(s: str) -> str:
    """Enforce the OpaqueString profile (RFC 8265 4.2.2); raises PrecisError."""
    mapped = "".join(" " if unicodedata.category(c) == "Zs" else c for c in s)
    out = unicodedata.normalize("NFC", mapped)
    if not out:
        raise PrecisError("empty string not allowed")
    freeform_valid(out)
    return out


def prepare_password(password: str) -> str:
    """A password as stored and compared: OpaqueString. Raises PrecisError for invalid input
    (a login with such a password is a failed login)."""
    return opaque_string(password)


def prepare_password_lenient(password: str) -> str:
    """For SASL clients (mox ``sasl/sasl.go``): the prepared password, or the raw one when PRECIS
    refuses it (the server then decides)."""
    try:
        return opaque_string(password)
    except PrecisError:
        return password


def check_new_password(password: str) -> str:
    """Validate a password being set: valid OpaqueString and at least 8 bytes after preparation.
    Returns the prepared password; raises PrecisError with a message for the user."""
    try:
        prepared = opaque_string(password)
    except PrecisError as e:
        raise PrecisError(f"password not allowed: {e}") from None
    if len(prepared.encode("utf-8")) < MIN_PASSWORD_LENGTH:
        raise PrecisError(f"password must be at least {MIN_PASSWORD_LENGTH} bytes long (utf-8, after normalisation)")
    return prepared


def normalize_username(username: str) -> str:
    """NFC-normalise a user name / email address (RFC 6532 3.1)."""
    return unicodedata.normalize("NFC", username)


def is_nfc(s: str) -> bool:
    return unicodedata.is_normalized("NFC", s)
