"""Framework.schedule: nodes to evaluate, rotation, scoring and selection, the FailedScheduling
message, PreFilter narrowing, nominated nodes, reserve, and a printed speed check."""

from __future__ import annotations

import random
import time

import pytest
from kubemu.cluster.scheduler.events import ClusterEvent
from kubemu.cluster.scheduler.framework import (
    SUCCESS,
    Code,
    CycleState,
    Framework,
    Profile,
    Status,
    default_profile,
    num_feasible_nodes_to_find,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot

from tests.unit.scheduler.builders import expr, node, pod, required_terms, snapshot

CONTROL_PLANE = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]


class Recorder:
    """A filter that records the nodes it saw and rejects names in `reject`."""

    name = "Recorder"

    def __init__(self, reject: set[str] = frozenset()) -> None:
        self.seen: list[str] = []
        self.reject = reject

    def filter(self, state, p, info):
        self.seen.append(info.name)
        if info.name in self.reject:
            return Status(Code.UNSCHEDULABLE, ["rejected by recorder"])
        return SUCCESS


class Constant:
    name = "Constant"

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def score(self, state, p, info):
        return self.value


def framework(*plugins, seed: int = 1, percentage: int = 0) -> Framework:
    return Framework(Profile(plugins=list(plugins), percentage_of_nodes_to_score=percentage),
                     rng=random.Random(seed))


def many_nodes(count: int) -> Snapshot:
    return snapshot(*(node(f"n{i:04d}") for i in range(count)))


@pytest.mark.parametrize(("nodes", "percentage", "expected"), [
    pytest.param(50, 0, 50, id="under-100-all"),
    pytest.param(99, 10, 99, id="under-100-ignores-percentage"),
    pytest.param(100, 0, 100, id="at-least-100"),
    pytest.param(1000, 0, 420, id="adaptive-42-percent"),
    pytest.param(5000, 0, 500, id="adaptive-10-percent"),
    pytest.param(6000, 0, 300, id="adaptive-floor-5-percent"),
    pytest.param(200, 10, 100, id="configured-but-at-least-100"),
    pytest.param(500, 30, 150, id="configured-percentage"),
    pytest.param(500, 100, 500, id="configured-100-is-all"),
])
def test_num_feasible_nodes_to_find(nodes: int, percentage: int, expected: int) -> None:
    assert num_feasible_nodes_to_find(nodes, percentage) == expected


def test_filter_stops_at_adaptive_share_and_rotates_start() -> None:
    recorder = Recorder()
    fw = framework(recorder, Constant())
    snap = many_nodes(500)                       # 46% of 500 = 230 nodes per cycle
    first = fw.schedule(pod("a"), snap)
    assert (first.evaluated, first.feasible) == (230, 230)
    assert recorder.seen == [f"n{i:04d}" for i in range(230)]
    recorder.seen.clear()
    fw.schedule(pod("b"), snap)
    assert recorder.seen[0] == "n0230" and len(recorder.seen) == 230
    recorder.seen.clear()
    fw.schedule(pod("c"), snap)
    assert recorder.seen[:2] == ["n0460", "n0461"] and recorder.seen[40] == "n0000"


def test_rejected_nodes_do_not_count_toward_the_share() -> None:
    recorder = Recorder(reject={f"n{i:04d}" for i in range(0, 500, 2)})
    result = framework(recorder, Constant()).schedule(pod(), many_nodes(500))
    assert result.feasible == 230 and result.evaluated == 460    # n0001, n0003 .. n0459


def test_without_score_plugins_first_feasible_node_wins() -> None:
    recorder = Recorder(reject={"n0000"})
    result = framework(recorder).schedule(pod(), many_nodes(10))
    assert result.node_name == "n0001" and recorder.seen == ["n0000", "n0001"]


def test_failed_scheduling_message_matches_upstream_for_six_nodes() -> None:
    snap = snapshot(*(node(f"worker-{i}", cpu="1") for i in range(3)),
                    *(node(f"cp-{i}", cpu="4", taints=CONTROL_PLANE) for i in range(3)))
    result = Framework(default_profile(), rng=random.Random(1)).schedule(pod(cpu="2"), snap)
    assert result.node_name is None and result.status.code is Code.UNSCHEDULABLE
    assert result.message == ("0/6 nodes are available: 3 Insufficient cpu, 3 node(s) had "
                              "untolerated taint {node-role.kubernetes.io/control-plane: }. "
                              "preemption: 0/6 nodes are available: 3 No preemption victims "
                              "found for incoming pod, 3 Preemption is not helpful for "
                              "scheduling.")
    assert result.status.reasons == [result.message]
    assert result.rejector_plugins == {"NodeResourcesFit", "TaintToleration"}
    assert result.evaluated == 6


def test_failed_scheduling_message_counts_every_reason_of_a_node() -> None:
    snap = snapshot(node("cpu-1", cpu="1"), node("cpu-2", cpu="1"),
                    node("both", cpu="1", memory="1Gi"), node("cordoned", unschedulable=True),
                    *(node(f"cp-{i}", taints=CONTROL_PLANE) for i in range(2)))
    result = Framework(default_profile(), rng=random.Random(1)).schedule(
        pod(cpu="2", memory="2Gi"), snap)
    assert result.message == (
        "0/6 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable, "
        "2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "3 Insufficient cpu. preemption: 0/6 nodes are available: 3 No preemption victims found "
        "for incoming pod, 3 Preemption is not helpful for scheduling.")
    assert result.rejector_plugins == {"NodeResourcesFit", "TaintToleration",
                                       "NodeUnschedulable"}


def pinned(*names: str) -> dict:
    """Required affinity to the named nodes: one term per name (a field requirement takes
    exactly one value)."""
    return required_terms(*({"matchFields": [{"key": "metadata.name", "operator": "In",
                                              "values": [name]}]} for name in names))


def test_prefilter_narrowing_reports_excluded_nodes() -> None:
    snap = snapshot(node("n1", cpu="1"), node("n2"), node("n3"))
    result = Framework(default_profile(), rng=random.Random(1)).schedule(
        pod(cpu="2", affinity=pinned("n1", "gone")), snap)
    assert result.message == ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't "
                              "satisfy plugin(s) [NodeAffinity]. preemption: 0/3 nodes are "
                              "available: 1 No preemption victims found for incoming pod, "
                              "2 Preemption is not helpful for scheduling.")
    assert result.rejector_plugins == {"NodeAffinity", "NodeResourcesFit"}


def test_prefilter_narrowing_evaluates_only_named_nodes() -> None:
    snap = snapshot(node("n1"), node("n2"), node("n3"))
    result = Framework(default_profile(), rng=random.Random(1)).schedule(
        pod(affinity=pinned("n2")), snap)
    assert (result.node_name, result.evaluated) == ("n2", 1)


def test_prefilter_rejection_message_stands_alone() -> None:
    conflict = required_terms({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["n1"]},
        {"key": "metadata.name", "operator": "In", "values": ["n2"]}]})
    result = Framework(default_profile(), rng=random.Random(1)).schedule(
        pod(affinity=conflict), snapshot(node("n1"), node("n2"), node("n3")))
    assert result.message == ("0/3 nodes are available: pod affinity terms conflict. "
                              "preemption: 0/3 nodes are available: 3 Preemption is not "
                              "helpful for scheduling.")
    assert result.status.code is Code.UNSCHEDULABLE
    assert result.rejector_plugins == {"NodeAffinity"}


def test_no_nodes_is_an_error() -> None:
    result = Framework(default_profile(), rng=random.Random(1)).schedule(pod(), Snapshot([]))
    assert result.status.code is Code.ERROR
    assert result.message == "no nodes available to schedule pods"


@pytest.mark.parametrize(("strategy", "expected"), [
    pytest.param("LeastAllocated", "empty", id="least-allocated-spreads"),
    pytest.param("MostAllocated", "busy", id="most-allocated-packs"),
])
def test_scoring_strategy_chooses_node(strategy: str, expected: str) -> None:
    snap = snapshot(node("busy"), node("empty"), node("half"),
                    pods={"busy": [pod("b", cpu="3", memory="6Gi")],
                          "half": [pod("h", cpu="2", memory="4Gi")]})
    fw = Framework(default_profile(scoring_strategy=strategy), rng=random.Random(1))
    assert fw.schedule(pod(cpu="500m", memory="1Gi"), snap).node_name == expected


def test_taint_weight_outweighs_small_load_difference() -> None:
    prefer = [{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]
    snap = snapshot(node("tainted-empty", taints=prefer), node("clean-busier"),
                    pods={"clean-busier": [pod("x", cpu="500m", memory="1Gi")]})
    fw = Framework(default_profile(), rng=random.Random(1))
    assert fw.schedule(pod(cpu="100m"), snap).node_name == "clean-busier"


def test_preferred_node_affinity_steers_choice() -> None:
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": {"matchExpressions": [expr("zone", "In", "b")]}}]}}
    snap = snapshot(node("a", labels={"zone": "a"}), node("b", labels={"zone": "b"}),
                    pods={"b": [pod("x", cpu="1")]})
    fw = Framework(default_profile(), rng=random.Random(1))
    assert fw.schedule(pod(affinity=affinity), snap).node_name == "b"


def test_ties_are_broken_by_the_seeded_rng_uniformly() -> None:
    snap = snapshot(*(node(f"n{i}") for i in range(4)))
    picks = [Framework(default_profile(), rng=random.Random(42)) for _ in range(2)]
    first = [picks[0].schedule(pod(), snap).node_name for _ in range(50)]
    second = [picks[1].schedule(pod(), snap).node_name for _ in range(50)]
    other = Framework(default_profile(), rng=random.Random(7))
    assert first == second
    assert first != [other.schedule(pod(), snap).node_name for _ in range(50)]
    fw = framework(Constant(), seed=3)
    counts: dict[str, int] = {}
    for _ in range(4000):
        name = fw.schedule(pod(), snap).node_name
        counts[name] = counts.get(name, 0) + 1
    assert sorted(counts) == ["n0", "n1", "n2", "n3"]
    assert all(850 < c < 1150 for c in counts.values()), counts


def test_nominated_node_is_tried_first() -> None:
    snap = snapshot(node("empty"), node("busy"), pods={"busy": [pod("b", cpu="3")]})
    p = {**pod(cpu="100m"), "status": {"nominatedNodeName": "busy"}}
    result = Framework(default_profile(), rng=random.Random(1)).schedule(p, snap)
    assert (result.node_name, result.evaluated) == ("busy", 1)


def test_schedule_does_not_mutate_the_snapshot() -> None:
    snap = snapshot(node("a"), node("b"), pods={"a": [pod("x", cpu="1")]})
    before = [(ni.generation, len(ni.pods), ni.requested.copy()) for ni in snap.node_infos]
    result = Framework(default_profile(), rng=random.Random(1)).schedule(pod(cpu="1"), snap)
    assert result.node_name == "b"
    assert [(ni.generation, len(ni.pods), ni.requested) for ni in snap.node_infos] == before


class Reserving:
    name = "Reserving"

    def __init__(self, label: str, log: list, fail: bool = False) -> None:
        self.name, self.log, self.fail = label, log, fail

    def reserve(self, state, p, node_name):
        self.log.append(("reserve", self.name, node_name))
        return Status(Code.UNSCHEDULABLE, ["no room"]) if self.fail else SUCCESS

    def unreserve(self, state, p, node_name):
        self.log.append(("unreserve", self.name, node_name))


def test_reserve_stops_at_first_failure_and_unreserve_runs_in_reverse() -> None:
    log: list = []
    fw = framework(Reserving("A", log), Reserving("B", log, fail=True), Reserving("C", log))
    status = fw.reserve(CycleState(), pod(), "n1")
    assert (status.code, status.plugin) == (Code.UNSCHEDULABLE, "B")
    fw.unreserve(CycleState(), pod(), "n1")
    assert log == [("reserve", "A", "n1"), ("reserve", "B", "n1"), ("unreserve", "C", "n1"),
                   ("unreserve", "B", "n1"), ("unreserve", "A", "n1")]


@pytest.mark.parametrize(("rejectors", "event", "helps"), [
    pytest.param({"NodeResourcesFit"}, ClusterEvent("Pod", "Delete"), True, id="pod-delete"),
    pytest.param({"NodeResourcesFit"}, ClusterEvent("Node", "UpdateNodeCondition"), False,
                 id="condition-change-irrelevant"),
    pytest.param({"TaintToleration"}, ClusterEvent("Node", "UpdateNodeTaint"), True,
                 id="taint-change"),
    pytest.param({"TaintToleration"}, ClusterEvent("Pod", "Delete"), False,
                 id="pod-delete-irrelevant-to-taints"),
    pytest.param(set(), ClusterEvent("Node", "UpdateNodeCondition"), True,
                 id="unknown-rejector-any-event"),
])
def test_event_may_help(rejectors: set, event: ClusterEvent, helps: bool) -> None:
    fw = Framework(default_profile(), rng=random.Random(1))
    assert fw.event_may_help(rejectors, event) is helps


def test_out_of_range_score_is_an_error() -> None:
    result = framework(Constant(101)).schedule(pod(), many_nodes(2))
    assert result.status.code is Code.ERROR and "invalid score 101" in result.message


def test_filter_error_is_an_error_not_a_rejection() -> None:
    class Broken:
        name = "Broken"

        def filter(self, state, p, info):
            return Status(Code.ERROR, ["boom"])
    result = framework(Broken(), Constant()).schedule(pod(), many_nodes(3))
    assert (result.status.code, result.status.plugin, result.message) == (
        Code.ERROR, "Broken", "boom")


def test_single_feasible_node_skips_scoring() -> None:
    class Exploding:
        name = "Exploding"

        def score(self, state, p, info):
            raise AssertionError("scored")
    result = framework(Recorder(reject={"n0000"}), Exploding()).schedule(pod(), many_nodes(2))
    assert (result.node_name, result.feasible, result.evaluated) == ("n0001", 1, 2)


def test_speed_on_1000_nodes(capsys: pytest.CaptureFixture) -> None:
    zones = ["a", "b", "c"]
    infos = [NodeInfo(node(f"node-{i:04d}", cpu="8", memory="32Gi",
                           labels={"topology.kubernetes.io/zone": zones[i % 3]},
                           taints=[{"key": "spot", "effect": "PreferNoSchedule"}]
                           if i % 10 == 0 else None),
                      pods=[pod(f"e{i}-{j}", cpu="100m", memory="128Mi") for j in range(3)])
             for i in range(1000)]
    snap = Snapshot(infos)
    fw = Framework(default_profile(), rng=random.Random(1))
    pods = [pod(f"p{i}", cpu="100m", memory="128Mi") for i in range(200)]
    start = time.perf_counter()
    for p in pods:
        result = fw.schedule(p, snap)
    elapsed = time.perf_counter() - start
    assert result.evaluated == 420
    with capsys.disabled():
        print(f"\n[scheduler framework] 1000 nodes: {len(pods) / elapsed:.0f} pods/s, "
              f"{elapsed / len(pods) * 1000:.2f} ms/pod (algorithm only)")
