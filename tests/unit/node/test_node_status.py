"""The kubelet's Node object: labels, capacity/allocatable, conditions, taints."""

from __future__ import annotations

import random

import pytest

from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.node_status import (
    add_taint, new_node, node_allocatable, node_conditions, node_info, node_labels,
    node_status, reconcile_labels, remove_taint, status_differs,
)

WALL = 1_800_000_000.0


def test_labels_have_defaults_ray_node_and_config_labels() -> None:
    cfg = NodeConfig("n1", zone="zone-b", region="r2", ray_node="abc",
                     labels={"tier": "gold", "kubernetes.io/os": "linux"})
    labels = node_labels(cfg)
    assert labels["kubernetes.io/hostname"] == "n1"
    assert labels["topology.kubernetes.io/zone"] == "zone-b"
    assert labels["topology.kubernetes.io/region"] == "r2"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["kubemu.io/ray-node"] == "abc"
    assert labels["tier"] == "gold"
    assert "kubemu.io/ray-node" not in node_labels(NodeConfig("n2"))


@pytest.mark.parametrize("cfg, memory, storage", [
    pytest.param(NodeConfig("n"), "8092Mi", "90Gi", id="threshold-only"),
    pytest.param(NodeConfig("n", memory="2Gi", system_reserved_memory="256Mi",
                            eviction_memory_threshold="256Mi"), "1536Mi", "90Gi",
                 id="reserved-and-threshold"),
])
def test_allocatable_subtracts_reserved_and_eviction_thresholds(cfg: NodeConfig, memory: str,
                                                                storage: str) -> None:
    alloc = node_allocatable(cfg)
    assert alloc["memory"] == memory
    assert alloc["ephemeral-storage"] == storage
    assert alloc["cpu"] == "4" and alloc["pods"] == "110"


def test_new_node_has_taints_status_and_node_info() -> None:
    cfg = NodeConfig("n1", address="127.1.0.9",
                     taints=({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},))
    node = new_node(cfg, wall=WALL, info=node_info(random.Random(1)))
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "gpu",
                                       "effect": "NoSchedule"}]
    status = node["status"]
    assert status["capacity"]["memory"] == "8Gi"
    assert status["addresses"] == [{"type": "InternalIP", "address": "127.1.0.9"},
                                   {"type": "Hostname", "address": "n1"}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert status["nodeInfo"]["kubeletVersion"] == "v1.32.0-kubemu"
    assert status["nodeInfo"]["containerRuntimeVersion"] == "kubemu://0.1"
    assert len(status["nodeInfo"]["machineID"]) == 32
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady")]


def test_transition_time_moves_only_when_status_changes() -> None:
    first = node_conditions(wall=WALL)
    later = node_conditions(wall=WALL + 60, previous=first)
    pressure = node_conditions(wall=WALL + 120, memory_pressure=True, previous=later)
    by_type = {c["type"]: c for c in later}
    assert by_type["Ready"]["lastTransitionTime"] == first[3]["lastTransitionTime"]
    assert by_type["Ready"]["lastHeartbeatTime"] != first[3]["lastHeartbeatTime"]
    mem = pressure[0]
    assert (mem["status"], mem["reason"]) == ("True", "KubeletHasInsufficientMemory")
    assert mem["lastTransitionTime"] == mem["lastHeartbeatTime"]
    assert pressure[3]["lastTransitionTime"] == first[3]["lastTransitionTime"]


def test_status_differs_ignores_heartbeats_only() -> None:
    cfg = NodeConfig("n1")
    info = node_info(random.Random(1))
    first = node_status(cfg, wall=WALL, info=info)
    assert not status_differs(first, node_status(cfg, wall=WALL + 60, info=info,
                                                 previous=first))
    assert status_differs(first, node_status(cfg, wall=WALL + 60, info=info,
                                             memory_pressure=True, previous=first))
    unknown = {**first, "conditions": [{**c, "status": "Unknown"} for c in first["conditions"]]}
    assert status_differs(unknown, node_status(cfg, wall=WALL + 60, info=info))


def test_reconcile_labels_keeps_spec_and_other_labels() -> None:
    cfg = NodeConfig("n1", labels={"tier": "gold"})
    existing = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1",
                                                      "extra": "x"}},
                "spec": {"podCIDR": "10.244.1.0/24", "unschedulable": True}}
    updated = reconcile_labels(existing, cfg)
    assert updated is not None
    assert updated["metadata"]["labels"]["tier"] == "gold"
    assert updated["metadata"]["labels"]["extra"] == "x"
    assert updated["spec"] == existing["spec"]
    assert reconcile_labels(updated, cfg) is None


def test_taints_added_and_removed_by_key_and_effect() -> None:
    taint = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
    other = {"key": "dedicated", "effect": "NoSchedule", "value": "x"}
    added = add_taint([other], {**taint, "timeAdded": "t"})
    assert added == [other, {**taint, "timeAdded": "t"}]
    assert add_taint(added, taint) is None
    assert remove_taint(added, taint) == [other]
    assert remove_taint([other], taint) is None
