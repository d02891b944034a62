"""SEARCH evaluates a compiled key (cheapest operands first, header keys reading only the header
section of the file): its answers must equal the plain key-by-key evaluation (``matches``) on
varied messages, and a SEARCH over the wire must give those answers."""

from __future__ import annotations

import itertools

from mox.imap import search as search_mod
from mox.imap.parse import parse_command
from mox.imap.search import INDEX, Candidate, compile_key, matches

MESSAGES = [
    (b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Alice <alice@example.org>\r\nTo: bob@example.com\r\n"
     b"Subject: Report for January\r\nX-Custom: yes\r\n\r\nThe quick brown fox\r\n", ["\\Seen", "$label"], 1704103200.0),
    (b"Date: Wed, 10 Jan 2024 10:00:00 +0000\r\nFrom: dave@example.net\r\nTo: bob@example.com\r\n"
     b"Subject: =?utf-8?q?caf=C3=A9_report?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=C3=AFve body text\r\n", ["\\Flagged"], 1704880800.0),
    # Folded subject, bare LF line ends, no Date.
    (b"From: eve@example.org\nSubject: a long\n  folded REPORT subject\nCc: carol@example.com\n\n" + b"x" * 500 + b"\n",
     ["\\Deleted", "\\Answered"], 1705312800.0),
    # Multipart with an attachment; the subject word only in the body.
    (b"From: frank@example.com\r\nTo: gina@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nreport inside\r\n"
     b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     b"cmVwb3J0\r\n--b1--\r\n", [], 1705400000.0),
    # A message whose top level is message/rfc822: header keys look at its own header, not the
    # embedded one (RFC 9051 6.4.4, as Dovecot); TEXT finds the embedded header in the body.
    (b"From: outer@example.com\r\nSubject: outer\r\nContent-Type: message/rfc822\r\n\r\n"
     b"From: inner@example.com\r\nSubject: inner report\r\nDate: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\nhello\r\n",
     ["\\Draft"], 1705500000.0),
    # No header at all, and a header without the blank line.
    (b"just a body line without any header\r\n", ["\\Seen"], 1705600000.0),
    (b"Subject: no body, REPORT\r\nX-Custom: other", [], 1705700000.0),
]

KEYS = [
    "all", "unseen", "seen", "flagged", "deleted", "undeleted", "draft", "answered", "keyword $label",
    "unkeyword $label", "1,3:4", "2:*", "*", "uid 2:5", "larger 300", "smaller 200", "modseq 3",
    "before 10-Jan-2024", "on 10-Jan-2024", "since 10-Jan-2024", "sentbefore 2-Jan-2024",
    "senton 2-Jan-2024", "sentsince 5-Jan-2024", "from example.org", "to bob", "cc carol", "bcc x",
    "subject report", 'subject "café"', "header subject report", 'header x-custom ""', "header x-custom yes",
    'header date ""', "body report", "body fox", 'body "naïve"', "text report", "text inner",
    "text gina", "not seen", "or seen subject report", "unseen header subject report",
    "header subject report unseen", "not (or flagged text report)", "or (body fox) (subject parts)",
    "subject report body inside", "$", "uid $", "or $ flagged",
]


def keys():
    for k in KEYS:
        yield k
    for a, b in itertools.combinations(["unseen", "subject report", "body report", "larger 300", "not draft"], 2):
        yield f"{a} {b}"
        yield f"or ({a}) ({b})"


def test_compiled_equals_plain(imap):
    imap.start()
    for data, flags, received in MESSAGES:
        imap.deliver(data, flags=flags, received=received)
    acc = imap.account
    msgs = acc.messages(acc.mailbox("Inbox").id)
    assert len(msgs) == len(MESSAGES)
    saved = {msgs[1].uid, msgs[4].uid}
    n = len(msgs)
    checked = 0
    for crit in keys():
        key = parse_command(b"a SEARCH " + crit.encode("utf-8")).args["key"]
        pred, cost = compile_key(key)
        plain = [m.uid for i, m in enumerate(msgs, 1) if matches(Candidate(acc, m, i, n, msgs[-1].uid, saved), key)]
        fresh = [m.uid for i, m in enumerate(msgs, 1) if pred(Candidate(acc, m, i, n, msgs[-1].uid, saved))]
        assert fresh == plain, crit
        # With the header cache: filled on the first pass, used on the second.
        for _ in range(2):
            cached = [m.uid for i, m in enumerate(msgs, 1) if pred(Candidate(acc, m, i, n, msgs[-1].uid, saved, "ns"))]
            assert cached == plain, crit
        if cost == INDEX:
            # Index-only keys are evaluated with one reused Candidate and never read a file.
            c = Candidate(None, None, 0, n, msgs[-1].uid, saved)
            reused = []
            for i, m in enumerate(msgs, 1):
                c.msg, c.seq = m, i
                if pred(c):
                    reused.append(m.uid)
            assert reused == plain, crit
        checked += bool(plain)
    assert checked > 40  # most keys match something: the comparison is not vacuous


def test_search_over_the_wire(imap):
    imap.start()
    for data, flags, received in MESSAGES:
        imap.deliver(data, flags=flags, received=received)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    for crit, want in [
        ("subject report", "1 2 3 7"),
        ("unseen header subject report", "2 3 7"),
        ("header subject report unseen", "2 3 7"),
        ("text report", "1 2 3 4 5 7"),
        ("unseen", "2 3 4 5 7"),
        ("or deleted draft", "3 5"),
    ]:
        tc.transact("ok", f"search {crit}")
        tc.expect_untagged(f"* SEARCH {want}")


def test_header_cache_bounded(imap, monkeypatch):
    imap.start()
    for data, flags, received in MESSAGES:
        imap.deliver(data, flags=flags, received=received)
    acc = imap.account
    msgs = acc.messages(acc.mailbox("Inbox").id)
    monkeypatch.setattr(search_mod, "HEADER_CACHE_MAX", 1500)
    monkeypatch.setattr(search_mod, "_header_cache", {})
    monkeypatch.setattr(search_mod, "_header_cache_size", 0)
    key = parse_command(b"a SEARCH subject report").args["key"]
    pred, _ = compile_key(key)
    for _ in range(3):
        got = [m.uid for i, m in enumerate(msgs, 1) if pred(Candidate(acc, m, i, len(msgs), msgs[-1].uid, set(), "ns"))]
        assert got == [msgs[i].uid for i in (0, 1, 2, 6)]
        assert 0 < search_mod._header_cache_size <= 1500
        assert search_mod._header_cache_size == sum(e[0] for e in search_mod._header_cache.values())
        assert len(search_mod._header_cache) < len(msgs)  # older entries were evicted
