"""PodTopologySpread: spreading pods one by one through the Framework with a cache, the Filter's
skew rule (minDomains, node inclusion policies, matchLabelKeys, namespaces), the exact
FailedScheduling texts, scoring, cluster default constraints and the PreFilter extensions."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from kubemu.cluster.client.lister import Cache, Lister
from kubemu.cluster.scheduler.cache import SchedulerCache
from kubemu.cluster.scheduler.events import ClusterEvent
from kubemu.cluster.scheduler.framework import (
    Code,
    CycleState,
    Framework,
    default_profile,
)
from kubemu.cluster.scheduler.plugins.podtopologyspread import (
    ERR_REASON_CONSTRAINTS_NOT_MATCH,
    ERR_REASON_NODE_LABEL_NOT_MATCH,
    PodTopologySpread,
)
from kubemu.cluster.scheduler.plugins.spreadconstraints import DefaultSelector

from tests.unit.scheduler.builders import expr, node, pod, required_terms, snapshot

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


def zoned(name: str, zone: str | None, **kw) -> dict:
    return node(name, labels={ZONE: zone} if zone else {}, **kw)


def spread_pod(name: str, *, max_skew: int = 1, key: str = ZONE, when: str = "DoNotSchedule",
               labels: dict | None = None, selector: dict | None = None, node_name: str = "",
               namespace: str = "default", **constraint) -> dict:
    p = pod(name, node_name=node_name)
    p["metadata"]["labels"] = {"app": "web"} if labels is None else labels
    p["metadata"]["namespace"] = namespace
    c = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
         "labelSelector": {"matchLabels": {"app": "web"}} if selector is None else selector,
         **constraint}
    p["spec"]["topologySpreadConstraints"] = [c]
    return p


def web(name: str, node_name: str, **labels: str) -> dict:
    p = pod(name, node_name=node_name)
    p["metadata"]["labels"] = {"app": "web", **labels}
    return p


def fw(seed: int = 1) -> Framework:
    return Framework(default_profile(), rng=random.Random(seed))


def message(result) -> str:
    return result.message.split(" preemption:")[0]


def schedule_one_by_one(framework: Framework, cache: SchedulerCache, pods: list[dict]) -> list:
    results = []
    for p in pods:
        result = framework.schedule(p, cache.snapshot())
        if result.node_name:
            cache.assume(p, result.node_name)
        results.append(result)
    return results


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed-{s}") for s in (1, 2, 3)])
def test_max_skew_1_over_3_zones_puts_10_pods_4_3_3(seed: int) -> None:
    cache = SchedulerCache()
    for i, zone in enumerate("abcabc"):
        cache.add_node(zoned(f"n{i}", zone))
    pods = [spread_pod(f"p{i}") for i in range(10)]
    results = schedule_one_by_one(fw(seed), cache, pods)
    assert all(r.node_name for r in results)
    zone_of = {f"n{i}": z for i, z in enumerate("abcabc")}
    per_zone = Counter(zone_of[r.node_name] for r in results)
    assert sorted(per_zone.values()) == [3, 3, 4]


def test_unsatisfiable_spread_reports_skew_and_missing_label_reasons() -> None:
    snap = snapshot(zoned("a1", "a"), zoned("b1", "b"), zoned("x", None),
                    pods={"a1": [web("w1", "a1"), web("w2", "a1")], "b1": [web("w3", "b1")]})
    result = fw().schedule(spread_pod("p", minDomains=3), snap)
    assert result.node_name is None
    assert message(result) == (
        "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints "
        "(missing required label), 2 node(s) didn't match pod topology spread constraints.")
    assert result.rejector_plugins == {"PodTopologySpread"}
    statuses = result.diagnosis.node_to_status
    assert statuses["x"].code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert statuses["x"].reasons == [ERR_REASON_NODE_LABEL_NOT_MATCH]
    assert statuses["a1"].code is Code.UNSCHEDULABLE
    assert statuses["a1"].reasons == [ERR_REASON_CONSTRAINTS_NOT_MATCH]


def fits(p: dict, *nodes: dict, pods: dict | None = None) -> set[str]:
    """Names of the nodes PodTopologySpread's Filter admits after its PreFilter."""
    plugin = PodTopologySpread()
    snap = snapshot(*nodes, pods=pods)
    state = CycleState()
    status = plugin.pre_filter(state, p, snap)
    if status.code is Code.SKIP:
        return {ni.name for ni in snap.node_infos}
    return {ni.name for ni in snap.node_infos if plugin.filter(state, p, ni).ok}


ONE_EACH_AB = {"a1": [web("w1", "a1")], "b1": [web("w2", "b1")]}
THREE_ZONES = (zoned("a1", "a"), zoned("b1", "b"), zoned("c1", "c"))


@pytest.mark.parametrize(("p", "nodes", "pods", "expected"), [
    pytest.param(spread_pod("p"), THREE_ZONES, ONE_EACH_AB, {"c1"},
                 id="empty-zone-is-the-global-minimum"),
    pytest.param(spread_pod("p"), THREE_ZONES[:2], ONE_EACH_AB, {"a1", "b1"},
                 id="equal-zones-both-fit"),
    pytest.param(spread_pod("p", minDomains=3), THREE_ZONES[:2], ONE_EACH_AB, set(),
                 id="min-domains-above-domain-count-makes-minimum-zero"),
    pytest.param(spread_pod("p", minDomains=2), THREE_ZONES[:2], ONE_EACH_AB, {"a1", "b1"},
                 id="min-domains-met"),
    pytest.param(spread_pod("p", max_skew=2), THREE_ZONES, ONE_EACH_AB, {"a1", "b1", "c1"},
                 id="max-skew-2-tolerates-one-more"),
    pytest.param(spread_pod("p", labels={"app": "other"}), THREE_ZONES,
                 {"a1": [web("w1", "a1")], "b1": [web("w2", "b1")]}, {"a1", "b1", "c1"},
                 id="pod-not-matching-own-selector-adds-no-self-match"),
    pytest.param(spread_pod("p", selector={"matchLabels": {"app": "web"}},
                            matchLabelKeys=["rev"], labels={"app": "web", "rev": "2"}),
                 THREE_ZONES, {"a1": [web("w1", "a1", rev="1")], "b1": [web("w2", "b1", rev="1")],
                               "c1": [web("w3", "c1", rev="2"), web("w4", "c1", rev="2")]},
                 {"a1", "b1"}, id="match-label-keys-count-only-the-same-revision"),
    pytest.param(spread_pod("p", namespace="other"), THREE_ZONES, ONE_EACH_AB,
                 {"a1", "b1", "c1"}, id="pods-of-other-namespaces-do-not-count"),
    pytest.param(spread_pod("p"), THREE_ZONES,
                 {"a1": [web("w1", "a1")], "b1": [web("w2", "b1")],
                  "c1": [{**web("w3", "c1"), "metadata": {
                      **web("w3", "c1")["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"}}]},
                 {"c1"}, id="terminating-pods-do-not-count"),
])
def test_filter_admits(p: dict, nodes: tuple, pods: dict, expected: set[str]) -> None:
    assert fits(p, *nodes, pods=pods) == expected


def test_missing_label_selector_matches_no_pod() -> None:
    p = spread_pod("p")
    del p["spec"]["topologySpreadConstraints"][0]["labelSelector"]
    assert fits(p, *THREE_ZONES, pods=ONE_EACH_AB) == {"a1", "b1", "c1"}


def affinity_to_ab(p: dict) -> dict:
    p["spec"]["affinity"] = required_terms({"matchExpressions": [expr(ZONE, "In", "a", "b")]})
    return p


@pytest.mark.parametrize(("policy", "expected"), [
    pytest.param({}, "a1", id="honor-by-default-counts-only-zones-the-pod-may-use"),
    pytest.param({"nodeAffinityPolicy": "Honor"}, "a1", id="honor"),
    pytest.param({"nodeAffinityPolicy": "Ignore"}, None, id="ignore-counts-the-empty-zone-c"),
])
def test_node_affinity_policy(policy: dict, expected: str | None) -> None:
    snap = snapshot(*THREE_ZONES, pods={"a1": [web("w1", "a1")], "b1": [web("w2", "b1"),
                                                                         web("w3", "b1")]})
    result = fw().schedule(affinity_to_ab(spread_pod("p", **policy)), snap)
    assert result.node_name == expected


@pytest.mark.parametrize(("policy", "expected"), [
    pytest.param({}, None, id="ignore-by-default-counts-the-tainted-zone"),
    pytest.param({"nodeTaintsPolicy": "Honor"}, {"a1", "b1"}, id="honor-skips-tainted-zone"),
])
def test_node_taints_policy(policy: dict, expected: set | None) -> None:
    tainted = zoned("c1", "c", taints=[{"key": "dedicated", "effect": "NoSchedule"}])
    snap = snapshot(THREE_ZONES[0], THREE_ZONES[1], tainted, pods=ONE_EACH_AB)
    result = fw().schedule(spread_pod("p", **policy), snap)
    if expected is None:
        assert result.node_name is None
        assert message(result) == (
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: }, "
            "2 node(s) didn't match pod topology spread constraints.")
    else:
        assert result.node_name in expected


def test_schedule_anyway_scores_emptier_host_highest() -> None:
    plugin = PodTopologySpread()
    snap = snapshot(node("n1"), node("n2"), pods={"n1": [web("w1", "n1"), web("w2", "n1")]})
    p = spread_pod("p", key=HOST, when="ScheduleAnyway")
    state = CycleState()
    assert plugin.pre_filter(state, p, snap).code is Code.SKIP   # no DoNotSchedule
    assert plugin.pre_score(state, p, snap.node_infos).ok
    scores = {ni.name: plugin.score(state, p, ni) for ni in snap.node_infos}
    assert scores == {"n1": 3, "n2": 0}       # round(2 * ln(4))
    plugin.normalize_scores(state, p, scores)
    assert scores == {"n1": 0, "n2": 100}


def test_schedule_anyway_zone_spread_through_framework() -> None:
    cache = SchedulerCache()
    for i, zone in enumerate("abcabc"):
        cache.add_node(zoned(f"n{i}", zone))
    pods = [spread_pod(f"p{i}", when="ScheduleAnyway") for i in range(9)]
    results = schedule_one_by_one(fw(), cache, pods)
    zone_of = {f"n{i}": z for i, z in enumerate("abcabc")}
    assert Counter(zone_of[r.node_name] for r in results) == {"a": 3, "b": 3, "c": 3}


def lister(*objs: dict) -> Lister:
    cache = Cache()
    for obj in objs:
        cache.upsert(obj)
    return Lister(cache)


def owned_pod(name: str, node_name: str = "") -> dict:
    p = pod(name, node_name=node_name)
    p["metadata"]["labels"] = {"app": "web", "pod-template-hash": "abc"}
    p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": "web-abc", "uid": "rs-uid", "controller": True}]
    return p


REPLICA_SET = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": "web-abc", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}}}
SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"app": "web"}}}


@pytest.mark.parametrize(("listers", "expected"), [
    pytest.param({}, "", id="owned-by-nothing-known"),
    pytest.param({"services": lister(SERVICE)}, "app=web", id="service-selector"),
    pytest.param({"replica_sets": lister(REPLICA_SET)}, "app=web,pod-template-hash=abc",
                 id="replicaset-selector"),
    pytest.param({"services": lister(SERVICE), "replica_sets": lister(REPLICA_SET)},
                 "app=web,pod-template-hash=abc", id="merged"),
])
def test_default_selector_comes_from_services_and_controllers(listers: dict,
                                                              expected: str) -> None:
    assert str(DefaultSelector(**listers)(owned_pod("p"))) == expected


def test_default_constraints_spread_replicaset_pods_over_hosts() -> None:
    plugin = PodTopologySpread(selectors_for=DefaultSelector(replica_sets=lister(REPLICA_SET)))
    snap = snapshot(zoned("n1", "a"), zoned("n2", "a"),
                    pods={"n1": [owned_pod("e1", "n1"), owned_pod("e2", "n1")]})
    p = owned_pod("p")
    state = CycleState()
    assert plugin.pre_filter(state, p, snap).code is Code.SKIP   # defaults: ScheduleAnyway
    assert plugin.pre_score(state, p, snap.node_infos).ok
    scores = {ni.name: plugin.score(state, p, ni) for ni in snap.node_infos}
    plugin.normalize_scores(state, p, scores)
    assert scores["n2"] == 100 and scores["n1"] < 100
    assert PodTopologySpread().pre_score(CycleState(), p, snap.node_infos).code is Code.SKIP


def test_add_and_remove_pod_update_counts_on_a_cloned_state() -> None:
    plugin = PodTopologySpread()
    snap = snapshot(*THREE_ZONES[:2])
    p = spread_pod("p")
    state = CycleState()
    assert plugin.pre_filter(state, p, snap).ok
    a1, b1 = snap.node_infos
    assert plugin.filter(state, p, a1).ok
    what_if = state.clone()
    info = a1.clone()
    extra = web("w1", "a1")
    info.add_pod(extra)
    plugin.add_pod(what_if, p, extra, info)
    assert plugin.filter(what_if, p, a1).reasons == [ERR_REASON_CONSTRAINTS_NOT_MATCH]
    assert plugin.filter(what_if, p, b1).ok
    assert plugin.filter(state, p, a1).ok          # the original state is untouched
    info.remove_pod(extra)
    plugin.remove_pod(what_if, p, extra, info)
    assert plugin.filter(what_if, p, a1).ok


def test_registers_pod_and_node_events_and_default_weight() -> None:
    events = {str(e) for e in PodTopologySpread().events()}
    assert {"Pod/Add", "Pod/UpdatePodLabel", "Pod/Delete", "Node/Add",
            "Node/UpdateNodeLabel", "Node/UpdateNodeTaint"} <= events
    assert ClusterEvent("Node", "UpdateNodeLabel") in PodTopologySpread().events()
    profile = default_profile()
    assert profile.score_weights["PodTopologySpread"] == 2
    assert any(p.name == "PodTopologySpread" for p in profile.plugins)


def test_default_spreading_during_a_rollout_counts_only_the_new_replicaset_pods() -> None:
    """Old pods share `app` with the new ReplicaSet's selector but not pod-template-hash: n1,
    full of old pods, has none of the new ones and is the emptiest domain for a new pod."""
    plugin = PodTopologySpread(selectors_for=DefaultSelector(replica_sets=lister(REPLICA_SET)))
    old = [web(f"old{i}", "n1", **{"pod-template-hash": "old"}) for i in range(3)]
    snap = snapshot(zoned("n1", "a"), zoned("n2", "a"),
                    pods={"n1": old, "n2": [owned_pod("new1", "n2")]})
    p = owned_pod("p")
    state = CycleState()
    assert plugin.pre_score(state, p, snap.node_infos).ok
    scores = {ni.name: plugin.score(state, p, ni) for ni in snap.node_infos}
    plugin.normalize_scores(state, p, scores)
    assert scores["n1"] == 100 and scores["n2"] < 100
