"""mox.imap.sort.SortOrder, the SORT order kept between commands: after any sequence of adds
(one by one and in bulk) and removals, the order and every subset of it are what sorting the
messages from scratch gives."""

from __future__ import annotations

import random

import pytest

from mox.imap.sort import SortOrder, sort_items
from mox.imap.types import SortCriterion

CRITERIA = [
    (SortCriterion("SUBJECT"),),
    (SortCriterion("SIZE", reverse=True),),
    (SortCriterion("FROM"), SortCriterion("DATE", reverse=True)),
    (SortCriterion("CC", reverse=True), SortCriterion("SIZE"), SortCriterion("TO", reverse=True)),
]


def _values(rng: random.Random, criteria) -> tuple:
    # Few distinct values, so that ties (broken by uid) are common.
    return tuple(rng.randrange(5) if c.key in ("SIZE", "DATE") else rng.choice(["", "A", "B", "É"]) for c in criteria)


@pytest.mark.parametrize("criteria", CRITERIA, ids=lambda c: " ".join(("REVERSE " if x.reverse else "") + x.key for x in c))
@pytest.mark.parametrize("seed", range(6))
def test_incremental_order_equals_a_fresh_sort(criteria, seed: int) -> None:
    rng = random.Random(seed)
    kept = SortOrder(criteria)
    live: dict[int, tuple[int, tuple]] = {}  # uid -> (message id, values)
    next_uid = 1
    next_id = 1000
    for _ in range(40):
        r = rng.random()
        if r < 0.5 or not live:
            # New messages: a few (inserted one by one) or many (the order is sorted again).
            n = rng.choice([1, 2, 5, SortOrder.INSERT_MAX, SortOrder.INSERT_MAX + 1, 200])
            items = []
            for _ in range(n):
                live[next_uid] = (next_id, _values(rng, criteria))
                items.append((next_uid, next_id, live[next_uid][1]))
                next_uid += 1
                next_id += 1
            kept.add(items)
        elif r < 0.8:
            gone = rng.sample(sorted(live), k=rng.randrange(1, min(len(live), 30) + 1))
            for u in gone:
                del live[u]
            kept.forget(gone)
        else:
            # A uid that names another message now (replaced, not duplicated).
            u = rng.choice(sorted(live))
            live[u] = (next_id, _values(rng, criteria))
            next_id += 1
            kept.add([(u, live[u][0], live[u][1])])
        want = sort_items([(u, live[u][1]) for u in sorted(live)], criteria)
        assert kept.order == want
        assert kept.ids == {u: i for u, (i, _) in live.items()}
        subset = {u for u in live if rng.random() < 0.3}
        assert kept.select(subset) == [u for u in want if u in subset]
