"""Updates and patches try the watch cache's copy first (upstream's GuaranteedUpdate
suggestion) and stay exactly as correct as store reads: a stale copy costs a retry, never a
lost write or a wrong Conflict; a patch without a resourceVersion is retried when another
write lands between its read and its write, as upstream's patcher retries it."""

from __future__ import annotations


from kubemu.cluster.api import transformer
from kubemu.cluster.api.objects import encode

from .manifests import configmap

CMS = "/api/v1/namespaces/default/configmaps"
MERGE = {"content-type": "application/merge-patch+json"}


async def _cached(api, name: str) -> dict:
    """Start the ConfigMap watch cache (a list does) and wait until it holds `name`."""
    hub = api.server.hub
    res = api.server.registry.lookup("", "v1", "configmaps")
    await hub.cache(res, wait=True)
    key = res.key("default", name)
    for _ in range(1000):
        kv = hub.cached_kv(res, key)
        current = await api.store.request({"op": "range", "key": key})
        if kv is not None and kv["mod_revision"] == current["kvs"][0]["mod_revision"]:
            return {"res": res, "key": key}
        await api.json("GET", CMS)  # lets the feed run
    raise AssertionError("the watch cache never caught up")


async def _write_behind_the_cache(api, at: dict, data: dict) -> int:
    """Write the object in the store directly; the cache has not seen it when this returns
    (nothing yields to the feed in between)."""
    kv = (await api.store.request({"op": "range", "key": at["key"]}))["kvs"][0]
    obj = transformer.loads(kv["value"])
    obj["data"] = data
    result = await api.store.request({"op": "put", "key": at["key"], "value": encode(obj)})
    assert api.server.hub.cached_kv(at["res"], at["key"])["mod_revision"] < result["revision"]
    return result["revision"]


async def test_an_update_over_a_stale_cached_copy_still_applies(api):
    await api.json("POST", CMS, configmap("a", data={"k": "1"}), expect=201)
    at = await _cached(api, "a")
    revision = await _write_behind_the_cache(api, at, {"k": "behind"})
    updated = await api.json("PUT", f"{CMS}/a", configmap("a", data={"k": "mine"}))
    assert updated["data"] == {"k": "mine"}
    assert int(updated["metadata"]["resourceVersion"]) > revision


async def test_a_precondition_on_a_stale_cached_version_is_a_conflict(api):
    created = await api.json("POST", CMS, configmap("a", data={"k": "1"}), expect=201)
    at = await _cached(api, "a")
    await _write_behind_the_cache(api, at, {"k": "behind"})
    body = configmap("a", data={"k": "mine"})
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status = await api.json("PUT", f"{CMS}/a", body, expect=409)
    assert status["reason"] == "Conflict"
    stored = await api.json("GET", f"{CMS}/a")
    assert stored["data"] == {"k": "behind"}


async def test_a_patch_over_a_stale_cached_copy_keeps_the_other_write(api):
    await api.json("POST", CMS, configmap("a", data={"k": "1"}), expect=201)
    at = await _cached(api, "a")
    await _write_behind_the_cache(api, at, {"k": "behind"})
    patched = await api.json("PATCH", f"{CMS}/a", {"data": {"x": "2"}}, headers=MERGE)
    assert patched["data"] == {"k": "behind", "x": "2"}


async def test_a_patch_racing_another_write_is_retried_not_a_conflict(api):
    await api.json("POST", CMS, configmap("a", data={"k": "1"}), expect=201)
    handlers = api.server.handlers
    read = handlers.read_kv
    raced = []

    async def read_then_race(res, namespace, name):
        kv = await read(res, namespace, name)
        if not raced:  # another client writes between this patch's read and its write
            raced.append(True)
            obj = transformer.loads(kv["value"])
            obj["data"] = {"k": "race"}
            await api.store.request({"op": "put", "key": kv["key"], "value": encode(obj)})
        return kv

    handlers.read_kv = read_then_race
    handlers.suggest = lambda _res, _key: None  # read the store, so the race happens
    patched = await api.json("PATCH", f"{CMS}/a", {"data": {"x": "2"}}, headers=MERGE)
    assert raced and patched["data"] == {"k": "race", "x": "2"}
    body = {"metadata": {"resourceVersion": patched["metadata"]["resourceVersion"]},
            "data": {"y": "3"}}
    raced.clear()
    status = await api.json("PATCH", f"{CMS}/a", body, headers=MERGE, expect=409)
    assert status["reason"] == "Conflict"  # a patch with a resourceVersion is not retried
