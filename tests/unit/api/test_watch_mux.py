"""WatchMux: the API server's resource watches share one store watch. Each subscriber sees
exactly its prefix's events from its start revision, in order, whenever it joins; a start
the shared watch cannot serve gets a store watch of its own; a failure reaches every
subscriber; a quiet subscriber still hears progress about once a second.

A real LocalStore (behind a counter of the watches it opens) in virtual time.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kubemu.cluster.api.watch_mux import IDLE_PROGRESS, WatchMux
from kubemu.cluster.store import CompactedError, prefix_end
from tests import vtime

from .watchcache_store import CountingStore

PODS = "/registry/core/pods/"
CONFIGMAPS = "/registry/core/configmaps/"


def run(main, **mux_args) -> None:
    async def go() -> None:
        store = CountingStore()
        mux = WatchMux(store, **mux_args)
        try:
            await main(store, mux)
        finally:
            await mux.close()
            await store.local.close()

    vtime.run(go)


def follow(mux: WatchMux, prefix: str, start: int, *, progress: bool = False) -> list:
    """A task-fed list of what a subscriber to `prefix` from `start` receives."""
    got: list = []

    async def take() -> None:
        async for event in mux.watch(prefix, prefix_end(prefix), start_revision=start,
                                     progress=progress):
            got.append(("PROGRESS", event["revision"]) if event["type"] == "PROGRESS"
                       else (event["type"], event["kv"]["key"], event["kv"]["mod_revision"]))

    got.append(asyncio.ensure_future(take()))  # got[0]: the task
    return got


async def settle() -> None:
    await asyncio.sleep(0.01)


async def put(store: CountingStore, key: str) -> int:
    return (await store.local.put(key, orjson.dumps({})))["revision"]


def events(got: list) -> list:
    return [item for item in got[1:] if item[0] != "PROGRESS"]


def test_two_resources_share_one_store_watch_and_each_sees_only_its_events() -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        start = store.revision + 1
        pods, cms = follow(mux, PODS, start), follow(mux, CONFIGMAPS, start)
        await settle()
        want_pods, want_cms = [], []
        for i in range(5):
            r = await put(store, f"{PODS}a/p{i}")
            want_pods.append(("PUT", f"{PODS}a/p{i}", r))
            r = await put(store, f"{CONFIGMAPS}a/c{i}")
            want_cms.append(("PUT", f"{CONFIGMAPS}a/c{i}", r))
        await put(store, "/registry/core/podtemplates/a/t")  # under neither prefix
        await store.local.delete(f"{PODS}a/p0")
        want_pods.append(("DELETE", f"{PODS}a/p0", store.revision))
        await settle()
        assert events(pods) == want_pods
        assert events(cms) == want_cms
        assert store.watches == 1

    run(main)


def test_a_late_subscriber_is_replayed_from_its_start_then_follows_live() -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        first = store.revision + 1
        early = follow(mux, PODS, first)
        await settle()
        revisions = [await put(store, f"{PODS}a/p{i}") for i in range(6)]
        await settle()
        late = follow(mux, PODS, revisions[3])  # it has missed p3..p5
        await settle()
        revisions.append(await put(store, f"{PODS}a/p6"))
        await settle()
        assert [e[2] for e in events(early)] == revisions
        assert [e[2] for e in events(late)] == revisions[3:]
        assert store.watches == 1

    run(main)


def test_a_start_ahead_of_the_shared_watch_skips_what_comes_before_it() -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        follow(mux, CONFIGMAPS, store.revision + 1)
        await settle()
        ahead = store.revision + 3
        got = follow(mux, PODS, ahead)
        revisions = [await put(store, f"{PODS}a/p{i}") for i in range(5)]
        await settle()
        assert [e[2] for e in events(got)] == [r for r in revisions if r >= ahead]

    run(main)


def test_a_start_older_than_the_ring_gets_a_store_watch_of_its_own() -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        first = store.revision + 1
        follow(mux, PODS, first)
        await settle()
        revisions = [await put(store, f"{PODS}a/p{i}") for i in range(10)]
        await settle()
        old = follow(mux, PODS, first)  # the ring holds the last 3 events only
        await settle()
        assert [e[2] for e in events(old)] == revisions
        assert store.watches == 2

    run(main, ring=3)


def test_a_failed_shared_watch_reaches_its_subscriber_and_the_next_starts_afresh() -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        for i in range(5):
            await put(store, f"{PODS}a/p{i}")
        await store.local.compact(store.revision)
        stale = follow(mux, PODS, 2)
        await settle()
        assert stale[0].done() and isinstance(stale[0].exception(), CompactedError)
        fresh = follow(mux, PODS, store.revision + 1)
        await settle()
        r = await put(store, f"{PODS}a/new")
        await settle()
        assert events(fresh) == [("PUT", f"{PODS}a/new", r)]
        assert store.watches == 2

    run(main)


def test_when_the_store_watch_ends_every_subscriber_ends() -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        start = store.revision + 1
        subs = [follow(mux, PODS, start), follow(mux, CONFIGMAPS, start)]
        await settle()
        await store.local.close()
        await settle()
        assert all(sub[0].done() and sub[0].exception() is None for sub in subs)

    run(main)


@pytest.mark.parametrize("busy", [False, True], ids=["quiet", "busy"])
def test_progress_follows_each_answer_with_events_and_comes_each_second_when_quiet(
        busy: bool) -> None:
    async def main(store: CountingStore, mux: WatchMux) -> None:
        got = follow(mux, PODS, store.revision + 1, progress=True)
        await settle()
        for i in range(60):  # 20 writes a second for 3 s, all elsewhere unless busy
            await put(store, f"{PODS if busy else CONFIGMAPS}a/x{i}")
            await asyncio.sleep(0.05)
        markers = [item[1] for item in got[1:] if item[0] == "PROGRESS"]
        assert markers == sorted(markers) and markers[-1] >= store.revision - 20
        if busy:
            assert len(markers) >= 59, markers
        else:
            assert 3.0 / IDLE_PROGRESS - 1 <= len(markers) <= 3.0 / IDLE_PROGRESS + 1, markers

    run(main)
