"""PARTIAL (RFC 9394; RFC 5267 4.4): windows of SEARCH and SORT results, ranges from the end,
ranges beyond the results, the interplay with MIN/MAX/COUNT/SAVE (RFC 9394 3.2 table 1), and
the PARTIAL modifier of UID FETCH (RFC 9394 3.3)."""

import pytest

from mox.imap.responses import EsearchPartial, FetchModSeq, UntaggedEsearch, UntaggedFetch


def setup(imap, n=30):
    imap.start()
    for i in range(1, n + 1):
        flags = ["\\Deleted"] if i % 10 == 0 else []
        imap.deliver(f"Subject: {chr(ord('a') + (i * 7) % 26)}\r\n\r\nx\r\n".encode(), flags=flags)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    return tc


def partial(tc, line, rng, results, **more):
    t = tc.transact("ok", line).tag
    tc.expect_untagged(UntaggedEsearch(tag=t, uid=line.lower().startswith("uid"), partial=EsearchPartial(rng, results), **more))


def test_rfc9394_examples(imap):
    # 3.1 with this mailbox: 27 undeleted messages (10, 20 and 30 are \Deleted).
    tc = setup(imap)
    partial(tc, "UID SEARCH RETURN (PARTIAL -1:-5) UNDELETED UNKEYWORD $Junk", "-1:-5", "25:29")
    partial(tc, "UID SEARCH RETURN (PARTIAL 20:40) UNDELETED UNKEYWORD $Junk", "20:40", "22:29")  # spans the end
    partial(tc, "UID SEARCH RETURN (PARTIAL 1:5) UNDELETED UNKEYWORD $Junk", "1:5", "1:5")
    partial(tc, "UID SEARCH RETURN (PARTIAL 40:50) UNDELETED UNKEYWORD $Junk", "40:50", None)  # beyond: NIL
    partial(tc, "UID SEARCH RETURN (PARTIAL -40:-50) UNDELETED", "-40:-50", None)
    partial(tc, "UID SEARCH RETURN (PARTIAL -20:-40) UNDELETED", "-20:-40", "1:8")  # 27 results
    # Reversed ranges mean the same; the response echoes the range as written.
    partial(tc, "SEARCH RETURN (PARTIAL 5:1) UNDELETED", "5:1", "1:5")
    partial(tc, "SEARCH RETURN (PARTIAL -5:-1) UNDELETED", "-5:-1", "25:29")
    partial(tc, "SEARCH RETURN (PARTIAL 9:11) ALL", "9:11", "9:11")
    partial(tc, "SEARCH RETURN (PARTIAL 9:11) UNDELETED", "9:11", "9,11:12")  # positions, not numbers
    # With other return data (RFC 5267 4.1: they do not interact).
    partial(tc, "SEARCH RETURN (MIN MAX COUNT PARTIAL 2:3) UNDELETED", "2:3", "2:3", min=1, max=29, count=27)
    partial(tc, "SEARCH RETURN (PARTIAL 1:2) 100:200", "1:2", None)  # no results at all
    partial(tc, "SEARCH RETURN (CONTEXT PARTIAL 1:1) ALL", "1:1", "1")


def test_partial_sort(imap):
    tc = setup(imap, n=12)
    tc.transact("ok", "sort (subject) utf-8 all")
    order = [int(x) for x in tc.untagged[0][1].decode().split()[2:]]
    assert order == [4, 8, 12, 1, 5, 9, 2, 6, 10, 3, 7, 11]  # subjects c e g h j l o q s v x z
    partial(tc, "SORT RETURN (PARTIAL 1:3) (SUBJECT) UTF-8 ALL", "1:3", "4,8,12")
    partial(tc, "SORT RETURN (PARTIAL -1:-3) (SUBJECT) UTF-8 ALL", "-1:-3", "3,7,11")
    partial(tc, "SORT RETURN (PARTIAL 4:6 COUNT) (SUBJECT) UTF-8 ALL", "4:6", "1,5,9", count=12)
    partial(tc, "UID SORT RETURN (PARTIAL 11:20) (REVERSE SUBJECT) UTF-8 ALL", "11:20", "8,4")
    partial(tc, "SORT RETURN (PARTIAL 13:14) (SUBJECT) UTF-8 ALL", "13:14", None)


def test_partial_and_save(imap):
    # RFC 9394 3.2, table 1: what "$" holds.
    tc = setup(imap, n=10)

    def saved():
        tc.transact("ok", "uid search $")
        return [int(x) for x in tc.untagged[0][1].decode().split()[2:]]

    tc.transact("ok", "search return (save partial 3:4) all")
    assert saved() == [3, 4]
    tc.transact("ok", "search return (save partial 3:4 min) all")
    assert saved() == [1, 3, 4]
    tc.transact("ok", "search return (save partial -1:-2 max) all")
    assert saved() == [9, 10]
    tc.transact("ok", "search return (save partial 3:4 min max) all")
    assert saved() == [1, 3, 4, 10]
    tc.transact("ok", "search return (save partial 3:4 count min) all")
    assert saved() == list(range(1, 11))
    tc.transact("ok", "sort return (save partial 1:2) (reverse subject) utf-8 all")
    assert saved() == [3, 7]  # subjects x and v


def test_partial_errors(imap):
    tc = setup(imap, n=3)
    for bad in [
        "search return (partial 0:1) all",
        "search return (partial 1:0) all",
        "search return (partial -1:2) all",
        "search return (partial 1:-2) all",
        "search return (partial -0:-1) all",
        "search return (partial 1:*) all",
        "search return (partial 1) all",
        "search return (partial) all",
        "search return (partial 1:2 partial 3:4) all",
        "search return (partial 1:2 all) all",  # RFC 5267 4.4: not both
        "search return (all partial 1:2) all",
        "search return (partial 4294967296:1) all",
        "fetch 1:* (flags) (partial 1:2)",  # only UID FETCH takes the modifier
        "uid fetch 1:* (flags) (partial 1:2 partial 1:2)",
        "uid fetch 1:* (flags) (partial 0:2)",
    ]:
        tc.transact("bad", bad)


def test_uid_fetch_partial(imap):
    tc = setup(imap, n=10)
    tc.transact("ok", "uid fetch 3:8 (flags) (partial -1:-3)")
    tc.expect_untagged("* 6 FETCH (UID 6 FLAGS (\\Recent))", "* 7 FETCH (UID 7 FLAGS (\\Recent))",
                       "* 8 FETCH (UID 8 FLAGS (\\Recent))")
    tc.transact("ok", "uid fetch 3:* (uid) (partial 1:2)")
    tc.expect_untagged("* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)")
    tc.transact("ok", "uid fetch 3:8 (uid) (partial 20:30)")
    tc.expect_no_untagged()
    # With CHANGEDSINCE (RFC 9394 3.4): the window is taken first, then the changed ones.
    tc.transact("ok", "uid fetch 1:* (modseq)")
    before = max(r.attr(FetchModSeq).modseq for r, _ in tc.untagged if isinstance(r, UntaggedFetch))
    tc.transact("ok", "store 3,7 +flags.silent (\\flagged)")
    tc.transact("ok", f"uid fetch 1:* (flags) (partial -1:-4 changedsince {before})")
    assert [r.seq for r, _ in tc.untagged if isinstance(r, UntaggedFetch)] == [7]
    tc.transact("ok", f"uid fetch 1:* (flags) (changedsince {before} partial 1:2)")
    tc.expect_no_untagged()  # 3 is changed, but not among the first two


@pytest.mark.parametrize("profile_cap", ["PARTIAL", "CONTEXT=SEARCH", "CONTEXT=SORT", "ESORT"])
def test_capabilities(imap, profile_cap):
    imap.start()
    tc = imap.connect()
    tc.transact("ok", "capability")
    assert profile_cap in tc.untagged[0][0].caps


def test_update_honours_the_partial_range(imap):
    """RFC 5267 4.4 with UPDATE: the client holds only the window, so only how the window
    changes is told: a result leaving it (or one before it leaving, which shifts the next one
    in) gives REMOVEFROM and ADDTO; changes outside it give nothing."""
    tc = setup(imap, n=10)  # 10 has \Deleted
    other = imap.connect()
    other.transact("ok", "select inbox")
    t = tc.transact("ok", "UID SEARCH RETURN (PARTIAL 1:3 UPDATE) UNDELETED").tag
    tc.expect_untagged(UntaggedEsearch(tag=t, uid=True, partial=EsearchPartial("1:3", "1:3")))
    t2 = tc.transact("ok", "UID SEARCH RETURN (PARTIAL -1:-2 UPDATE) UNDELETED").tag
    tc.expect_untagged(UntaggedEsearch(tag=t2, uid=True, partial=EsearchPartial("-1:-2", "8:9")))
    # Message 8 gets \Deleted: outside the first window, the last one shifts to 7:9 -> 7 8 out...
    other.transact("ok", "uid store 8 +flags.silent (\\Deleted)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 8 FETCH (UID 8 FLAGS (\\Deleted \\Recent))", f'* ESEARCH (TAG "{t2}") UID REMOVEFROM (0 8) ADDTO (0 7)'
    )
    # Message 2 gets \Deleted: 4 enters the first window; the last is unchanged.
    other.transact("ok", "uid store 2 +flags.silent (\\Deleted)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 2 FETCH (UID 2 FLAGS (\\Deleted \\Recent))", f'* ESEARCH (TAG "{t}") UID REMOVEFROM (0 2) ADDTO (0 4)'
    )
    # A new message: only the last window changes.
    imap.deliver(b"Subject: new\r\n\r\nx\r\n")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 11 EXISTS", "* 11 RECENT", "* 11 FETCH (UID 11 FLAGS (\\Recent))",
        f'* ESEARCH (TAG "{t2}") UID REMOVEFROM (0 7) ADDTO (0 11)',
    )
    # Message 5 (outside both windows) gets \Seen: nothing for the contexts.
    other.transact("ok", "uid store 5 +flags.silent (\\Seen)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 5 FETCH (UID 5 FLAGS (\\Seen \\Recent))")
    # An expunge of 1 and 2 (2 is \Deleted; 1 gets it): 5 shifts into the first window, before
    # the EXPUNGEs while the numbers hold.
    other.transact("ok", "uid store 1 +flags.silent (\\Deleted)")
    other.transact("ok", "uid expunge 1:2")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 1 FETCH (UID 1 FLAGS (\\Deleted \\Recent))",
        f'* ESEARCH (TAG "{t}") UID REMOVEFROM (0 1) ADDTO (0 5)',
        "* 1 EXPUNGE", "* 1 EXPUNGE", "* 9 RECENT",
    )


def test_sort_update_honours_the_partial_range(imap):
    """A SORT context with PARTIAL: positions in the whole sorted result, removals first."""
    imap.start()
    for i in range(1, 6):
        imap.deliver(b"Subject: x\r\n\r\nx\r\n", received=1000.0 + i)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    t = tc.transact("ok", "UID SORT RETURN (PARTIAL 1:2 UPDATE) (REVERSE ARRIVAL) UTF-8 ALL").tag
    tc.expect_untagged(UntaggedEsearch(tag=t, uid=True, partial=EsearchPartial("1:2", "5,4")))
    imap.deliver(b"Subject: new\r\n\r\nx\r\n", received=5000.0)  # the newest: first in REVERSE ARRIVAL
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 6 EXISTS", "* 6 RECENT", "* 6 FETCH (UID 6 FLAGS (\\Recent))",
        f'* ESEARCH (TAG "{t}") UID REMOVEFROM (2 4) ADDTO (1 6)',
    )
    imap.deliver(b"Subject: new\r\n\r\nx\r\n", received=1.0)  # the oldest: last, outside the window
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 7 EXISTS", "* 7 RECENT", "* 7 FETCH (UID 7 FLAGS (\\Recent))")
