"""Informer: list then watch, handlers in event order, recovery (resume, relist on 410, backoff).

Runs the real ApiClient and the real in-process API server (conftest `api`, `client`); the
`Faults` layer between them ends streams, opens network gaps and fails requests on demand, and
410s come from compacting the real store. Time never passes for the informer: it gets a
ManualClock and a recording `sleep`, and tests wait for conditions by yielding to the event
loop a bounded number of turns (`settle`).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

import pytest

from kubemu.cluster.api import watches
from kubemu.cluster.client import ApiClient, Informer, object_key
from kubemu.cluster.clock import ManualClock

from .faults import Faults, is_watch


class Recorder:
    """Handlers that log (verb, key, resourceVersion) in call order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def on_add(self, obj: dict) -> None:
        self.events.append(("add", object_key(obj), _rv(obj)))

    def on_update(self, old: dict, new: dict) -> None:
        self.events.append(("update", object_key(new), _rv(new)))

    def on_delete(self, obj: dict) -> None:
        self.events.append(("delete", object_key(obj), _rv(obj)))

    def verbs(self) -> list[tuple[str, str]]:
        return [(verb, key) for verb, key, _ in self.events]


class Sleeps:
    """The informer's `sleep`: records each delay and only yields to the loop."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def _rv(obj: dict) -> str:
    return obj["metadata"].get("resourceVersion", "")


def pod(name: str, ns: str = "default", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def revision(api: Faults) -> str:
    return str(api.store.revision)


def watch_requests(api: Faults) -> list:
    return [r for r in api.requests if is_watch(r)]


async def settle(pred, *, turns: int = 5000) -> None:
    for _ in range(turns):
        if pred():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make(client: ApiClient, sleeps: Sleeps):
    def build(api_version: str = "v1", kind: str = "Pod", **kw) -> Informer:
        return Informer(client, api_version, kind, clock=ManualClock(), sleep=sleeps, **kw)
    return build


@asynccontextmanager
async def running(informer: Informer, *, sync: bool = True):
    task = asyncio.create_task(informer.run())
    try:
        if sync:
            assert await informer.wait_synced(2)
        yield informer
    finally:
        informer.stop()
        await asyncio.wait_for(task, 2)


async def test_lists_then_watches_and_calls_handlers_in_event_order(api, client, make):
    for name in ("a", "b"):
        await client.create(pod(name))
    informer, rec = make(), Recorder()
    informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        assert rec.verbs() == [("add", "default/a"), ("add", "default/b")]
        assert informer.has_synced
        await client.create(pod("c"))
        await client.patch("v1", "Pod", "a", {"metadata": {"labels": {"x": "y"}}})
        await client.delete("v1", "Pod", "b")
        await settle(lambda: len(rec.events) == 5)
        assert rec.verbs()[2:] == [("add", "default/c"), ("update", "default/a"),
                                   ("delete", "default/b")]
        assert informer.lister.keys() == ["default/a", "default/c"]
        assert informer.lister.get("a", "default")["metadata"]["labels"] == {"x": "y"}
        assert informer.last_resource_version == revision(api)


async def test_listed_items_carry_their_kind_like_watched_ones(client, make):
    await client.create(pod("a"))
    async with running(make()) as informer:
        obj = informer.lister.get("a", "default")
        assert (obj["apiVersion"], obj["kind"]) == ("v1", "Pod")


async def test_a_transform_shapes_what_is_cached_and_handed_to_handlers(api, client, make):
    """client-go's SetTransform, as a node pool's NetworkPolicy view of every pod uses it:
    listed and watched objects alike are cached as the transform returns them."""
    from kubemu.network.podnetwork import policy_view

    await client.create(pod("listed", app="web"))
    informer, seen = make(transform=policy_view), []
    informer.add_handler(seen.append, lambda _old, new: seen.append(new), seen.append)
    async with running(informer):
        await client.create(pod("watched", app="db"))
        await client.delete("v1", "Pod", "listed")
        await settle(lambda: len(seen) == 3)
    assert [(o["metadata"]["name"], o["metadata"]["labels"]) for o in seen] == [
        ("listed", {"app": "web"}), ("watched", {"app": "db"}), ("listed", {"app": "web"})]
    for obj in [*seen, informer.lister.get("watched", "default")]:
        assert obj["spec"] == {"nodeName": None, "containers": []}  # image and all: dropped
        assert obj["metadata"]["resourceVersion"]
    assert informer.lister.keys() == ["default/watched"]


async def test_lists_in_pages_following_continue_tokens(api, client, make):
    for i in range(5):
        await client.create(pod(f"p{i}"))
    async with running(make(page_size=2)) as informer:
        lists = [r for r in api.requests if r.method == "GET" and "watch" not in r.query
                 and r.path == "/api/v1/pods"]
        assert [r.query.get("continue") is not None for r in lists] == [False, True, True]
        assert {r.query["limit"] for r in lists} == {"2"}
        assert len(informer.lister) == 5


async def test_expired_continue_token_falls_back_to_one_unpaged_list(api, client, make):
    for i in range(5):
        await client.create(pod(f"p{i}"))
    api.fail_next(1, 410, match=lambda r: "continue" in r.query)
    async with running(make(page_size=2)) as informer:
        lists = [r.query for r in api.requests if r.method == "GET" and not is_watch(r)]
        assert [(q.get("limit"), "continue" in q) for q in lists] == [
            ("2", False), ("2", True), (None, False)]
        assert informer.lister.keys() == [f"default/p{i}" for i in range(5)]


async def test_relist_after_expired_tells_handlers_what_the_gap_hid(api, client, make):
    for name in ("a", "b", "c"):
        await client.create(pod(name))
    informer, rec = make(), Recorder()
    informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        api.hold()  # a network gap: these writes never reach the open watch
        await client.delete("v1", "Pod", "b")
        await client.patch("v1", "Pod", "c", {"metadata": {"labels": {"v": "2"}}})
        await client.create(pod("d"))
        await api.compact()  # ... and the history that would replay them is gone
        api.hold(False)
        api.end_watches()
        await settle(lambda: len(rec.events) == 6)
        assert sorted(rec.verbs()[3:]) == [("add", "default/d"), ("delete", "default/b"),
                                           ("update", "default/c")]
        assert api.count(watch=False) == 2  # relisted once
        assert informer.lister.keys() == ["default/a", "default/c", "default/d"]
        await client.create(pod("e"))  # and watches again afterwards
        await settle(lambda: ("add", "default/e") in rec.verbs())


async def test_stream_end_resumes_from_last_resource_version(api, client, make, sleeps):
    informer, rec = make(), Recorder()
    informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        await client.create(pod("x"))
        await settle(lambda: len(rec.events) == 1)
        seen_rv = informer.last_resource_version
        api.end_watches()
        await client.create(pod("y"))  # written while the stream is ending
        await settle(lambda: api.count(watch=True) == 2)
        await client.create(pod("z"))
        await settle(lambda: len(rec.events) == 3)
        watches = watch_requests(api)
        assert watches[1].query["resourceVersion"] == seen_rv
        assert rec.verbs() == [("add", "default/x"), ("add", "default/y"),
                               ("add", "default/z")]
        assert api.count(watch=False) == 1  # no relist
        assert sleeps.delays == []  # the ended watch had delivered events: no backoff


async def test_resuming_after_a_gap_replays_what_the_gap_hid_without_relisting(api, client,
                                                                             make):
    informer, rec = make(), Recorder()
    informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        await client.create(pod("a"))
        await settle(lambda: len(rec.events) == 1)
        seen_rv = informer.last_resource_version
        api.hold()
        await client.create(pod("b"))
        for _ in range(200):  # the stream is open, but nothing crosses the gap
            await asyncio.sleep(0)
        assert rec.verbs() == [("add", "default/a")]
        api.hold(False)
        api.end_watches()
        await settle(lambda: len(rec.events) == 2)
        assert rec.verbs() == [("add", "default/a"), ("add", "default/b")]
        assert watch_requests(api)[1].query["resourceVersion"] == seen_rv
        assert api.count(watch=False) == 1


async def test_bookmark_moves_resource_version_without_calling_handlers(api, client, make,
                                                                        monkeypatch):
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", 0)  # a bookmark at every store progress
    informer, rec = make(), Recorder()
    informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
    async with running(informer):
        listed_rv = informer.last_resource_version
        await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "other", "namespace": "default"}})
        assert revision(api) != listed_rv
        await settle(lambda: informer.last_resource_version == revision(api))
        assert rec.events == []
        api.end_watches()
        await settle(lambda: api.count(watch=True) == 2)
        watches_sent = watch_requests(api)
        assert watches_sent[0].query["allowWatchBookmarks"] == "true"
        assert watches_sent[1].query["resourceVersion"] == revision(api)


@pytest.mark.parametrize("failures, watch, delays", [
    pytest.param(2, False, [0.1, 0.2], id="list-failures"),
    pytest.param(3, True, [0.1, 0.2, 0.4], id="watch-failures"),
    pytest.param(8, True, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0], id="capped-at-5s"),
])
async def test_failures_back_off_exponentially_then_recover(api, client, make, sleeps,
                                                            failures, watch, delays):
    api.fail_next(failures, 500, watch=watch)
    informer, rec = make(), Recorder()
    informer.add_handler(rec.on_add)
    async with running(informer):
        await settle(lambda: api.count(watch=True) == (failures + 1 if watch else 1))
        await client.create(pod("a"))
        await settle(lambda: rec.verbs() == [("add", "default/a")])
        assert sleeps.delays == delays


async def test_watches_that_close_at_once_back_off_until_one_delivers(api, client, make,
                                                                      sleeps):
    async with running(make()) as informer:
        await settle(lambda: len(api.watches) == 1)
        for n in (2, 3, 4):
            api.end_watches()
            await settle(lambda n=n: api.count(watch=True) == n)
        assert sleeps.delays == [0.1, 0.2, 0.4]
        await client.create(pod("a"))
        await settle(lambda: len(informer.lister) == 1)
        api.end_watches()  # this watch delivered an event: no pause, and the backoff resets
        await settle(lambda: api.count(watch=True) == 5)
        api.end_watches()
        await settle(lambda: api.count(watch=True) == 6)
        assert sleeps.delays == [0.1, 0.2, 0.4, 0.1]


async def test_handler_exception_is_logged_and_later_handlers_still_run(client, make,
                                                                        caplog):
    informer, rec = make(), Recorder()

    def boom(obj: dict) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=boom)
    informer.add_handler(rec.on_add, rec.on_update)
    with caplog.at_level(logging.ERROR, logger="kubemu.client.informer"):
        async with running(informer):
            await client.create(pod("a"))
            await client.patch("v1", "Pod", "a", {"metadata": {"labels": {"x": "1"}}})
            await settle(lambda: len(rec.events) == 2)
    assert rec.verbs() == [("add", "default/a"), ("update", "default/a")]
    assert "handler" in caplog.text and "default/a" in caplog.text


async def test_handler_added_after_sync_gets_adds_for_cached_objects(client, make):
    for name in ("a", "b"):
        await client.create(pod(name))
    async with running(make()) as informer:
        rec = Recorder()
        reg = informer.add_handler(rec.on_add, rec.on_update, rec.on_delete)
        assert rec.verbs() == [("add", "default/a"), ("add", "default/b")]
        informer.remove_handler(reg)
        await client.delete("v1", "Pod", "a")
        await settle(lambda: informer.lister.get("a", "default") is None)
        assert len(rec.events) == 2


async def test_stop_ends_run_and_closes_the_watch(api, make):
    informer = make()
    task = asyncio.create_task(informer.run())
    assert await informer.wait_synced(2)
    await settle(lambda: len(api.watches) == 1)
    informer.stop()
    await asyncio.wait_for(task, 2)
    assert api.watches == []
    assert not api.server.hub._feeds[("", "pods")].queues  # the server let the watcher go


async def test_wait_synced_answers_false_while_listing_keeps_failing(api, client):
    api.fail_next(1, 503, watch=False)
    never = asyncio.Event()

    async def stuck(seconds: float) -> None:
        await never.wait()

    informer = Informer(client, "v1", "Pod", clock=ManualClock(), sleep=stuck)
    async with running(informer, sync=False):
        assert await informer.wait_synced(0.01) is False
        assert not informer.has_synced


async def test_namespace_selector_and_indexers_scope_the_cache(api, client, make):
    for name in ("prod", "dev"):
        await client.create(namespace(name))
    await client.create(pod("a", "prod", app="web"))
    await client.create(pod("b", "prod", app="db"))
    await client.create(pod("c", "dev", app="web"))

    def by_node(obj: dict) -> list[str]:
        node = obj.get("spec", {}).get("nodeName")
        return [node] if node else []

    informer = make(namespace="prod", label_selector="app=web", indexers={"node": by_node})
    async with running(informer):
        assert informer.lister.keys() == ["prod/a"]
        await client.create({"apiVersion": "v1", "kind": "Binding",
                             "metadata": {"name": "a", "namespace": "prod"},
                             "target": {"kind": "Node", "name": "n1"}},
                            subresource="binding")
        await settle(lambda: informer.lister.by_index("node", "n1") != [])
        assert [object_key(o) for o in informer.lister.by_index("node", "n1")] == ["prod/a"]
        watch = watch_requests(api)[0]
        assert watch.path == "/api/v1/namespaces/prod/pods"
        assert watch.query["labelSelector"] == "app=web"
