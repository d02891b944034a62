"""Random sequences of writes (hypothesis) against a model of what the account must hold.

The model is a few dictionaries, written from the rules (RFC 9051 for mailboxes, UIDs and
subscriptions, the store's documented behaviour for the rest), not from the store's code: which
mailboxes exist and whether they are subscribed, which names are subscribed without a mailbox,
each mailbox's UIDNEXT and messages (UID, flags, and which delivered message it is: every
delivery has its own content). After every step the account must hold exactly what the model
holds, refuse exactly what the model says is refused (and then change nothing), and pass its
consistency check; after a reopen (journal replay, with or without snapshot) it must hold the
same again.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mox.store import Store, StoreError

NAMES = ["Inbox", "INBOX", "Archive", "a", "a/b", "c"]
FLAGS = [r"\Seen", r"\Deleted", r"\Flagged", "$Junk", "kw1", "KW2"]
DEFAULT_MAILBOXES = ["Inbox", "Archive", "Drafts", "Junk", "Sent", "Trash"]

op = st.one_of(
    st.tuples(st.just("deliver"), st.sampled_from(NAMES), st.lists(st.sampled_from(FLAGS), max_size=3)),
    st.tuples(
        st.just("flags"),
        st.sampled_from(NAMES),
        st.lists(st.integers(1, 8), max_size=4),
        st.sampled_from(["add", "remove", "replace"]),
        st.lists(st.sampled_from(FLAGS), max_size=3),
    ),
    st.tuples(st.just("expunge"), st.sampled_from(NAMES), st.lists(st.integers(1, 8), max_size=4)),
    st.tuples(st.sampled_from(["copy", "move"]), st.sampled_from(NAMES), st.lists(st.integers(1, 8), max_size=4), st.sampled_from(NAMES)),
    st.tuples(st.just("create"), st.sampled_from(NAMES + ["x/y/z"])),
    st.tuples(st.just("delete"), st.sampled_from(NAMES + ["x/y", "x/y/z"])),
    st.tuples(st.just("rename"), st.sampled_from(NAMES + ["x/y"]), st.sampled_from(NAMES + ["x/y", "a/b/d"])),
    st.tuples(st.just("subscribe"), st.sampled_from(NAMES + ["nobox", "a/nobox"]), st.booleans()),
    st.tuples(st.sampled_from(["snapshot", "reopen"])),
)


def canonical(flag: str) -> str:
    # RFC 9051 2.3.2: flags are case-insensitive; the store keeps system flags and the well-known
    # keywords in their usual case and other keywords in lower case.
    return flag if flag.startswith("\\") or flag == "$Junk" else flag.lower()


def inbox(name: str) -> str:
    # RFC 9051 5.1: INBOX is case-insensitive (the store names it "Inbox").
    return "Inbox" if name.upper() == "INBOX" else name


class Refused(Exception):
    pass


@dataclass
class MBox:
    subscribed: bool = True
    uidnext: int = 1
    messages: dict[int, tuple[frozenset[str], int]] = field(default_factory=dict)  # uid -> (flags, content)


class Model:
    def __init__(self) -> None:
        self.boxes: dict[str, MBox] = {n: MBox() for n in DEFAULT_MAILBOXES}
        self.subs: set[str] = set()  # subscribed names that are no mailbox
        self.delivered = 0

    def box(self, name: str) -> MBox:
        b = self.boxes.get(inbox(name))
        if b is None:
            raise Refused("no such mailbox")
        return b

    def _add_with_parents(self, name: str) -> None:
        # RFC 9051 6.3.4: missing parents are created too; new mailboxes are subscribed (mox).
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            n = "/".join(parts[:i])
            if n not in self.boxes:
                self.boxes[n] = MBox()
                self.subs.discard(n)

    def deliver(self, name: str, flags: list[str]) -> int:
        b = self.box(name)
        self.delivered += 1
        b.messages[b.uidnext] = (frozenset(map(canonical, flags)), self.delivered)
        b.uidnext += 1
        return self.delivered

    def store_flags(self, name: str, uids: list[int], mode: str, flags: list[str]) -> None:
        b = self.box(name)
        fl = frozenset(map(canonical, flags))
        for uid in set(uids):
            if uid in b.messages:
                cur, content = b.messages[uid]
                new = cur | fl if mode == "add" else cur - fl if mode == "remove" else fl
                b.messages[uid] = (new, content)

    def expunge(self, name: str, uids: list[int]) -> None:
        b = self.box(name)
        for uid in set(uids):
            b.messages.pop(uid, None)

    def copy(self, src: str, uids: list[int], dst: str, move: bool) -> None:
        # RFC 9051 6.4.7/RFC 6851: copies get new UIDs in the destination in the order of the
        # source UIDs, with the flags; MOVE then removes the originals.
        s, d = self.box(src), self.box(dst)
        todo = sorted(u for u in set(uids) if u in s.messages)
        originals = [s.messages[u] for u in todo]
        for m in originals:
            d.messages[d.uidnext] = m
            d.uidnext += 1
        if move:
            for u in todo:
                del s.messages[u]

    def create(self, name: str) -> None:
        name = inbox(name)
        if name in self.boxes:
            raise Refused("exists")
        self._add_with_parents(name)

    def delete(self, name: str) -> None:
        name = inbox(name)
        b = self.box(name)
        if name == "Inbox":
            raise Refused("cannot delete Inbox")
        if any(n.startswith(name + "/") for n in self.boxes):
            raise Refused("has children")
        del self.boxes[name]
        if b.subscribed:
            self.subs.add(name)  # RFC 9051 6.3.7: the subscription stays

    def rename(self, old: str, new: str) -> None:
        old, new = inbox(old), inbox(new)
        b = self.box(old)
        if new in self.boxes:
            raise Refused("exists")
        if new.startswith(old + "/"):
            raise Refused("into itself")
        if old == "Inbox":
            # RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox; INBOX stays,
            # empty, with its UIDNEXT.
            self._add_with_parents(new)
            self.copy("Inbox", list(b.messages), new, move=True)
            return
        if "/" in new:
            self._add_with_parents(new.rsplit("/", 1)[0])  # the missing parents of the new name
        for n in sorted(n for n in self.boxes if n == old or n.startswith(old + "/")):
            m = self.boxes.pop(n)
            nn = new + n[len(old) :]
            m.subscribed = m.subscribed or nn in self.subs  # a subscription of the new name is kept
            self.subs.discard(nn)
            self.boxes[nn] = m

    def subscribe(self, name: str, subscribed: bool) -> None:
        name = inbox(name)
        if name in self.boxes:
            self.boxes[name].subscribed = subscribed
        elif subscribed:
            self.subs.add(name)
        else:
            self.subs.discard(name)

    def subscriptions(self) -> list[str]:
        return sorted({n for n, b in self.boxes.items() if b.subscribed} | self.subs)


def content(n: int) -> bytes:
    return f"From: a@mox.example\r\nTo: mox@localhost\r\nSubject: m{n}\r\nMessage-Id: <{n}@mox.example>\r\n\r\nbody {n}\r\n".encode()


def actual(acc) -> tuple[dict[str, tuple[bool, int, dict[int, tuple[frozenset[str], int]]]], list[str]]:
    """What the account holds, in the model's terms (the content number read from each file)."""
    out = {}
    for mb in acc.mailboxes():
        msgs = {}
        for m in acc.messages(mb.id):
            n = int(re.search(rb"Subject: m(\d+)\r\n", acc.read_message(m)).group(1))
            msgs[m.uid] = (frozenset(m.flags), n)
        out[mb.name] = (mb.subscribed, mb.uidnext, msgs)
    return out, acc.subscriptions()


def expected(model: Model) -> tuple[dict[str, tuple[bool, int, dict[int, tuple[frozenset[str], int]]]], list[str]]:
    return {n: (b.subscribed, b.uidnext, dict(b.messages)) for n, b in model.boxes.items()}, model.subscriptions()


def run(acc, model: Model, o) -> None:
    """Apply one operation to the model (raising Refused when it must be refused) and then to
    the account (which must then raise StoreError)."""
    kind = o[0]
    step = {
        "deliver": lambda: model.deliver(o[1], o[2]),
        "flags": lambda: model.store_flags(o[1], o[2], o[3], o[4]),
        "expunge": lambda: model.expunge(o[1], o[2]),
        "copy": lambda: model.copy(o[1], o[2], o[3], move=False),
        "move": lambda: model.copy(o[1], o[2], o[3], move=True),
        "create": lambda: model.create(o[1]),
        "delete": lambda: model.delete(o[1]),
        "rename": lambda: model.rename(o[1], o[2]),
        "subscribe": lambda: model.subscribe(o[1], o[2]),
        "snapshot": lambda: None,
    }[kind]
    # Operations on messages name mailboxes by id: an account caller looks them up first.
    mb = acc.mailbox(o[1]) if kind in ("flags", "expunge", "copy", "move") else None
    dst = acc.mailbox(o[3]) if kind in ("copy", "move") else None
    result = None
    try:
        result = step()
    except Refused:
        refused = True
    else:
        refused = False
    try:
        if kind == "deliver":
            acc.deliver_sync(o[1], content(result or 0), flags=o[2])
        elif kind == "flags":
            if mb is None:
                raise StoreError("no mailbox")
            acc.store_flags_sync(mb.id, o[2], o[3], o[4])
        elif kind == "expunge":
            if mb is None:
                raise StoreError("no mailbox")
            acc.expunge_sync(mb.id, o[2])
        elif kind in ("copy", "move"):
            if mb is None or dst is None:
                raise StoreError("no mailbox")
            getattr(acc, f"{kind}_sync")(mb.id, o[2], dst.id)
        elif kind == "create":
            acc.create_mailbox_sync(o[1])
        elif kind == "delete":
            acc.delete_mailbox_sync(o[1])
        elif kind == "rename":
            acc.rename_mailbox_sync(o[1], o[2])
        elif kind == "subscribe":
            acc.set_subscribed_sync(o[1], o[2])
        elif kind == "snapshot":
            acc.snapshot()
    except StoreError as e:
        assert refused, f"{o}: refused by the store ({e}), the model accepts it"
    else:
        assert not refused, f"{o}: the store accepted it, the model refuses it"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=5, max_size=40))
def test_random_operations(ops):
    with tempfile.TemporaryDirectory() as d:
        store = Store(d, fsync=False, check_consistency_on_close=True)
        store.create_account("mox")
        acc = store.open_account("mox")
        model = Model()
        acc.create_mailbox_sync("a/b")
        model.create("a/b")
        # Some messages to work on from the start (the operations can add more).
        for name, flags in [("Inbox", []), ("Inbox", [r"\Seen"]), ("Inbox", ["kw1"]), ("a", [r"\Flagged"]), ("a/b", [])]:
            acc.deliver_sync(name, content(model.deliver(name, flags)), flags=flags)
        assert actual(acc) == expected(model)
        applied = 0
        try:
            for o in ops:
                if o[0] == "reopen":
                    acc.close()
                    acc = store.open_account("mox")
                else:
                    before = actual(acc)
                    run(acc, model, o)
                    if actual(acc) != before:
                        applied += 1
                assert actual(acc) == expected(model), o
                assert acc.check_consistency() == [], o
            acc.close()
            acc = store.open_account("mox")
            assert actual(acc) == expected(model)
            event(f"{applied} of {len(ops)} operations changed the account")
        finally:
            acc.close()
            store.close()


def test_model_rules() -> None:
    # The model itself, on the cases the random test relies on.
    m = Model()
    m.create("a/b")
    assert {"a", "a/b"} <= set(m.boxes)
    m.deliver("inbox", ["KW2", r"\Seen"])
    m.deliver("Inbox", [])
    m.rename("INBOX", "x/y")
    assert m.boxes["Inbox"].messages == {} and m.boxes["Inbox"].uidnext == 3
    assert m.boxes["x/y"].messages == {1: (frozenset({"kw2", r"\Seen"}), 1), 2: (frozenset(), 2)}
    m.subscribe("a/c", True)
    m.delete("a/b")
    assert "a/b" in m.subscriptions() and "a/b" not in m.boxes
    m.create("a/b")
    assert m.subs == {"a/c"}
    m.rename("a", "c2")
    assert {"c2", "c2/b"} <= set(m.boxes) and "a/c" in m.subscriptions()
    for bad in (lambda: m.delete("Inbox"), lambda: m.create("c2"), lambda: m.rename("c2", "c2/q"), lambda: m.delete("c2")):
        try:
            bad()
        except Refused:
            continue
        raise AssertionError("not refused")
