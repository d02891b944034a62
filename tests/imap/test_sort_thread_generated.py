"""SORT and THREAD on a generated mailbox of 5,000 messages with realistic reply chains, checked
against an independent implementation written here.

The messages have conversations of replies (full, truncated and missing References, In-Reply-To
only, with junk around the id, quoted ids), replies to messages that are not in the mailbox,
duplicate and missing Message-IDs, References that make loops, clock skew, encoded words and
non-ASCII subjects and names, broken and missing dates, and a delivery order that is not the
conversation order. The independent code reads each message with Python's ``email`` package,
extracts the sort and thread fields itself, sorts with ``sorted`` on the extracted keys, and
threads by the RFC 5256 steps with dictionaries and recursion (the server's code uses neither).
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import functools
import math
import random
import re
import unicodedata

import pytest

from mox.imap.responses import ThreadNode, UntaggedSort, UntaggedThread

N = 5000
SEED = 5256
T0 = 1700000000  # 14 Nov 2023

TOPICS = [
    "lunch on friday", "build broken", "Release 2.0", "quarterly numbers", "Café menu", "Straße closed",
    "ÉTÉ party", "Ünïcödé test", "meeting notes", "[draft] proposal", "question", "hello", "status",
    "Budget", "budget", "travel plans", "bug #123", "re-design", "forward this", "Fw sales", "offsite",
    "ñandú", "İstanbul trip", "σίσυφος", "Kelvin \u212a", "ﬁle share", "office move", "Printer",
] + [f"topic {i}" for i in range(300)]
NAMES = ["Alice", "bob", "Émile Zola", "=?utf-8?q?=C3=89lodie?=", "Zoë", "", "\"Smith, John\"", "李雷", "ann"]
LOCALS = ["alice", "Bob", "emile", "elodie", "zoe", "jsmith", "lilei", "ann", "zed", "Ärger"]


def _date(ts: int, rng: random.Random) -> str:
    off = rng.choice([0, 60, -480, 330, -300, 120])
    t = ts + off * 60
    s = email.utils.formatdate(t, usegmt=True)[:-4]  # "Mon, 20 Nov 2023 10:00:00"
    return f"{s} {'+' if off >= 0 else '-'}{abs(off) // 60:02d}{abs(off) % 60:02d}"


def _address(rng: random.Random) -> str:
    local = rng.choice(LOCALS)
    name = rng.choice(NAMES)
    dom = rng.choice(["example.org", "Example.COM", "mail.test"])
    return f"{name} <{local}@{dom}>" if name else f"{local}@{dom}"


def generate(n: int = N, seed: int = SEED) -> list[tuple[bytes, float]]:
    """(message, internal date) in delivery order."""
    rng = random.Random(seed)
    mids = [f"<{i}.{rng.randrange(10**6)}@gen.example>" for i in range(n)]
    made: list[dict] = []
    for i in range(n):
        mid = mids[i]
        if made and rng.random() < 0.7:
            parent = rng.choice(made[-400:])
            chain = parent["chain"] + [parent["mid"]]
            topic = parent["topic"]
            prefix = rng.choice(["Re: ", "RE: ", "Re: Re: ", "Fwd: ", "[list] Re: ", "re:", "Re[2]: ", "Aw: "])
            subject = prefix + topic + rng.choice(["", "", "", " (fwd)"])
            date = parent["date"] + rng.randrange(60, 86400) if rng.random() > 0.05 else parent["date"] - 3600
            kind = rng.random()
            refs = irt = ""
            if kind < 0.6:
                refs = " ".join(chain)
            elif kind < 0.72:
                refs = " ".join(chain[-rng.randrange(1, 3):])  # truncated
                irt = chain[-1]
            elif kind < 0.84:
                irt = chain[-1]
            elif kind < 0.9:
                irt = f"your message of yesterday {chain[-1]} (sent at noon)"
            elif kind < 0.94:
                q = chain[-1][1:-1].split("@")
                refs = " ".join(chain[:-1] + [f'<"{q[0]}"@{q[1]}>'])  # quoted: the same id
            elif kind < 0.97:
                refs = "<no-id> " + " ".join(chain)  # junk before the ids
        else:
            chain = []
            topic = rng.choice(TOPICS)
            subject = rng.choice(["", "", "[list] ", "Fwd: "]) + topic
            date = T0 + i * 600 + rng.randrange(-3000, 3000)
            refs = f"<missing{i}@gone.example>" if rng.random() < 0.08 else ""
            irt = ""
        if rng.random() < 0.004:
            refs = (refs + " " + rng.choice(mids)).strip()  # anything, also a later message: loops
        if rng.random() < 0.1:
            subject = email.header.Header(subject, "utf-8", maxlinelen=998).encode()  # an encoded word
        m = {"mid": mid, "chain": chain, "topic": topic, "date": date}
        made.append(m)
        h = [f"From: {_address(rng)}", f"To: {_address(rng)}"]
        if rng.random() < 0.3:
            h.append(f"Cc: {_address(rng)}")
        h.append(f"Subject: {subject}" if rng.random() > 0.01 else "X-No-Subject: 1")
        r = rng.random()
        if r < 0.02:
            h.append("Date: not a date")
        elif r < 0.97:
            h.append(f"Date: {_date(date, rng)}")
        r = rng.random()
        if r < 0.01:
            pass  # no Message-ID
        elif r < 0.015 and i:
            h.append(f"Message-ID: {mids[rng.randrange(i)]}")  # a duplicate
        else:
            h.append(f"Message-ID: {mid}")
        if refs:
            h.append(f"References: {refs}")
        if irt:
            h.append(f"In-Reply-To: {irt}")
        body = "x" * rng.randrange(0, 400)
        m["data"] = ("\r\n".join(h) + "\r\n\r\n" + body + "\r\n").encode()
        m["received"] = float(date + rng.randrange(1, 600))
    # Delivery order: conversation order, with one message in ten moved elsewhere.
    order = list(range(n))
    for _ in range(n // 10):
        a, b = rng.randrange(n), rng.randrange(n)
        order[a], order[b] = order[b], order[a]
    return [(made[i]["data"], made[i]["received"]) for i in order]


# ---------------------------------------------------------------------------------------------
# The independent side: fields with the email package, RFC 5256 with dicts and recursion.


def casemap(s: str) -> str:
    """RFC 5051: simple titlecase, then canonical decomposition, recursively."""
    out = []
    for ch in s:
        out.append(_fold(ch))
    return "".join(out)


@functools.lru_cache(maxsize=None)
def _fold(ch: str) -> str:
    t = ch.title()
    t = t if len(t) == 1 else ch
    if 0xAC00 <= ord(t) <= 0xD7A3:
        return t
    d = unicodedata.decomposition(t)
    if d and not d.startswith("<"):
        return "".join(_fold(chr(int(x, 16))) for x in d.split())
    return t


def decode(raw: str) -> str:
    return str(email.header.make_header(email.header.decode_header(raw)))


def base(subject: str | None) -> tuple[str, bool]:
    if subject is None:
        return "", False
    s = " ".join(decode(subject).replace("\t", " ").split(" "))
    s = re.sub(" +", " ", s)
    fwd = False
    blob = r"\[[^][]*\] ?"
    while True:
        while True:
            if s.endswith(" "):
                s = s[:-1]
            elif s[-5:].lower() == "(fwd)":
                s, fwd = s[:-5], True
            else:
                break
        while True:
            before = s
            if s.startswith(" "):
                s = s[1:]
            else:
                m = re.match(rf"(?:{blob})*(?:[Rr][Ee]|[Ff][Ww][Dd]?) ?(?:{blob})?:", s)
                if m:
                    s, fwd = s[m.end():], True
            m = re.match(blob, s)
            if m and s[m.end():]:
                s = s[m.end():]
            if s == before:
                break
        if s[:5].lower() == "[fwd:" and s.endswith("]") and len(s) > 5:
            s, fwd = s[5:-1], True
            continue
        return s, fwd


def ids(raw: str | None) -> list[str]:
    out = []
    for inner in re.findall(r"<([^<>]*)>", raw or ""):
        inner = re.sub(r'"((?:[^"\\]|\\.)*)"', lambda m: re.sub(r"\\(.)", r"\1", m.group(1)), inner)
        inner = re.sub(r"\s", "", inner)
        left, _, right = inner.rpartition("@")
        if left and right:
            out.append(inner)
    return out


class Msg:
    def __init__(self, seq: int, data: bytes, received: float) -> None:
        e = email.message_from_string(data.decode("utf-8"), policy=email.policy.compat32)
        self.seq = seq
        self.size = len(data)
        self.arrival = math.floor(received)
        self.subject, self.reply = base(e["Subject"])
        self.subject_key = casemap(self.subject)
        try:
            dt = email.utils.parsedate_to_datetime(e["Date"]) if e["Date"] else None
        except (TypeError, ValueError):
            dt = None
        self.date = int(dt.timestamp()) if dt is not None else self.arrival
        mid = ids(e["Message-ID"])
        self.mid = mid[0] if mid else None
        self.refs = ids(e["References"]) or ids(e["In-Reply-To"])[:1]
        self.addr = {}
        for h in ("From", "To", "Cc"):
            pairs = email.utils.getaddresses([e[h]]) if e[h] else []
            name, addr = pairs[0] if pairs else ("", "")
            local, at, dom = addr.rpartition("@")
            local = local if at else addr
            self.addr[h] = casemap(local)
            display = decode(name) if name else ""
            self.addr["DISPLAY" + h] = casemap(display or (f"{local}@{dom}" if at and dom else local))


def expected_sort(msgs: list[Msg], criteria: list[tuple[str, bool]]) -> list[int]:
    def key(m: Msg, k: str):
        return {"ARRIVAL": m.arrival, "DATE": m.date, "SIZE": m.size, "SUBJECT": m.subject_key, "FROM": m.addr["From"],
                "TO": m.addr["To"], "CC": m.addr["Cc"], "DISPLAYFROM": m.addr["DISPLAYFrom"],
                "DISPLAYTO": m.addr["DISPLAYTo"]}[k]

    def cmp(a: Msg, b: Msg) -> int:
        for k, rev in criteria:
            x, y = key(a, k), key(b, k)
            if x != y:
                return (1 if x > y else -1) * (-1 if rev else 1)
        return a.seq - b.seq

    return [m.seq for m in sorted(msgs, key=functools.cmp_to_key(cmp))]


def expected_threads(msgs: list[Msg], algorithm: str) -> list:
    """Nested lists [num, [children...]] (num None for a dummy), RFC 5256 step by step."""
    if algorithm == "ORDEREDSUBJECT":
        groups: dict[str, list[Msg]] = {}
        for m in sorted(msgs, key=lambda m: (m.subject_key, m.date, m.seq)):
            groups.setdefault(m.subject_key, []).append(m)
        out = sorted(groups.values(), key=lambda g: (g[0].date, g[0].seq))
        return [[g[0].seq, [[x.seq, []] for x in g[1:]]] for g in out]
    parent: dict = {}
    msg_of: dict = {}
    nodes: list = []

    def node(k):
        if k not in parent:
            parent[k] = None
            nodes.append(k)
        return k

    def ancestor(a, b) -> bool:  # is a == b or an ancestor of b
        while b is not None:
            if a == b:
                return True
            b = parent[b]
        return False

    for m in msgs:
        k = m.mid if m.mid is not None and m.mid not in msg_of else ("unique", m.seq)
        node(k)
        msg_of[k] = m
        prev = None
        for r in m.refs:
            node(r)
            if prev is not None and parent[r] is None and not ancestor(r, prev):
                parent[r] = prev
            prev = r
        parent[k] = None
        if prev is not None and not ancestor(k, prev):
            parent[k] = prev
    children: dict = {k: [] for k in nodes}
    for k in nodes:
        if parent[k] is not None:
            children[parent[k]].append(k)

    def prune(k) -> list:
        """The nodes that stand at k's place after step 3 (below the top level)."""
        kids = [x for c in children[k] for x in prune(c)]
        children[k] = kids
        if k in msg_of:
            return [k]
        return kids

    roots = []
    for k in nodes:
        if parent[k] is None:
            kids = [x for c in children[k] for x in prune(c)]
            children[k] = kids
            if k in msg_of:
                roots.append(k)
            elif len(kids) == 1:
                roots.append(kids[0])
            elif kids:
                roots.append(k)

    def first(k):
        return msg_of[k] if k in msg_of else first(sorted(children[k], key=lambda c: skey(c))[0])

    def skey(k):
        m = first(k)
        return (m.date, m.seq)

    if algorithm == "REFS":
        def newest(k) -> int:
            own = [msg_of[k].date] if k in msg_of else []
            return max(own + [newest(c) for c in children[k]])
        roots.sort(key=lambda k: (newest(k), first(k).seq))
    else:
        roots.sort(key=skey)
        table: dict = {}
        for r in roots:
            s = first(r).subject_key
            if not s:
                continue
            t = table.get(s)
            if t is None:
                table[s] = r
            elif t in msg_of and (r not in msg_of or (msg_of[t].reply and not msg_of[r].reply)):
                table[s] = r
        subj = {r: first(r).subject_key for r in roots}
        top = list(roots)
        counter = [0]
        for r in list(roots):
            s = subj[r]
            if not s or r not in top:
                continue
            t = table[s]
            if t == r:
                continue
            if r not in msg_of and t not in msg_of:
                children[t] += children[r]
                top.remove(r)
            elif t not in msg_of or (msg_of[r].reply and not msg_of[t].reply):
                children[t].append(r)
                top.remove(r)
            else:
                counter[0] += 1
                d = ("dummy", counter[0])
                children[d] = [t, r]
                top[top.index(t)] = d
                top.remove(r)
                table[s] = d
        roots = top
        roots.sort(key=skey)

    def tree(k) -> list:
        kids = sorted(children[k], key=skey)
        return [msg_of[k].seq if k in msg_of else None, [tree(c) for c in kids]]

    return [tree(r) for r in roots]


def nested(t: ThreadNode) -> list:
    return [t.num, [nested(c) for c in t.children]]


@pytest.fixture(scope="module")
def mailbox():
    return generate()


def test_generated_mailbox(imap, mailbox):
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    imap.start()

    async def deliver_all() -> None:
        for data, received in mailbox:
            await imap.account.deliver("Inbox", data, received=received)

    imap.run(deliver_all)
    msgs = [Msg(i + 1, data, received) for i, (data, received) in enumerate(mailbox)]
    tc = imap.connect()
    tc.transact("ok", "select inbox")

    for alg in ("REFERENCES", "REFS", "ORDEREDSUBJECT"):
        tc.transact("ok", f"thread {alg} utf-8 all")
        got = next(r for r, _ in tc.untagged if isinstance(r, UntaggedThread))
        want = expected_threads(msgs, alg)
        assert [nested(t) for t in got.threads] == want, alg
    # The threads are not trivial: long chains, dummies, merged subjects.
    want = expected_threads(msgs, "REFERENCES")
    depth = lambda t: 1 + max((depth(c) for c in t[1]), default=0)  # noqa: E731
    assert max(depth(t) for t in want) > 8 and sum(1 for t in want if t[0] is None) > 20 and len(want) < N / 2

    # A search picks some of the messages: threads of those only.
    tc.transact("ok", "thread references utf-8 larger 250")
    got = next(r for r, _ in tc.untagged if isinstance(r, UntaggedThread))
    part = [m for m in msgs if m.size > 250]
    assert [nested(t) for t in got.threads] == expected_threads(part, "REFERENCES")

    for criteria in [
        [("ARRIVAL", False)], [("CC", False)], [("DATE", False)], [("FROM", False)], [("SIZE", False)],
        [("SUBJECT", False)], [("TO", False)], [("DISPLAYFROM", False)], [("DISPLAYTO", False)],
        [("SUBJECT", False), ("DATE", False)], [("SUBJECT", True), ("DATE", True)],
        [("FROM", True), ("SIZE", False)], [("DISPLAYTO", False), ("ARRIVAL", True)],
        [("CC", True), ("DISPLAYFROM", True), ("TO", False)],
    ]:
        text = " ".join(("REVERSE " if rev else "") + k for k, rev in criteria)
        tc.transact("ok", f"sort ({text}) utf-8 all")
        got = next(r for r, _ in tc.untagged if isinstance(r, UntaggedSort))
        assert list(got.nums) == expected_sort(msgs, criteria), text

    # The server keeps SORT orders and THREAD answers between commands: they follow the mailbox
    # when messages are expunged, a few arrive (placed one by one) and many arrive (sorted again).
    rng = random.Random(SEED)
    gone = set(rng.sample(range(1, N + 1), 300))
    tc.transact("ok", f"store {','.join(map(str, sorted(gone)))} +flags.silent (\\deleted)")
    tc.transact("ok", "expunge")
    msgs = [m for m in msgs if m.seq not in gone]
    extra = generate(300, seed=SEED + 1)
    for batch in (extra[:10], extra[10:]):

        async def deliver_batch() -> None:
            for data, received in batch:
                await imap.account.deliver("Inbox", data, received=received)

        imap.run(deliver_batch)
        tc.transact("ok", "noop")
        msgs += [Msg(0, data, received) for data, received in batch]
        for i, m in enumerate(msgs, 1):
            m.seq = i
        for criteria in [[("SUBJECT", False), ("DATE", False)], [("FROM", True), ("SIZE", False)]]:
            text = " ".join(("REVERSE " if rev else "") + k for k, rev in criteria)
            tc.transact("ok", f"sort ({text}) utf-8 all")
            got = next(r for r, _ in tc.untagged if isinstance(r, UntaggedSort))
            assert list(got.nums) == expected_sort(msgs, criteria), text
            tc.transact("ok", f"sort ({text}) utf-8 larger 250")
            got = next(r for r, _ in tc.untagged if isinstance(r, UntaggedSort))
            assert list(got.nums) == expected_sort([m for m in msgs if m.size > 250], criteria), text
        for alg in ("REFERENCES", "ORDEREDSUBJECT"):
            tc.transact("ok", f"thread {alg} utf-8 all")
            got = next(r for r, _ in tc.untagged if isinstance(r, UntaggedThread))
            assert [nested(t) for t in got.threads] == expected_threads(msgs, alg), alg
