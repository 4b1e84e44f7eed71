"""The watch cache answers every list exactly as the store would (property test).

Random writes, deletes, compactions and lists (selectors, limits, every resourceVersion mode)
run against one LocalStore; each list is answered twice -- through the watch cache
(`serve_list`) and straight from the store (`list_objects`) -- and the two answers (items,
order, resourceVersion, continue, remainingItemCount, or the error) must be equal, page after
page, with writes between the pages. The cache is built in small chunks while writes land.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubemu.cluster.api import watches
from kubemu.cluster.api.lists import ListQuery, list_objects
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.watchcache_lists import serve_list
from kubemu.cluster.api.watches import WatchHub
from tests import vtime

from .watchcache_store import CountingStore

PODS = builtin_registry().lookup("", "v1", "pods")

NAMES = st.sampled_from([f"p{i}" for i in range(8)])
NAMESPACES = st.sampled_from(["a", "b"])
WRITE = st.one_of(
    st.tuples(st.just("put"), NAMESPACES, NAMES,
              st.sampled_from([{}, {"app": "x"}, {"app": "y"}, {"app": "x", "tier": "web"}]),
              st.sampled_from(["", "n1", "n2"]), st.sampled_from(["", "Running"])),
    st.tuples(st.just("delete"), NAMESPACES, NAMES),
)
LIST = st.tuples(
    st.just("list"),
    st.sampled_from(["", "a", "b"]),
    st.sampled_from(["", "app=x", "app!=x", "tier", "!tier", "app in (x,y)"]),
    st.sampled_from(["", "spec.nodeName=n1", "spec.nodeName!=n1", "spec.nodeName=",
                     "metadata.name=p3", "metadata.namespace=b", "status.phase=Running",
                     "spec.nodeName=n2,metadata.namespace=a"]),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(["latest", "any", "not-older-than", "exact-now", "exact-past"]),
    st.lists(st.one_of(WRITE, st.just(("compact",))), max_size=3),  # between pages
)
OPS = st.lists(st.one_of(WRITE, WRITE, LIST, st.just(("compact",))), min_size=1, max_size=25)


async def _outcome(call) -> tuple:
    try:
        return ("ok", await call)
    except Exception as exc:  # the same error type and message on both paths
        return ("error", type(exc).__name__, str(exc))


async def _write(store: CountingStore, op: tuple) -> None:
    if op[0] == "put":
        _, ns, name, labels, node, phase = op
        await store.put_pod(ns, name, labels=labels, node=node, phase=phase)
    elif op[0] == "delete":
        await store.delete_pod(op[1], op[2])
    elif store.revision > 1:
        try:
            await store.local.compact(store.revision)
        except Exception:  # already compacted at this revision
            pass


def _query(mode: str, store: CountingStore, **kw) -> ListQuery:
    rv, match = {"latest": ("", ""), "any": ("0", ""),
                 "not-older-than": (str(max(1, store.revision - 2)), "NotOlderThan"),
                 "exact-now": (str(store.revision), "Exact"),
                 "exact-past": (str(max(1, store.revision - 3)), "Exact")}[mode]
    return ListQuery(resource_version=rv, resource_version_match=match, **kw)


async def _fresh_cache(store: CountingStore, hub: WatchHub) -> None:
    """Wait until the cache has seen the last write. A compaction past the feed's next
    revision ends the feed (as etcd cancels such a watch): the next list rebuilds it."""
    for _ in range(3):
        cache = await hub.cache(PODS, wait=True)
        if cache is not None and await hub.fresh(PODS, cache, store.revision, 3.0):
            return
    raise AssertionError("the watch cache did not become fresh")


async def _compare_list(store: CountingStore, hub: WatchHub, op: tuple) -> None:
    _, namespace, labels, fields, limit, mode, between = op
    await _fresh_cache(store, hub)  # "any" reads the cache as it is: let it catch up first
    query = _query(mode, store, label_selector=labels, field_selector=fields, limit=limit)
    served = hub.stats["lists_from_cache"]
    cached = await _outcome(serve_list(hub, PODS, namespace, query))
    direct = await _outcome(list_objects(store, PODS, namespace, query))
    assert cached == direct, (query, cached, direct)
    if mode not in ("exact-past",):
        assert hub.stats["lists_from_cache"] == served + 1
    for step in range(20):
        if cached[0] != "ok" or not cached[1]["metadata"].get("continue"):
            return
        if step < len(between):
            await _write(store, between[step])
            await _fresh_cache(store, hub)  # the snapshot must hold with the cache moved on
        query = ListQuery(label_selector=labels, field_selector=fields, limit=limit,
                          continue_=cached[1]["metadata"]["continue"])
        cached = await _outcome(serve_list(hub, PODS, namespace, query))
        direct = await _outcome(list_objects(store, PODS, namespace, query))
        assert cached == direct, (query, cached, direct)
    raise AssertionError("a list of at most 16 pods took more than 20 pages")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(WRITE, max_size=12), during=st.lists(WRITE, max_size=8), ops=OPS)
def test_cache_and_store_give_identical_lists(before, during, ops) -> None:
    async def main() -> None:
        store = CountingStore()
        hub = WatchHub(store)
        try:
            for op in before:
                await _write(store, op)
            assert await hub.cache(PODS) is None  # the build starts ...
            for op in during:  # ... and these land between its chunk reads
                await asyncio.sleep(0)
                await _write(store, op)
            for op in ops:
                if op[0] == "list":
                    await _compare_list(store, hub, op)
                else:
                    await _write(store, op)
        finally:
            await hub.stop()
            await store.local.close()

    vtime.run(main)


@pytest.fixture(autouse=True)
def _small_build_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watches, "BUILD_CHUNK", 3)
