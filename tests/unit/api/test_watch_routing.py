"""How the watch hub routes events and progress to its watchers: a watch pinned to one name
(`metadata.name=<n>`, a kubelet's watch of its own Node) is handed only that object's events,
and watchers hear the revision the feed has seen through at most once a second (often
enough for bookmarks), not once per store write -- on a thousand-node cluster both were
most of the API server's work.

A real WatchHub over a real LocalStore in virtual time.
"""

from __future__ import annotations

import asyncio

import orjson

from kubemu.cluster.api import watch_mux, watches
from kubemu.cluster.api.lists import ListQuery
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.watches import WatchHub, watch_events
from tests import vtime

from .watchcache_store import CountingStore

PODS = builtin_registry().lookup("", "v1", "pods")


def run(main) -> None:
    async def go() -> None:
        store = CountingStore()
        hub = WatchHub(store)
        try:
            await main(store, hub)
        finally:
            await hub.stop()
            await store.local.close()

    vtime.run(go)


async def drain(stream, seconds: float) -> list[tuple]:
    """Every item `stream` yields within `seconds` of virtual time."""
    got: list[tuple] = []

    async def take() -> None:
        async for item in stream:
            got.append(item)

    try:
        await asyncio.wait_for(take(), seconds)
    except asyncio.TimeoutError:
        pass
    return got


async def feeding(hub: WatchHub) -> None:
    """Return once the hub's pod feed runs (the streams subscribed to it)."""
    for _ in range(1000):
        if hub.through(PODS) > 0:
            await asyncio.sleep(0)
            return
        await asyncio.sleep(0)
    raise AssertionError("the pod feed never started")


def test_a_watch_pinned_to_one_name_is_handed_only_that_objects_events() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p0")
        start = store.revision + 1
        mine = hub.changes(PODS, start, trigger=("metadata.name", "p1"))
        everything = hub.changes(PODS, start)
        pending = [asyncio.ensure_future(drain(s, 2.0)) for s in (mine, everything)]
        await feeding(hub)
        for name in ("p1", "p2", "p3", "p1", "p2"):
            await store.put_pod("a", name)
        await store.delete_pod("a", "p1")
        routed, all_events = [[p.key.rpartition("/")[2] for kind, p in await task
                               if kind == "event"] for task in pending]
        assert routed == ["p1", "p1", "p1"]
        assert all_events == ["p1", "p2", "p3", "p1", "p2", "p1"]

    run(main)


def test_a_name_pinned_api_watch_still_sees_its_object_added_modified_and_deleted() -> None:
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("b", "other")
        mark = store.revision
        events = watch_events(hub, PODS, "a", ListQuery(
            resource_version=str(mark), field_selector="metadata.name=p1"))
        pending = asyncio.ensure_future(drain(events, 2.0))
        await feeding(hub)
        for name in ("p1", "p2", "p1"):
            await store.put_pod("a", name)
        await store.delete_pod("a", "p1")
        got = [(e["type"], e["object"]["metadata"]["name"]) for e in await pending]
        assert got == [("ADDED", "p1"), ("MODIFIED", "p1"), ("DELETED", "p1")]

    run(main)


def test_watchers_hear_progress_once_per_bookmark_period_not_per_store_write(
        monkeypatch) -> None:
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", 1.0)  # progress is only for bookmarks

    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p0")
        start = store.revision + 1
        pending = asyncio.ensure_future(drain(hub.changes(PODS, start), 3.05))
        await feeding(hub)
        for i in range(60):  # 20 writes a second elsewhere in the store, for 3 s
            await store.local.put(f"/registry/core/configmaps/a/c{i}", orjson.dumps({}))
            await asyncio.sleep(0.05)
        markers = [payload for kind, payload in await pending if kind == "progress"]
        assert 2 <= len(markers) <= 4, markers
        assert markers == sorted(markers) and markers[-1] >= store.revision - 20

    run(main)


def test_with_bookmarks_every_instant_every_progress_reaches_the_watchers(
        monkeypatch) -> None:
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", 0.0)
    monkeypatch.setattr(watch_mux, "IDLE_PROGRESS", 0.0)  # a quiet feed hears every answer

    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p0")
        start = store.revision + 1
        pending = asyncio.ensure_future(drain(hub.changes(PODS, start), 1.05))
        await feeding(hub)
        for i in range(10):
            await store.local.put(f"/registry/core/configmaps/a/c{i}", orjson.dumps({}))
            await asyncio.sleep(0.1)
        markers = [payload for kind, payload in await pending if kind == "progress"]
        assert len(markers) >= 9, markers

    run(main)


def test_a_watch_at_its_deadline_last_hears_the_revision_it_is_complete_through() -> None:
    """What the bookmark a watch sends before its timeout carries: every event up to it was
    handed out, however long ago the last periodic progress was."""
    async def main(store: CountingStore, hub: WatchHub) -> None:
        await store.put_pod("a", "p0")
        start = store.revision + 1
        loop = asyncio.get_running_loop()
        pending = asyncio.ensure_future(drain(hub.changes(
            PODS, start, trigger=("metadata.name", "p1"), deadline=loop.time() + 5.0), 10.0))
        await feeding(hub)
        await store.put_pod("a", "p1")
        for i in range(5):
            await store.put_pod("a", f"other{i}")
        last = store.revision
        got = await pending
        assert [kind for kind, _ in got if kind != "progress"] == ["event", "deadline"]
        assert got[-1] == ("deadline", last)

    run(main)
