"""Cache and Lister: keys, the namespace index, custom indexes kept in step, replace diffs."""

from __future__ import annotations

import pytest

from kubemu.cluster.client import Cache, Lister, object_key
from kubemu.cluster.client.lister import LABEL_INDEX, label_index


def pod(name: str, ns: str = "default", rv: str = "1", node: str = "",
        labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": rv,
                         "labels": labels or {}},
            "spec": {"nodeName": node}}


def by_node(obj: dict) -> list[str]:
    node = obj["spec"].get("nodeName")
    return [node] if node else []


@pytest.mark.parametrize("obj, key", [
    pytest.param(pod("web", "prod"), "prod/web", id="namespaced"),
    pytest.param({"metadata": {"name": "n1"}}, "n1", id="cluster-scoped"),
])
def test_object_key_is_namespace_slash_name(obj, key):
    assert object_key(obj) == key


def test_lister_gets_by_name_and_namespace():
    cache = Cache()
    cache.upsert(pod("web", "prod"))
    cache.upsert({"metadata": {"name": "n1"}})
    lister = Lister(cache)
    assert lister.get("web", "prod")["metadata"]["name"] == "web"
    assert lister.get("web", "default") is None
    assert lister.get("n1")["metadata"]["name"] == "n1"


def test_lister_lists_one_namespace_through_the_index_and_filters():
    cache = Cache()
    for name, ns, labels in [("a", "prod", {"app": "web"}), ("b", "prod", {}),
                             ("c", "dev", {"app": "web"})]:
        cache.upsert(pod(name, ns, labels=labels))
    lister = Lister(cache)
    assert [o["metadata"]["name"] for o in lister.list("prod")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in lister.list()] == ["c", "a", "b"]  # key order
    web = lister.list(selector=lambda o: o["metadata"]["labels"].get("app") == "web")
    assert [object_key(o) for o in web] == ["dev/c", "prod/a"]
    assert lister.by_index("namespace", "dev")[0]["metadata"]["name"] == "c"


def test_custom_index_follows_updates_and_deletes():
    cache = Cache({"node": by_node})
    lister = Lister(cache)
    cache.upsert(pod("a", node="n1"))
    cache.upsert(pod("b", node="n1"))
    assert [o["metadata"]["name"] for o in lister.by_index("node", "n1")] == ["a", "b"]
    cache.upsert(pod("a", node="n2", rv="2"))  # moved
    assert [o["metadata"]["name"] for o in lister.by_index("node", "n1")] == ["b"]
    assert [o["metadata"]["name"] for o in lister.by_index("node", "n2")] == ["a"]
    cache.delete("default/b")
    assert lister.by_index("node", "n1") == []
    assert cache.index_values("node") == ["n2"]


def test_unknown_index_is_an_error():
    with pytest.raises(KeyError, match="no index named"):
        Lister(Cache()).by_index("zone", "a")


@pytest.mark.parametrize("before, after, added, changed, deleted", [
    pytest.param([], [pod("a")], ["a"], [], [], id="first-fill-adds"),
    pytest.param([pod("a")], [pod("a")], [], [], [], id="same-version-is-no-change"),
    pytest.param([pod("a")], [pod("a", rv="2")], [], ["a"], [], id="new-version-changes"),
    pytest.param([pod("a"), pod("b")], [pod("b")], [], [], ["a"], id="missing-is-deleted"),
    pytest.param([pod("a")], [pod("b")], ["b"], [], ["a"], id="swap"),
])
def test_replace_answers_the_difference_from_the_previous_content(before, after, added,
                                                                  changed, deleted):
    cache = Cache({"node": by_node})
    cache.replace(before)
    got_added, got_changed, got_deleted = cache.replace(after)
    assert [o["metadata"]["name"] for o in got_added] == added
    assert [new["metadata"]["name"] for _, new in got_changed] == changed
    assert [o["metadata"]["name"] for o in got_deleted] == deleted
    assert sorted(cache.keys()) == sorted(object_key(o) for o in after)
    assert cache.index_values("namespace") == (["default"] if after else [])


def test_indexers_added_later_cover_objects_already_cached():
    cache = Cache()
    cache.upsert({"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1"}})
    cache.add_indexers({"node": lambda o: [o["spec"]["nodeName"]]})
    cache.upsert({"metadata": {"name": "b", "namespace": "ns"}, "spec": {"nodeName": "n1"}})
    assert [o["metadata"]["name"] for o in cache.by_index("node", "n1")] == ["a", "b"]


def test_with_labels_answers_a_label_map_in_one_namespace_as_labels_change():
    cache = Cache({LABEL_INDEX: label_index})
    lister = Lister(cache)
    for name, ns, labels in [("a", "prod", {"app": "web", "tier": "front"}),
                             ("b", "prod", {"app": "web"}), ("c", "prod", {"app": "db"}),
                             ("d", "dev", {"app": "web", "tier": "front"})]:
        cache.upsert(pod(name, ns, labels=labels))

    def names(ns: str, labels: dict) -> list[str]:
        return [o["metadata"]["name"] for o in lister.with_labels(ns, labels)]

    assert names("prod", {"app": "web"}) == ["a", "b"]
    assert names("prod", {"app": "web", "tier": "front"}) == ["a"]
    assert names("dev", {"app": "web"}) == ["d"] and names("prod", {"app": "api"}) == []
    cache.upsert(pod("b", "prod", rv="2", labels={"app": "web", "tier": "front"}))
    cache.upsert(pod("a", "prod", rv="2", labels={"app": "db"}))
    assert names("prod", {"app": "web", "tier": "front"}) == ["b"]
    assert names("prod", {"app": "db"}) == ["a", "c"]
    cache.delete("prod/c")
    assert names("prod", {"app": "db"}) == ["a"]
