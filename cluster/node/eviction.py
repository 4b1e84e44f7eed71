"""Node-pressure eviction: the kubelet eviction manager's memory signal, pure.

Upstream's manager observes `memory.available` every monitoring interval (10 s), compares it
with the hard threshold (`evictionHard: memory.available<100Mi`), and while the threshold is
met evicts one pod per round, ranked by `rankMemoryPressure`: pods whose usage exceeds their
memory request first, then lower priority first, then larger usage above request first.
Critical pods (priority >= 2000000000, system-cluster-critical and above) are never chosen.
The node condition MemoryPressure stays True until the threshold has not been met for the
pressure transition period (5 minutes), so a node does not flap between pressure and none
while a pod it just evicted is being replaced. This module decides; the kubelet observes
usage, evicts, writes the condition and the taint.

Here `memory.available` = allocatable + threshold - working set of the pods (the node's
capacity less system reserved, less what the pods use); usage comes from the emulated
containers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kubemu.cluster.api.quantity import QuantityError, parse_quantity
from kubemu.cluster.scheduler.nodeinfo import pod_requests

__all__ = ["Candidate", "PressureTracker", "rank_memory_pressure", "eviction_message",
           "memory_available", "pod_memory_request", "is_critical", "format_bytes",
           "MEMORY_PRESSURE_TAINT", "CRITICAL_PRIORITY"]

MEMORY_PRESSURE_TAINT = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
CRITICAL_PRIORITY = 2_000_000_000  # scheduling.SystemCriticalPriority

_NODE_LOW = "The node was low on resource: {}. "
_THRESHOLD_MET = "Threshold quantity: {}, available: {}. "
_CONTAINER = "Container {} was using {}, request is {}, has larger consumption of {}. "


@dataclass(frozen=True)
class Candidate:
    """One pod the eviction manager may evict, with its observed memory working set."""

    key: str  # the kubelet's handle on the pod (its uid)
    pod: dict
    usage: int  # bytes, whole pod
    containers: Mapping[str, int] = field(default_factory=dict)  # bytes per container


def memory_available(*, allocatable: int, threshold: int, usage: int) -> int:
    """The memory.available signal: allocatable + threshold - pods' working set."""
    return allocatable + threshold - usage


def rank_memory_pressure(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Eviction order under memory pressure (upstream rankMemoryPressure); critical pods
    are left out. Equal pods keep their given order."""
    def order(c: Candidate) -> tuple[int, int, int]:
        request = pod_memory_request(c.pod)
        exceeds = c.usage > request
        return (0 if exceeds else 1, _priority(c.pod), -(c.usage - request))

    return sorted((c for c in candidates if not is_critical(c.pod)), key=order)


def eviction_message(candidate: Candidate, *, threshold: str, available: int,
                     resource: str = "memory") -> str:
    """The Evicted message upstream writes into the pod's status and Event."""
    message = _NODE_LOW.format(resource) + _THRESHOLD_MET.format(threshold,
                                                                   format_bytes(available))
    for container in (candidate.pod.get("spec") or {}).get("containers") or ():
        name = container.get("name", "")
        if name not in candidate.containers:
            continue
        usage = candidate.containers[name]
        text = ((container.get("resources") or {}).get("requests") or {}).get(resource)
        request = _bytes(text)
        if usage > request:
            message += _CONTAINER.format(name, format_bytes(usage),
                                         str(text) if text is not None else "0", resource)
    return message


def pod_memory_request(pod: dict) -> int:
    """Bytes of memory the pod requests (the scheduler's pod requests)."""
    return pod_requests(pod).memory


def is_critical(pod: dict) -> bool:
    return _priority(pod) >= CRITICAL_PRIORITY


def format_bytes(value: int) -> str:
    """A byte count as a canonical binary quantity ("300Mi", "51200Ki", "1000")."""
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = 1 << (10 * ("KMGTPE".index(suffix[0]) + 1))
        if value and value % unit == 0:
            return f"{sign}{value // unit}{suffix}"
    return f"{sign}{value}"


class PressureTracker:
    """Threshold observations -> the pressure condition, held for the transition period
    after the threshold was last met (upstream nodeConditionsLastObservedAt)."""

    def __init__(self, *, transition_period: float = 300.0) -> None:
        self.transition_period = transition_period
        self.last_met: float | None = None
        self.pressure = False

    def observe(self, now: float, met: bool) -> bool:
        """Record one observation at `now`; the pressure condition after it."""
        if met:
            self.last_met = now
        self.pressure = (self.last_met is not None
                         and now - self.last_met < self.transition_period)
        return self.pressure


def _priority(pod: dict) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return int(value) if isinstance(value, int) else 0


def _bytes(text: object) -> int:
    if text is None:
        return 0
    try:
        return math.ceil(parse_quantity(text))  # type: ignore[arg-type]
    except (QuantityError, ValueError, TypeError):
        return 0
