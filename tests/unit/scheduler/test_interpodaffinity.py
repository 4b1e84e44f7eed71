"""InterPodAffinity: anti-affinity spreading replicas (and the Pending 4th), affinity
co-location, the first pod of a group, existing pods' anti-affinity, namespaces and
namespaceSelector, matchLabelKeys, exact FailedScheduling texts, preferred-term scoring and the
PreFilter extensions."""

from __future__ import annotations

import random

import pytest
from kubemu.cluster.scheduler.cache import SchedulerCache
from kubemu.cluster.scheduler.framework import (
    Code,
    CycleState,
    Framework,
    default_profile,
)
from kubemu.cluster.scheduler.plugins.interpodaffinity import (
    ERR_REASON_AFFINITY,
    ERR_REASON_ANTI_AFFINITY,
    ERR_REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
)

from tests.unit.scheduler.builders import node, pod, snapshot

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


def zoned(name: str, zone: str | None) -> dict:
    return node(name, labels={ZONE: zone} if zone else {})


def term(key: str = HOST, namespaces: list | None = None, ns_selector: dict | None = None,
         **match: str) -> dict:
    t: dict = {"labelSelector": {"matchLabels": match or {"app": "web"}}, "topologyKey": key}
    if namespaces is not None:
        t["namespaces"] = namespaces
    if ns_selector is not None:
        t["namespaceSelector"] = ns_selector
    return t


def labelled(name: str, node_name: str = "", *, namespace: str = "default",
             affinity: dict | None = None, **labels: str) -> dict:
    p = pod(name, node_name=node_name, affinity=affinity)
    p["metadata"]["labels"] = labels or {"app": "web"}
    p["metadata"]["namespace"] = namespace
    return p


def anti(*terms: dict) -> dict:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def aff(*terms: dict) -> dict:
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}}


def preferred(kind: str, weight: int, t: dict) -> dict:
    return {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": weight, "podAffinityTerm": t}]}}


def fw(seed: int = 1) -> Framework:
    return Framework(default_profile(), rng=random.Random(seed))


def message(result) -> str:
    return result.message.split(" preemption:")[0]


def test_anti_affinity_keeps_replicas_on_distinct_nodes_and_leaves_the_4th_pending() -> None:
    cache = SchedulerCache()
    for i in range(3):
        cache.add_node(node(f"n{i}"))
    framework = fw()
    placed = []
    for i in range(4):
        p = labelled(f"web-{i}", affinity=anti(term()))
        result = framework.schedule(p, cache.snapshot())
        if result.node_name:
            cache.assume(p, result.node_name)
        placed.append(result)
    assert len({r.node_name for r in placed[:3]}) == 3
    assert placed[3].node_name is None
    assert message(placed[3]) == (
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")
    assert placed[3].rejector_plugins == {"InterPodAffinity"}


def test_affinity_co_locates_with_the_matching_pod_zone() -> None:
    snap = snapshot(zoned("a1", "a"), zoned("b1", "b"), zoned("b2", "b"), zoned("c1", "c"),
                    pods={"b1": [labelled("db", "b1", app="db")]})
    framework = fw()
    for seed in range(5):
        framework.rng = random.Random(seed)
        p = labelled("web", affinity=aff(term(ZONE, app="db")))
        assert framework.schedule(p, snap).node_name in {"b1", "b2"}


def fits(p: dict, *nodes: dict, pods: dict | None = None,
         plugin: InterPodAffinity | None = None) -> dict[str, list[str]]:
    """Node name -> reasons (empty when admitted) from PreFilter + Filter alone."""
    plugin = plugin or InterPodAffinity()
    snap = snapshot(*nodes, pods=pods)
    state = CycleState()
    status = plugin.pre_filter(state, p, snap)
    if status.code is Code.SKIP:
        return {ni.name: [] for ni in snap.node_infos}
    assert status.ok, status
    return {ni.name: plugin.filter(state, p, ni).reasons for ni in snap.node_infos}


AB = (zoned("a1", "a"), zoned("b1", "b"))


@pytest.mark.parametrize(("p", "pods", "expected"), [
    pytest.param(labelled("p", affinity=aff(term(ZONE))), {}, {"a1": [], "b1": []},
                 id="first-pod-of-a-self-matching-group-goes-anywhere"),
    pytest.param(labelled("p", affinity=aff(term(ZONE, app="db"))), {},
                 {"a1": [ERR_REASON_AFFINITY], "b1": [ERR_REASON_AFFINITY]},
                 id="affinity-to-absent-pods-fits-nowhere"),
    pytest.param(labelled("p", affinity=aff(term(ZONE))), {"b1": [labelled("w", "b1")]},
                 {"a1": [ERR_REASON_AFFINITY], "b1": []},
                 id="once-a-group-exists-it-must-be-joined"),
    pytest.param(labelled("p", affinity=aff(term("rack"))), {"b1": [labelled("w", "b1")]},
                 {"a1": [ERR_REASON_AFFINITY], "b1": [ERR_REASON_AFFINITY]},
                 id="node-without-topology-key-fails-affinity"),
    pytest.param(labelled("p", affinity=anti(term(ZONE))), {"a1": [labelled("w", "a1")]},
                 {"a1": [ERR_REASON_ANTI_AFFINITY], "b1": []}, id="anti-affinity-by-zone"),
    pytest.param(labelled("p", app="web"),
                 {"a1": [labelled("guard", "a1", affinity=anti(term(ZONE)), app="guard")]},
                 {"a1": [ERR_REASON_EXISTING_ANTI_AFFINITY], "b1": []},
                 id="existing-pods-anti-affinity-repels-the-incoming-pod"),
    pytest.param(labelled("p", affinity=anti(term(ZONE))),
                 {"a1": [labelled("w", "a1", namespace="other")]}, {"a1": [], "b1": []},
                 id="terms-default-to-the-pods-own-namespace"),
    pytest.param(labelled("p", affinity=anti(term(ZONE, namespaces=["other"]))),
                 {"a1": [labelled("w", "a1", namespace="other")]},
                 {"a1": [ERR_REASON_ANTI_AFFINITY], "b1": []}, id="named-namespaces"),
    pytest.param(labelled("p", affinity=anti(term(ZONE, ns_selector={}))),
                 {"b1": [labelled("w", "b1", namespace="x")]},
                 {"a1": [], "b1": [ERR_REASON_ANTI_AFFINITY]},
                 id="empty-namespace-selector-matches-all-namespaces"),
    pytest.param(labelled("p", affinity=anti(term(ZONE, ns_selector={"matchLabels": {
        "kubernetes.io/metadata.name": "x"}}))),
                 {"a1": [labelled("w", "a1", namespace="x")],
                  "b1": [labelled("v", "b1", namespace="y")]},
                 {"a1": [ERR_REASON_ANTI_AFFINITY], "b1": []},
                 id="namespace-selector-on-metadata-name"),
])
def test_filter(p: dict, pods: dict, expected: dict) -> None:
    assert fits(p, *AB, pods=pods) == expected


def test_namespace_labels_callback_decides_namespace_selector() -> None:
    labels = {"x": {"team": "blue"}, "y": {"team": "red"}}
    plugin = InterPodAffinity(namespace_labels=lambda ns: labels.get(ns, {}))
    p = labelled("p", affinity=anti(term(ZONE, ns_selector={"matchLabels": {"team": "red"}})))
    pods = {"a1": [labelled("w", "a1", namespace="x")], "b1": [labelled("v", "b1", namespace="y")]}
    assert fits(p, *AB, pods=pods, plugin=plugin) == {"a1": [],
                                                       "b1": [ERR_REASON_ANTI_AFFINITY]}


def test_match_and_mismatch_label_keys_narrow_the_selector() -> None:
    t = term(ZONE) | {"matchLabelKeys": ["rev"]}
    p = labelled("p", affinity=anti(t), app="web", rev="2")
    pods = {"a1": [labelled("old", "a1", app="web", rev="1")],
            "b1": [labelled("new", "b1", app="web", rev="2")]}
    assert fits(p, *AB, pods=pods) == {"a1": [], "b1": [ERR_REASON_ANTI_AFFINITY]}
    t = term(ZONE) | {"mismatchLabelKeys": ["rev"]}
    p = labelled("p", affinity=anti(t), app="web", rev="2")
    assert fits(p, *AB, pods=pods) == {"a1": [ERR_REASON_ANTI_AFFINITY], "b1": []}


def test_invalid_selector_is_unresolvable() -> None:
    bad = {"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]},
           "topologyKey": HOST}
    status = InterPodAffinity().pre_filter(CycleState(), labelled("p", affinity=aff(bad)),
                                           snapshot(*AB))
    assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons[0].startswith("parsing pod: ")


def test_pod_without_any_affinity_skips_filter_and_score() -> None:
    plugin = InterPodAffinity()
    snap = snapshot(*AB, pods={"a1": [labelled("w", "a1")]})
    state = CycleState()
    assert plugin.pre_filter(state, labelled("p"), snap).code is Code.SKIP
    assert plugin.pre_score(state, labelled("p"), snap.node_infos).code is Code.SKIP


def scores(p: dict, pods: dict, *nodes: dict) -> dict[str, int]:
    plugin = InterPodAffinity()
    snap = snapshot(*(nodes or (zoned("a1", "a"), zoned("b1", "b"), zoned("c1", "c"))),
                    pods=pods)
    state = CycleState()
    plugin.pre_filter(state, p, snap)
    if plugin.pre_score(state, p, snap.node_infos).code is Code.SKIP:
        return {}
    out = {ni.name: plugin.score(state, p, ni) for ni in snap.node_infos}
    plugin.normalize_scores(state, p, out)
    return out


DB_IN_A = {"a1": [labelled("db", "a1", app="db")], "b1": [labelled("x", "b1", app="x")]}


@pytest.mark.parametrize(("p", "pods", "expected"), [
    pytest.param(labelled("p", affinity=preferred("podAffinity", 10, term(ZONE, app="db"))),
                 DB_IN_A, {"a1": 100, "b1": 0, "c1": 0}, id="preferred-affinity-attracts"),
    pytest.param(labelled("p", affinity=preferred("podAntiAffinity", 10, term(ZONE, app="db"))),
                 DB_IN_A, {"a1": 0, "b1": 100, "c1": 100}, id="preferred-anti-affinity-repels"),
    pytest.param(labelled("p", app="web"),
                 {"b1": [labelled("db", "b1", affinity=aff(term(ZONE)), app="db")]},
                 {"a1": 0, "b1": 100, "c1": 0},
                 id="existing-pods-required-affinity-attracts-with-hard-weight"),
    pytest.param(labelled("p", app="web"),
                 {"c1": [labelled("db", "c1", affinity=preferred(
                     "podAntiAffinity", 5, term(ZONE)), app="db")]},
                 {"a1": 100, "b1": 100, "c1": 0},
                 id="existing-pods-preferred-anti-affinity-repels"),
    pytest.param(labelled("p", affinity=preferred("podAffinity", 10, term(ZONE, app="none"))),
                 DB_IN_A, {}, id="nothing-matches-skips"),
])
def test_preferred_terms_score(p: dict, pods: dict, expected: dict) -> None:
    assert scores(p, pods) == expected


def test_preferred_affinity_steers_the_framework_to_the_zone() -> None:
    snap = snapshot(zoned("a1", "a"), zoned("b1", "b"), zoned("c1", "c"), pods=DB_IN_A)
    framework = fw()
    for seed in range(5):
        framework.rng = random.Random(seed)
        p = labelled("p", affinity=preferred("podAffinity", 100, term(ZONE, app="db")))
        assert framework.schedule(p, snap).node_name == "a1"


def test_add_and_remove_pod_update_counts_on_a_cloned_state() -> None:
    plugin = InterPodAffinity()
    snap = snapshot(*AB)
    p = labelled("p", affinity=anti(term(ZONE)))
    state = CycleState()
    assert plugin.pre_filter(state, p, snap).ok
    a1 = snap.node_infos[0]
    what_if = state.clone()
    info = a1.clone()
    other = labelled("w", "a1")
    info.add_pod(other)
    plugin.add_pod(what_if, p, other, info)
    assert plugin.filter(what_if, p, a1).reasons == [ERR_REASON_ANTI_AFFINITY]
    assert plugin.filter(state, p, a1).ok
    info.remove_pod(other)
    plugin.remove_pod(what_if, p, other, info)
    assert plugin.filter(what_if, p, a1).ok


def test_existing_anti_affinity_pod_added_by_extension_repels() -> None:
    plugin = InterPodAffinity()
    snap = snapshot(*AB, pods={"b1": [labelled("g0", "b1", affinity=anti(term(ZONE)),
                                               app="guard")]})
    p = labelled("p")
    state = CycleState()
    assert plugin.pre_filter(state, p, snap).ok
    a1 = snap.node_infos[0]
    guard = labelled("g", "a1", affinity=anti(term(ZONE)), app="guard")
    info = a1.clone()
    info.add_pod(guard)
    plugin.add_pod(state, p, guard, info)
    assert plugin.filter(state, p, a1).reasons == [ERR_REASON_EXISTING_ANTI_AFFINITY]


def test_registers_events_and_default_weight() -> None:
    events = {str(e) for e in InterPodAffinity().events()}
    assert events == {"Pod/Add", "Pod/UpdatePodLabel", "Pod/Delete", "Node/Add",
                      "Node/UpdateNodeLabel"}
    profile = default_profile()
    assert profile.score_weights["InterPodAffinity"] == 2
    names = [p.name for p in profile.plugins]
    assert names.index("PodTopologySpread") < names.index("InterPodAffinity")
