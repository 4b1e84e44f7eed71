"""Lists and watches through the router: paging, resourceVersion semantics, selectors, 410."""

from __future__ import annotations

import asyncio
import base64
import random

import pytest

from kubemu.cluster.api import watchcache_feed

from .manifests import configmap
from .watchlines import watch_lines

CMS = "/api/v1/namespaces/default/configmaps"


async def _many(api, n: int, **labels) -> None:
    for i in range(n):
        await api.json("POST", CMS, configmap(f"cm-{i:02d}", labels=labels or {"i": str(i)}),
                       expect=201)


async def test_limit_and_continue_page_through_one_snapshot(api):
    await _many(api, 7)
    first = await api.json("GET", CMS, query={"limit": "3"})
    assert [c["metadata"]["name"] for c in first["items"]] == ["cm-00", "cm-01", "cm-02"]
    assert first["metadata"]["remainingItemCount"] == 4
    await api.json("POST", CMS, configmap("cm-99"), expect=201)  # after the snapshot
    names = [c["metadata"]["name"] for c in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = await api.json("GET", CMS, query={"limit": "3", "continue": token})
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [c["metadata"]["name"] for c in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"cm-{i:02d}" for i in range(7)]


async def test_continue_after_compaction_is_410_expired(api):
    await _many(api, 4)
    first = await api.json("GET", CMS, query={"limit": "2"})
    await api.json("POST", CMS, configmap("later"), expect=201)
    await api.store.compact(api.store.revision)
    status = await api.json("GET", CMS, query={"limit": "2",
                                               "continue": first["metadata"]["continue"]},
                            expect=410)
    assert status["reason"] == "Expired"


@pytest.mark.parametrize("selector,expected", [
    pytest.param("tier=web", ["a", "c"], id="equals"),
    pytest.param("tier==web", ["a", "c"], id="double-equals"),
    pytest.param("tier!=web", ["b", "d"], id="not-equals-includes-missing"),
    pytest.param("tier in (web,db)", ["a", "b", "c"], id="in"),
    pytest.param("tier notin (web)", ["b", "d"], id="notin"),
    pytest.param("tier", ["a", "b", "c"], id="exists"),
    pytest.param("!tier", ["d"], id="does-not-exist"),
    pytest.param("tier=web,env=prod", ["c"], id="and"),
])
async def test_label_selectors(api, selector, expected):
    for name, labels in [("a", {"tier": "web"}), ("b", {"tier": "db"}),
                         ("c", {"tier": "web", "env": "prod"}), ("d", {})]:
        await api.json("POST", CMS, configmap(name, labels=labels), expect=201)
    got = await api.json("GET", CMS, query={"labelSelector": selector})
    assert [c["metadata"]["name"] for c in got["items"]] == expected


async def test_selector_paging_never_skips_a_match(api):
    for i in range(12):
        await api.json("POST", CMS, configmap(f"x{i:02d}", labels={"odd": str(i % 2)}),
                       expect=201)
    names, token = [], ""
    while True:
        q = {"limit": "2", "labelSelector": "odd=1"}
        if token:
            q["continue"] = token
        page = await api.json("GET", CMS, query=q)
        names += [c["metadata"]["name"] for c in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert names == [f"x{i:02d}" for i in range(1, 12, 2)]


async def test_field_selectors_on_name_and_pod_fields(api):
    await _many(api, 3)
    got = await api.json("GET", CMS, query={"fieldSelector": "metadata.name=cm-01"})
    assert [c["metadata"]["name"] for c in got["items"]] == ["cm-01"]
    pods = "/api/v1/namespaces/default/pods"
    for name in ("p1", "p2"):
        await api.json("POST", pods, {"metadata": {"name": name}, "spec": {
            "containers": [{"name": "c", "image": "nginx"}]}}, expect=201)
    await api.json("POST", f"{pods}/p1/binding", {"metadata": {"name": "p1"},
                                                  "target": {"kind": "Node", "name": "n1"}},
                   expect=201)
    bound = await api.json("GET", pods, query={"fieldSelector": "spec.nodeName=n1"})
    assert [p["metadata"]["name"] for p in bound["items"]] == ["p1"]
    unbound = await api.json("GET", "/api/v1/pods", query={"fieldSelector": "spec.nodeName="})
    assert [p["metadata"]["name"] for p in unbound["items"]] == ["p2"]
    pending = await api.json("GET", pods, query={"fieldSelector": "status.phase=Pending"})
    assert len(pending["items"]) == 2
    bad = await api.json("GET", pods, query={"fieldSelector": "spec.foo=x"}, expect=400)
    assert "field label not supported: spec.foo" in bad["message"]


async def test_a_watch_of_unscheduled_pods_with_a_label_selector_sees_them_come_and_go(api):
    """The scheduler's kind of watch (spec.nodeName= plus labels): a pod leaves it when bound
    and joins it when relabelled into the selector, judged on the object before the change."""
    pods = "/api/v1/namespaces/default/pods"
    mark = (await api.json("GET", pods))["metadata"]["resourceVersion"]  # the cache is built
    watch = asyncio.create_task(api.events("/api/v1/pods", {
        "resourceVersion": mark, "fieldSelector": "spec.nodeName=", "labelSelector": "app=web",
        "timeoutSeconds": "5"}, count=4))
    await asyncio.sleep(0)
    for name, app in (("p1", "web"), ("p2", "db")):
        await api.json("POST", pods, {"metadata": {"name": name, "labels": {"app": app}},
                                      "spec": {"containers": [{"name": "c", "image": "i"}]}},
                       expect=201)
    await api.json("POST", f"{pods}/p1/binding", {
        "metadata": {"name": "p1"}, "target": {"kind": "Node", "name": "n1"}}, expect=201)
    patch = {"content-type": "application/merge-patch+json"}
    await api.json("PATCH", f"{pods}/p2", {"metadata": {"labels": {"app": "web"}}},
                   headers=patch)
    await api.json("PATCH", f"{pods}/p2", {"metadata": {"labels": {"app": "db"}}},
                   headers=patch)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in await watch] == [
        ("ADDED", "p1"), ("DELETED", "p1"), ("ADDED", "p2"), ("DELETED", "p2")]


async def test_exact_resource_version_reads_the_past(api):
    await api.json("POST", CMS, configmap("old"), expect=201)
    then = str(api.store.revision)
    await api.json("POST", CMS, configmap("new"), expect=201)
    past = await api.json("GET", CMS, query={"resourceVersion": then,
                                             "resourceVersionMatch": "Exact"})
    assert [c["metadata"]["name"] for c in past["items"]] == ["old"]
    await api.store.compact(api.store.revision)
    await api.json("GET", CMS, query={"resourceVersion": then, "resourceVersionMatch": "Exact"},
                   expect=410)
    await api.json("GET", CMS, query={"resourceVersionMatch": "Exact"}, expect=400)


async def test_watch_from_zero_lists_then_streams_changes(api):
    await api.json("POST", CMS, configmap("first"), expect=201)
    resp = await api.call("GET", CMS, query={"watch": "true", "resourceVersion": "0"})
    lines = watch_lines(resp.stream).__aiter__()
    import orjson
    added = orjson.loads(await lines.__anext__())
    assert (added["type"], added["object"]["metadata"]["name"]) == ("ADDED", "first")
    await api.json("PATCH", f"{CMS}/first", {"data": {"k": "2"}},
                   headers={"content-type": "application/merge-patch+json"})
    modified = orjson.loads(await lines.__anext__())
    assert modified["type"] == "MODIFIED" and modified["object"]["data"] == {"k": "2"}
    await api.json("DELETE", f"{CMS}/first")
    deleted = orjson.loads(await lines.__anext__())
    assert deleted["type"] == "DELETED"
    assert int(deleted["object"]["metadata"]["resourceVersion"]) == api.store.revision
    await resp.stream.aclose()


async def test_watch_resumes_from_a_resource_version_without_gaps(api):
    await api.json("POST", CMS, configmap("a"), expect=201)
    mark = str(api.store.revision)
    await api.json("POST", CMS, configmap("b"), expect=201)
    await api.json("POST", CMS, configmap("c"), expect=201)
    events = await api.events(CMS, {"resourceVersion": mark}, count=2)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("ADDED", "c")]


async def test_a_watch_resuming_from_before_what_the_ring_holds_still_sees_every_change(api):
    """The hub's rings keep at most RING_BYTES of events: large objects leave them sooner,
    and a watch from before their floor is served by the store, still whole and in order."""
    await api.json("POST", CMS, configmap("big"), expect=201)
    await api.json("GET", CMS, query={"limit": "1"})  # the configmaps feed and cache run
    mark = str(api.store.revision)
    updates = 2 * watchcache_feed.RING_BYTES // (2 * 200_000) + 10
    for i in range(updates):  # random text: stored compressed, it still takes >= 200 KB
        noise = base64.b64encode(random.Random(i).randbytes(225_000)).decode()
        await api.json("PUT", f"{CMS}/big", configmap("big", {"k": f"{i:06d}" + noise}))
    feed = api.server.hub._feeds[("", "configmaps")]
    deadline = asyncio.get_running_loop().time() + 30
    while feed.through < api.store.revision - 1:  # the feed has every update in its ring
        assert asyncio.get_running_loop().time() < deadline, "the feed fell behind"
        await asyncio.sleep(0.01)
    assert feed.ring.bytes <= watchcache_feed.RING_BYTES and feed.floor > int(mark) + 1
    events = await api.events(CMS, {"resourceVersion": mark}, count=updates)
    assert [e["object"]["data"]["k"][:6] for e in events] == [f"{i:06d}" for i in range(updates)]
    assert {e["type"] for e in events} == {"MODIFIED"}


async def test_watch_from_a_compacted_version_is_an_expired_error_event(api):
    await api.json("POST", CMS, configmap("a"), expect=201)
    mark = str(api.store.revision)
    await api.json("POST", CMS, configmap("b"), expect=201)
    await api.json("POST", CMS, configmap("c"), expect=201)
    await api.store.compact(api.store.revision)  # revision mark + 1 is gone
    # a fresh hub starts after the compaction, so the watcher falls back to the store
    [event] = await api.events(CMS, {"resourceVersion": mark}, count=1)
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


async def test_watch_with_selector_sees_objects_enter_and_leave(api):
    await api.json("POST", CMS, configmap("m", labels={"on": "no"}), expect=201)
    mark = str(api.store.revision)
    for value in ("yes", "no"):
        await api.json("PATCH", f"{CMS}/m", {"metadata": {"labels": {"on": value}}},
                       headers={"content-type": "application/merge-patch+json"})
    events = await api.events(CMS, {"resourceVersion": mark, "labelSelector": "on=yes"},
                              count=2)
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


async def test_watch_timeout_ends_the_stream(api):
    resp = await api.call("GET", CMS, query={"watch": "1", "resourceVersion": "1",
                                             "timeoutSeconds": "1"})
    got = [line async for line in watch_lines(resp.stream)]
    assert all(b'"ERROR"' not in line for line in got)


async def test_watches_without_a_timeout_end_at_spread_times(api, monkeypatch):
    """As upstream: min-request-timeout (1,800 s) times a random 1..2, so the watches a
    cluster opens together at start are not all ended, and reopened, in the same moment."""
    from kubemu.cluster.api import router
    chosen: list[float] = []
    real = router.watch_events

    def spy(*args, **kwargs):
        chosen.append(kwargs["timeout"])
        return real(*args, **kwargs)

    monkeypatch.setattr(router, "watch_events", spy)
    for _ in range(8):
        resp = await api.call("GET", CMS, query={"watch": "1", "resourceVersion": "1"})
        await resp.stream.aclose()
    resp = await api.call("GET", CMS, query={"watch": "1", "resourceVersion": "1",
                                             "timeoutSeconds": "5"})
    await resp.stream.aclose()
    assert all(1800 <= t < 3600 for t in chosen[:8]) and len(set(chosen[:8])) == 8
    assert chosen[8] == 5  # a client's own timeoutSeconds is kept


async def test_bookmarks_carry_the_revision_a_quiet_watch_has_seen(api, monkeypatch):
    from kubemu.cluster.api import watches
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", 0.0)
    mark = str(api.store.revision)
    resp = await api.call("GET", CMS, query={"watch": "true", "resourceVersion": mark,
                                             "allowWatchBookmarks": "true"})
    lines = watch_lines(resp.stream).__aiter__()
    import asyncio

    import orjson
    first = asyncio.ensure_future(lines.__anext__())
    secret = await api.json("POST", "/api/v1/namespaces/default/secrets",
                            {"metadata": {"name": "s"}}, expect=201)
    event = orjson.loads(await asyncio.wait_for(first, 10))
    assert event["type"] == "BOOKMARK"
    assert int(event["object"]["metadata"]["resourceVersion"]) >= \
        int(secret["metadata"]["resourceVersion"])
    await resp.stream.aclose()


@pytest.mark.parametrize("bookmarks", [True, False], ids=["bookmarks", "no-bookmarks"])
async def test_a_watch_reaching_its_timeout_ends_with_a_bookmark_if_it_allows_them(
        api, monkeypatch, bookmarks):
    """As upstream's cacher: whatever the bookmark period, a watch's last event before its
    timeout is a BOOKMARK at the revision it has seen through, so it resumes from there."""
    import math

    import orjson

    from kubemu.cluster.api import watches
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", math.inf)
    mark = str(api.store.revision)
    resp = await api.call("GET", CMS, query={
        "watch": "true", "resourceVersion": mark, "timeoutSeconds": "1",
        "allowWatchBookmarks": str(bookmarks).lower()})
    created = await api.json("POST", CMS, configmap("c"), expect=201)
    got = [orjson.loads(line) async for line in watch_lines(resp.stream)]
    assert [e["type"] for e in got] == (["ADDED", "BOOKMARK"] if bookmarks else ["ADDED"]), got
    if bookmarks:
        assert int(got[-1]["object"]["metadata"]["resourceVersion"]) >= \
            int(created["metadata"]["resourceVersion"])


async def test_a_node_name_watch_sees_its_pods_bind_change_and_leave(api):
    """The kubelet's watch (fieldSelector spec.nodeName=<node>) is routed by node: it sees
    exactly the pods bound to its node, from binding to deletion, and nothing else."""
    pods = "/api/v1/namespaces/default/pods"
    listed = await api.json("GET", pods)
    mark = listed["metadata"]["resourceVersion"]
    # opened before the writes: served from the hub's feed, where routing by node happens
    routed = asyncio.create_task(api.events("/api/v1/pods", {
        "resourceVersion": mark, "fieldSelector": "spec.nodeName=n1", "timeoutSeconds": "5"},
        count=3))
    await asyncio.sleep(0)
    for name in ("p1", "p2"):
        await api.json("POST", pods, {"metadata": {"name": name}, "spec": {
            "containers": [{"name": "c", "image": "nginx"}]}}, expect=201)
    for name, node in (("p1", "n1"), ("p2", "n2")):
        await api.json("POST", f"{pods}/{name}/binding", {
            "metadata": {"name": name}, "target": {"kind": "Node", "name": node}}, expect=201)
    await api.json("PATCH", f"{pods}/p1/status", {"status": {"phase": "Running"}},
                   headers={"content-type": "application/merge-patch+json"})
    await api.json("DELETE", f"{pods}/p2", {"gracePeriodSeconds": 0})
    await api.json("DELETE", f"{pods}/p1", {"gracePeriodSeconds": 0})
    for events in (await routed, await api.events("/api/v1/pods", {
            "resourceVersion": mark, "fieldSelector": "spec.nodeName=n1", "timeoutSeconds": "5"},
        count=3)):
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "p1"), ("MODIFIED", "p1"), ("DELETED", "p1")]
        assert events[1]["object"]["status"]["phase"] == "Running"
    everything = await api.events("/api/v1/pods", {"resourceVersion": mark}, count=7)
    assert [e["type"] for e in everything].count("DELETED") == 2


async def test_events_ready_together_come_as_one_chunk_of_whole_lines(api):
    """A watcher behind by many events gets them in one write, each a whole JSON line."""
    import orjson
    first = await api.call("GET", CMS, query={"watch": "true",
                                              "resourceVersion": str(api.store.revision)})
    lines = watch_lines(first.stream).__aiter__()
    await api.json("POST", CMS, configmap("warm"), expect=201)
    await lines.__anext__()  # the server's feed of ConfigMaps runs from here on
    mark = str(api.store.revision)
    names = [f"burst-{i}" for i in range(20)]
    for name in names:
        await api.json("POST", CMS, configmap(name), expect=201)
    for _ in names:  # the feed has them all once these came
        await lines.__anext__()
    await first.stream.aclose()
    behind = await api.call("GET", CMS, query={"watch": "true", "resourceVersion": mark})
    chunk = await behind.stream.__anext__()
    await behind.stream.aclose()
    events = [orjson.loads(line) for line in chunk.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == \
        [("ADDED", name) for name in names]
    assert chunk.endswith(b"\n") and chunk.count(b"\n") == len(names)
