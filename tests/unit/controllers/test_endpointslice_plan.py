"""Pure planning of EndpointSlices (packing, minimal churn) and topology hint allocation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubemu.cluster.controllers.endpointslice_hints import (
    SliceInfo, TopologyCache, hints_enabled)
from kubemu.cluster.controllers.endpointslice_reconciler import (
    desired_endpoints, plan_slices, slice_labels)

SVC = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
       "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.5",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
NODE = {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "a"}}}


def pod(i: int) -> dict:
    return {"metadata": {"name": f"p{i:03}", "namespace": "default", "uid": f"uid{i}"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": f"10.0.{i // 200}.{i % 200}",
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def existing(name: str, pods: list[dict]) -> dict:
    """A slice as the controller would have written it, holding `pods`."""
    desired, _ = desired_endpoints(SVC, pods, lambda n: NODE)
    ports, eps = next(iter(desired.values()))
    return {"metadata": {"name": name, "namespace": "default", "labels": slice_labels(SVC),
                         "ownerReferences": [{"kind": "Service", "uid": "u1",
                                              "controller": True}]},
            "addressType": "IPv4", "ports": ports, "endpoints": list(eps.values())}


def plan(pods: list[dict], slices: list[dict], max_per_slice: int = 100):
    desired, _ = desired_endpoints(SVC, pods, lambda n: NODE)
    return plan_slices(SVC, slices, desired, max_endpoints_per_slice=max_per_slice)


def test_new_endpoints_fill_the_tightest_unchanged_slice_instead_of_a_new_one() -> None:
    pods = [pod(i) for i in range(15)]
    a, b = existing("a", pods[:5]), existing("b", pods[5:13])
    result = plan(pods, [a, b], max_per_slice=10)
    assert not result.to_create and not result.to_delete
    assert [s["metadata"]["name"] for s in result.to_update] == ["b"]
    assert len(result.to_update[0]["endpoints"]) == 10
    assert result.unchanged == [a]


def test_a_deleted_slice_is_recycled_for_a_new_port_set() -> None:
    old = existing("a", [pod(1)])
    svc_ports = {**SVC, "spec": {**SVC["spec"], "ports": [
        {"name": "http", "port": 80, "targetPort": 9090}]}}
    desired, _ = desired_endpoints(svc_ports, [pod(1)], lambda n: NODE)
    result = plan_slices(svc_ports, [old], desired)
    assert not result.to_create and not result.to_delete
    assert result.to_update[0]["metadata"]["name"] == "a"
    assert result.to_update[0]["ports"][0]["port"] == 9090


def test_pods_on_unknown_nodes_are_skipped_and_reported() -> None:
    desired, skipped = desired_endpoints(SVC, [pod(1)], lambda n: None)
    assert desired == {} and skipped == ["p001"]


def nodes(*zones_cpu: tuple[str, str]) -> list[dict]:
    return [{"metadata": {"name": f"n{i}", "labels": {"topology.kubernetes.io/zone": z}},
             "status": {"allocatable": {"cpu": cpu},
                        "conditions": [{"type": "Ready", "status": "True"}]}}
            for i, (z, cpu) in enumerate(zones_cpu)]


@pytest.mark.parametrize("zones,endpoints,expected", [
    pytest.param([("a", "2"), ("b", "2")], 4, {"a": (2, 2), "b": (2, 2)}, id="even"),
    pytest.param([("a", "1"), ("b", "3")], 8, {"a": (2, 3), "b": (5, 6)}, id="quarter"),
    pytest.param([("a", "1"), ("b", "1"), ("c", "2")], 2, None, id="fewer-endpoints"),
    pytest.param([("a", "1"), ("b", "9")], 3, None, id="minimums-exceed"),
    pytest.param([("a", "4"), ("a", "4")], 6, None, id="one-zone"),
    pytest.param([("a", "4"), ("", "4")], 6, None, id="node-without-zone"),
])
def test_allocations_follow_zone_cpu_share_within_overload(zones, endpoints,
                                                          expected) -> None:
    cache = TopologyCache()
    cache.set_nodes(nodes(*zones))
    allocations, event = cache.allocations(endpoints)
    if expected is None:
        assert allocations is None and event.reason == "TopologyAwareHintsDisabled"
        return
    assert {z: (a.minimum, a.maximum) for z, a in allocations.items()} == expected


def test_unchanged_slices_keep_hints_that_still_fit() -> None:
    cache = TopologyCache()
    cache.set_nodes(nodes(("a", "2"), ("b", "2")))
    eps = [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": True}, "zone": z,
            "hints": {"forZones": [{"name": z}]}} for i, z in enumerate("aabb")]
    slice_ = {"metadata": {"name": "s"}, "endpoints": eps}
    info = SliceInfo("default/web", unchanged=[slice_])
    cache.add_hints(info)
    assert info.unchanged == [slice_] and not info.to_update


@pytest.mark.parametrize("annotations,enabled", [
    pytest.param({"service.kubernetes.io/topology-mode": "Auto"}, True, id="mode-auto"),
    pytest.param({"service.kubernetes.io/topology-aware-hints": "auto"}, True,
                 id="deprecated"),
    pytest.param({"service.kubernetes.io/topology-mode": "Disabled",
                  "service.kubernetes.io/topology-aware-hints": "auto"}, False,
                 id="mode-wins"),
    pytest.param(None, False, id="none"),
])
def test_hints_enabled_by_annotation(annotations, enabled) -> None:
    assert hints_enabled(annotations) is enabled


_NODE_EVENTS = st.lists(st.tuples(
    st.sampled_from(["put", "delete"]), st.integers(0, 5),
    st.sampled_from(["a", "b", "c", ""]), st.sampled_from(["0", "1", "2", "500m"]),
    st.booleans()), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_NODE_EVENTS)
def test_zone_ratios_kept_node_by_node_equal_a_fresh_count(events) -> None:
    """The cache follows node events one at a time; its ratios always equal what counting
    every node afresh gives."""
    cache, current = TopologyCache(), {}
    for op, i, zone, cpu, ready in events:
        node = {"metadata": {"name": f"n{i}", "labels": {"topology.kubernetes.io/zone": zone}},
                "status": {"allocatable": {"cpu": cpu}, "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False"}]}}
        if op == "put":
            current[f"n{i}"] = node
            cache.update_node(node)
        elif current.pop(f"n{i}", None) is not None:
            cache.remove_node(node)
        fresh = TopologyCache()
        fresh.set_nodes(list(current.values()))
        assert cache.cpu_ratios_by_zone == fresh.cpu_ratios_by_zone
