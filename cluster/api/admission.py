"""Admission steps that need the store or the old object: what upstream does between decoding
a request and validating it.

- Priority (the Priority admission plugin): a pod naming a PriorityClass gets its value and
  preemptionPolicy; a missing class is 403 Forbidden, as upstream. A pod naming no class gets
  the globalDefault PriorityClass (its name, value and policy) when one exists (the lowest
  value when several do), else priority 0. A PriorityClass may become globalDefault only
  while no other one is (403 "PriorityClass <name> is the default priority class").
- Scheduling gates: a pod created with spec.schedulingGates starts with the condition
  PodScheduled=False reason SchedulingGated (upstream's pod strategy PrepareForCreate).
- Service updates keep allocated values (clusterIP(s), nodePorts, healthCheckNodePort) that
  the new object omits -- a PUT of a manifest without them must not look like an attempt to
  unset them -- and drop the type-dependent fields the old type needed when the type changes
  to one that does not use them, and healthCheckNodePort when the Service stops being a
  LoadBalancer with externalTrafficPolicy Local (upstream's patchAllocatedValues and
  dropTypeDependentFields).
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import Forbidden
from kubemu.cluster.api.objects import decode
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.store import prefix_end

__all__ = ["admit_pod_priority", "admit_priority_class", "scheduling_gated_condition",
           "service_update_fixups", "SCHEDULING_GATED_MESSAGE"]

_PRIORITY_CLASSES = Resource(group="scheduling.k8s.io", version="v1", kind="PriorityClass",
                             plural="priorityclasses", singular="priorityclass",
                             namespaced=False)
_SYSTEM_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
_EXTERNAL_TYPES = ("NodePort", "LoadBalancer")
SCHEDULING_GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"


async def admit_pod_priority(store: Any, pod: dict) -> None:
    """Fill spec.priority and spec.preemptionPolicy from the pod's PriorityClass."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("priorityClassName")
    if not name:
        default = await _default_priority_class(store)
        if default is not None:
            spec["priorityClassName"] = default["metadata"]["name"]
            spec["priority"] = default.get("value", 0)
            spec["preemptionPolicy"] = default.get("preemptionPolicy", "PreemptLowerPriority")
        return
    if name in _SYSTEM_CLASSES:
        return
    kvs = (await store.request({"op": "range", "key": _PRIORITY_CLASSES.key("", name)}))["kvs"]
    if not kvs:
        pod_name = (pod.get("metadata") or {}).get("name", "")
        raise Forbidden(f'pods "{pod_name}" is forbidden: no PriorityClass with name {name} '
                        "was found", details={"name": pod_name, "kind": "pods"})
    pc = decode(kvs[0])
    spec["priority"] = pc.get("value", 0)
    spec.setdefault("preemptionPolicy", pc.get("preemptionPolicy", "PreemptLowerPriority"))


async def admit_priority_class(store: Any, pc: dict, old: dict | None = None) -> None:
    """Only one PriorityClass may be the global default: creating a second one, or marking
    another existing class as default, is forbidden."""
    if not pc.get("globalDefault"):
        return
    default = await _default_priority_class(store)
    name = (pc.get("metadata") or {}).get("name", "")
    if default is None or (old is not None and default["metadata"]["name"] == name):
        return
    raise Forbidden(f'priorityclasses.scheduling.k8s.io "{name}" is forbidden: PriorityClass '
                    f'{default["metadata"]["name"]} is the default priority class',
                    details={"name": name, "group": "scheduling.k8s.io",
                             "kind": "priorityclasses"})


def scheduling_gated_condition(pod: dict) -> None:
    """A new pod with scheduling gates gets PodScheduled=False, reason SchedulingGated."""
    if not (pod.get("spec") or {}).get("schedulingGates"):
        return
    status = pod.setdefault("status", {})
    conditions = status.setdefault("conditions", [])
    if any(c.get("type") == "PodScheduled" for c in conditions):
        return
    conditions.append({"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                       "message": SCHEDULING_GATED_MESSAGE})


def service_update_fixups(new: dict, old: dict) -> None:
    """Keep allocated values a Service update omits; drop fields its new type cannot use."""
    nspec, ospec = new.get("spec"), old.get("spec") or {}
    if not isinstance(nspec, dict):
        return
    new_type = nspec.get("type", "ClusterIP")
    if new_type != "ExternalName":
        for field in ("clusterIP", "clusterIPs"):
            if not nspec.get(field) and ospec.get(field):
                nspec[field] = ospec[field]
    external = new_type in _EXTERNAL_TYPES
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p
                 for p in ospec.get("ports") or [] if isinstance(p, dict)}
    for port in nspec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        before = old_ports.get((port.get("port"), port.get("protocol", "TCP")), {})
        if external and not port.get("nodePort") and before.get("nodePort"):
            port["nodePort"] = before["nodePort"]
        if not external and port.get("nodePort") == before.get("nodePort"):
            port.pop("nodePort", None)
    if not external and ospec.get("type", "ClusterIP") in _EXTERNAL_TYPES:
        for field in ("externalTrafficPolicy", "healthCheckNodePort"):
            if nspec.get(field) == ospec.get(field):
                nspec.pop(field, None)
    needs_health = new_type == "LoadBalancer" and nspec.get("externalTrafficPolicy") == "Local"
    if needs_health and not nspec.get("healthCheckNodePort") and \
            ospec.get("healthCheckNodePort"):
        nspec["healthCheckNodePort"] = ospec["healthCheckNodePort"]
    elif not needs_health and nspec.get("healthCheckNodePort") == \
            ospec.get("healthCheckNodePort"):
        nspec.pop("healthCheckNodePort", None)  # no longer needed: released
    if new_type == "ExternalName" and ospec.get("type", "ClusterIP") != "ExternalName":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if nspec.get(field) == ospec.get(field):
                nspec.pop(field, None)


async def _default_priority_class(store: Any) -> dict | None:
    """The globalDefault PriorityClass (the lowest value among several, as upstream)."""
    prefix = _PRIORITY_CLASSES.key("", "")
    kvs = (await store.request({"op": "range", "key": prefix,
                                "range_end": prefix_end(prefix)}))["kvs"]
    defaults = [pc for pc in map(decode, kvs) if pc.get("globalDefault")]
    return min(defaults, key=lambda pc: pc.get("value", 0), default=None)
