"""SORT and UID SORT (RFC 5256), SORT=DISPLAY (RFC 5957), the extended SORT of ESORT (RFC 5267 3)
and the MODSEQ of a SORT (RFC 7162 3.1.9).

The five messages of ``setup`` were also appended to Dovecot 2.3.19: every ``* SORT`` line of
``test_sort_keys`` is what Dovecot answered to the same command (its i;unicode-casemap puts
"élan" before "hello", as ours does).
"""

from mox.imap.responses import FetchModSeq, UntaggedEsearch, UntaggedFetch, UntaggedSort


def msg(i: int, subject: str, frm: str, to: str, date: str, extra: str = "") -> bytes:
    return (
        f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <m{i}@x>\r\n{extra}"
        f"\r\nbody {i}\r\n"
    ).encode()


MSGS = [
    msg(1, "Re: hello", "Zed <zed@b.c>", "a@b", "Mon, 1 Jan 2024 10:00:00 +0000"),
    msg(2, "hello", "alice@b.c", "Bob <bob@b>", "Mon, 1 Jan 2024 09:00:00 +0000"),
    msg(3, "[PATCH] Fwd: world (fwd)", "=?utf-8?q?=C3=89mile?= <emile@b.c>", "undisclosed-recipients:;",
        "Sun, 31 Dec 2023 10:00:00 -0800"),
    msg(4, "", "bob@b.c", "", "garbage"),  # no usable Date: the internal date is the sent date
    msg(5, "=?utf-8?b?w6lsYW4=?=", '"" <carl@b.c>', "dan", "Mon, 1 Jan 2024 09:00:00 +0000", "Cc: x@y\r\n"),
]


def setup(imap, select=True):
    imap.start()
    for i, m in enumerate(MSGS):
        imap.deliver(m, received=1704200000.0 + 100 * i)  # 2 Jan 2024 12:53 and on
    tc = imap.connect()
    if select:
        tc.transact("ok", "select inbox")
    return tc


def sort(tc, line, expect):
    tc.transact("ok", line)
    tc.expect_untagged("* SORT" + "".join(f" {n}" for n in expect))


def test_sort_keys(imap):
    tc = setup(imap)
    cases = {
        "ARRIVAL": [1, 2, 3, 4, 5],
        "CC": [1, 2, 3, 4, 5],  # the empty string (no Cc) sorts first, then "x"
        "DATE": [3, 2, 5, 1, 4],  # 3 is 18:00 UTC on Dec 31; 2 and 5 tie (sequence order)
        "FROM": [2, 4, 5, 3, 1],  # alice bob carl emile zed (addr-mailbox)
        "SIZE": [4, 1, 2, 5, 3],
        "SUBJECT": [4, 5, 1, 2, 3],  # "", "élan" (E + U+0301), "hello" x2, "world"
        "TO": [4, 1, 2, 5, 3],  # "", a, bob, dan, undisclosed-recipients (a group's name)
        "DISPLAYFROM": [2, 4, 5, 3, 1],  # an empty display name falls back to carl@b.c
        "DISPLAYTO": [4, 1, 2, 5, 3],
        "REVERSE SUBJECT": [3, 1, 2, 5, 4],  # REVERSE does not reverse the tie 1, 2
        "SUBJECT REVERSE DATE": [4, 5, 1, 2, 3],
        "REVERSE ARRIVAL": [5, 4, 3, 2, 1],
        "SIZE SUBJECT": [4, 1, 2, 5, 3],
    }
    for crit, want in cases.items():
        sort(tc, f"sort ({crit}) utf-8 all", want)
    sort(tc, "uid sort (subject) us-ascii all", [4, 5, 1, 2, 3])
    sort(tc, 'sort (subject) "UTF-8" all', [4, 5, 1, 2, 3])
    sort(tc, "sort (subject) utf-8 2:4", [4, 2, 3])  # search criteria first
    sort(tc, "sort (date) utf-8 10:20", [])
    sort(tc, 'sort (subject) us-ascii text "not in mailbox"', [])
    sort(tc, "sort (from) utf-8 or from zed from alice", [2, 1])
    # UID SORT returns uids; sequence numbers differ from them after an expunge.
    tc.transact("ok", "store 1 +flags (\\deleted)")
    tc.transact("ok", "expunge")
    sort(tc, "sort (subject) utf-8 all", [3, 4, 1, 2])
    sort(tc, "uid sort (subject) utf-8 all", [4, 5, 2, 3])
    sort(tc, "uid sort (subject) utf-8 uid 4:5", [4, 5])


def test_sort_rfc5256_examples(imap):
    # RFC 5256 BASE.6.4.SORT: "SORT (SUBJECT REVERSE DATE) UTF-8 ALL" -> "* SORT 5 3 4 1 2" and a
    # search without matches -> "* SORT".
    imap.start()
    mk = lambda subj, day: (f"Subject: {subj}\r\nDate: {day} Jan 2024 10:00:00 +0000\r\n\r\nx\r\n").encode()  # noqa: E731
    for subj, day in [("b", 1), ("b", 2), ("a", 3), ("a", 1), ("a", 5)]:
        imap.deliver(mk(subj, day))
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL".split(" ", 1)[1])
    tc.expect_untagged("* SORT 5 3 4 2 1")
    tc.transact("ok", 'SORT (SUBJECT) US-ASCII TEXT "not in mailbox"')
    tc.expect_untagged("* SORT")


def test_sort_errors(imap):
    tc = setup(imap, select=False)
    tc.transact("no", "sort (subject) utf-8 all")  # no mailbox selected
    tc.transact("ok", "select inbox")
    tc.transact("no", "sort (subject) iso-8859-1 all")
    tc.expect_code("BADCHARSET")
    for bad in [
        "sort (bogus) utf-8 all",  # unknown key
        "sort () utf-8 all",  # empty criteria
        "sort (subject) all",  # no charset (mandatory, unlike SEARCH)
        "sort (subject) utf-8",  # no search criteria
        "sort (reverse) utf-8 all",
        "sort (subject reverse) utf-8 all",
        "sort (reverse reverse subject) utf-8 all",
        "sort subject utf-8 all",  # criteria must be a list
        "sort (subject) utf-8 charset utf-8 all",
        "sort (subject) utf-8 bogus",
        "sort (subject)  utf-8 all",
        "sort return (bogus) (subject) utf-8 all",
        "sort return (partial 0:1) (subject) utf-8 all",
        "sort return (partial 1:-1) (subject) utf-8 all",
        "sort return (partial 1:2 all) (subject) utf-8 all",
    ]:
        tc.transact("bad", bad)
    tc.transact("ok", "sort (subject) utf-8 all")  # the connection is fine


def test_esort(imap):
    # RFC 5267 3: RETURN options answered with ESEARCH in sort order (MIN first, MAX last); ALL
    # as a sequence set whose ranges ascend (3.2: "4:5,1:3", never "5:4").
    tc = setup(imap)
    t = tc.transact("ok", "sort return (min max count all) (subject) utf-8 all").tag
    tc.expect_untagged(UntaggedEsearch(tag=t, min=4, max=3, count=5, all="4:5,1:3"))
    t = tc.transact("ok", "sort return () (reverse arrival) utf-8 all").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") ALL 5,4,3,2,1')
    t = tc.transact("ok", "uid sort return (count) (subject) utf-8 2:*").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") UID COUNT 4')
    t = tc.transact("ok", "sort return (min max) (subject) utf-8 larger 100000").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}")')  # nothing matches: no MIN, no MAX
    # SAVE (RFC 5182): "$" holds the sorted messages, as a set.
    tc.transact("ok", "sort return (save) (subject) utf-8 subject hello")
    tc.expect_no_untagged()
    tc.transact("ok", "fetch $ uid")
    tc.expect_untagged("* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)")
    t = tc.transact("ok", "sort return (save min) (reverse subject) utf-8 all").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") MIN 3')
    tc.transact("ok", "search $")
    tc.expect_untagged("* SEARCH 3")
    # RFC 5267 3.3's example, in this mailbox.
    t = tc.transact("ok", "uid sort return () (reverse date) utf-8 undeleted unkeyword $Junk").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") UID ALL 4,1:2,5,3')  # 2 and 5 tie: mailbox order


def test_sort_modseq(imap):
    # RFC 7162 3.1.9: a MODSEQ criterion adds the highest modseq of the results; Example 20.
    tc = setup(imap)
    tc.transact("ok", "store 2 +flags (\\flagged)")
    tc.transact("ok", "fetch 2 (modseq)")
    modseq = next(u for u, _ in tc.untagged if isinstance(u, UntaggedFetch)).attr(FetchModSeq).modseq
    tc.transact("ok", "sort (subject) utf-8 modseq 1")
    tc.expect_untagged(UntaggedSort((4, 5, 1, 2, 3), modseq))
    tc.transact("ok", f"sort (subject) utf-8 modseq {modseq + 1}")
    tc.expect_untagged("* SORT")  # no results: no MODSEQ
    t = tc.transact("ok", "sort return (all) (date) utf-8 modseq 1").tag
    tc.expect_untagged(UntaggedEsearch(tag=t, all="3,2,5,1,4", modseq=modseq))


def test_sort_imap4rev2(imap):
    # An IMAP4rev2 session gets "* SORT" too (RFC 9051 changed only SEARCH).
    tc = setup(imap, select=False)
    tc.transact("ok", "enable imap4rev2")
    tc.transact("ok", "select inbox")
    sort(tc, "sort (subject) utf-8 all", [4, 5, 1, 2, 3])


def test_sort_imaplib(imap):
    import imaplib

    setup(imap, select=False)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    try:
        c.login("mox@localhost", "moxmoxmox")
        c.select("INBOX")
        assert c.sort("(SUBJECT)", "UTF-8", "ALL") == ("OK", [b"4 5 1 2 3"])
        assert c.sort("(REVERSE DATE)", "UTF-8", "UNDELETED") == ("OK", [b"4 1 2 5 3"])
        typ, data = c.uid("SORT", "(DISPLAYFROM)", "UTF-8", "ALL")
        assert (typ, data) == ("OK", [b"2 4 5 3 1"])
    finally:
        c.logout()


def test_client_methods(imap):
    # mox.imap.client.Conn: sort(), thread(), esearch(), cancelupdate() return typed values.
    from mox.imap.responses import EsearchPartial, ThreadNode

    tc = setup(imap)
    c = tc.conn
    assert c.sort("(SUBJECT)") == [4, 5, 1, 2, 3]
    assert c.sort("(DATE)", "UID 2:*", uid=True) == [3, 2, 5, 4]
    assert c.thread() == [ThreadNode(3), ThreadNode(2, (ThreadNode(1),)), ThreadNode(5), ThreadNode(4)]
    e = c.esearch("UID SORT RETURN (PARTIAL -1:-2 COUNT UPDATE) (SUBJECT) UTF-8 ALL")
    assert (e.uid, e.count, e.partial) == (True, 5, EsearchPartial("-1:-2", "2:3"))
    assert c.cancelupdate(e.tag).status == "OK"


def test_sort_empty_mailbox(imap):
    """SORT, ESORT and PARTIAL on a mailbox without messages (RFC 5256 4, RFC 4731 3.1: no
    MIN/MAX/ALL when nothing matched, COUNT 0; RFC 9394 3.1: PARTIAL with NIL)."""
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    tc.transact("ok", "sort (subject) utf-8 all")
    tc.expect_untagged("* SORT")
    t = tc.transact("ok", "sort return (min max count all) (reverse arrival) utf-8 all").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") COUNT 0')
    t = tc.transact("ok", "uid sort return (partial 1:10) (date) utf-8 all").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") UID PARTIAL (1:10 NIL)')
