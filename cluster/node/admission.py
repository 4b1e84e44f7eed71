"""Pod admission on the node: the kubelet's predicate and eviction admit handlers, pure.

A pod bound to a node is not yet running there: the kubelet first re-checks that it fits
(upstream `lifecycle/predicate.go`, which runs the scheduler's NodeResourcesFit against the
pods the kubelet already admitted), because the scheduler may have decided on an older view
of the node. Checks in upstream's order: pod count, cpu, memory, ephemeral-storage; the first
failure rejects the pod with reason `OutOf<resource>` and upstream's message. Under
MemoryPressure a BestEffort pod is rejected too (the eviction manager's admit handler),
reason Evicted. Requests are the scheduler's (`scheduler.nodeinfo.pod_requests`, upstream
computePodResourceRequest), so the node and the scheduler never disagree on what a pod
needs. A rejected pod is Failed for good; it never counts as using the node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubemu.cluster.api.objects import qos_class
from kubemu.cluster.scheduler.nodeinfo import Resources, pod_requests, resources_from_list

__all__ = ["Rejection", "admit"]

_RESOURCES = ("cpu", "memory", "ephemeral-storage")


@dataclass(frozen=True)
class Rejection:
    reason: str  # OutOfcpu, OutOfmemory, OutOfpods, Evicted
    message: str  # without upstream's "Pod was rejected: " prefix (the Event's text)


def admit(pod: dict, *, allocatable: Mapping[str, str], admitted: Iterable[Resources],
          memory_pressure: bool = False) -> Rejection | None:
    """None when `pod` may run alongside the admitted (active) pods, whose requests
    (`pod_requests`) `admitted` gives, else why not."""
    if memory_pressure and qos_class(pod) == "BestEffort":
        return Rejection("Evicted", "The node had condition: [MemoryPressure]. ")
    others = list(admitted)
    capacity = resources_from_list(dict(allocatable))
    if len(others) + 1 > capacity.pods:
        return Rejection("OutOfpods", _message("pods", 1, len(others), capacity.pods))
    wanted = pod_requests(pod)
    used = Resources()
    for other in others:
        used.add(other)
    for resource in _RESOURCES:
        need = wanted.get(resource)
        if need and need + used.get(resource) > capacity.get(resource):
            return Rejection(f"OutOf{resource}", _message(resource, need, used.get(resource),
                                                          capacity.get(resource)))
    for resource, need in sorted(wanted.scalar.items()):
        if need and need + used.scalar.get(resource, 0) > capacity.scalar.get(resource, 0):
            return Rejection(f"OutOf{resource}", _message(
                resource, need, used.scalar.get(resource, 0), capacity.scalar.get(resource, 0)))
    return None


def _message(resource: str, requested: int, used: int, capacity: int) -> str:
    return (f"Node didn't have enough resource: {resource}, requested: {requested}, "
            f"used: {used}, capacity: {capacity}")
