"""Cluster events: registration matching and how Node/Pod updates are classified."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.events import (
    ClusterEvent,
    node_update_actions,
    pod_update_actions,
)

from tests.unit.scheduler.builders import node, pod


@pytest.mark.parametrize(("registered", "observed", "matches"), [
    pytest.param(("Node", "Add"), ("Node", "Add"), True, id="same"),
    pytest.param(("Node", "Add"), ("Pod", "Add"), False, id="other-resource"),
    pytest.param(("Node", "Update"), ("Node", "UpdateNodeLabel"), True, id="update-covers-all"),
    pytest.param(("Node", "UpdateNodeLabel"), ("Node", "UpdateNodeTaint"), False,
                 id="fine-grained-differ"),
    pytest.param(("Node", "All"), ("Node", "Delete"), True, id="all-actions"),
    pytest.param(("*", "Delete"), ("Pod", "Delete"), True, id="any-resource"),
])
def test_cluster_event_matches(registered: tuple, observed: tuple, matches: bool) -> None:
    assert ClusterEvent(*registered).matches(ClusterEvent(*observed)) is matches


def with_status(obj: dict, **status) -> dict:
    return {**obj, "status": {**obj["status"], **status}}


BASE = node("n1")


@pytest.mark.parametrize(("new", "actions"), [
    pytest.param(with_status(BASE, conditions=[]), [], id="nothing-scheduling-relevant"),
    pytest.param(node("n1", unschedulable=True), ["UpdateNodeTaint"], id="cordon-is-taint"),
    pytest.param(node("n1", cpu="8"), ["UpdateNodeAllocatable"], id="allocatable"),
    pytest.param(node("n1", labels={"zone": "a"}), ["UpdateNodeLabel"], id="labels"),
    pytest.param(node("n1", taints=[{"key": "k", "effect": "NoSchedule"}]), ["UpdateNodeTaint"],
                 id="taints"),
    pytest.param(with_status(BASE, conditions=[{"type": "Ready", "status": "False"}]),
                 ["UpdateNodeCondition"], id="condition"),
])
def test_node_update_actions(new: dict, actions: list) -> None:
    assert node_update_actions(BASE, new) == actions


def test_node_heartbeat_is_not_a_change() -> None:
    old = with_status(BASE, conditions=[{"type": "Ready", "status": "True",
                                         "lastHeartbeatTime": "2026-01-01T00:00:00Z"}])
    new = with_status(BASE, conditions=[{"type": "Ready", "status": "True",
                                         "lastHeartbeatTime": "2026-01-01T00:00:10Z"}])
    assert node_update_actions(old, new) == []


@pytest.mark.parametrize(("old", "new", "actions"), [
    pytest.param(pod(cpu="1"), pod(cpu="500m"), ["UpdatePodScaleDown"], id="scale-down"),
    pytest.param(pod(), pod(tolerations=[{"operator": "Exists"}]), ["UpdatePodTolerations"],
                 id="tolerations"),
    pytest.param(pod(), {**pod(), "metadata": {**pod()["metadata"], "labels": {"a": "b"}}},
                 ["UpdatePodLabel"], id="labels"),
    pytest.param({**pod(), "spec": {**pod()["spec"], "schedulingGates": [{"name": "g"}]}}, pod(),
                 ["UpdatePodSchedulingGatesEliminated"], id="gates-removed"),
    pytest.param(pod(cpu="1"), pod(cpu="2"), ["Update"], id="anything-else"),
])
def test_pod_update_actions(old: dict, new: dict, actions: list) -> None:
    assert pod_update_actions(old, new) == actions
