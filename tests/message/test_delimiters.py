"""Multipart delimiters are found with bytes.find: the same matches as the regexp they replace
(start, end, close delimiter or not), for any data and any start/end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mox.message.parse import _boundary_re, delimiters

pieces = st.sampled_from([b"--bb", b"--bb--", b"--b", b"bb", b"-", b"--", b"\r\n", b"\n", b"\r", b" ", b"\t", b"x",
                          b"--bbx", b"--bb \r\n", b"--bb\r\r\n", b"--bb--\r\n", b"\r\n--bb\r\n", b"\n--bb"])


@settings(max_examples=600, deadline=None)
@given(st.lists(pieces, max_size=25), st.integers(0, 200), st.integers(0, 200), st.sampled_from([b"bb", b"b", b"b-b"]))
def test_same_as_regexp(parts, a, b, boundary):
    data = b"".join(parts)
    start, end = sorted((a % (len(data) + 1), b % (len(data) + 1)))
    want = [(m.start(), m.end(), bool(m.group(1))) for m in _boundary_re(boundary).finditer(data, start, end)]
    assert list(delimiters(data, boundary, start, end)) == want


def test_examples():
    data = b"preamble\r\n--bb\r\nA\r\n--bb \r\nB\r\n--bbx\r\n--bb--\r\nepilogue"
    assert list(delimiters(data, b"bb", 0, len(data))) == [(10, 15, False), (19, 24, False), (36, 42, True)]
    # A delimiter at the start offset counts only at a line start of the whole data.
    assert list(delimiters(b"x--bb\r\n", b"bb", 1, 7)) == []
    assert list(delimiters(b"--bb", b"bb", 0, 4)) == [(0, 4, False)]
