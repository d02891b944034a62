"""THREAD and UID THREAD (RFC 5256): ORDEREDSUBJECT, REFERENCES, and REFS (draft-ietf-morg-inthread,
as Dovecot implements it: REFERENCES without subject merging, threads by their newest message).

``test_rfc5256_thread_example`` builds a mailbox for which both THREAD examples of RFC 5256
BASE.6.4.THREAD come out exactly as the RFC prints them; ``test_rfc5256_response_example`` does
the same for the example of BASE.7.2.THREAD.
"""

import pytest

from mox.imap.responses import ThreadNode, UntaggedThread

BASE = 952646400  # 10 Mar 2000 00:00:00 UTC


def mail(n: int, subject: str, date: int, refs: str = "", irt: str = "", mid: str | None = None) -> bytes:
    import email.utils

    h = f"Subject: {subject}\r\nDate: {email.utils.formatdate(date)}\r\n"
    if mid is not False:
        h += f"Message-ID: {mid or f'<m{n}@x>'}\r\n"
    if refs:
        h += f"References: {refs}\r\n"
    if irt:
        h += f"In-Reply-To: {irt}\r\n"
    return (h + f"\r\nmessage {n}\r\n").encode()


def thread(tc, line, expect):
    tc.transact("ok", line)
    tc.expect_untagged("* THREAD" + (" " + expect if expect else ""))


def test_rfc5256_thread_example(imap):
    # 165 older messages (internal date before 5 Mar 2000), then 166..208 whose subjects, dates
    # and references make both RFC examples.
    imap.start()
    for n in range(1, 166):
        imap.deliver(mail(n, f"old {n}", BASE - 86400 * 60), received=BASE - 86400 * 60)
    order = [166, 167, 168, 169, 172, 170, 171, 173, 174, 175, 176, 178, 181, 180, 179, 177, 183, 182, 188, 184,
             185, 186, 187, 189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200, 202, 201, 203, 204, 205,
             206, 207, 208]  # sent dates ascend in this order
    subjects = {n: "Nine" for n in (174, 175, 176, 178, 181, 180)}
    subjects.update({n: "Eleven" for n in (177, 183, 182, 188, 185, 187)})
    subjects.update({n: "Re: Eleven" for n in (184, 189, 186)})
    subjects.update({194: "Sixteen", 195: "Sixteen", 196: "Re: Seventeen", 197: "Seventeen",
                     198: "Re: Seventeen", 200: "Nineteen", 202: "Re: Nineteen", 206: "Twentyfour",
                     207: "Re: Twentyfour"})
    refs = {170: "<lost@x>", 179: "<lost@x>", 184: "<m188@x>", 189: "<m188@x>", 186: "<m185@x>",
            196: "<m195@x>", 198: "<m197@x>", 202: "<m200@x>", 206: "<m205@x>", 207: "<m205@x> <m206@x>"}
    for n in range(166, 209):
        date = BASE + 60 * order.index(n)
        imap.deliver(mail(n, subjects.get(n, f"s{n}"), date, refs.get(n, "")), received=BASE)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    thread(tc, "THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
           "(166)(167)(168)(169)(172)(170)(171)(173)(174 (175)(176)(178)(181)(180))(179)(177 (183)(182)"
           "(188)(184)(185)(186)(187)(189))(190)(191)(192)(193)(194 195)(196 (197)(198))(199)(200 202)"
           "(201)(203)(204)(205)(206 207)(208)")
    thread(tc, 'THREAD ORDEREDSUBJECT US-ASCII TEXT "gewp"', "")
    thread(tc, "THREAD REFERENCES UTF-8 SINCE 5-MAR-2000",
           "(166)(167)(168)(169)(172)((170)(179))(171)(173)((174)(175)(176)(178)(181)(180))((177)(183)"
           "(182)(188 (184)(189))(185 186)(187))(190)(191)(192)(193)((194)(195 196))(197 198)(199)"
           "(200 202)(201)(203)(204)(205 206 207)(208)")
    # UID THREAD answers uids: here they are the sequence numbers.
    tc.transact("ok", "uid thread references utf-8 uid 205:*")
    tc.expect_untagged("* THREAD (205 206 207)(208)")


def test_rfc5256_response_example(imap):
    # "* THREAD (2)(3 6 (4 23)(44 7 96))": 3 is the parent of 6; 6 of 4 and 44; 4 of 23; 44 of
    # 7, 7 of 96. The other messages don't match the search.
    imap.start()
    tree = {6: [3], 4: [3, 6], 23: [3, 6, 4], 44: [3, 6], 7: [3, 6, 44], 96: [3, 6, 44, 7]}
    dates = {2: 1, 3: 2, 6: 3, 4: 4, 23: 5, 44: 6, 7: 7, 96: 8}
    for n in range(1, 97):
        r = " ".join(f"<m{p}@x>" for p in tree.get(n, []))
        flags = ["$t"] if n in dates else []
        imap.deliver(mail(n, f"t{n}" if n not in tree else f"Re: t{tree[n][0]}", BASE + dates.get(n, 9), r), flags=flags)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    for alg in ("references", "refs"):
        tc.transact("ok", f"thread {alg} utf-8 keyword $t")
        tc.expect_untagged("* THREAD (2)(3 6 (4 23)(44 7 96))")
        # The same as the client's typed value: 6 has the children 4 and 44.
        tc.expect_untagged(UntaggedThread((ThreadNode(2), ThreadNode(3, (ThreadNode(6, (
            ThreadNode(4, (ThreadNode(23),)), ThreadNode(44, (ThreadNode(7, (ThreadNode(96),)),)))),)))))
    # Without 3 and 6, their children are siblings under a parent that is not in the result
    # (RFC 5256 BASE.7.2.THREAD's "((3)(5))"); 2 stays on its own.
    thread(tc, "thread references utf-8 keyword $t not 3 not 6", "(2)((4 23)(44 7 96))")


# The five messages of test_sort.py, also threaded by Dovecot 2.3.19 with these answers.
def test_algorithms_as_dovecot(imap):
    from tests.imap.test_sort import setup

    tc = setup(imap)
    thread(tc, "thread references utf-8 all", "(3)(2 1)(5)(4)")  # "Re: hello" under "hello"
    thread(tc, "thread refs utf-8 all", "(3)(2)(5)(1)(4)")  # no subject merging
    thread(tc, "thread orderedsubject utf-8 all", "(3)(2 1)(5)(4)")
    thread(tc, "uid thread references us-ascii all", "(3)(2 1)(5)(4)")


def test_thread_references_corner_cases(imap):
    imap.start()
    d = lambda i: BASE + i * 60  # noqa: E731
    msgs = [
        # 1-3: a loop in References: 1 says 3 is its parent, 3 says 1 is its ancestor. 3 comes
        # last: making 1 its parent would be a loop (RFC 5256 1.B), so 3 stays the root.
        mail(1, "loop a", d(1), "<m3@x>"),
        mail(2, "loop b", d(2), "<m1@x>"),
        mail(3, "loop c", d(3), "<m2@x> <m1@x>"),
        # 4: references itself (a loop: ignored).
        mail(4, "self", d(4), "<m4@x>"),
        # 5, 6: the same Message-ID twice: only 5 has it, 7's reference means 5.
        mail(5, "dup", d(5), mid="<dup@x>"),
        mail(6, "dup two", d(6), mid="<dup@x>"),
        mail(7, "Re: dup", d(7), "<dup@x>"),
        # 8: no References: the first valid id of In-Reply-To is the parent ("<nope>" is no
        # msg-id; the parent is missing, so 8 is promoted to the top), not the second one.
        mail(8, "irt", d(8), irt="garbage <nope> <gone2@x> <m1@x>"),
        # 9 quotes 8's id differently (RFC 5256 3: <"m8"@x> is <m8@x>).
        mail(9, "quoted", d(9), '<"m8"@x>'),
        # 10: References without a valid id: In-Reply-To is used instead.
        mail(10, "bad refs", d(10), "not-an-id <nope>", irt="<m9@x>"),
        # 11: no Message-ID at all; 12 replies to a missing message.
        mail(11, "no id", d(11), mid=False),
        mail(12, "orphan", d(12), "<gone@x>"),
        # 13 has no references; 14's References put it below 12 (1.A links 12 and 13).
        mail(13, "truncated", d(13)),
        mail(14, "Re: truncated", d(14), "<gone@x> <m12@x> <m13@x>"),
    ]
    for m in msgs:
        imap.deliver(m)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    thread(tc, "thread references utf-8 all", "(3 1 2)(4)(5 7)(6)(8 9 10)(11)(12 13 14)")
    thread(tc, "thread refs utf-8 all", "(3 1 2)(4)(6)(5 7)(8 9 10)(11)(12 13 14)")  # 7 is newer than 6
    # Threads are made of the searched messages only: a parent outside the result is a dummy.
    thread(tc, "thread references utf-8 9:10", "(9 10)")
    thread(tc, "thread references utf-8 1:2", "(1 2)")
    thread(tc, "thread references utf-8 10", "(10)")


def test_thread_deep_chain(imap):
    # A reply chain far deeper than Python's recursion limit: threaded and written iteratively.
    imap.start()
    n = 1500
    for i in range(1, n + 1):
        imap.deliver(mail(i, "Re: deep" if i > 1 else "deep", BASE + i, f"<m{i - 1}@x>" if i > 1 else ""))
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    thread(tc, "thread references utf-8 all", "(" + " ".join(str(i) for i in range(1, n + 1)) + ")")
    thread(tc, "thread refs utf-8 all", "(" + " ".join(str(i) for i in range(1, n + 1)) + ")")


def test_thread_subject_merging(imap):
    # RFC 5256 5: roots with the same base subject become one thread: a reply under the
    # original, two originals under a dummy, a dummy's children joining another dummy's.
    imap.start()
    d = lambda i: BASE + i * 60  # noqa: E731
    for m in [
        mail(1, "Topic", d(1)),
        mail(2, "Re: topic", d(2)),  # a reply: child of 1
        mail(3, "[list] Fwd: TOPIC", d(3)),  # a forward: child of 1
        mail(4, "Other", d(4)),
        mail(5, "other", d(5)),  # not a reply: 4 and 5 under a dummy
        mail(6, "third", d(6), "<a@lost>"),
        mail(7, "third", d(7), "<a@lost>"),  # 6, 7 under the dummy <a@lost>
        mail(8, "third", d(8), "<b@lost>"),
        mail(9, "Re: third", d(9), "<b@lost>"),  # dummy <b@lost> joins <a@lost>'s children
        mail(10, "", d(10)),
        mail(11, "Re:", d(11)),  # empty base subjects are never merged
    ]:
        imap.deliver(m)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    thread(tc, "thread references utf-8 all", "(1 (2)(3))((4)(5))((6)(7)(8)(9))(10)(11)")
    thread(tc, "thread refs utf-8 all", "(1)(2)(3)(4)(5)((6)(7))((8)(9))(10)(11)")
    thread(tc, "thread orderedsubject utf-8 all", "(1 (2)(3))(4 5)(6 (7)(8)(9))(10 11)")


def test_thread_errors(imap):
    imap.start()
    imap.deliver(mail(1, "a", BASE))
    tc = imap.connect()
    tc.transact("no", "thread references utf-8 all")  # nothing selected
    tc.transact("ok", "select inbox")
    tc.transact("no", "thread references iso-8859-1 all")
    tc.expect_code("BADCHARSET")
    for bad in ["thread bogus utf-8 all", "thread references utf-8", "thread references all",
                "thread references utf-8 (", "thread", "thread (references) utf-8 all",
                "thread return (all) references utf-8 all"]:
        tc.transact("bad", bad)
    thread(tc, "thread references utf-8 all", "(1)")
    tc.transact("ok", "create empty")
    tc.transact("ok", "select empty")
    thread(tc, "thread references utf-8 all", "")  # an empty mailbox


@pytest.mark.parametrize("alg", ["references", "orderedsubject", "refs"])
def test_thread_imaplib(imap, alg):
    import imaplib

    from tests.imap.test_sort import setup

    setup(imap, select=False)
    c = imaplib.IMAP4("127.0.0.1", imap.ports["imap"], timeout=10)
    try:
        c.login("mox@localhost", "moxmoxmox")
        c.select("INBOX")
        want = {"references": b"(3)(2 1)(5)(4)", "orderedsubject": b"(3)(2 1)(5)(4)", "refs": b"(3)(2)(5)(1)(4)"}[alg]
        assert c.thread(alg.upper(), "UTF-8", "ALL") == ("OK", [want])
        assert c.uid("THREAD", alg.upper(), "UTF-8", "ALL") == ("OK", [want])
    finally:
        c.logout()


def test_thread_answers_follow_the_mailbox(imap):
    # The server keeps a THREAD answer while the searched messages and their sequence numbers stay
    # the same: UID THREAD and THREAD of the same messages, an expunge before them (new sequence
    # numbers), a new reply, another session's flag change (a different search result).
    imap.start()
    d = lambda i: BASE + i * 60  # noqa: E731
    for m in [mail(1, "first", d(1)), mail(2, "a", d(2)), mail(3, "Re: a", d(3), "<m2@x>"), mail(4, "b", d(4))]:
        imap.deliver(m)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    thread(tc, "thread references utf-8 2:4", "(2 3)(4)")
    thread(tc, "uid thread references utf-8 2:4", "(2 3)(4)")
    thread(tc, "thread references utf-8 2:4", "(2 3)(4)")
    tc.transact("ok", "store 1 +flags.silent (\\deleted)")
    tc.transact("ok", "expunge")
    thread(tc, "thread references utf-8 all", "(1 2)(3)")
    thread(tc, "uid thread references utf-8 all", "(2 3)(4)")
    imap.deliver(mail(5, "Re: b", d(5), "<m4@x>"))
    tc.transact("ok", "noop")
    thread(tc, "thread references utf-8 all", "(1 2)(3 4)")
    thread(tc, "uid thread references utf-8 all", "(2 3)(4 5)")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    tc2.transact("ok", "uid store 3 +flags (\\flagged)")
    tc.transact("ok", "noop")
    thread(tc, "uid thread references utf-8 unflagged", "(2)(4 5)")
    thread(tc, "uid thread refs utf-8 unflagged", "(2)(4 5)")
    thread(tc, "uid thread orderedsubject utf-8 unflagged", "(2)(4 5)")


def test_reading_references_leaves_the_event_loop_free(imap, monkeypatch):
    """The References fields of a mailbox threaded for the first time are read in a worker
    thread: while that read is held, another connection's NOOP is answered (proved by the order
    of events: with the read on the event loop, the NOOP could only be answered after the read
    was released, and the test would fail on the NOOP's timeout)."""
    import threading

    from mox.imap import cmd_sort

    imap.start()
    for n in range(1, 201):  # 50 threads of 4: each message refers to those before it in its thread
        first = n - (n - 1) % 4
        refs = " ".join(f"<m{k}@x>" for k in range(first, n))
        imap.deliver(mail(n, f"re: topic {first}" if refs else f"topic {first}", BASE + n, refs=refs))
    events: list[str] = []
    reading, release = threading.Event(), threading.Event()
    read = cmd_sort._read_thread_fields

    def held_read(acc, msgs):
        events.append("reading")
        reading.set()
        if not release.wait(2 * imap.timeout):
            events.append("never released")
        return read(acc, msgs)

    monkeypatch.setattr(cmd_sort, "_read_thread_fields", held_read)
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    other = imap.connect()
    tc.command("uid thread references utf-8 all")
    assert reading.wait(imap.timeout)
    other.transact("ok", "noop")
    events.append("noop answered")
    release.set()
    tc.response("ok")
    assert events == ["reading", "noop answered"]
    [(resp, _)] = tc.untagged
    assert isinstance(resp, UntaggedThread) and len(resp.threads) == 50
    assert resp.threads[0] == ThreadNode(1, (ThreadNode(2, (ThreadNode(3, (ThreadNode(4, ()),)),)),))
    # Cached now: a second THREAD does not read again.
    tc.transact("ok", "thread references utf-8 all")
    assert events == ["reading", "noop answered"]
