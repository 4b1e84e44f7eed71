"""SortedKeys: new keys wait unsorted until the order is read, then merge in."""

from __future__ import annotations

import random

import pytest

from kubemu.cluster.store.keyindex import SortedKeys


@pytest.mark.parametrize("added", [
    pytest.param(3, id="few-pending-are-insorted"),
    pytest.param(500, id="many-pending-are-merged-by-one-sort"),
])
def test_sorted_merges_pending_keys_in_order(added: int) -> None:
    rng = random.Random(added)
    start = sorted({f"k{rng.randrange(10**6):07}" for _ in range(200)})
    index = SortedKeys(start)
    fresh = [k for k in {f"k{rng.randrange(10**6):07}" for _ in range(added * 2)}
             if k not in set(start)][:added]
    for key in fresh:
        index.add(key)
    assert len(index) == len(start) + len(fresh)
    assert index.sorted() == sorted(start + fresh)


def test_remove_and_remove_slice_see_pending_keys() -> None:
    index = SortedKeys(["b", "d"])
    for key in ("e", "a", "c"):
        index.add(key)
    index.remove("c")
    assert index.remove_slice(1, 3) == ["b", "d"]
    assert index.sorted() == ["a", "e"] and len(index) == 2
