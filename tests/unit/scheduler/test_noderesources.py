"""NodeResourcesFit (filter reasons, scoring strategies) and NodeResourcesBalancedAllocation."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.framework import Code, CycleState
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.plugins.noderesources import (
    MOST_ALLOCATED,
    REQUESTED_TO_CAPACITY_RATIO,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
)

from tests.unit.scheduler.builders import node, pod


def run_filter(plugin: NodeResourcesFit, p: dict, info: NodeInfo):
    state = CycleState()
    assert plugin.pre_filter(state, p, Snapshot([info])).ok
    return plugin.filter(state, p, info)


def run_score(plugin, p: dict, info: NodeInfo) -> int:
    state = CycleState()
    status = plugin.pre_score(state, p, [info])
    assert status.code in (Code.SUCCESS, Code.SKIP)
    return plugin.score(state, p, info)


@pytest.mark.parametrize(("new_pod", "existing", "reasons"), [
    pytest.param(pod(cpu="1", memory="1Gi"), [], [], id="fits-empty-node"),
    pytest.param(pod(cpu="2"), [pod("e", cpu="1")], [], id="fits-exactly"),
    pytest.param(pod(cpu="2001m"), [pod("e", cpu="1")], ["Insufficient cpu"], id="cpu"),
    pytest.param(pod(memory="3Gi"), [pod("e", memory="2Gi")], ["Insufficient memory"],
                 id="memory"),
    pytest.param(pod(cpu="4", memory="5Gi"), [pod("e", cpu="1", memory="1Gi")],
                 ["Insufficient cpu", "Insufficient memory"], id="cpu-and-memory-both-reported"),
    pytest.param(pod(ephemeral_storage="2Gi"), [], ["Insufficient ephemeral-storage"],
                 id="ephemeral-storage"),
    pytest.param(pod(**{"example.com/gpu": "2"}), [pod("e", **{"example.com/gpu": "1"})],
                 ["Insufficient example.com/gpu"], id="extended-resource"),
    pytest.param(pod(**{"example.com/fpga": "1"}), [], ["Insufficient example.com/fpga"],
                 id="extended-resource-node-lacks"),
    pytest.param(pod(), [pod("e1"), pod("e2")], ["Too many pods"], id="too-many-pods"),
    pytest.param(pod(cpu="4"), [pod("e1", cpu="1"), pod("e2")],
                 ["Too many pods", "Insufficient cpu"], id="too-many-pods-and-cpu"),
    pytest.param(pod(cpu="0"), [pod("e", cpu="3")], [], id="zero-request-fits-full-node"),
])
def test_fit_filter_reasons(new_pod: dict, existing: list, reasons: list) -> None:
    limit = "2" if any(r == "Too many pods" for r in reasons) else "110"
    info = NodeInfo(node("n", cpu="3", memory="4Gi", pods=limit,
                         extra={"ephemeral-storage": "1Gi", "example.com/gpu": "2"}),
                    pods=existing)
    status = run_filter(NodeResourcesFit(), new_pod, info)
    assert status.reasons == reasons
    assert status.code is (Code.UNSCHEDULABLE if reasons else Code.SUCCESS)


# Node: 4000m cpu, 10000 bytes memory. Scores follow upstream's integer arithmetic.
@pytest.mark.parametrize(("strategy", "existing", "new_pod", "score"), [
    pytest.param("LeastAllocated", [pod("e", cpu="1", memory="2000")],
                 pod(cpu="1", memory="3000"), 50, id="least-half-used"),
    pytest.param("LeastAllocated", [], pod(cpu="3", memory="0"), 62,
                 id="least-mean-of-25-and-100"),
    pytest.param("LeastAllocated", [], pod(cpu="5", memory="0"), 50,
                 id="least-over-capacity-scores-0"),
    pytest.param(MOST_ALLOCATED, [pod("e", cpu="1", memory="2000")],
                 pod(cpu="1", memory="3000"), 50, id="most-half-used"),
    pytest.param(MOST_ALLOCATED, [], pod(cpu="3", memory="0"), 37, id="most-mean-of-75-and-0"),
    pytest.param(MOST_ALLOCATED, [], pod(cpu="5", memory="10000"), 100,
                 id="most-over-capacity-capped"),
    pytest.param(REQUESTED_TO_CAPACITY_RATIO, [], pod(cpu="2", memory="5000"), 50,
                 id="ratio-bin-packing-shape"),
    pytest.param(REQUESTED_TO_CAPACITY_RATIO, [], pod(cpu="3", memory="0"), 75,
                 id="ratio-zero-resource-score-not-averaged"),
])
def test_fit_scoring_strategies(strategy: str, existing: list, new_pod: dict,
                                score: int) -> None:
    info = NodeInfo(node("n", cpu="4", memory="10000"), pods=existing)
    assert run_score(NodeResourcesFit(scoring_strategy=strategy), new_pod, info) == score


def test_fit_score_uses_nonzero_defaults_for_empty_pods() -> None:
    info = NodeInfo(node("n", cpu="1", memory="1000Mi"))
    # 100m of 1000m -> 90; 200Mi of 1000Mi -> 80; mean 85
    assert run_score(NodeResourcesFit(), pod(), info) == 85


# Node 4000m cpu; the pod asks no memory. Shape points are (utilization %, score 0..10).
@pytest.mark.parametrize(("shape", "cpu", "cpu_score", "with_memory"), [
    # cpu 75% -> 100 - 75 = 25; memory 0% -> 100; mean 62.5 rounds half away from zero
    pytest.param(((0, 10), (100, 0)), "3", 25, 63, id="least-like-shape-rounds-half-up"),
    # cpu 10% -> 100 + trunc(-100 * 10 / 30) = 67 (Go truncates; floor would say 66)
    pytest.param(((0, 10), (30, 0)), "400m", 67, 84, id="negative-slope-truncates-to-zero"),
])
def test_requested_to_capacity_ratio_shapes(shape, cpu: str, cpu_score: int,
                                            with_memory: int) -> None:
    info = NodeInfo(node("n", cpu="4", memory="10000"))
    new = pod(cpu=cpu, memory="0")
    cpu_only = NodeResourcesFit(scoring_strategy=REQUESTED_TO_CAPACITY_RATIO, shape=shape,
                                resources=[("cpu", 1)])
    both = NodeResourcesFit(scoring_strategy=REQUESTED_TO_CAPACITY_RATIO, shape=shape)
    assert run_score(cpu_only, new, info) == cpu_score
    assert run_score(both, new, info) == with_memory


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="not supported"):
        NodeResourcesFit(scoring_strategy="Random")


@pytest.mark.parametrize(("existing", "new_pod", "score"), [
    pytest.param([], pod(cpu="1", memory="2000"), 97, id="fractions-25-and-20"),
    pytest.param([pod("e", cpu="1")], pod(cpu="1", memory="5000"), 100, id="equal-fractions"),
    pytest.param([], pod(cpu="4", memory="0"), 50, id="full-cpu-empty-memory"),
    pytest.param([], pod(cpu="8", memory="0"), 50, id="fraction-capped-at-1"),
])
def test_balanced_allocation_score(existing: list, new_pod: dict, score: int) -> None:
    info = NodeInfo(node("n", cpu="4", memory="10000"), pods=existing)
    assert run_score(NodeResourcesBalancedAllocation(), new_pod, info) == score


def test_balanced_allocation_generic_resources_match_fast_path() -> None:
    info = NodeInfo(node("n", cpu="4", memory="10000", extra={"ephemeral-storage": "100"}),
                    pods=[pod("e", cpu="1")])
    new = pod(cpu="1", memory="2000", ephemeral_storage="50")
    three = NodeResourcesBalancedAllocation(
        resources=[("cpu", 1), ("memory", 1), ("ephemeral-storage", 1)])
    # fractions 0.5, 0.2, 0.5: mean 0.4, std sqrt(0.02) -> int(85.857...)
    assert run_score(three, new, info) == 85
    assert run_score(NodeResourcesBalancedAllocation(resources=[("memory", 1), ("cpu", 1)]),
                     new, info) == run_score(NodeResourcesBalancedAllocation(), new, info)


def test_balanced_allocation_skips_best_effort_pods() -> None:
    assert NodeResourcesBalancedAllocation().pre_score(CycleState(), pod(), []).code is Code.SKIP


def test_fit_registers_events_that_free_or_add_room() -> None:
    events = {str(e) for e in NodeResourcesFit().events()}
    assert {"Pod/Delete", "Node/Add", "Node/UpdateNodeAllocatable"} <= events
