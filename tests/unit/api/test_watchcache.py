"""Watch cache: lists served from memory at a resourceVersion, as kube-apiserver serves them.

Runs a real WatchHub over a real LocalStore (counted by `CountingStore`) in virtual time, so
the 3 s freshness wait and the 75 s snapshot lifetime cost no wall time.
"""

from __future__ import annotations

import asyncio

import pytest

from kubemu.cluster.api import watches
from kubemu.cluster.api.errors import Expired, Timeout
from kubemu.cluster.api.lists import ListQuery, list_objects
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.watchcache import ACTIVE_SECONDS, MAX_SNAPSHOTS, SNAPSHOT_SECONDS
from kubemu.cluster.api.watchcache_lists import serve_list
from kubemu.cluster.api.watches import WatchHub, watch_events
from tests import vtime

from .watchcache_store import CountingStore

REGISTRY = builtin_registry()
PODS = REGISTRY.lookup("", "v1", "pods")
EVENTS = REGISTRY.lookup("", "v1", "events")


def names(listed: dict) -> list[str]:
    return [o["metadata"]["name"] for o in listed["items"]]


def run(main, **store_options) -> None:
    async def go() -> None:
        store = CountingStore(**store_options)
        hub = WatchHub(store)
        try:
            await main(store, hub)
        finally:
            await hub.stop()
            await store.local.close()

    vtime.run(go)


async def ready(hub: WatchHub):
    cache = await hub.cache(PODS, wait=True)
    assert cache is not None and cache.ready
    return cache


def test_first_list_builds_the_cache_and_later_lists_read_no_objects_from_the_store() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        for i in range(5):
            await store.put_pod("a", f"p{i}")
        first = await serve_list(hub, PODS, "", ListQuery())
        assert names(first) == [f"p{i}" for i in range(5)]
        await ready(hub)
        ranges = store.ranges
        for _ in range(3):
            listed = await serve_list(hub, PODS, "a", ListQuery(resource_version="0"))
            assert names(listed) == [f"p{i}" for i in range(5)]
        assert store.ranges == ranges
        assert hub.stats["lists_from_cache"] == 3 and hub.stats["cache_builds"] == 1

    run(main)


def test_consistent_list_waits_for_a_write_made_just_before() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await ready(hub)
        written = await store.put_pod("a", "fresh")
        listed = await serve_list(hub, PODS, "", ListQuery())
        assert names(listed) == ["fresh"]
        assert int(listed["metadata"]["resourceVersion"]) >= written["revision"]
        assert hub.stats["lists_from_cache"] == 1

    run(main)


@pytest.mark.parametrize("markers", [
    pytest.param(True, id="watch-reports-progress"),
    pytest.param(False, id="progress-only-on-request"),
])
def test_cache_of_a_quiet_resource_learns_it_is_fresh(markers: bool) -> None:
    """Writes elsewhere move the store's revision; the pods' cache must not wait for a pod
    event to serve a consistent list (etcd's progress notify, here `progress`)."""
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p")
        await ready(hub)
        for i in range(3):
            await store.local.put(f"/registry/core/configmaps/a/c{i}", b"{}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        listed = await serve_list(hub, PODS, "", ListQuery())
        assert listed["metadata"]["resourceVersion"] == str(store.revision)
        assert loop.time() - started < 1.0
        assert hub.stats["consistent_fallbacks"] == 0 and hub.stats["lists_from_cache"] == 1
        if not markers:
            assert store.progress_requests >= 1

    run(main, progress_markers=markers)


def test_consistent_list_falls_back_to_the_store_after_three_seconds_without_progress() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p")
        cache = await ready(hub)
        await store.local.put("/registry/core/configmaps/a/c", b"{}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        listed = await serve_list(hub, PODS, "", ListQuery())
        assert loop.time() - started == pytest.approx(3.0, abs=0.1)
        assert names(listed) == ["p"] and listed["metadata"]["resourceVersion"] == str(
            store.revision)
        assert hub.stats["consistent_fallbacks"] == 1
        assert cache.revision < store.revision

    run(main, progress_markers=False, on_demand=False)


def test_not_older_than_a_revision_the_store_lacks_is_504_too_large_after_the_wait() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p")
        await ready(hub)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Timeout) as err:
            await serve_list(hub, PODS, "", ListQuery(resource_version=str(store.revision + 5)))
        assert loop.time() - started >= 3.0
        assert err.value.message.startswith("Too large resource version")
        here = await serve_list(hub, PODS, "", ListQuery(resource_version=str(store.revision)))
        assert names(here) == ["p"] and hub.stats["lists_from_cache"] == 1

    run(main)


def test_pages_after_the_first_come_from_its_snapshot_whatever_is_written_meanwhile() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        for i in range(7):
            await store.put_pod("a", f"p{i}")
        cache = await ready(hub)
        first = await serve_list(hub, PODS, "", ListQuery(limit=3))
        assert first["metadata"]["remainingItemCount"] == 4
        await store.put_pod("a", "p00")  # sorts inside the first page's range
        await store.delete_pod("a", "p5")
        await store.put_pod("a", "p6", labels={"changed": "yes"})
        await store.put_pod("a", "p7")  # after the snapshot: not in it
        assert await hub.fresh(PODS, cache, store.revision, 3.0)  # the cache has them all
        ranges, seen, token = store.ranges, names(first), first["metadata"]["continue"]
        objects = list(first["items"])
        while token:
            page = await serve_list(hub, PODS, "", ListQuery(limit=3, continue_=token))
            assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            seen += names(page)
            objects += page["items"]
            token = page["metadata"].get("continue")
        assert seen == [f"p{i}" for i in range(7)]
        assert all(not o["metadata"]["labels"] for o in objects)  # p6 as it was
        assert store.ranges == ranges  # one small compaction check per page, no object read
        assert hub.stats["pages_from_snapshots"] == 2

    run(main)


def test_a_list_paging_through_keeps_its_snapshot_while_others_list_often() -> None:
    """A client listing one page twice a second (a new snapshot each time, the cache moving
    between) must not push out the snapshot of a slower list half way through: its pages
    would be read from the store at an old revision."""
    async def main(store: CountingStore, hub: WatchHub) -> None:
        for i in range(6):
            await store.put_pod("a", f"p{i}")
        await store.put_pod("b", "b")
        await ready(hub)
        first = await serve_list(hub, PODS, "a", ListQuery(limit=2))
        seen, token = names(first), first["metadata"]["continue"]
        i = 0
        while token:
            await store.put_pod("b", f"q{i}")
            assert (await serve_list(hub, PODS, "b", ListQuery(limit=1)))["metadata"][
                "continue"]  # a first page that continues: a snapshot each time
            await asyncio.sleep(0.5)
            i += 1
            if i == 2 or i % (MAX_SNAPSHOTS + 2) == 0:  # then more than MAX_SNAPSHOTS between
                page = await serve_list(hub, PODS, "a", ListQuery(limit=2, continue_=token))
                seen += names(page)
                token = page["metadata"].get("continue")
        assert seen == [f"p{i}" for i in range(6)]
        assert hub.stats["lists_from_store"] == 0
        cache = await ready(hub)
        await asyncio.sleep(ACTIVE_SECONDS + 1)  # idle snapshots go once another is taken
        await store.put_pod("b", "last")
        await serve_list(hub, PODS, "b", ListQuery(limit=1))
        assert len(cache.snapshots) <= MAX_SNAPSHOTS

    run(main)


def test_continue_after_compaction_is_410_even_with_a_snapshot() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        for i in range(4):
            await store.put_pod("a", f"p{i}")
        await ready(hub)
        first = await serve_list(hub, PODS, "", ListQuery(limit=2))
        await store.put_pod("a", "later")
        await store.local.compact(store.revision)
        with pytest.raises(Expired, match="continue parameter is too old"):
            await serve_list(hub, PODS, "", ListQuery(limit=2,
                                                      continue_=first["metadata"]["continue"]))

    run(main)


def test_an_expired_snapshot_leaves_the_store_to_answer_the_same_page() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        for i in range(4):
            await store.put_pod("a", f"p{i}")
        await ready(hub)
        first = await serve_list(hub, PODS, "", ListQuery(limit=2))
        query = ListQuery(limit=2, continue_=first["metadata"]["continue"])
        from_snapshot = await serve_list(hub, PODS, "", query)
        await store.put_pod("a", "p1a")
        await asyncio.sleep(SNAPSHOT_SECONDS + 1)
        before = hub.stats["lists_from_store"]
        assert await serve_list(hub, PODS, "", query) == from_snapshot
        assert hub.stats["lists_from_store"] == before + 1

    run(main)


def test_exact_read_at_the_cache_revision_is_served_from_memory() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "old")
        await ready(hub)
        await serve_list(hub, PODS, "", ListQuery())  # fresh
        then = str(store.revision)
        exact = ListQuery(resource_version=then, resource_version_match="Exact")
        assert names(await serve_list(hub, PODS, "", exact)) == ["old"]
        assert hub.stats["lists_from_cache"] == 2
        await store.put_pod("a", "new")
        await serve_list(hub, PODS, "", ListQuery())
        assert names(await serve_list(hub, PODS, "", exact)) == ["old"]  # the store's past
        assert hub.stats["lists_from_store"] == 1

    run(main)


@pytest.mark.parametrize("selector,expected", [
    pytest.param("spec.nodeName=n1", ["a/p1", "b/p4"], id="indexed-node"),
    pytest.param("spec.nodeName!=n1", ["a/p2", "a/p3", "b/p5"], id="not-node"),
    pytest.param("spec.nodeName=", ["a/p3"], id="unscheduled"),
    pytest.param("metadata.name=p2", ["a/p2"], id="name-from-key"),
    pytest.param("metadata.namespace=b", ["b/p4", "b/p5"], id="namespace-from-key"),
    pytest.param("spec.nodeName=n1,metadata.namespace!=a", ["b/p4"], id="and"),
    pytest.param("status.phase=Running", ["a/p1", "b/p5"], id="decoded-field"),
])
def test_field_selectors_from_the_cache(selector: str, expected: list[str]) -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        for ns, name, node, phase in [("a", "p1", "n1", "Running"), ("a", "p2", "n2", ""),
                                      ("a", "p3", "", ""), ("b", "p4", "n1", ""),
                                      ("b", "p5", "n2", "Running")]:
            await store.put_pod(ns, name, node=node, phase=phase)
        await ready(hub)
        listed = await serve_list(hub, PODS, "", ListQuery(field_selector=selector))
        got = [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in listed["items"]]
        assert got == expected
        assert listed == await list_objects(store, PODS, "", ListQuery(field_selector=selector))
        assert hub.stats["lists_from_cache"] == 1

    run(main)


def test_the_node_index_follows_a_pod_moving_and_leaving() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p", node="n1")
        await ready(hub)
        on = ListQuery(field_selector="spec.nodeName=n1")
        assert names(await serve_list(hub, PODS, "", on)) == ["p"]
        await store.put_pod("a", "p", node="n2")
        assert names(await serve_list(hub, PODS, "", on)) == []
        await store.put_pod("a", "p", node="n1")
        await store.delete_pod("a", "p")
        assert names(await serve_list(hub, PODS, "", on)) == []
        assert hub.stats["lists_from_cache"] == 3

    run(main)


def test_a_build_under_concurrent_writes_ends_at_the_stores_state(monkeypatch) -> None:
    monkeypatch.setattr(watches, "BUILD_CHUNK", 2)

    async def main(store: CountingStore, hub: WatchHub) -> None:
        for i in range(10):
            await store.put_pod("a", f"p{i:02d}", labels={"v": "0"})
        assert await hub.cache(PODS) is None  # building
        for i in range(0, 10, 3):  # between the chunk reads
            await asyncio.sleep(0)
            await store.put_pod("a", f"p{i:02d}", labels={"v": "1"})
            await store.delete_pod("a", f"p{i + 1:02d}")
            await store.put_pod("a", f"q{i:02d}")
        cache = await ready(hub)
        listed = await serve_list(hub, PODS, "", ListQuery(resource_version="0"))
        assert int(listed["metadata"]["resourceVersion"]) == cache.revision
        assert listed == await list_objects(store, PODS, "", ListQuery(
            resource_version=str(cache.revision), resource_version_match="Exact"))

    run(main)


def test_a_feed_that_ends_drops_its_cache_and_the_next_list_rebuilds_it() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p")
        cache = await ready(hub)
        feed = hub._feeds[("", "pods")]
        feed.task.cancel()
        await asyncio.sleep(0)
        assert not cache.alive
        await store.put_pod("a", "q")
        assert names(await serve_list(hub, PODS, "", ListQuery())) == ["p", "q"]  # store
        await ready(hub)
        assert names(await serve_list(hub, PODS, "", ListQuery())) == ["p", "q"]
        assert hub.stats["cache_builds"] == 2 and hub.stats["lists_from_cache"] == 1

    run(main)


def test_events_are_never_cached() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await serve_list(hub, EVENTS, "", ListQuery())
        assert await hub.cache(EVENTS, wait=True) is None
        assert hub.stats["lists_from_store"] == 1

    run(main)


def test_the_cache_keeps_the_stores_bytes_not_decoded_objects() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p", labels={"app": "x"}, node="n1")
        cache = await ready(hub)
        entry = cache.objects["/registry/core/pods/a/p"]
        kv = await store.local.get("/registry/core/pods/a/p")
        assert entry.value == kv["value"] and entry.rev == kv["mod_revision"]
        assert (entry.labels, entry.trigger) == ({"app": "x"}, "n1")
        assert not hasattr(entry, "__dict__")

    run(main)


def test_a_watch_from_a_revision_the_ring_holds_opens_no_store_watch() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p0")
        await ready(hub)
        mark = store.revision
        await store.put_pod("a", "p1")
        await store.put_pod("a", "p2")
        watches_before, ranges = store.watches, store.ranges
        events = watch_events(hub, PODS, "", ListQuery(resource_version=str(mark)))
        got = [await events.__anext__(), await events.__anext__()]
        await events.aclose()
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
            ("ADDED", "p1"), ("ADDED", "p2")]
        assert (store.watches, store.ranges) == (watches_before, ranges)

    run(main)


def test_a_watch_from_zero_lists_from_the_cache_then_streams() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p0")
        await ready(hub)
        await serve_list(hub, PODS, "", ListQuery())
        ranges = store.ranges
        events = watch_events(hub, PODS, "", ListQuery(resource_version="0"))
        first = await events.__anext__()
        await store.put_pod("a", "p1")
        second = await events.__anext__()
        await events.aclose()
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in (first, second)] == [
            ("ADDED", "p0"), ("ADDED", "p1")]
        assert store.ranges == ranges

    run(main)
