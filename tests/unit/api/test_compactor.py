"""The API server compacts its store every 5 minutes to the revision of 5 minutes before, as
kube-apiserver does; several API servers over one store take turns instead of all compacting.
A real LocalStore; the API server in virtual time (tests/kube.py)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from kubemu.cluster.api.compactor import COMPACT_INTERVAL, Compactor
from kubemu.cluster.api.errors import ApiError
from kubemu.cluster.store import CompactedError
from kubemu.cluster.store.local import LocalStore
from tests import vtime
from tests.kube import api


async def _put(store: LocalStore, n: int) -> int:
    for i in range(n):
        await store.put(f"/registry/core/configmaps/a/c{i}", orjson.dumps({}))
    return store.revision


def test_a_tick_compacts_to_the_revision_read_one_tick_before() -> None:
    async def main() -> None:
        store = LocalStore()
        compactor = Compactor(store)
        first = await _put(store, 3)
        await compactor.tick()
        assert compactor.compacted == 0  # nothing at the first tick
        await store.range("/registry/", "/registry0", revision=1)  # history still there
        marked = compactor.revision
        assert marked > first
        await _put(store, 3)
        await compactor.tick()
        assert compactor.compacted == marked
        with pytest.raises(CompactedError):
            await store.range("/registry/", "/registry0", revision=first)
        assert (await store.range("/registry/", "/registry0", revision=marked))["count"] == 3
        await store.close()

    asyncio.run(main())


def test_two_api_servers_over_one_store_take_turns() -> None:
    async def main() -> None:
        store = LocalStore()
        a, b = Compactor(store), Compactor(store)
        for _ in range(4):  # four intervals, both servers ticking in each
            await _put(store, 2)
            await a.tick()
            await b.tick()
        # each interval one server wins the key; the other adopts its time and skips
        assert a.time == b.time
        assert max(a.compacted, b.compacted) > 0
        await store.close()

    asyncio.run(main())


def test_after_two_intervals_a_watch_from_before_them_is_410_gone() -> None:
    async def main() -> None:
        async with api() as kube:
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old"}}
            old = (await kube.client.create(cm, namespace="default"))["metadata"][
                "resourceVersion"]
            await kube.client.patch("v1", "ConfigMap", "old", {"data": {"k": "v"}},
                                    namespace="default")  # history a watch from `old` needs
            await asyncio.sleep(COMPACT_INTERVAL * 2 + 1)
            events = kube.client.watch("v1", "ConfigMap", namespace="default",
                                       resource_version=old)
            with pytest.raises(ApiError) as gone:
                await events.__anext__()
            assert gone.value.code == 410
            await events.aclose()
            listed = await kube.client.list("v1", "ConfigMap", namespace="default")
            assert [c["metadata"]["name"] for c in listed["items"]] == ["old"]

    vtime.run(main)
