"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 4): the CONTEXT hint, UPDATE contexts with ADDTO and
REMOVEFROM while the mailbox changes (other sessions, our own commands, IDLE), NOUPDATE,
CANCELUPDATE; built from the RFC's examples (with this mailbox's numbers)."""

import random

from mox.imap import wire
from mox.imap.responses import EsearchUpdate, UntaggedEsearch, UntaggedSearch, UntaggedSort


def m(i: int, subject: str = "") -> bytes:
    return f"From: a@b\r\nSubject: {subject or f's{i}'}\r\nMessage-ID: <m{i}@x>\r\n\r\nbody {i}\r\n".encode()


def setup(imap, n=5):
    """``tc`` (IMAP4rev2 enabled: no \\Recent in the transcripts) and ``tc2`` on Inbox."""
    imap.start()
    for i in range(1, n + 1):
        imap.deliver(m(i, "b" if i % 2 else "a"))
    tc = imap.connect()
    tc.transact("ok", "enable imap4rev2")
    tc.transact("ok", "select inbox")
    tc2 = imap.connect()
    tc2.transact("ok", "select inbox")
    return tc, tc2


def test_rfc5267_examples(imap):
    tc, tc2 = setup(imap)
    tc.transact("ok", "store 5 +flags (\\deleted)")
    # 4.2: a context hint: the answer is unchanged.
    t = tc.transact("ok", "search return (context count) undeleted unkeyword $Junk").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") COUNT 4')
    t = tc.transact("ok", "search return (context) undeleted").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") ALL 1:4')  # CONTEXT alone asks for nothing: ALL
    # 4.3: UPDATE COUNT; a searching command with the same tag is refused.
    tc.transact("ok", 'B01 UID SEARCH RETURN (UPDATE COUNT) DELETED KEYWORD $Junk'.split(" ", 1)[1])
    b01 = tc.result.tag
    tc.expect_untagged(f'* ESEARCH (TAG "{b01}") UID COUNT 0')
    tc.write_line(f"{b01} SORT RETURN (UPDATE) (ARRIVAL) UTF-8 FLAGGED")
    tc.read_line_prefix(f"{b01} BAD ")
    tc.write_line(f"{b01} SEARCH RETURN (UPDATE) FLAGGED")  # SEARCH too
    tc.read_line_prefix(f"{b01} BAD ")
    tc.write_line(f"{b01} SEARCH RETURN (COUNT) FLAGGED")  # without UPDATE the tag is free
    tc.read_line_prefix(f'* ESEARCH (TAG "{b01}") COUNT 0')
    tc.read_line_prefix(f"{b01} OK")
    # 4.3.3: messages getting \Deleted $Junk: FETCH, then one ADDTO with both.
    tc2.transact("ok", "store 2:3 +flags (\\deleted $Junk)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 2 FETCH (UID 2 FLAGS (\\Deleted $Junk))",
        "* 3 FETCH (UID 3 FLAGS (\\Deleted $Junk))",
        f'* ESEARCH (TAG "{b01}") UID ADDTO (0 2:3)',
    )
    # 4.3.4: an expunge: REMOVEFROM before the EXPUNGE (5 has \Deleted but not $Junk).
    tc2.transact("ok", "expunge")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        f'* ESEARCH (TAG "{b01}") UID REMOVEFROM (0 2:3)', "* 2 EXPUNGE", "* 2 EXPUNGE", "* 3 EXPUNGE",
    )
    # 4.3.5: CANCELUPDATE.
    tc.transact("ok", f'CANCELUPDATE "{b01}"')
    tc.expect_no_untagged()
    tc2.transact("ok", "store 1 +flags (\\deleted $Junk)")
    tc.transact("ok", "noop")
    tc.expect_untagged("* 1 FETCH (UID 1 FLAGS (\\Deleted $Junk))")


def test_updates_from_other_sessions(imap):
    tc, tc2 = setup(imap)
    c1 = tc.transact("ok", "search return (update count) unseen").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{c1}") COUNT 5')
    c2 = tc.transact("ok", "uid search return (update all) flagged").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{c2}") UID')  # no results: no ALL
    c3 = tc.transact("ok", "search return (update) flagged").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{c3}")')  # UPDATE asks for no data (as Dovecot)
    tc2.transact("ok", "store 2:3 +flags (\\seen \\flagged)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 2 FETCH (UID 2 FLAGS (\\Seen \\Flagged))",
        "* 3 FETCH (UID 3 FLAGS (\\Seen \\Flagged))",
        f'* ESEARCH (TAG "{c1}") REMOVEFROM (0 2:3)',
        f'* ESEARCH (TAG "{c2}") UID ADDTO (0 2:3)',
        f'* ESEARCH (TAG "{c3}") ADDTO (0 2:3)',
    )
    # New messages: ADDTO after EXISTS.
    imap.deliver(m(6))
    imap.deliver(m(7), flags=["\\Flagged"])
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 7 EXISTS",
        "* 6 FETCH (UID 6 FLAGS ())",
        "* 7 FETCH (UID 7 FLAGS (\\Flagged))",
        f'* ESEARCH (TAG "{c1}") ADDTO (0 6:7)',
        f'* ESEARCH (TAG "{c2}") UID ADDTO (0 7)',
        f'* ESEARCH (TAG "{c3}") ADDTO (0 7)',
    )
    # A flag change and an expunge in one go: the FETCH's update goes out before the EXPUNGE.
    tc2.transact("ok", "store 2 -flags (\\flagged)")
    tc2.transact("ok", "store 1 +flags (\\deleted)")
    tc2.transact("ok", "expunge")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 2 FETCH (UID 2 FLAGS (\\Seen))",
        "* 1 FETCH (UID 1 FLAGS (\\Deleted))",
        f'* ESEARCH (TAG "{c2}") UID REMOVEFROM (0 2)',
        f'* ESEARCH (TAG "{c3}") REMOVEFROM (0 2)',
        f'* ESEARCH (TAG "{c1}") REMOVEFROM (0 1)',
        "* 1 EXPUNGE",
    )
    # Sequence numbers in the updates of a non-UID context follow the expunge: 7 is now 6.
    tc2.transact("ok", "uid store 7 -flags (\\flagged)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 6 FETCH (UID 7 FLAGS ())", f'* ESEARCH (TAG "{c2}") UID REMOVEFROM (0 7)',
                               f'* ESEARCH (TAG "{c3}") REMOVEFROM (0 6)')
    # Both ways within one batch: no net change, nothing to say.
    tc2.transact("ok", "uid store 4 +flags (\\flagged)")
    tc2.transact("ok", "uid store 4 -flags (\\flagged)")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 3 FETCH (UID 4 FLAGS (\\Flagged))", "* 3 FETCH (UID 4 FLAGS ())")


def test_updates_from_own_commands(imap):
    tc, tc2 = setup(imap)
    c = tc.transact("ok", "search return (update) flagged").tag
    u = tc.transact("ok", "uid search return (update) undeleted").tag
    tc.transact("ok", "store 1,3 +flags (\\flagged)")
    tc.expect_untagged_ordered("* 1 FETCH (FLAGS (\\Flagged))", "* 3 FETCH (FLAGS (\\Flagged))",
                               f'* ESEARCH (TAG "{c}") ADDTO (0 1,3)')
    tc.transact("ok", "store 1 +flags.silent (\\deleted)")
    tc.expect_untagged(f'* ESEARCH (TAG "{u}") UID REMOVEFROM (0 1)')
    # APPEND and COPY into the selected mailbox: after the EXISTS.
    tc.transact("ok", "append inbox (\\flagged) ", b"Subject: y\r\n\r\nz\r\n")
    tc.expect_untagged_ordered("* 6 EXISTS", f'* ESEARCH (TAG "{c}") ADDTO (0 6)',
                               f'* ESEARCH (TAG "{u}") UID ADDTO (0 6)')
    tc.transact("ok", "copy 3 inbox")
    tc.expect_untagged_ordered("* 7 EXISTS", f'* ESEARCH (TAG "{c}") ADDTO (0 7)',
                               f'* ESEARCH (TAG "{u}") UID ADDTO (0 7)')
    # Our own EXPUNGE: REMOVEFROM first (sequence numbers of now).
    tc.transact("ok", "expunge")
    tc.expect_untagged_ordered(f'* ESEARCH (TAG "{c}") REMOVEFROM (0 1)', "* 1 EXPUNGE")
    # MOVE out of the mailbox.
    tc.transact("ok", "create other")
    tc.transact("ok", "move 2 other")
    tc.expect_untagged_some(f'* ESEARCH (TAG "{c}") REMOVEFROM (0 2)', f'* ESEARCH (TAG "{u}") UID REMOVEFROM (0 3)')
    # A FETCH that sets \Seen: the context for UNSEEN hears of it.
    s = tc.transact("ok", "search return (update count) unseen").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{s}") COUNT 5')
    tc.transact("ok", "fetch 1 body[text]")
    tc.expect_untagged_some(f'* ESEARCH (TAG "{s}") REMOVEFROM (0 1)')
    # Another session's messages are numbered after ours; other sessions don't hear of our contexts.
    tc2.transact("ok", "noop")
    assert not any(isinstance(r, UntaggedEsearch) for r, _ in tc2.untagged)


def test_idle_pushes_updates(imap):
    tc, tc2 = setup(imap)
    c = tc.transact("ok", "uid search return (update) keyword $Forwarded").tag
    tc.conn.idle()
    tc2.transact("ok", "store 4 +flags ($forwarded)")
    tc.read_untagged("* 4 FETCH (UID 4 FLAGS ($Forwarded))", f'* ESEARCH (TAG "{c}") UID ADDTO (0 4)')
    tc.conn.idle_done()


def test_expunge_during_commands_and_selection_end(imap):
    tc, tc2 = setup(imap)
    c = tc.transact("ok", "search return (update) all").tag
    # Another session expunges while tc runs FETCH: neither EXPUNGE nor REMOVEFROM yet (RFC 9051
    # 7.5.1), both at the next command that may renumber.
    tc2.transact("ok", "store 2 +flags (\\deleted)")
    tc2.transact("ok", "expunge")
    tc.transact("ok", "fetch 1:* (uid)")
    assert not any(isinstance(r, UntaggedEsearch) or "EXPUNGE" in raw.decode() for r, raw in tc.untagged)
    tc.transact("ok", "search return (count) all")  # SEARCH holds expunges back too
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(f'* ESEARCH (TAG "{c}") REMOVEFROM (0 2)', "* 2 EXPUNGE")
    # Sequence numbers of the search program mean what they meant when it was given.
    k = tc.transact("ok", "search return (update) 1:2").tag  # uids 1 and 3
    imap.deliver(m(9))
    tc2.transact("ok", "uid store 1 +flags.silent (\\deleted)")
    tc2.transact("ok", "uid expunge 1")
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered(
        "* 5 EXISTS",
        "* 5 FETCH (UID 6 FLAGS ())",
        f'* ESEARCH (TAG "{c}") ADDTO (0 5)',  # "ALL" takes the new message, "1:2" does not
        "* 1 FETCH (UID 1 FLAGS (\\Deleted))",
        f'* ESEARCH (TAG "{c}") REMOVEFROM (0 1)',
        f'* ESEARCH (TAG "{k}") REMOVEFROM (0 1)',
        "* 1 EXPUNGE",
    )
    imap.deliver(m(10))
    tc2.transact("ok", "uid store 3 +flags (\\seen)")
    tc.transact("ok", "noop")
    tc.expect_untagged_some(f'* ESEARCH (TAG "{c}") ADDTO (0 5)')  # uid 3 (now 1) stays in "1:2"
    assert [r.tag for r, _ in tc.untagged if isinstance(r, UntaggedEsearch)] == [c]
    # UPDATE ends with the selection.
    tc.transact("ok", "select inbox")
    tc2.transact("ok", "store 1 +flags (\\flagged)")
    tc.transact("ok", "noop")
    assert not any(isinstance(r, UntaggedEsearch) for r, _ in tc.untagged)
    tc.transact("no", f'cancelupdate "{c}"')  # gone


def test_noupdate_and_cancelupdate(imap):
    tc, tc2 = setup(imap)
    tags = [tc.transact("ok", "search return (update) flagged").tag for _ in range(10)]
    t = tc.transact("ok", "search return (update count) flagged").tag
    tc.expect_untagged_ordered(f'* ESEARCH (TAG "{t}") COUNT 0', f'* NO [NOUPDATE "{t}"] too many update contexts, no updates')
    tc.transact("ok", f'cancelupdate "{tags[0]}" "{tags[1]}"')
    tc.transact("no", f'cancelupdate "{tags[2]}" "nope"')  # an unknown tag: nothing cancelled
    for bad in ["cancelupdate", f"cancelupdate {tags[2]}", "cancelupdate ()"]:
        tc.transact("bad", bad)
    tc2.transact("ok", "store 1 +flags (\\flagged)")
    tc.transact("ok", "noop")
    got = [r.tag for r, _ in tc.untagged if isinstance(r, UntaggedEsearch)]
    assert got == tags[2:]
    tc.transact("ok", "unselect")
    tc.transact("no", f'cancelupdate "{tags[2]}"')  # not in the selected state


def _apply(result: list[int], updates) -> list[int]:
    """A client's view of a SORT context (RFC 5267 4.3.3, 4.3.4)."""
    result = list(result)
    for u in updates:
        nums = wire.sequence_set_numbers(u.nums)
        if u.op == "ADDTO":
            result[u.position - 1 : u.position - 1] = nums
        else:
            assert result[u.position - 1 : u.position - 1 + len(nums)] == nums
            del result[u.position - 1 : u.position - 1 + len(nums)]
    return result


def test_sort_context_positions(imap):
    # A SORT context's updates, applied as a client must, always give what SORT gives now.
    rng = random.Random(5267)
    tc, tc2 = setup(imap, n=12)
    criteria = "(reverse subject size)"
    seen: dict[str, int] = {}
    for uid in (True, False):
        pre = "uid " if uid else ""
        t = tc.transact("ok", f"{pre}sort return (update all) {criteria} utf-8 unkeyword $x").tag
        esr = next(r for r, _ in tc.untagged if isinstance(r, UntaggedEsearch))
        model = wire.sequence_set_numbers(esr.all) if esr.all else []
        for step in range(40):
            op = rng.choice(["flag", "unflag", "append", "expunge"])
            if op == "append":
                body = "x" * rng.randrange(50)
                imap.deliver(m(100 + step, rng.choice(["a", "b", "c", "Re: b"])) + body.encode())
            else:
                tc2.transact("ok", "uid search all")
                uids = list(next(r for r, _ in tc2.untagged if isinstance(r, UntaggedSearch)).nums)
                if not uids:
                    continue
                pick = rng.sample(uids, min(len(uids), rng.randrange(1, 4)))
                s = ",".join(map(str, pick))
                if op == "flag":
                    tc2.transact("ok", f"uid store {s} +flags ($x)")
                elif op == "unflag":
                    tc2.transact("ok", f"uid store {s} -flags ($x)")
                else:
                    tc2.transact("ok", f"uid expunge {s}")
            tc.transact("ok", "noop")
            # Expunges renumber what the model holds (sequence numbers) before later updates.
            for r, raw in tc.untagged:
                if isinstance(r, UntaggedEsearch) and r.tag == t:
                    model = _apply(model, r.updates)
                    for u in r.updates:
                        seen[u.op] = seen.get(u.op, 0) + 1
                elif not uid and raw.decode().endswith(" EXPUNGE"):
                    gone = int(raw.decode().split()[1])
                    assert gone not in model
                    model = [n - 1 if n > gone else n for n in model]
            tc.transact("ok", f"{pre}sort {criteria} utf-8 unkeyword $x")
            now = next(r for r, _ in tc.untagged if isinstance(r, UntaggedSort))
            assert model == list(now.nums), (step, op)
        tc.transact("ok", f'cancelupdate "{t}"')
    assert seen["ADDTO"] > 20 and seen["REMOVEFROM"] > 20, seen


def test_star_in_uid_set(imap):
    # "UID *" is the last message: a new one takes its place in the result.
    tc, tc2 = setup(imap, n=3)
    t = tc.transact("ok", "uid search return (update all) uid *").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") UID ALL 3')
    imap.deliver(m(4))
    tc.transact("ok", "noop")
    esr = [r for r, _ in tc.untagged if isinstance(r, UntaggedEsearch)]
    assert esr == [UntaggedEsearch(tag=t, uid=True, updates=(EsearchUpdate("REMOVEFROM", 0, "3"), EsearchUpdate("ADDTO", 0, "4")))]


def test_empty_mailbox(imap):
    # A mailbox without messages: no MIN/MAX/ALL; then the first messages arrive.
    imap.start()
    tc = imap.connect()
    tc.transact("ok", "select inbox")
    t = tc.transact("ok", "sort return (update count all) (subject) utf-8 all").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{t}") COUNT 0')
    u = tc.transact("ok", "search return (update min max) all").tag
    tc.expect_untagged(f'* ESEARCH (TAG "{u}")')
    imap.deliver(m(1))
    imap.deliver(m(2, "0"))
    tc.transact("ok", "noop")
    tc.expect_untagged_ordered("* 2 EXISTS", "* 2 RECENT", "* 1 FETCH (UID 1 FLAGS (\\Recent))",
                               "* 2 FETCH (UID 2 FLAGS (\\Recent))", f'* ESEARCH (TAG "{t}") ADDTO (1 1 1 2)',
                               f'* ESEARCH (TAG "{u}") ADDTO (0 1:2)')
