"""The junk filter's tokenizer: its fast path for ASCII text (a regular expression finds the
words) gives exactly the words of the character-by-character reading of mox's junk/parse.go,
kept here as the reference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mox.junk.tokenize import looks_numeric, looks_random, tokenize_text

_CONSONANTS = frozenset("bcdfghjklmnpqrstvwxyzBCDFGHJKLMNPQRSTVWXYZ23456789")


def ref_looks_random(s: str) -> bool:
    stretch = stretches = 0
    for c in s:
        if ord(c) >= 0x80:
            return False
        if c in _CONSONANTS:
            stretch += 1
            continue
        if stretch >= 6:
            stretches += 1
        stretch = 0
    if stretch >= 6:
        stretches += 1
    return stretches > 0


def ref_looks_numeric(s: str) -> bool:
    s = s.removeprefix("0x")
    other = digitstretch = maxdigitstretch = 0
    for c in s:
        if "0" <= c <= "9":
            digitstretch += 1
            continue
        if not ("a" <= c <= "f" or "A" <= c <= "F"):
            other += 1
        maxdigitstretch = max(maxdigitstretch, digitstretch)
    maxdigitstretch = max(maxdigitstretch, digitstretch)
    return maxdigitstretch >= 4 or (other == 0 and maxdigitstretch >= 3)


def ref_tokenize(text: str, *, onegrams: bool, twograms: bool, threegrams: bool) -> set[str]:
    words: set[str] = set()
    prev = prev2 = ""
    buf: list[str] = []
    blen = 0

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
        if ref_looks_random(s) or ref_looks_numeric(s):
            return
        if threegrams and prev2 and prev:
            words.add(f"{prev2} {prev} {s}")
        if twograms and prev:
            words.add(f"{prev} {s}")
        if onegrams:
            words.add(s)
        prev2, prev = prev, s

    n = len(text)
    for i, c in enumerate(text):
        if not (c.isalpha() or c.isdecimal()) and (c != "'" or (blen > 0 and i + 1 < n and text[i + 1].isalpha())):
            add()
        else:
            lc = c.lower()
            buf.append(lc)
            blen += len(lc.encode("utf-8", "surrogatepass"))
    add()
    return words


ASCII = st.text(alphabet=st.sampled_from(list("abcxyzBCDFGHQ0123456789'' .,-_!\t\r\n\"")), max_size=300)
MIXED = st.text(alphabet=st.sampled_from(list("abXYZ0179' .-") + ["é", "ß", "Ω", "٣", "²", "\u0301", "日"]), max_size=120)


@settings(max_examples=400, deadline=None)
@given(st.one_of(ASCII, MIXED), st.booleans(), st.booleans(), st.booleans())
def test_tokenize_same_words_as_reference(text: str, one: bool, two: bool, three: bool) -> None:
    words: set[str] = set()
    tokenize_text(text, words, onegrams=one, twograms=two, threegrams=three)
    assert words == ref_tokenize(text, onegrams=one, twograms=two, threegrams=three)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0x123456789abcdefABCDEFghklmnpqrstvwzé")), max_size=20))
def test_word_checks_same_as_reference(word: str) -> None:
    assert looks_random(word) == ref_looks_random(word)
    assert looks_numeric(word) == ref_looks_numeric(word)


def test_examples() -> None:
    words: set[str] = set()
    tokenize_text("Don't buy 'cheap' pills at 0x1234 or 2fvu9stm9yx, ok? Meeting agenda", words,
                  onegrams=True, twograms=False, threegrams=False)
    assert words == {"don", "buy", "cheap", "pills", "meeting", "agenda"}


def test_body_words_remembered_across_copies() -> None:
    """A submission's Sent copy and its delivered copy differ in their header only: the body is
    tokenized once and both get the words they would get alone (the header's words, Return-Path
    included, are each copy's own); a different content type or body is not mixed up."""
    from mox.junk import tokenize
    from mox.message import parse_message

    body = b"<p>Cheap pharmacy offers</p><script>ignored words</script>\r\n"
    sent = b"Received: by x\r\nFrom: <alice@example.org>\r\nSubject: hello there\r\nContent-Type: text/html\r\n\r\n" + body
    delivered = b"Return-Path: <alice@example.org>\r\nDelivered-To: bob@example.org\r\n" + sent
    plain = sent.replace(b"text/html", b"text/plain")
    grams = dict(onegrams=True, twograms=True, threegrams=False)

    def words(data: bytes) -> set[str]:
        return tokenize.message_words(data, parse_message(data), **grams)

    tokenize._body_cache.clear()
    alone = {name: words(data) for name, data in (("sent", sent), ("delivered", delivered), ("plain", plain))}
    tokenize._body_cache.clear()
    first = words(sent)
    assert len(tokenize._body_cache) == 1
    assert first == alone["sent"] and words(delivered) == alone["delivered"]
    assert len(tokenize._body_cache) == 1  # the body was tokenized once
    assert words(plain) == alone["plain"] and len(tokenize._body_cache) == 2
    assert "pharmacy" in alone["sent"] and "ignored" not in alone["sent"] and "ignored" in alone["plain"]
    assert "Return-Path:alice" in alone["delivered"] and "Return-Path:alice" not in alone["sent"]
    assert "Subject:hello" in alone["sent"]
