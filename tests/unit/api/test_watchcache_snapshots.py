"""Watch cache snapshots (property test): a snapshot taken at some revision answers every page
-- items, order, continue, remainingItemCount -- exactly as that revision's state did, however
many puts and deletes the cache applies after it (a snapshot is the live state with the writes
since undone, nothing copied)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kubemu.cluster.api import transformer
from kubemu.cluster.api.lists import ListQuery, plan_list
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.watchcache import View, WatchCache
from kubemu.cluster.api.watchcache_feed import Change
from kubemu.cluster.api.watchcache_lists import page
from kubemu.cluster.store.keyindex import SortedKeys

PODS = builtin_registry().lookup("", "v1", "pods")
KEYS = [f"/registry/core/pods/{ns}/p{i}" for ns in ("a", "b") for i in range(6)]
OP = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.sampled_from(["", "x"])),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just("")),
    st.tuples(st.just("snapshot"), st.just(""), st.just("")),
)


def _change(kind: str, key: str, revision: int, app: str) -> Change:
    ns, name = key.split("/")[-2:]
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": app} if app else {}}}
    kv = {"key": key, "mod_revision": revision, "value": transformer.write(orjson.dumps(obj))}
    return Change({"type": "DELETE" if kind == "delete" else "PUT", "kv": kv})


def _pages(view: View, namespace: str, limit: int, labels: str) -> list[tuple]:
    """Every page of a list read from `view`: (names, continue, remainingItemCount)."""
    out, token = [], ""
    for _ in range(20):
        plan = plan_list(PODS, namespace, ListQuery(limit=limit, continue_=token,
                                                     label_selector=labels))
        answer, _ = page(PODS, plan, view)
        md = answer["metadata"]
        out.append(([o["metadata"]["name"] for o in answer["items"]],
                    [o["metadata"]["labels"] for o in answer["items"]],
                    md.get("continue"), md.get("remainingItemCount")))
        token = md.get("continue", "")
        if not token:
            return out
    raise AssertionError("more than 20 pages of at most 12 pods")


def _copy(cache: WatchCache) -> View:
    """The cache's state as a plain copy: what a snapshot must keep answering."""
    return View(cache.revision, SortedKeys(cache.objects).sorted(), dict(cache.objects))


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(OP, max_size=40), limit=st.integers(1, 4),
       namespace=st.sampled_from(["", "a", "b"]), labels=st.sampled_from(["", "app=x"]))
def test_a_snapshot_pages_as_its_revision_did_whatever_is_written_after(
        ops, limit, namespace, labels) -> None:
    cache = WatchCache(kind="Pod", trigger_field="spec.nodeName")
    cache.begin(1)
    cache.finish()
    revision, taken = 1, []
    for kind, key, app in ops:
        if kind == "snapshot":
            taken.append((cache.snapshot(now=0.0), _copy(cache)))
            continue
        revision += 1
        cache.apply(_change(kind, key, revision, app))
        cache.advance(revision)
    for snapshot, then in taken:
        assert snapshot.revision == then.revision
        assert _pages(snapshot, namespace, limit, labels) == \
            _pages(then, namespace, limit, labels)
