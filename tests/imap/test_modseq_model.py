"""MODSEQ and HIGHESTMODSEQ (RFC 7162) against a model of the expected values, over IMAP.

The model gets the same operations as the server (APPEND, STORE with and without UNCHANGEDSINCE,
FETCH BODY[] setting \\Seen, EXPUNGE, COPY, MOVE, from two sessions and in two mailboxes) and
computes every value itself, never reading one from the store:

- RFC 7162 3.1: a change of a message's metadata gives it a new mod-sequence, higher than any
  given before; a STORE that changes nothing (the flags were so already, or UNCHANGEDSINCE
  failed) changes no mod-sequence (3.1.3); a new message (APPEND, COPY, MOVE) gets one too.
- mox hands out mod-sequences from one counter per account, 2 for the first change, one value
  per command that changes something (all messages changed by it share the value; a MOVE's
  copies and the expunge of the originals too), as mox does (store/__init__.py). The model
  counts the same way, so the exact numbers are checked, not only their order.
- HIGHESTMODSEQ (3.1.1) is the highest mod-sequence of the mailbox's messages and expunges
  (with QRESYNC an expunge is a change, 3.2.10), 1 for a mailbox never changed.

After every step: each message's MODSEQ and flags (UID FETCH), HIGHESTMODSEQ of both mailboxes
(STATUS), FETCH CHANGEDSINCE and SEARCH MODSEQ for an earlier value, VANISHED (EARLIER) for
expunges since then, and every MODSEQ the other session is told.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from mox.imap import responses as r

FLAGS = [r"\Seen", r"\Flagged", r"\Answered", r"\Deleted", "$Junk", "kw1", "kw2"]
MAILBOXES = ("Inbox", "Archive")


@dataclass
class Box:
    messages: dict[int, tuple[frozenset[str], int]] = field(default_factory=dict)  # uid -> (flags, modseq)
    expunged: dict[int, int] = field(default_factory=dict)  # uid -> modseq of its expunge
    uidnext: int = 1
    highest: int = 0


class Model:
    def __init__(self) -> None:
        self.last = 1  # the first change gets 2
        self.boxes = {name: Box() for name in MAILBOXES}

    def next(self) -> int:
        self.last += 1
        return self.last

    def append(self, box: str, flags: set[str]) -> int:
        b = self.boxes[box]
        modseq = self.next()
        uid = b.uidnext
        b.messages[uid] = (frozenset(flags), modseq)
        b.uidnext += 1
        b.highest = modseq
        return uid

    def store(self, box: str, uids: list[int], mode: str, flags: set[str], unchangedsince: int | None) -> tuple[dict[int, int], list[int]]:
        """Returns the changed messages' new modseq and the uids that failed UNCHANGEDSINCE."""
        b = self.boxes[box]
        failed = [u for u in sorted(set(uids)) if u in b.messages and unchangedsince is not None and b.messages[u][1] > unchangedsince]
        changes = {}
        for u in sorted(set(uids)):
            if u not in b.messages or u in failed:
                continue
            cur = b.messages[u][0]
            new = cur | flags if mode == "+" else cur - flags if mode == "-" else frozenset(flags)
            if new != cur:
                changes[u] = new
        if not changes:
            return {}, failed
        modseq = self.next()
        for u, new in changes.items():
            b.messages[u] = (new, modseq)
        b.highest = modseq
        return {u: modseq for u in changes}, failed

    def expunge(self, box: str, uids: list[int] | None) -> list[int]:
        b = self.boxes[box]
        gone = [u for u, (fl, _) in sorted(b.messages.items()) if r"\Deleted" in fl and (uids is None or u in uids)]
        if gone:
            modseq = self.next()
            for u in gone:
                del b.messages[u]
                b.expunged[u] = modseq
            b.highest = modseq
        return gone

    def copy(self, src: str, dst: str, uids: list[int], move: bool) -> None:
        s, d = self.boxes[src], self.boxes[dst]
        todo = [u for u in sorted(set(uids)) if u in s.messages]
        if not todo:
            return
        modseq = self.next()
        for u in todo:
            d.messages[d.uidnext] = (s.messages[u][0], modseq)
            d.uidnext += 1
        d.highest = modseq
        if move:
            for u in todo:
                del s.messages[u]
                s.expunged[u] = modseq
            s.highest = modseq

    def modseqs(self, box: str) -> list[int]:
        b = self.boxes[box]
        return sorted({m for _, m in b.messages.values()} | set(b.expunged.values()))


def fetches(tc) -> dict[int, r.UntaggedFetch]:
    out = {}
    for resp, _ in tc.untagged:
        if isinstance(resp, r.UntaggedFetch):
            out[resp.attr(r.FetchUID).uid] = resp
    return out


def flags_of(f: r.UntaggedFetch) -> frozenset[str]:
    return frozenset(f.attr(r.FetchFlags).flags) - {r"\Recent"}


def message(n: int) -> bytes:
    return f"From: a@mox.example\r\nSubject: m{n}\r\n\r\nbody {n}\r\n".encode()


def check(tc, model: Model, rnd: random.Random) -> None:
    """Everything RFC 7162 lets a client see, against the model (tc has Inbox selected, with
    CONDSTORE and QRESYNC enabled)."""
    inbox = model.boxes["Inbox"]
    tc.transact("ok", "uid fetch 1:* (flags modseq)")
    got = fetches(tc)
    assert sorted(got) == sorted(inbox.messages)
    for uid, (fl, modseq) in inbox.messages.items():
        assert got[uid].attr(r.FetchModSeq) == r.FetchModSeq(modseq), uid
        assert flags_of(got[uid]) == fl, uid
    for name in MAILBOXES:
        tc.transact("ok", f"status {name} (highestmodseq uidnext)")
        (st,) = [resp for resp, _ in tc.untagged if isinstance(resp, r.UntaggedStatus)]
        assert st.attrs == {"HIGHESTMODSEQ": max(model.boxes[name].highest, 1), "UIDNEXT": model.boxes[name].uidnext}
    # CHANGEDSINCE and SEARCH MODSEQ for a value the client may hold (RFC 7162 3.1.4, 3.1.5).
    since = rnd.choice([1] + model.modseqs("Inbox"))
    tc.transact("ok", f"uid fetch 1:* (uid) (changedsince {since} vanished)")
    got = fetches(tc)
    assert {u: f.attr(r.FetchModSeq).modseq for u, f in got.items()} == {u: m for u, (_, m) in inbox.messages.items() if m > since}
    vanished = [resp for resp, _ in tc.untagged if isinstance(resp, r.UntaggedVanished)]
    gone = sorted(u for u, m in inbox.expunged.items() if m > since)
    if gone:
        assert len(vanished) == 1 and vanished[0].earlier
        assert expand(vanished[0].uids) == gone
    else:
        assert vanished == []
    tc.transact("ok", f"uid search modseq {since}")
    match = sorted(u for u, (_, m) in inbox.messages.items() if m >= since)
    (res,) = [resp for resp, _ in tc.untagged if isinstance(resp, (r.UntaggedSearch, r.UntaggedSearchModSeq))]
    if match:
        assert res == r.UntaggedSearchModSeq(tuple(match), max(inbox.messages[u][1] for u in match))
    else:
        assert res == r.UntaggedSearch(())


def expand(seqset: str) -> list[int]:
    out: list[int] = []
    for part in seqset.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def pushed_modseqs_match(tc, model: Model) -> None:
    """The other session's changes, as this session is told of them: each FETCH carries the
    message's current MODSEQ (no change happened since)."""
    tc.transact("ok", "noop")
    inbox = model.boxes["Inbox"]
    for uid, f in fetches(tc).items():
        assert f.attr(r.FetchModSeq) == r.FetchModSeq(inbox.messages[uid][1]), uid
        assert flags_of(f) == inbox.messages[uid][0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_modseq_model(imap, seed: int) -> None:
    rnd = random.Random(seed)
    model = Model()
    tc = imap.connect()
    tc2 = imap.connect()
    for c in (tc, tc2):
        c.transact("ok", "enable qresync")  # implies CONDSTORE (RFC 7162 3.2.3)
        c.transact("ok", "select inbox")
        c.expect_untagged_some("* OK [HIGHESTMODSEQ 1] x")  # never changed
    n = 0
    for _ in range(50):
        inbox = model.boxes["Inbox"]
        uids = sorted(inbox.messages)
        some = rnd.sample(uids, min(len(uids), rnd.randint(1, 3))) if uids else [1]
        uidset = ",".join(map(str, some))
        kind = rnd.choice(["append", "append", "append_archive", "store", "store", "store_other", "unchanged",
                           "seen", "expunge", "expunge_other", "copy", "move"])  # fmt: skip
        if kind in ("append", "append_archive"):
            n += 1
            box = "Inbox" if kind == "append" else "Archive"
            flags = set(rnd.sample(FLAGS, rnd.randint(0, 2)))
            uid = model.append(box, flags)
            tc.transact("ok", f"append {box} ({' '.join(sorted(flags))}) ", message(n))
            tc.expect_code(f"APPENDUID {imap.account.mailbox(box).uidvalidity} {uid}")
        elif kind in ("store", "store_other", "unchanged"):
            mode = rnd.choice(["+", "-", ""])
            flags = set(rnd.sample(FLAGS, rnd.randint(1, 2)))
            since = rnd.choice([1] + model.modseqs("Inbox")) if kind == "unchanged" else None
            changed, failed = model.store("Inbox", some, mode, flags, since)
            c = tc2 if kind == "store_other" else tc
            c.transact("ok", "noop")  # up to date (expunges by the other session are told)
            cond = f"(unchangedsince {since}) " if since is not None else ""
            c.transact("ok", f"uid store {uidset} {cond}{mode}flags ({' '.join(sorted(flags))})")
            got = fetches(c)
            for uid, modseq in changed.items():
                assert got[uid].attr(r.FetchModSeq) == r.FetchModSeq(modseq)
            if failed:
                assert isinstance(c.result.code, r.CodeModified)  # RFC 7162 3.1.3
                assert expand(c.result.code.uids) == failed
            else:
                assert c.result.code is None
            if kind == "store_other":
                pushed_modseqs_match(tc, model)
        elif kind == "seen":
            # FETCH BODY[] sets \Seen (RFC 9051 6.4.5): a change like any other.
            unseen = [u for u in some if u in inbox.messages and r"\Seen" not in inbox.messages[u][0]]
            changed, _ = model.store("Inbox", unseen, "+", {r"\Seen"}, None)
            tc.transact("ok", f"uid fetch {uidset} (body[])")
            got = fetches(tc)
            for uid, modseq in changed.items():
                assert got[uid].attr(r.FetchModSeq) == r.FetchModSeq(modseq)
        elif kind in ("expunge", "expunge_other"):
            c = tc2 if kind == "expunge_other" else tc
            c.transact("ok", "noop")
            only = some if rnd.random() < 0.5 else None
            gone = model.expunge("Inbox", only)
            c.transact("ok", "expunge" if only is None else f"uid expunge {uidset}")
            vanished = [resp for resp, _ in c.untagged if isinstance(resp, r.UntaggedVanished)]
            assert sum((expand(v.uids) for v in vanished), []) == gone
            assert c.result.code == r.CodeHighestModSeq(max(model.boxes["Inbox"].highest, 1))  # RFC 7162 3.2.10
            if kind == "expunge_other":
                tc.transact("ok", "noop")
                vanished = [resp for resp, _ in tc.untagged if isinstance(resp, r.UntaggedVanished)]
                assert sum((expand(v.uids) for v in vanished), []) == gone
        elif kind in ("copy", "move"):
            model.copy("Inbox", "Archive", some, move=kind == "move")
            tc.transact("ok", f"uid {kind} {uidset} Archive")
        check(tc, model, rnd)
    # A new session selecting the mailboxes sees the same HIGHESTMODSEQ.
    tc3 = imap.connect()
    tc3.transact("ok", "enable condstore")
    for name in MAILBOXES:
        tc3.transact("ok", f"examine {name}")
        tc3.expect_untagged_some(f"* OK [HIGHESTMODSEQ {max(model.boxes[name].highest, 1)}] x")
    assert model.last > 15  # the run did change things
