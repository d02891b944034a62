"""The base subject (RFC 5256 2.1): the seven steps, and the corner cases of the grammar's
ambiguities. Where the RFC leaves room, Dovecot 2.3.19 was asked: each case was appended to a
Dovecot mailbox next to a message whose subject is the expected base subject, and THREAD
ORDEREDSUBJECT put every pair in one thread."""

import pytest

from mox.message.header import parse_msg_ids
from mox.message.subject import base_subject

CASES = [
    # (subject, base subject, reply or forward)
    (None, "", False),
    ("", "", False),
    ("   ", "", False),
    ("hello", "hello", False),
    ("Re: hello", "hello", True),
    ("RE: Re: re: hello", "hello", True),
    ("Re:hello", "hello", True),
    ("Re : hello", "hello", True),  # "re" *WSP ":"
    ("Fwd: x", "x", True),
    ("FW: x", "x", True),
    ("fw : x", "x", True),
    ("Fwd x", "Fwd x", False),  # no colon: not a subj-refwd
    ("Reply: x", "Reply: x", False),
    ("Re[2]: x", "x", True),  # "re" [subj-blob] ":"
    ("Re [2]: x", "x", True),
    ("Re: [2]: x", ": x", True),  # after "Re:", the blob "[2]" is followed by ": x"
    ("[PATCH] x", "x", False),  # step 4: a blob before a non-empty rest
    ("[PATCH] [v2] x", "x", False),
    ("[PATCH]", "[PATCH]", False),  # removing it would leave nothing
    ("[a] [b]", "[b]", False),
    ("[PATCH] Re: x", "x", True),  # blobs then a subj-refwd are one subj-leader
    ("Re: [PATCH]", "[PATCH]", True),
    ("x (fwd)", "x", True),  # step 2: subj-trailer
    ("x (FWD) (fwd)  ", "x", True),
    ("hello(fwd)", "hello", True),
    ("(fwd)", "", True),
    ("[fwd: hello]", "hello", True),  # step 6
    ("[Fwd: Re: hello]", "hello", True),
    ("Re: [fwd: [list] hello] (fwd)", "hello", True),
    ("[fwd: hello] x", "x", False),  # a blob, removed by step 4; not subj-fwd (no "]" at the end)
    ("[fwd:]", "", True),
    ("Re:", "", True),
    ("Re: Re: (fwd)", "", True),
    ("Re:\thello\t\t world", "hello world", True),  # step 1: tabs and runs of spaces
    ("hello\r\n world", "hello world", False),  # a continuation
    ("=?utf-8?q?Re=3A?= hello", "hello", True),  # RFC 2047 decoding comes first
    ("=?utf-8?q?R=C3=A9?= x", "Ré x", False),
    ("=?utf-8?b?w6lsYW4=?=", "élan", False),
    ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab", False),  # whitespace between encoded words goes
    ("Re: Fwd: [x] Re: hello (fwd)", "hello", True),
    ("Ré: x", "Ré: x", False),  # only ASCII "re"
    ("[a]Re:x", "x", True),
    ("Re: Re:  Re:   x", "x", True),
    ("x [fwd: y]", "x [fwd: y]", False),
]


@pytest.mark.parametrize("subject,base,reply", CASES)
def test_base_subject(subject, base, reply):
    assert base_subject(subject) == (base, reply)


def test_msg_ids():
    assert parse_msg_ids(None) == []
    assert parse_msg_ids("<a@b>") == ["a@b"]
    assert parse_msg_ids(' <a@b> (comment) <c@d>\r\n <e@f>') == ["a@b", "c@d", "e@f"]
    # RFC 5256 3: quoting does not make a different Message ID.
    assert parse_msg_ids('<"01KF8JCEOCBS0045PS"@xxx.yyy.com>') == ["01KF8JCEOCBS0045PS@xxx.yyy.com"]
    assert parse_msg_ids('<"a\\"b"@x>') == ['a"b@x']
    assert parse_msg_ids("<a @ b>") == ["a@b"]  # folding whitespace
    assert parse_msg_ids("<nope> <@x> <a@> garbage <ok@x>") == ["ok@x"]
    assert parse_msg_ids("<junk <a@b>") == ["a@b"]
    assert parse_msg_ids("<a@[1.2.3.4]>") == ["a@[1.2.3.4]"]
    assert parse_msg_ids("<A@B> <a@b>") == ["A@B", "a@b"]  # case-sensitive
    assert parse_msg_ids("<a(c)@b>") == ["a@b"]
    assert parse_msg_ids("<a@b") == []
