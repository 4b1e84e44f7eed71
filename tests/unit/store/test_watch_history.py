"""WatchHistory: events by revision, key-range filtering, whole-revision limits and trimming."""

from __future__ import annotations

import pytest

from kubemu.cluster.store.errors import CompactedError
from kubemu.cluster.store.mvcc import MVCCStore
from kubemu.cluster.store.watch import WatchHistory


def feed(history: WatchHistory, store: MVCCStore, *writes: tuple) -> None:
    for w in writes:
        if w[0] == "put":
            history.extend([store.put(w[1], w[2])[1]])
        else:
            history.extend(store.delete_range(w[1], w[2] if len(w) > 2 else ""))


def summary(events) -> list[tuple]:
    return [(e.type, e.kv.key, e.kv.mod_revision) for e in events]


@pytest.fixture
def pair():
    store, history = MVCCStore(), WatchHistory(capacity=100)
    feed(history, store, ("put", "/a/1", b"x"), ("put", "/b/1", b"y"), ("put", "/a/2", b"z"),
         ("put", "/a/1", b"x2"), ("delete", "/a/", "/a0"))
    return store, history  # revisions 2..6


@pytest.mark.parametrize(
    "key,range_end,start,want",
    [
        pytest.param("/a/1", "", 1, [("PUT", "/a/1", 2), ("PUT", "/a/1", 5),
                                     ("DELETE", "/a/1", 6)], id="single-key-from-start"),
        pytest.param("/a/", "/a0", 4, [("PUT", "/a/2", 4), ("PUT", "/a/1", 5),
                                       ("DELETE", "/a/1", 6), ("DELETE", "/a/2", 6)],
                     id="prefix-from-revision"),
        pytest.param("/", "\0", 6, [("DELETE", "/a/1", 6), ("DELETE", "/a/2", 6)],
                     id="all-keys-latest-revision"),
        pytest.param("/b/1", "", 4, [], id="no-matching-events"),
        pytest.param("/", "\0", 7, [], id="future-start-waits"),
        pytest.param("/", "\0", 0, [], id="start-zero-means-from-now"),
    ],
)
def test_events_since_filters_by_range_and_revision(pair, key, range_end, start, want):
    store, history = pair
    events, revision = history.events_since(key, range_end, start,
                                            current_revision=store.revision)
    assert summary(events) == want
    assert revision == 6


def test_delete_events_carry_prev_kv(pair):
    _, history = pair
    events, _ = history.events_since("/a/1", "", 6, current_revision=6)
    assert events[0].prev_kv.value == b"x2"


def test_limit_never_splits_a_revision(pair):
    store, history = pair
    events, revision = history.events_since("/", "\0", 2, limit=4,
                                            current_revision=store.revision)
    assert summary(events)[-1] == ("PUT", "/a/1", 5)
    assert revision == 5  # resume at 6
    events, revision = history.events_since("/", "\0", 2, limit=5,
                                            current_revision=store.revision)
    assert len(events) == 6 and revision == 6  # the whole delete revision rides along


def test_trimming_drops_whole_revisions_and_raises_compacted_below_floor():
    store, history = MVCCStore(), WatchHistory(capacity=3)
    feed(history, store, ("put", "a", b"1"), ("put", "b", b"1"), ("put", "c", b"1"))
    feed(history, store, ("delete", "a", "\0"))  # revision 5: three events at once
    assert len(history) == 3 and history.floor == 5
    with pytest.raises(CompactedError) as info:
        history.events_since("a", "\0", 4, current_revision=store.revision)
    assert info.value.compact_revision == 5
    events, _ = history.events_since("a", "\0", 5, current_revision=store.revision)
    assert len(events) == 3


def test_a_revision_larger_than_capacity_is_dropped_whole():
    store, history = MVCCStore(), WatchHistory(capacity=2)
    feed(history, store, ("put", "a", b"1"), ("put", "b", b"1"), ("put", "c", b"1"))
    feed(history, store, ("delete", "a", "\0"))
    assert len(history) == 0 and history.floor == 6
    assert history.events_since("a", "\0", 6, current_revision=5) == ([], 5)


def test_compact_drops_events_below_the_compact_revision(pair):
    store, history = pair
    history.compact(5)
    with pytest.raises(CompactedError):
        history.events_since("/", "\0", 4, current_revision=6)
    events, _ = history.events_since("/", "\0", 5, current_revision=6)
    assert summary(events)[0] == ("PUT", "/a/1", 5)


def test_long_running_ring_keeps_only_capacity_events():
    store, history = MVCCStore(), WatchHistory(capacity=10)
    for i in range(10_000):
        feed(history, store, ("put", f"k{i % 7}", b"v"))
    assert len(history) == 10 and history.floor == store.revision - 9
    events, _ = history.events_since("k", "l", history.floor, current_revision=store.revision)
    assert [e.kv.mod_revision for e in events] == list(range(history.floor, store.revision + 1))


def test_reset_rebuilds_from_a_floor():
    history = WatchHistory(capacity=10)
    history.reset(floor=42)
    with pytest.raises(CompactedError):
        history.events_since("a", "", 41, current_revision=41)
    assert history.events_since("a", "", 42, current_revision=41) == ([], 41)


def test_current_revision_defaults_to_the_newest_revision_seen(pair):
    store, history = pair
    assert history.revision == store.revision == 6
    assert history.events_since("/b/1", "", 4) == ([], 6)
    empty = WatchHistory(capacity=4)
    assert empty.revision == 1  # the empty store
    empty.reset(floor=10)
    assert empty.revision == 9
