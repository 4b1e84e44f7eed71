"""Topology hints on EndpointSlices: upstream's topologycache (Topology Aware Routing) and
trafficdist (`spec.trafficDistribution: PreferClose`).

`TopologyCache.set_nodes` keeps each zone's share of the allocatable CPU of ready nodes
(control-plane nodes excluded). One node without a zone label or allocatable CPU, or ready
nodes in fewer than two zones, makes the node information insufficient: no hints at all.

`TopologyCache.add_hints(info)` (Service annotated `service.kubernetes.io/topology-mode:
Auto`, or the deprecated `service.kubernetes.io/topology-aware-hints: auto`):
1. allocations for N ready endpoints: zone z desires share(z)*N endpoints, at least
   ceil(desired / 1.2) (overload threshold 20%), at most min + N - sum(mins). Unsafe (hints
   removed, a TopologyAwareHintsDisabled event): insufficient node info, fewer endpoints
   than zones, minimums exceeding N, a ready endpoint without a zone;
2. unchanged slices whose hints still fit the allocations keep them (no churn); the others
   join the slices to update;
3. every ready endpoint of a slice to create or update is hinted for its own zone, then
   zones over their desired count give endpoints to zones under it (largest gaps first).
Not-ready endpoints carry no hints. Zones are visited in sorted order where Go iterates a
map, so the outcome is deterministic.

`prefer_close(info)`: every ready endpoint with a zone is hinted for its own zone.
`remove_hints(info)`: hints dropped; unchanged slices that had some move to update.
All functions mutate only slices in `to_create`/`to_update` (the caller's own copies) and
copy an unchanged (cached) slice before changing it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from kubemu.cluster.api.quantity import milli_value

__all__ = ["SliceInfo", "TopologyCache", "Allocation", "HintEvent", "OVERLOAD_THRESHOLD",
           "hints_enabled", "prefer_close", "remove_hints", "endpoint_ready",
           "ANNOTATION_TOPOLOGY_MODE", "ANNOTATION_TOPOLOGY_AWARE_HINTS",
           "INSUFFICIENT_NODE_INFO", "INSUFFICIENT_NUMBER_OF_ENDPOINTS",
           "MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD", "NO_ZONE_SPECIFIED",
           "NODES_READY_IN_ONE_ZONE_ONLY", "TOPOLOGY_AWARE_HINTS_ENABLED",
           "TOPOLOGY_AWARE_HINTS_DISABLED"]

ANNOTATION_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
ANNOTATION_TOPOLOGY_AWARE_HINTS = "service.kubernetes.io/topology-aware-hints"
OVERLOAD_THRESHOLD = 0.2

INSUFFICIENT_NODE_INFO = ("Insufficient Node information: allocatable CPU or zone not "
                          "specified on one or more nodes")
NODES_READY_IN_ONE_ZONE_ONLY = "Nodes only ready in one zone"
INSUFFICIENT_NUMBER_OF_ENDPOINTS = "Insufficient number of endpoints"
MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD = ("Unable to allocate minimum required endpoints "
                                             "to each zone without exceeding overload "
                                             "threshold")
NO_ZONE_SPECIFIED = "One or more endpoints do not have a zone specified"
NO_ALLOCATED_HINTS_FOR_ZONES = "No hints allocated for zones"
TOPOLOGY_AWARE_HINTS_ENABLED = "Topology Aware Hints has been enabled"
TOPOLOGY_AWARE_HINTS_DISABLED = "Topology Aware Hints has been disabled"
_EXCLUDED_NODE_LABELS = ("node-role.kubernetes.io/control-plane",
                         "node-role.kubernetes.io/master")
_ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass
class SliceInfo:
    """One Service's slices of one address type after the reconciler's planning."""
    service_key: str
    to_create: list[dict] = field(default_factory=list)
    to_update: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Allocation:
    minimum: int
    maximum: int
    desired: float


@dataclass(frozen=True)
class HintEvent:
    type: str  # Normal | Warning
    reason: str
    message: str


def hints_enabled(annotations: dict | None) -> bool:
    annotations = annotations or {}
    value = annotations.get(ANNOTATION_TOPOLOGY_MODE)
    if value is None:
        value = annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS)
    return value in ("Auto", "auto")


def endpoint_ready(endpoint: dict) -> bool:
    return bool((endpoint.get("conditions") or {}).get("ready"))


class TopologyCache:
    """Zone CPU ratios of the cluster and which Services have hints populated.

    Kept incrementally: each node's contribution (its zone and allocatable CPU, nothing when
    excluded or not Ready, "insufficient" when Ready without a zone or CPU) is remembered,
    so a node event costs O(zones), not a walk over every node (upstream recomputes over all
    nodes per event; at a thousand nodes that walk dominated a burst of node updates)."""

    def __init__(self) -> None:
        self.cpu_ratios_by_zone: dict[str, float] | None = None
        self._populated: dict[str, dict[str, int]] = {}
        self._nodes: dict[str, tuple[str, int] | None] = {}  # name -> (zone, cpu) | nothing
        self._cpu_by_zone: dict[str, int] = {}
        self._insufficient: set[str] = set()

    def set_nodes(self, nodes: list[dict]) -> None:
        """Start over from `nodes`."""
        self._nodes.clear()
        self._cpu_by_zone.clear()
        self._insufficient.clear()
        for node in nodes:
            self._put(node)
        self._ratios()

    def update_node(self, node: dict) -> None:
        """A node was added or changed."""
        self._drop(_node_name(node))
        self._put(node)
        self._ratios()

    def remove_node(self, node: dict) -> None:
        self._drop(_node_name(node))
        self._ratios()

    def _put(self, node: dict) -> None:
        name = _node_name(node)
        labels = (node.get("metadata") or {}).get("labels") or {}
        if any(label in labels for label in _EXCLUDED_NODE_LABELS) or not _ready(node):
            self._nodes[name] = None
            return
        zone, cpu = labels.get(_ZONE_LABEL) or "", _allocatable_milli_cpu(node)
        if not zone or cpu <= 0:
            self._nodes[name] = None
            self._insufficient.add(name)
            return
        self._nodes[name] = (zone, cpu)
        self._cpu_by_zone[zone] = self._cpu_by_zone.get(zone, 0) + cpu

    def _drop(self, name: str) -> None:
        self._insufficient.discard(name)
        held = self._nodes.pop(name, None)
        if held is not None:
            zone, cpu = held
            left = self._cpu_by_zone[zone] - cpu
            if left:
                self._cpu_by_zone[zone] = left
            else:
                del self._cpu_by_zone[zone]

    def _ratios(self) -> None:
        total = sum(self._cpu_by_zone.values())
        if self._insufficient or total == 0 or len(self._cpu_by_zone) < 2:
            self.cpu_ratios_by_zone = None
            return
        self.cpu_ratios_by_zone = {z: cpu / total
                                   for z, cpu in sorted(self._cpu_by_zone.items())}

    def has_populated_hints(self, service_key: str) -> bool:
        return service_key in self._populated

    def forget(self, service_key: str) -> None:
        self._populated.pop(service_key, None)

    def allocations(self, num_endpoints: int) -> tuple[dict[str, Allocation] | None,
                                                       HintEvent | None]:
        ratios = self.cpu_ratios_by_zone
        if ratios is None:
            return None, _disabled(INSUFFICIENT_NODE_INFO)
        if len(ratios) < 2:
            return None, _disabled(NODES_READY_IN_ONE_ZONE_ONLY)
        if len(ratios) > num_endpoints:
            return None, _disabled(f"{INSUFFICIENT_NUMBER_OF_ENDPOINTS} ({num_endpoints} "
                                   f"endpoints, {len(ratios)} zones)")
        remaining, min_total = num_endpoints, 0
        partial: dict[str, tuple[int, float]] = {}
        for zone, ratio in ratios.items():
            desired = ratio * num_endpoints
            minimum = math.ceil(desired * (1 / (1 + OVERLOAD_THRESHOLD)))
            partial[zone] = (minimum, max(desired, float(minimum)))
            min_total += minimum
            remaining -= minimum
            if remaining < 0:
                return None, _disabled(f"{MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD} "
                                       f"({num_endpoints} endpoints, {len(ratios)} zones)")
        return {zone: Allocation(minimum, minimum + num_endpoints - min_total, desired)
                for zone, (minimum, desired) in partial.items()}, None

    def add_hints(self, info: SliceInfo) -> list[HintEvent]:
        """Hint `info`'s slices for their zones, or remove every hint when unsafe."""
        total = sum(1 for s in (*info.to_create, *info.to_update, *info.unchanged)
                    for ep in s.get("endpoints") or () if endpoint_ready(ep))
        allocations, event = self.allocations(total)
        if allocations is None:
            self.forget(info.service_key)
            remove_hints(info)
            return [event] if event is not None else []
        allocated = _allocated_hints_by_zone(info, allocations)
        allocatable = [*info.to_create, *info.to_update]
        for slice_ in allocatable:
            for endpoint in slice_.get("endpoints") or ():
                if not endpoint_ready(endpoint):
                    endpoint.pop("hints", None)
                    continue
                zone = endpoint.get("zone")
                if not zone:
                    self.forget(info.service_key)
                    remove_hints(info)
                    return [_disabled(NO_ZONE_SPECIFIED)]
                allocated[zone] = allocated.get(zone, 0) + 1
                endpoint["hints"] = {"forZones": [{"name": zone}]}
        giving, receiving = _giving_and_receiving_zones(allocations, allocated)
        for zone, diff in _redistribute(allocatable, giving, receiving).items():
            allocated[zone] = allocated.get(zone, 0) + diff
        if not allocated:
            self.forget(info.service_key)
            remove_hints(info)
            return [_disabled(NO_ALLOCATED_HINTS_FOR_ZONES)]
        enabled_before = self.has_populated_hints(info.service_key)
        self._populated[info.service_key] = allocated
        if enabled_before:
            return []
        return [HintEvent("Normal", "TopologyAwareHintsEnabled",
                          f"{TOPOLOGY_AWARE_HINTS_ENABLED}, addressType: IPv4")]


def remove_hints(info: SliceInfo) -> None:
    for slice_ in (*info.to_create, *info.to_update):
        for endpoint in slice_.get("endpoints") or ():
            endpoint.pop("hints", None)
    _rewrite_unchanged(info, lambda endpoint: None)


def prefer_close(info: SliceInfo) -> None:
    """trafficDistribution PreferClose: each ready endpoint hinted for its own zone."""
    for slice_ in (*info.to_create, *info.to_update):
        for endpoint in slice_.get("endpoints") or ():
            hints = _own_zone_hints(endpoint)
            if hints is None:
                endpoint.pop("hints", None)
            else:
                endpoint["hints"] = hints
    _rewrite_unchanged(info, _own_zone_hints)


# -- helpers ---------------------------------------------------------------------------------

def _own_zone_hints(endpoint: dict) -> dict | None:
    zone = endpoint.get("zone")
    return {"forZones": [{"name": zone}]} if endpoint_ready(endpoint) and zone else None


def _rewrite_unchanged(info: SliceInfo, hints_of) -> None:
    """Unchanged slices whose hints differ from `hints_of(endpoint)` are copied, fixed and
    moved to `to_update`."""
    kept: list[dict] = []
    for slice_ in info.unchanged:
        endpoints = slice_.get("endpoints") or []
        if all(ep.get("hints") == hints_of(ep) for ep in endpoints):
            kept.append(slice_)
            continue
        fixed = copy.deepcopy(slice_)
        for endpoint in fixed.get("endpoints") or ():
            hints = hints_of(endpoint)
            if hints is None:
                endpoint.pop("hints", None)
            else:
                endpoint["hints"] = hints
        info.to_update.append(fixed)
    info.unchanged = kept


def _allocated_hints_by_zone(info: SliceInfo,
                             allocations: dict[str, Allocation]) -> dict[str, int]:
    """Hints the unchanged slices hold per zone; slices whose hints no longer fit move to
    `to_update` (copied)."""
    allocated: dict[str, int] = {}
    kept: list[dict] = []
    for slice_ in info.unchanged:
        by_zone = _hints_by_zone(slice_, allocated, allocations)
        if by_zone is None:
            info.to_update.append(copy.deepcopy(slice_))
            continue
        kept.append(slice_)
        for zone, count in by_zone.items():
            allocated[zone] = allocated.get(zone, 0) + count
    info.unchanged = kept
    return allocated


def _hints_by_zone(slice_: dict, allocated: dict[str, int],
                   allocations: dict[str, Allocation]) -> dict[str, int] | None:
    by_zone: dict[str, int] = {}
    for endpoint in slice_.get("endpoints") or ():
        if not endpoint_ready(endpoint):
            continue
        zones = ((endpoint.get("hints") or {}).get("forZones")) or []
        if not zones:
            return None
        for entry in zones:
            zone = entry.get("name")
            if zone not in allocations:
                return None
            by_zone[zone] = by_zone.get(zone, 0) + 1
    for zone, count in by_zone.items():
        if count + allocated.get(zone, 0) > allocations[zone].maximum:
            return None
    return by_zone


def _giving_and_receiving_zones(allocations: dict[str, Allocation],
                                allocated: dict[str, int]) -> tuple[dict[str, int],
                                                                    dict[str, int]]:
    giving_desired: dict[str, float] = {}
    receiving_desired: dict[str, float] = {}
    for zone, allocation in sorted(allocations.items()):
        have = float(allocated.get(zone, 0))
        if have > allocation.desired:
            giving_desired[zone] = have - allocation.desired
        elif have < allocation.desired:
            receiving_desired[zone] = allocation.desired - have
    giving: dict[str, int] = {}
    receiving: dict[str, int] = {}
    while True:
        give_zone, to_give = _most(giving_desired)
        receive_zone, to_receive = _most(receiving_desired)
        if not give_zone or not receive_zone or (to_give < 1.0 and to_receive < 1.0) \
                or to_give < 0.5 or to_receive < 0.5:
            break
        giving[give_zone] = giving.get(give_zone, 0) + 1
        giving_desired[give_zone] -= 1
        receiving[receive_zone] = receiving.get(receive_zone, 0) + 1
        receiving_desired[receive_zone] -= 1
    return giving, receiving


def _most(zones: dict[str, float]) -> tuple[str, float]:
    best, most = "", 0.0
    for zone, value in zones.items():  # sorted insertion order: ties go to the first zone
        if value > most:
            best, most = zone, value
    return best, most


def _redistribute(slices: list[dict], giving: dict[str, int],
                  receiving: dict[str, int]) -> dict[str, int]:
    moved: dict[str, int] = {}
    for slice_ in slices:
        for endpoint in slice_.get("endpoints") or ():
            if not endpoint_ready(endpoint):
                continue
            if not giving or not receiving:
                return moved
            zone = endpoint.get("zone")
            if not zone or giving.get(zone, 0) <= 0:
                continue
            target = next((z for z in sorted(receiving) if receiving[z] > 0), None)
            if target is None:
                continue
            endpoint["hints"] = {"forZones": [{"name": target}]}
            for counts, key in ((giving, zone), (receiving, target)):
                counts[key] -= 1
                if counts[key] == 0:
                    del counts[key]
            moved[target] = moved.get(target, 0) + 1
            moved[zone] = moved.get(zone, 0) - 1
    return moved


def _disabled(message: str) -> HintEvent:
    return HintEvent("Warning", "TopologyAwareHintsDisabled", f"{message}, addressType: IPv4")


def _node_name(node: dict) -> str:
    return (node.get("metadata") or {}).get("name") or ""


def _ready(node: dict) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def _allocatable_milli_cpu(node: dict) -> int:
    cpu = ((node.get("status") or {}).get("allocatable") or {}).get("cpu")
    if cpu is None:
        return 0
    try:
        return milli_value(cpu)
    except (ValueError, ArithmeticError):
        return 0
