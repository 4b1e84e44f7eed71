"""SortedKeys: keys stay in order through adds and removes, and `bounds` selects etcd's
ranges ([key, range_end), "\\0" for every key from `key` on, an empty range when range_end is
not above key)."""

from __future__ import annotations

import random

import pytest

from kubemu.cluster.store.keyindex import ALL_KEYS, SortedKeys


def test_keys_added_in_any_order_are_read_back_sorted() -> None:
    rng = random.Random(7)
    keys = list({f"k{rng.randrange(10**6):07}" for _ in range(5000)})
    index = SortedKeys(keys[:100])
    for key in keys[100:]:
        index.add(key)
    assert len(index) == len(keys)
    assert index.sorted() == sorted(keys)


@pytest.mark.parametrize("key, range_end, expected", [
    pytest.param("/pods/", "/pods0", ["/pods/a", "/pods/b"], id="prefix"),
    pytest.param("/pods/b", ALL_KEYS, ["/pods/b", "/svc/x"], id="from-key-on"),
    pytest.param("/pods/b", "/pods/a", [], id="end-below-key"),
    pytest.param("/q", "/r", [], id="nothing-in-between"),
])
def test_bounds_select_etcd_ranges(key: str, range_end: str, expected: list[str]) -> None:
    index = SortedKeys(["/svc/x", "/pods/b", "/nodes/n1", "/pods/a"])
    lo, hi = index.bounds(key, range_end)
    assert index.slice(lo, hi) == expected


def test_remove_and_remove_slice_keep_the_rest_in_order() -> None:
    index = SortedKeys(["b", "d"])
    for key in ("e", "a", "c"):
        index.add(key)
    index.remove("c")
    assert index.remove_slice(1, 3) == ["b", "d"]
    assert index.sorted() == ["a", "e"] and len(index) == 2
