"""EventRing: bounded by count and by bytes, its floor exact, its older items cooled."""

from __future__ import annotations

import tracemalloc

import orjson
from hypothesis import given
from hypothesis import strategies as st

from kubemu.cluster.api import transformer
from kubemu.cluster.api.objects import kept_json
from kubemu.cluster.api.watch_ring import EventRing, event_size


def test_the_ring_keeps_the_newest_items_within_its_count_and_bytes() -> None:
    ring = EventRing(count=4, size=100)
    for revision in range(1, 6):
        ring.append(revision, f"e{revision}", 10)
    assert [r for r, _ in ring] == [2, 3, 4, 5] and ring.floor == 2  # count
    ring.append(6, "big", 80)
    assert [r for r, _ in ring] == [4, 5, 6] and ring.floor == 4 and ring.bytes == 100  # bytes
    ring.append(7, "huge", 500)
    assert [r for r, _ in ring] == [7] and ring.floor == 7  # the newest is always kept


@given(st.lists(st.integers(0, 3), max_size=30), st.integers(0, 40), st.integers(1, 12))
def test_since_gives_what_a_walk_from_the_oldest_gives(steps: list[int], start: int,
                                                       count: int) -> None:
    """Items from a revision on, found from the newest end; a transaction's events share
    one revision (steps of 0)."""
    ring = EventRing(count=count, size=10_000)
    revision = 1
    for i, step in enumerate(steps):
        revision += step
        ring.append(revision, f"e{i}", 10)
    assert ring.since(start) == [(r, item) for r, item in ring if r >= start]


def test_items_past_the_hot_bytes_are_cooled_once_newest_first_kept() -> None:
    cooled: list[str] = []
    ring = EventRing(count=100, size=1000, hot=25, cool=cooled.append)
    for revision in range(1, 6):
        ring.append(revision, f"e{revision}", 10)
    assert cooled == ["e1", "e2", "e3"] and len(ring) == 5  # cooled, still held
    ring.clear(floor=9)
    assert len(ring) == 0 and ring.floor == 9 and ring.bytes == 0


def test_an_events_size_is_its_value_and_its_previous_value() -> None:
    assert event_size({"kv": {"value": b"x" * 7}, "prev_kv": {"value": b"y" * 5}}) == 12
    assert event_size({"kv": {"key": "k"}, "prev_kv": None}) == 0


def test_objects_stored_compressed_count_toward_hot_by_the_size_of_their_json() -> None:
    """A pod is stored ~10x smaller than its JSON, but its decoded object grows with the
    JSON: the hot bytes, past which decoded objects are dropped, count the JSON."""
    pod = orjson.dumps({"kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}] * 20}})
    stored = transformer.write(pod)
    assert len(stored) * 4 < len(pod)
    event = {"kv": {"value": stored}, "prev_kv": {"value": stored}}
    assert event_size(event) == 2 * len(stored)
    assert event_size(event, decoded=True) == 2 * len(pod)
    cooled: list[int] = []
    ring = EventRing(count=100, size=10 * 2**20, hot=3 * len(pod), cool=cooled.append)
    for revision in range(1, 6):
        ring.append(revision, revision, len(stored), len(pod))
    assert cooled == [1, 2] and len(ring) == 5


def test_json_kept_for_watchers_is_held_in_exact_sized_bytes() -> None:
    obj = {"metadata": {"name": "web"}, "data": {"k": "v" * 2000}}
    tracemalloc.start()
    try:
        kept = [kept_json(obj) for _ in range(200)]
        held = tracemalloc.take_snapshot().statistics("filename")
    finally:
        tracemalloc.stop()
    assert sum(s.size for s in held) < 200 * (len(kept[0]) + 200)  # not orjson's 4 KiB+
    assert orjson.loads(kept[0]) == obj
