"""Node health: the pure half of upstream's node lifecycle controller (monitorNodeHealth).

`HealthMonitor` remembers, per node, the Kubernetes-clock instant (`probe`) at which it last
saw the node prove it is alive: its Ready condition's lastHeartbeatTime or its
kube-node-lease Lease's renewTime *changed* since the previous observation (or the node was
seen for the first time). Stored timestamps are only compared for change, never subtracted,
so skewed or scaled clocks cannot fool it. A node silent for longer than its grace period
(`grace_period`, or `startup_grace_period` while it has never posted a Ready condition) is
`expired`: `unknown_conditions` then gives the conditions the controller writes (Ready,
MemoryPressure, DiskPressure, PIDPressure -> Unknown, "Kubelet stopped posting node status.").

`no_schedule_taint_diff` is TaintNodesByCondition: the NoSchedule taints a node's conditions
and spec.unschedulable call for, against the ones of those keys it carries. `zone_key` and
`compute_zone_state` classify zones for the disruption logic (nodedisruption.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemu.cluster.controllers.nodeutil import get_condition
from kubemu.cluster.controllers.taints import (
    NO_EXECUTE, NO_SCHEDULE, TAINT_NODE_DISK_PRESSURE, TAINT_NODE_MEMORY_PRESSURE,
    TAINT_NODE_NETWORK_UNAVAILABLE, TAINT_NODE_NOT_READY, TAINT_NODE_PID_PRESSURE,
    TAINT_NODE_UNREACHABLE, TAINT_NODE_UNSCHEDULABLE, match_taint)

__all__ = ["HealthMonitor", "unknown_conditions", "no_schedule_taint_diff", "zone_key",
           "compute_zone_state", "ready_status", "NOT_READY_TAINT", "UNREACHABLE_TAINT",
           "STATE_INITIAL", "STATE_NORMAL", "STATE_FULL_DISRUPTION",
           "STATE_PARTIAL_DISRUPTION", "EXCLUDE_DISRUPTION_LABEL"]

NOT_READY_TAINT = {"key": TAINT_NODE_NOT_READY, "effect": NO_EXECUTE}
UNREACHABLE_TAINT = {"key": TAINT_NODE_UNREACHABLE, "effect": NO_EXECUTE}
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"

STATE_INITIAL = "Initial"
STATE_NORMAL = "Normal"
STATE_FULL_DISRUPTION = "FullDisruption"
STATE_PARTIAL_DISRUPTION = "PartialDisruption"

_WATCHED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
_CONDITION_TAINTS = {
    ("Ready", "False"): TAINT_NODE_NOT_READY,
    ("Ready", "Unknown"): TAINT_NODE_UNREACHABLE,
    ("MemoryPressure", "True"): TAINT_NODE_MEMORY_PRESSURE,
    ("DiskPressure", "True"): TAINT_NODE_DISK_PRESSURE,
    ("NetworkUnavailable", "True"): TAINT_NODE_NETWORK_UNAVAILABLE,
    ("PIDPressure", "True"): TAINT_NODE_PID_PRESSURE,
}
_CONDITION_TAINT_KEYS = frozenset(_CONDITION_TAINTS.values()) | {TAINT_NODE_UNSCHEDULABLE}


@dataclass
class _Health:
    probe: float  # Kubernetes-clock instant of the last sign of life
    ready_transition: float
    has_ready: bool = False
    heartbeat: str | None = None  # the Ready condition's lastHeartbeatTime seen last
    transition: str | None = None  # ... and its lastTransitionTime
    renew: str | None = None  # the Lease's renewTime seen last


class HealthMonitor:
    """Per node: when it last showed a sign of life, by the Kubernetes clock."""

    def __init__(self, *, grace_period: float = 40.0,
                 startup_grace_period: float = 60.0) -> None:
        self.grace_period = grace_period
        self.startup_grace_period = startup_grace_period
        self._health: dict[str, _Health] = {}

    def observe(self, node: dict, lease: dict | None, now: float) -> float:
        """Take in the node's status and Lease as seen at `now`; its grace period."""
        name = _name(node)
        ready = get_condition((node.get("status") or {}).get("conditions"), "Ready")
        health = self._health.get(name)
        if health is None or health.has_ready != (ready is not None):
            health = self._health[name] = _Health(probe=now, ready_transition=now)
        elif ready is not None and ready.get("lastHeartbeatTime") != health.heartbeat:
            health.probe = now
            if ready.get("lastTransitionTime") != health.transition:
                health.ready_transition = now
        health.has_ready = ready is not None
        if ready is not None:
            health.heartbeat = ready.get("lastHeartbeatTime")
            health.transition = ready.get("lastTransitionTime")
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        if renew and renew != health.renew:
            health.renew = renew
            health.probe = now
        return self.grace_period if ready is not None else self.startup_grace_period

    def expired(self, name: str, now: float, grace: float) -> bool:
        health = self._health.get(name)
        return health is not None and now > health.probe + grace

    def probe(self, name: str) -> float | None:
        health = self._health.get(name)
        return None if health is None else health.probe

    def transitioned(self, name: str, now: float) -> None:
        """The controller itself changed the node's Ready condition at `now`."""
        health = self._health.get(name)
        if health is not None:
            health.ready_transition = now

    def reset(self, names: list[str], now: float) -> None:
        """Count every node as just seen (leaving master disruption mode)."""
        for name in names:
            health = self._health.get(name)
            if health is not None:
                health.probe = health.ready_transition = now

    def forget(self, name: str) -> None:
        self._health.pop(name, None)


def ready_status(node: dict) -> str | None:
    """The Ready condition's status, None when the node has none."""
    cond = get_condition((node.get("status") or {}).get("conditions"), "Ready")
    return None if cond is None else cond.get("status")


def unknown_conditions(node: dict, *, now: str) -> list[dict] | None:
    """The node's conditions with Ready and the pressure conditions Unknown, as the
    controller writes them when the kubelet went silent; None if nothing changes."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
    created = (node.get("metadata") or {}).get("creationTimestamp") or now
    changed = False
    for type_ in _WATCHED_CONDITIONS:
        cond = get_condition(conditions, type_)
        if cond is None:
            conditions.append({"type": type_, "status": "Unknown",
                               "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": created, "lastTransitionTime": now})
            changed = True
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason="NodeStatusUnknown",
                        message="Kubelet stopped posting node status.",
                        lastTransitionTime=now)
            changed = True
    return conditions if changed else None


def no_schedule_taint_diff(node: dict) -> tuple[list[dict], list[dict]]:
    """(taints to add, taints to remove) so the node's condition and unschedulable NoSchedule
    taints match its status and spec (upstream doNoScheduleTaintingPass)."""
    wanted: list[dict] = []
    for cond in (node.get("status") or {}).get("conditions") or ():
        key = _CONDITION_TAINTS.get((cond.get("type"), cond.get("status")))
        if key is not None:
            wanted.append({"key": key, "effect": NO_SCHEDULE})
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": TAINT_NODE_UNSCHEDULABLE, "effect": NO_SCHEDULE})
    have = [t for t in (node.get("spec") or {}).get("taints") or ()
            if t.get("effect") == NO_SCHEDULE and t.get("key") in _CONDITION_TAINT_KEYS]
    add = [t for t in wanted if not any(match_taint(t, h) for h in have)]
    remove = [h for h in have if not any(match_taint(t, h) for t in wanted)]
    return add, remove


def zone_key(node: dict) -> str:
    """Region and zone of a node, "" when unlabelled (upstream `GetZoneKey`)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = labels.get("failure-domain.beta.kubernetes.io/zone",
                      labels.get("topology.kubernetes.io/zone", ""))
    region = labels.get("failure-domain.beta.kubernetes.io/region",
                        labels.get("topology.kubernetes.io/region", ""))
    if not zone and not region:
        return ""
    return f"{region}:\x00:{zone}"


def compute_zone_state(ready: list[str | None], *, unhealthy_threshold: float = 0.55) -> str:
    """A zone's state from its nodes' Ready statuses (None: no condition, not ready)."""
    ready_nodes = sum(1 for s in ready if s == "True")
    not_ready = len(ready) - ready_nodes
    if ready_nodes == 0 and not_ready > 0:
        return STATE_FULL_DISRUPTION
    if not_ready > 2 and not_ready / len(ready) >= unhealthy_threshold:
        return STATE_PARTIAL_DISRUPTION
    return STATE_NORMAL


def _name(node: dict) -> str:
    return (node.get("metadata") or {}).get("name", "")
