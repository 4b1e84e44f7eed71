"""EndpointSlice reconciler planning (upstream staging endpointslice reconciler.go), sans I/O.

`desired_endpoints(service, pods, node_of)` maps each port set (the Service's ports resolved
on one pod: a named targetPort may resolve differently per pod) to that set's endpoints, keyed
by identity (addresses, hostname, pod namespace/name). Pods whose node is missing from the
cache are skipped (reported back, so the caller requeues), unless publishNotReadyAddresses.

`plan_slices(service, existing, desired, ...)` turns desired state plus the controller's
existing slices into a `SlicePlan` with minimal churn, as upstream packs:
1. slices of another address type or owned by an older namesake Service are deleted;
2. per port set, each existing slice keeps the desired endpoints it already holds (updated
   when any changed or its labels changed), drops the others, and is deleted when empty;
3. remaining endpoints fill the slices being updated anyway (fullest first), then -- when
   fewer than a slice's worth remain -- the unchanged slice they fit most tightly, then new
   slices of at most `max_endpoints_per_slice`;
4. a Service with no endpoints keeps (or gets) one placeholder slice without ports or
   endpoints;
5. deletions are recycled into updates of slices that would otherwise be created.
Endpoint equality ignores hints (topology owns them). Slices to create or update are fresh
copies; unchanged slices are the cached objects themselves (never mutated).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.controllers.endpointslice_util import (
    LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, find_port, is_service_ip_set,
    pod_to_endpoint, should_pod_be_in_endpoints)

__all__ = ["SlicePlan", "PortsKey", "desired_endpoints", "plan_slices", "slice_labels",
           "endpoint_key", "ports_key", "MAX_ENDPOINTS_PER_SLICE", "CONTROLLER_NAME"]

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100
ADDRESS_TYPE = "IPv4"

PortsKey = tuple[tuple[str, str, int, str], ...]


@dataclass
class SlicePlan:
    to_create: list[dict] = field(default_factory=list)
    to_update: list[dict] = field(default_factory=list)
    to_delete: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)


def desired_endpoints(service: dict, pods: list[dict], node_of: Callable[[str], dict | None]
                      ) -> tuple[dict[PortsKey, tuple[list[dict], dict[Any, dict]]], list[str]]:
    """{ports key: (slice ports, {endpoint key: endpoint})} and the pods skipped because
    their node is unknown."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    desired: dict[PortsKey, tuple[list[dict], dict[Any, dict]]] = {}
    skipped: list[str] = []
    for pod in sorted(pods, key=_pod_order):
        if not should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        node = node_of(node_name) if node_name else None
        if node is None and not publish:
            skipped.append((pod.get("metadata") or {}).get("name") or "")
            continue
        ports = _endpoint_ports(service, pod)
        endpoint = pod_to_endpoint(pod, node, service)
        if not endpoint["addresses"]:
            continue
        entry = desired.setdefault(ports_key(ports), (ports, {}))
        entry[1].setdefault(endpoint_key(endpoint), endpoint)
    return desired, skipped


def plan_slices(service: dict, existing: list[dict],
                desired: dict[PortsKey, tuple[list[dict], dict[Any, dict]]], *,
                max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE,
                controller_name: str = CONTROLLER_NAME) -> SlicePlan:
    plan = SlicePlan()
    uid = (service.get("metadata") or {}).get("uid")
    labels = slice_labels(service, controller_name=controller_name)
    by_ports: dict[PortsKey, list[dict]] = {}
    for slice_ in sorted(existing, key=_name):
        if slice_.get("addressType") != ADDRESS_TYPE or not _owned_by(slice_, uid):
            plan.to_delete.append(slice_)
        else:
            by_ports.setdefault(ports_key(slice_.get("ports") or []), []).append(slice_)
    for key in sorted(set(by_ports) | set(desired)):
        ports, endpoints = desired.get(key, ([], {}))
        _reconcile_port_mapping(plan, service, by_ports.get(key, []), ports, dict(endpoints),
                                labels, max_endpoints_per_slice)
    if len(existing) == len(plan.to_delete) and not plan.to_create:
        placeholder = _new_slice(service, [], labels)
        if len(plan.to_delete) == 1 and _is_placeholder(plan.to_delete[0], labels, uid):
            plan.unchanged.append(plan.to_delete.pop())
        else:
            plan.to_create.append(placeholder)
    _recycle(plan, uid)
    return plan


def slice_labels(service: dict, *, controller_name: str = CONTROLLER_NAME) -> dict[str, str]:
    md = service.get("metadata") or {}
    labels = {k: v for k, v in (md.get("labels") or {}).items()
              if k not in (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS)}
    if not is_service_ip_set(service):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = md.get("name") or ""
    labels[LABEL_MANAGED_BY] = controller_name
    return labels


def endpoint_key(endpoint: dict) -> tuple:
    ref = endpoint.get("targetRef") or {}
    return (tuple(endpoint.get("addresses") or ()), endpoint.get("hostname") or "",
            ref.get("namespace") or "", ref.get("name") or "")


def ports_key(ports: list[dict]) -> PortsKey:
    return tuple(sorted((p.get("name") or "", p.get("protocol") or "TCP",
                         int(p.get("port") or 0), p.get("appProtocol") or "")
                        for p in ports))


# -- helpers ---------------------------------------------------------------------------------

def _reconcile_port_mapping(plan: SlicePlan, service: dict, existing: list[dict],
                            ports: list[dict], remaining: dict[Any, dict],
                            labels: dict[str, str], max_per_slice: int) -> None:
    updating: list[dict] = []
    unchanged: list[dict] = []
    for slice_ in existing:
        kept: list[dict] = []
        changed = (slice_.get("metadata") or {}).get("labels") != labels
        for endpoint in slice_.get("endpoints") or ():
            want = remaining.pop(endpoint_key(endpoint), None)
            if want is None:
                changed = True
                continue
            if not _equal_beyond_hints(endpoint, want):
                changed = True
            kept.append(want)
        if not kept:
            plan.to_delete.append(slice_)
        elif changed:
            updated = copy.deepcopy(slice_)
            updated["metadata"]["labels"] = dict(labels)
            updated["endpoints"] = [copy.deepcopy(ep) for ep in kept]
            updating.append(updated)
        else:
            unchanged.append(slice_)
    for slice_ in sorted(updating, key=lambda s: -len(s["endpoints"])):
        _fill(slice_, remaining, max_per_slice)
    while remaining:
        target = None
        if len(remaining) < max_per_slice and unchanged:
            target = _slice_to_fill(unchanged, len(remaining), max_per_slice)
        if target is None:
            new = _new_slice(service, ports, labels)
            _fill(new, remaining, max_per_slice)
            plan.to_create.append(new)
            continue
        unchanged.remove(target)
        filled = copy.deepcopy(target)
        _fill(filled, remaining, max_per_slice)
        updating.append(filled)
    plan.to_update.extend(updating)
    plan.unchanged.extend(unchanged)


def _fill(slice_: dict, remaining: dict[Any, dict], max_per_slice: int) -> None:
    endpoints = slice_.setdefault("endpoints", [])
    while remaining and len(endpoints) < max_per_slice:
        key = next(iter(remaining))
        endpoints.append(copy.deepcopy(remaining.pop(key)))


def _slice_to_fill(slices: list[dict], count: int, max_per_slice: int) -> dict | None:
    """The slice with the least room left that still takes all `count` endpoints."""
    closest, best = max_per_slice, None
    for slice_ in slices:
        diff = max_per_slice - (count + len(slice_.get("endpoints") or ()))
        if 0 <= diff < closest:
            closest, best = diff, slice_
            if diff == 0:
                break
    return best


def _recycle(plan: SlicePlan, uid: str | None) -> None:
    """Turn delete + create pairs into updates of the deleted slice (less churn)."""
    i = 0
    while i < len(plan.to_delete) and plan.to_create:
        old = plan.to_delete[i]
        if old.get("addressType") != ADDRESS_TYPE or not _owned_by(old, uid):
            i += 1
            continue
        new = plan.to_create.pop()
        recycled = copy.deepcopy(old)
        recycled["metadata"]["labels"] = new["metadata"]["labels"]
        recycled["metadata"]["ownerReferences"] = new["metadata"]["ownerReferences"]
        recycled["ports"] = new["ports"]
        recycled["endpoints"] = new["endpoints"]
        plan.to_update.append(recycled)
        del plan.to_delete[i]


def _new_slice(service: dict, ports: list[dict], labels: dict[str, str]) -> dict:
    md = service.get("metadata") or {}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": f"{(md.get('name') or '')[:62]}-",
                         "namespace": md.get("namespace") or "", "labels": dict(labels),
                         "ownerReferences": [{
                             "apiVersion": "v1", "kind": "Service", "name": md.get("name"),
                             "uid": md.get("uid"), "controller": True,
                             "blockOwnerDeletion": True}]},
            "addressType": ADDRESS_TYPE, "endpoints": [], "ports": copy.deepcopy(ports)}


def _is_placeholder(slice_: dict, labels: dict[str, str], uid: str | None) -> bool:
    return not slice_.get("endpoints") and not slice_.get("ports") and \
        slice_.get("addressType") == ADDRESS_TYPE and _owned_by(slice_, uid) and \
        (slice_.get("metadata") or {}).get("labels") == labels


def _endpoint_ports(service: dict, pod: dict) -> list[dict]:
    ports: list[dict] = []
    for service_port in (service.get("spec") or {}).get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port = {"name": service_port.get("name") or "", "port": number,
                "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def _equal_beyond_hints(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "hints"} == \
        {k: v for k, v in b.items() if k != "hints"}


def _owned_by(slice_: dict, uid: str | None) -> bool:
    return any(ref.get("kind") == "Service" and ref.get("uid") == uid
               for ref in (slice_.get("metadata") or {}).get("ownerReferences") or ())


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def _pod_order(pod: dict) -> tuple[str, str]:
    md = pod.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or ""
