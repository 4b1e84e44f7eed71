"""Counting a node's pods that match a selector: the label index against a walk over the pods."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.scheduler.cache import SchedulerCache
from kubemu.cluster.scheduler.interface import CycleState
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.plugins.podcounts import (
    equality_pairs,
    indexed_counter,
    label_matcher,
)
from kubemu.cluster.scheduler.plugins.podtopologyspread import PodTopologySpread

from tests.unit.scheduler.builders import node, pod

NAMESPACES = ("default", "other")
LABELS = st.dictionaries(st.sampled_from(("app", "pod-template-hash", "tier")),
                         st.sampled_from(("a", "b")), max_size=3)
SELECTORS = st.dictionaries(st.sampled_from(("app", "pod-template-hash", "tier")),
                            st.sampled_from(("a", "b")), min_size=1, max_size=3)
# ("add", namespace, labels, being deleted) or ("remove", index of a pod on the node)
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(NAMESPACES), LABELS, st.booleans()),
    st.tuples(st.just("remove"), st.integers(0, 50))), max_size=40)


def walked(info: NodeInfo, namespace: str, selector: dict) -> int:
    matches = label_matcher(selector_from_dict({"matchLabels": selector}))
    return sum(1 for p in info.pods
               if p["metadata"]["namespace"] == namespace
               and not p["metadata"].get("deletionTimestamp")
               and matches(p["metadata"].get("labels") or {}))


def apply(info: NodeInfo, ops: list, start: int) -> None:
    for i, op in enumerate(ops, start):
        if op[0] == "add":
            p = pod(f"p{i}")
            p["metadata"].update(namespace=op[1], labels=op[2])
            if op[3]:
                p["metadata"]["deletionTimestamp"] = "2026-11-25T00:00:00Z"
            info.add_pod(p)
        elif info.pods:
            info.remove_pod(info.pods[op[1] % len(info.pods)])


@settings(max_examples=200, deadline=None)
@given(OPS, OPS, SELECTORS)
def test_indexed_counts_equal_a_walk_over_the_pods_through_changes_and_clones(
        before: list, after: list, selector: dict) -> None:
    info = NodeInfo(node("n1"))
    apply(info, before, 0)
    copy = info.clone()
    expected_original = {ns: walked(info, ns, selector) for ns in NAMESPACES}
    apply(copy, after, len(before))
    pairs = equality_pairs(selector_from_dict({"matchLabels": selector}))
    assert pairs is not None
    for ns in NAMESPACES:
        count = indexed_counter(ns, pairs)
        assert count(copy) == walked(copy, ns, selector)
        assert count(info) == expected_original[ns]       # the clone changed alone


def test_only_selectors_of_single_value_equalities_are_indexed() -> None:
    assert equality_pairs(selector_from_dict({"matchLabels": {"app": "a"}})) == (("app", "a"),)
    assert equality_pairs(selector_from_dict({"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["a"]}]})) == (("app", "a"),)
    for sel in ({}, {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]},
                {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}):
        assert equality_pairs(selector_from_dict(sel)) is None
    assert equality_pairs(None) is None


ZONE = "topology.kubernetes.io/zone"
# (node index, namespace, labels, being deleted)
PLACED = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(NAMESPACES), LABELS,
                            st.booleans()), max_size=40)


def spread_scores(snapshot: Snapshot, incoming: dict) -> dict[str, int]:
    """PodTopologySpread's normalized scores under the cluster defaults (hostname and zone),
    the pod's own labels standing for its ReplicaSet's selector."""
    plugin = PodTopologySpread(selectors_for=lambda p: selector_from_dict(
        {"matchLabels": p["metadata"]["labels"]}))
    state = CycleState()
    plugin.pre_filter(state, incoming, snapshot)
    assert plugin.pre_score(state, incoming, snapshot.node_infos).ok
    scores = {ni.name: plugin.score(state, incoming, ni) for ni in snapshot.node_infos}
    plugin.normalize_scores(state, incoming, scores)
    return scores


@settings(max_examples=150, deadline=None)
@given(PLACED, st.lists(st.integers(0, 40), max_size=10), st.sampled_from(NAMESPACES), SELECTORS)
def test_spreading_scores_from_the_cache_label_index_equal_those_from_every_node(
        placed: list, removed: list, namespace: str, labels: dict) -> None:
    cache = SchedulerCache()
    for i in range(6):
        cache.add_node(node(f"n{i}", labels={ZONE: "abc"[i % 3]}))
    bound = []
    for i, (n, ns, pod_labels, deleting) in enumerate(placed):
        p = pod(f"p{i}", node_name=f"n{n}")
        p["metadata"].update(namespace=ns, labels=pod_labels)
        if deleting:
            p["metadata"]["deletionTimestamp"] = "2026-11-25T00:00:00Z"
        cache.add_pod(p)
        bound.append(p)
    for i in removed:
        if bound:
            cache.remove_pod(bound.pop(i % len(bound)))
    incoming = pod("incoming")
    incoming["metadata"].update(namespace=namespace, labels=labels)
    snap = cache.snapshot()
    assert snap.label_nodes is not None
    assert spread_scores(snap, incoming) == spread_scores(Snapshot(snap.node_infos), incoming)


def test_a_snapshot_stops_answering_from_the_label_index_once_the_cache_changes() -> None:
    cache = SchedulerCache()
    cache.add_node(node("n1"))
    web = pod("web", node_name="n1")
    web["metadata"]["labels"] = {"app": "web"}
    cache.add_pod(web)
    snap = cache.snapshot()
    assert snap.label_nodes(("default", "app", "web")) == {"n1": 1}
    assert snap.label_nodes(("other", "app", "web")) == {}
    cache.remove_pod(web)
    assert snap.label_nodes(("default", "app", "web")) is None
    assert cache.snapshot().label_nodes(("default", "app", "web")) == {}
