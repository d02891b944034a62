"""Thread matching values, with the cases of mox's message/*_test.go."""

import pytest

from mox.message.thread import BadMessageID, message_id_canonical, referenced_ids, thread_subject


@pytest.mark.parametrize(
    "subject, base, resp",
    [
        ("test", "test", False),
        (" a  b\tc\r\n d\t", "a b c d", False),
        ("test (fwd) (fwd) ", "test", True),
        ("re: test", "test", True),
        ("Re: Test", "test", True),
        ("fw: test", "test", True),
        ("fwd: test", "test", True),
        ("fwd [tag] Test", "fwd [tag] test", False),
        ("[list] re: a b c\t", "a b c", True),
        ("[list] fw: a b c", "a b c", True),
        ("[tag1][tag2] [tag3]\t re: a b c", "a b c", True),
        ("[tag1][tag2] [tag3]\t re: a \u0000b c", "", True),
        ("[list] fw:[tag] a b c", "a b c", True),
        ("[list] re: [list] fwd: a b c\t", "a b c", True),
        ("[fwd: a b c]", "a b c", True),
        ("[fwd: [fwd: a b c]]", "a b c", True),
        ("[fwd: [list] re: a b c]", "a b c", True),
        ("[nonlist]", "[nonlist]", False),
        ("fwd [list]:", "", True),
    ],
)
def test_thread_subject(subject, base, resp):
    # RFC 5256 2.1 base subject, as mox's message/threadsubject.go
    assert thread_subject(subject) == (base, resp)


@pytest.mark.parametrize(
    "value, want, raw",
    [
        ("<user@domain>", "user@domain", False),
        ("<USER@DOMAIN>", "user@domain", False),
        ('<"user"@domain>', "user@domain", False),
        ('<"us er"@domain>', '"us er"@domain', False),
        ("<user@[10.0.0.1]>", "user@[10.0.0.1]", True),
        ("<user@domain> (added by postmaster@isp.example)", "user@domain", False),
        ("<user@domain> other", "user@domain", False),
        ("<User@Domain@Time>", "user@domain@time", True),
        ("<User>", "user", True),
    ],
)
def test_message_id_canonical(value, want, raw):
    assert message_id_canonical(value) == (want, raw)


@pytest.mark.parametrize("value", ["bogus", "<bogus@host", "bogus@host>", "<>", "<a@b>x"])
def test_message_id_bad(value):
    with pytest.raises(BadMessageID):
        message_id_canonical(value)


@pytest.mark.parametrize(
    "refs, irt, want",
    [
        (["bogus"], [], []),
        (["<User@host>"], [], ["user@host"]),
        (["<User@tést.example>"], [], ["user@tést.example"]),
        (["<User@xn--tst-bma.example>"], [], ["user@xn--tst-bma.example"]),
        (["<User@bad_label.domain>"], [], ["user@bad_label.domain"]),
        (["<truncated@hos <user@host>"], [], ["user@host"]),
        (["<previously wrapped@host>"], [], ["previouslywrapped@host"]),
        (["<user1@host> <user2@other.example>"], [], ["user1@host", "user2@other.example"]),
        (["<missinghost>"], [], ["missinghost"]),
        (["<user@host@time>"], [], ["user@host@time"]),
        (["bogus bad <user@host>"], [], ["user@host"]),
        (["bogus bad"], ["<user@host> more stuff"], ["user@host"]),
        (["<a@x>"], ["<b@x>"], ["a@x"]),  # References first (RFC 5256 2.2)
    ],
)
def test_referenced_ids(refs, irt, want):
    assert referenced_ids(refs, irt) == want
