"""THREAD algorithms (RFC 5256 BASE.6.4.THREAD): ORDEREDSUBJECT, REFERENCES, and REFS
(draft-ietf-morg-inthread: REFERENCES without subject merging, threads ordered by their newest
message, as Dovecot implements it). Sans-IO: the caller extracts each message's identifiers,
base subject and sent date (:class:`ThreadInput`), the algorithms return a forest of
:class:`Node` (``msg`` None for a dummy parent).

Everything is iterative: a reply chain thousands of messages deep (or a hostile References
header) cannot exhaust the recursion limit. Ties in sent date are broken by sequence number
(RFC 5256 2.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class ThreadInput(NamedTuple):
    """One searched message. ``message_id``: its normalized Message ID or None; ``refs``: the
    valid Message IDs of its References field, or the first one of In-Reply-To without them
    (RFC 5256 3); ``subject``: its base subject in collation form (``sort.unicode_casemap``);
    ``reply``: base subject extraction removed a reply/forward marker; ``date``: sent date."""

    seq: int
    uid: int
    message_id: str | None
    refs: tuple[str, ...]
    subject: str
    reply: bool
    date: int


class Node:
    """A thread tree node (a "container"): a message, or a dummy (``msg`` None)."""

    __slots__ = ("msg", "parent", "children")

    def __init__(self, msg: ThreadInput | None = None) -> None:
        self.msg = msg
        self.parent: Node | None = None
        self.children: list[Node] = []

    def __repr__(self) -> str:  # for test failures
        return f"Node({self.msg.seq if self.msg else None}, {len(self.children)} children)"


ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES", "REFS")


def thread(algorithm: str, msgs: Iterable[ThreadInput]) -> list[Node]:
    """The threads of ``msgs`` (given in mailbox order) by ``algorithm``, in response order."""
    msgs = sorted(msgs, key=lambda m: m.seq)
    if algorithm == "ORDEREDSUBJECT":
        return ordered_subject(msgs)
    if algorithm == "REFERENCES":
        return references(msgs, merge_subjects=True)
    if algorithm == "REFS":
        return references(msgs, merge_subjects=False)
    raise ValueError(f"unknown threading algorithm {algorithm}")


def _key(m: ThreadInput) -> tuple[int, int]:
    return (m.date, m.seq)


def ordered_subject(msgs: list[ThreadInput]) -> list[Node]:
    """ORDEREDSUBJECT: sort by base subject, then sent date; one thread per base subject with the
    first message as parent of all others; threads by the sent date of their first message."""
    out: list[Node] = []
    cur: Node | None = None
    for m in sorted(msgs, key=lambda m: (m.subject, m.date, m.seq)):
        if cur is not None and cur.msg is not None and cur.msg.subject == m.subject:
            child = Node(m)
            child.parent = cur
            cur.children.append(child)
            continue
        cur = Node(m)
        out.append(cur)
    out.sort(key=lambda n: _key(n.msg))  # type: ignore[arg-type]
    return out


def _would_loop(parent: Node, child: Node) -> bool:
    """Whether making ``parent`` the parent of ``child`` makes a loop: ``parent`` is ``child`` or
    one of its descendants."""
    if not child.children:
        return parent is child
    p: Node | None = parent
    while p is not None:
        if p is child:
            return True
        p = p.parent
    return False


def _link(parent: Node, child: Node) -> None:
    child.parent = parent
    parent.children.append(child)


def _unlink(child: Node) -> None:
    assert child.parent is not None
    child.parent.children.remove(child)
    child.parent = None


def _first_msg(n: Node) -> ThreadInput:
    """The message a node sorts and is named by: its own, or a dummy's first child's."""
    while n.msg is None:
        n = n.children[0]
    return n.msg


def references(msgs: list[ThreadInput], *, merge_subjects: bool) -> list[Node]:
    """REFERENCES (RFC 5256 BASE.6.4.THREAD, steps 1 to 6); without ``merge_subjects`` REFS:
    no step 5, and threads ordered by their newest message."""
    # (1) The Message ID table: link each message's references as parent/child chains, then
    # the message below its last reference.
    table: dict[str, Node] = {}
    nodes: list[Node] = []  # every container, dummies included
    for m in msgs:
        node = None
        if m.message_id is not None:
            node = table.get(m.message_id)
            if node is None:
                node = table[m.message_id] = Node()
                nodes.append(node)
            elif node.msg is not None:
                node = None  # a duplicate Message ID: only the first message uses it
        if node is None:
            node = Node()  # no (usable) Message ID: a unique one, in no table
            nodes.append(node)
        node.msg = m
        # (1.A) Each reference the parent of the next one, unless the next one has a parent
        # already (the References field may have been truncated) or it would make a loop.
        prev: Node | None = None
        for ref in m.refs:
            rn = table.get(ref)
            if rn is None:
                rn = table[ref] = Node()  # a dummy, used for every later reference to it
                nodes.append(rn)
            if prev is not None and rn.parent is None and not _would_loop(prev, rn):
                _link(prev, rn)
            prev = rn
        # (1.B) The last reference is the message's parent: an existing link (from a truncated
        # References field of another message) is broken first; no reference, no parent.
        if node.parent is not None:
            _unlink(node)
        if prev is not None and not _would_loop(prev, node):
            _link(prev, node)

    # (2) The roots: containers without parent. (3) Prune dummies.
    roots = _prune([n for n in nodes if n.parent is None])

    if not merge_subjects:
        # REFS: children by sent date; threads by the sent date of their newest message (ties:
        # the sequence number of the thread's first message).
        _sort_siblings(roots, sort_roots=False)
        newest = {id(r): max(n.msg.date for n in _walk(r) if n.msg is not None) for r in roots}
        roots.sort(key=lambda r: (newest[id(r)], _first_msg(r).seq))
        return roots

    # (4) Sort the roots by sent date; a dummy by its first child after sorting its children.
    for r in roots:
        if r.msg is None:
            r.children.sort(key=lambda c: _key(_first_msg(c)))
    roots.sort(key=lambda r: _key(_first_msg(r)))

    # (5) Gather roots with the same base subject.
    roots = _merge_subjects(roots)

    # (6) Sort every set of siblings by sent date, the deepest first; a dummy by its first child.
    _sort_siblings(roots, sort_roots=True)
    return roots


def _walk(root: Node) -> Iterable[Node]:
    """The nodes of a tree, root first (depth first, iterative)."""
    stack = [root]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.children)


def post_order(roots: list[Node]) -> list[Node]:
    """Every node below (and including) ``roots``, each after all its descendants."""
    out: list[Node] = []
    stack = list(roots)
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(n.children)
    out.reverse()
    return out


def _prune(roots: list[Node]) -> list[Node]:
    """(3) Dummies without children are deleted; dummies with children are deleted and their
    children promoted to the dummy's level, except at the top level, where only a single child
    is promoted (more stay under the dummy: they become one thread)."""
    for n in post_order(roots):
        if not any(c.msg is None for c in n.children):
            continue
        kept: list[Node] = []
        for c in n.children:
            if c.msg is not None:
                kept.append(c)
                continue
            for gc in c.children:  # already pruned: no dummies among them
                gc.parent = n
                kept.append(gc)
            c.children = []
            c.parent = None
        n.children = kept
    out: list[Node] = []
    for r in roots:
        if r.msg is None:
            if not r.children:
                continue
            if len(r.children) == 1:
                child = r.children[0]
                child.parent = None
                r.children = []
                out.append(child)
                continue
        out.append(r)
    return out


def _merge_subjects(roots: list[Node]) -> list[Node]:
    """(5) Threads whose subjects are equal become one thread (RFC 5256 5.A-5.C)."""
    # (5.A, 5.B) The subject table: one root per base subject; a dummy replaces a message, and
    # a message that is no reply/forward replaces one that is.
    subjects = {id(r): _first_msg(r).subject for r in roots}
    table: dict[str, Node] = {}
    for r in roots:
        subj = subjects[id(r)]
        if not subj:
            continue
        t = table.get(subj)
        if t is None:
            table[subj] = r
        elif t.msg is not None and (r.msg is None or (t.msg.reply and not r.msg.reply)):
            table[subj] = r
    # (5.C) Merge each other root with the same subject into the table's.
    out = list(roots)
    gone: set[int] = set()
    for r in roots:
        subj = subjects[id(r)]
        if not subj or r.parent is not None or id(r) in gone:
            continue
        t = table[subj]
        if t is r:
            continue
        if r.msg is None and t.msg is None:
            # Both dummies: r's children become t's; r is deleted.
            for c in r.children:
                _link(t, c)
            r.children = []
            gone.add(id(r))
        elif t.msg is None or (r.msg is not None and r.msg.reply and not t.msg.reply):
            # A dummy in the table, or r is a reply/forward and t is not: r under t.
            _link(t, r)
            gone.add(id(r))
        else:
            # A new dummy with both as children takes t's place in the table.
            d = Node()
            _link(d, t)
            _link(d, r)
            gone.add(id(t))
            gone.add(id(r))
            table[subj] = d
            out.append(d)
    return [r for r in out if id(r) not in gone]


def _sort_siblings(roots: list[Node], *, sort_roots: bool) -> None:
    """(6) Children of every node by sent date (ties: sequence number), deepest level first, so a
    dummy's first child is known when the dummy is placed."""
    for n in post_order(roots):
        if len(n.children) > 1:
            n.children.sort(key=lambda c: _key(_first_msg(c)))
    if sort_roots:
        roots.sort(key=lambda r: _key(_first_msg(r)))
