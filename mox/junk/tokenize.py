"""Words of a message for the junk filter, as mox's ``junk/parse.go`` finds them (pure).

Words come from the From, To, Cc, Bcc, Reply-To, Subject, Sender and Return-Path fields (longer
than 3 characters, prefixed with the field name and a colon, e.g. ``Subject:offer``) and from the
text of every text/* part, HTML with its markup, scripts and styles left out (image alt texts
included), of the message and of forwarded messages in it. A word is a run of letters and
digits (lower-cased) of more than 2 bytes with at least one letter, neither random-looking (6 or
more consonants in a row) nor number-like; with ``twograms``/``threegrams`` consecutive words
also count as pairs/triplets.
"""

from __future__ import annotations

import collections
import hashlib
import re
import threading

from mox.message.part import Part
from mox.message.header import split_header
from mox.message.sections import part_text

#: Header fields whose words count (mox: textproto canonical names, used in the word).
HEADER_FIELDS = {
    "from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc", "reply-to": "Reply-To", "subject": "Subject",
    "sender": "Sender", "return-path": "Return-Path",
}  # fmt: skip
MAX_WORD = 32768  # bytes (mox: bbolt's maximum key size)
_CONSONANTS = frozenset("bcdfghjklmnpqrstvwxyzBCDFGHJKLMNPQRSTVWXYZ23456789")


_RANDOM = re.compile("[" + "".join(sorted(_CONSONANTS)) + "]{6,}")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_NO_HEX = str.maketrans("", "", "0123456789abcdefABCDEF")
#: Runs of ASCII letters, digits and apostrophes: the candidate words of ASCII text.
_ASCII_RUN = re.compile("[a-z0-9']+")  # of lower-cased text


def _apostrophe_split(run: str) -> list[str]:
    """The words of an ASCII run with apostrophes: one before a letter ends the word so far."""
    out: list[str] = []
    start = 0
    for i, c in enumerate(run):
        if c == "'" and i > start and i + 1 < len(run) and run[i + 1].isalpha():
            out.append(run[start:i])
            start = i + 1
    out.append(run[start:])
    return out


def looks_random(s: str) -> bool:
    """ASCII with a stretch of 6 or more consonants (0 and 1 count as vowels), e.g. 2fvu9stm9yx."""
    return s.isascii() and _RANDOM.search(s) is not None


def looks_numeric(s: str) -> bool:
    """At least 4 ASCII digits, or 3 with nothing but hex digits besides (after a "0x"). As mox
    (junk/parse.go), the digits are counted over the whole word, not per stretch."""
    s = s.removeprefix("0x")
    digits = len(s) - len(s.translate(_NO_DIGITS))
    if digits >= 4:
        return True
    return digits >= 3 and not s.translate(_NO_HEX)


def tokenize_text(text: str, words: set[str], *, onegrams: bool, twograms: bool, threegrams: bool) -> None:
    """Add the words (and word pairs/triplets) of ``text`` to ``words``."""
    prev = prev2 = ""
    buf: list[str] = []
    blen = 0  # bytes in buf (mox compares byte lengths)

    def add() -> None:
        nonlocal prev, prev2, blen
        if blen <= 2:
            buf.clear()
            blen = 0
            return
        s = "".join(buf).strip("'")
        buf.clear()
        blen = 0
        if not any(not c.isdecimal() for c in s) or len(s.encode("utf-8")) <= 2:
            return
        if looks_random(s) or looks_numeric(s):
            return
        if threegrams and prev2 and prev:
            _add(words, f"{prev2} {prev} {s}")
        if twograms and prev:
            _add(words, f"{prev} {s}")
        if onegrams:
            _add(words, s)
        prev2, prev = prev, s

    if text.isascii():
        # The same words without a Python step per character: a run of letters and digits is a
        # word; an apostrophe inside a run ends the word before it when a letter follows (the
        # character after a run is never a letter); add()'s checks, inlined.
        for m in _ASCII_RUN.finditer(text.lower()):
            run = m.group()
            for piece in _apostrophe_split(run) if "'" in run else (run,):
                w = piece.strip("'")
                if len(w) <= 2 or w.isdigit() or looks_random(w) or looks_numeric(w):
                    continue
                if threegrams and prev2 and prev:
                    _add(words, f"{prev2} {prev} {w}")
                if twograms and prev:
                    _add(words, f"{prev} {w}")
                if onegrams:
                    _add(words, w)
                prev2, prev = prev, w
        return
    n = len(text)
    for i, c in enumerate(text):
        letter_or_digit = c.isalpha() or c.isdecimal()
        if not letter_or_digit and (c != "'" or (blen > 0 and i + 1 < n and text[i + 1].isalpha())):
            add()
        else:
            lc = c.lower()
            buf.append(lc)
            blen += len(lc.encode("utf-8", "surrogatepass"))
    add()


def _add(words: set[str], s: str) -> None:
    if len(s.encode("utf-8", "surrogatepass")) <= MAX_WORD:
        words.add(s)


def html_text(source: str) -> str:
    """The text of an HTML part as the tokenizer reads it (mox.junk.htmltext; html.parser and its
    entity tables are imported at the first HTML part, not at every start)."""
    from mox.junk.htmltext import html_text as text

    return text(source)


def message_words(data: bytes, part: Part, *, onegrams: bool, twograms: bool, threegrams: bool) -> set[str]:
    """The words of a message (``part`` is its parsed structure)."""
    grams = dict(onegrams=onegrams, twograms=twograms, threegrams=threegrams)
    words: set[str] = set()
    fields, _, _ = split_header(data, part.header_start, part.body_start)
    for f in fields:
        name = HEADER_FIELDS.get(f.lname)
        if name is None:
            continue
        hw: set[str] = set()
        tokenize_text(f.value(), hw, **grams)
        for w in hw:
            if len(w.encode("utf-8", "surrogatepass")) > 3:
                _add(words, f"{name}:{w}")

    words |= _body_words(data, part, grams)
    return words


#: Body words of recent messages, by their body and top-level content type: a submission's body
#: is tokenized once for its Sent copy's training and its delivery's classification (their
#: header fields differ). Bodies above BODY_CACHE_MAX bytes are not kept.
_body_cache: collections.OrderedDict[tuple, frozenset[str]] = collections.OrderedDict()
_body_cache_lock = threading.Lock()
BODY_CACHE_ENTRIES = 128
BODY_CACHE_MAX = 64 * 1024


def _body_words(data: bytes, part: Part, grams: dict[str, bool]) -> frozenset[str]:
    body = data[part.body_start : part.body_end]
    key = None
    if len(body) <= BODY_CACHE_MAX:
        key = (
            tuple(grams.values()), part.media_type, part.media_subtype, tuple(part.params),
            part.content_transfer_encoding, hashlib.blake2b(body, digest_size=16).digest(),
        )  # fmt: skip
        with _body_cache_lock:
            hit = _body_cache.get(key)
            if hit is not None:
                _body_cache.move_to_end(key)
                return hit
    words: set[str] = set()

    def walk(p: Part) -> None:
        if p.media_type == "TEXT" and p.media_subtype == "HTML":
            tokenize_text(html_text(part_text(data, p)), words, **grams)
        elif p.media_type == "TEXT":
            tokenize_text(part_text(data, p), words, **grams)
        elif p.media_type == "MESSAGE" and p.parts:
            walk(p.parts[0])  # a forwarded message: its parts (not its header)
        else:
            for sp in p.parts:
                walk(sp)

    walk(part)
    out = frozenset(words)
    if key is not None:
        with _body_cache_lock:
            _body_cache[key] = out
            while len(_body_cache) > BODY_CACHE_ENTRIES:
                _body_cache.popitem(last=False)
    return out
