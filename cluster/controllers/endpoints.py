"""EndpointsController: the legacy v1 Endpoints object of every Service with a selector
(upstream pkg/controller/endpoint, v1.32).

Level-based on shared informers of Services, Pods and Endpoints. One reconcile of a Service:
- gone: delete its Endpoints (same name); no selector or ExternalName: leave the Endpoints
  alone (user-managed);
- each matching pod with an IP (terminating pods only with publishNotReadyAddresses) gives
  an address {ip, nodeName, targetRef, hostname when its subdomain is the Service} per
  resolved Service port; Ready pods (or all, with publishNotReadyAddresses) go to
  `addresses`, others to `notReadyAddresses`; a headless Service without ports gets
  port-less subsets. `repack_subsets` merges subsets with equal port sets (an address ready
  anywhere is ready), sorted, as upstream's RepackSubsets;
- more than 1000 addresses are truncated (ready ones kept first, each subset in proportion)
  and annotated endpoints.kubernetes.io/over-capacity: truncated;
- labels: the Service's, plus endpointslice.kubernetes.io/skip-mirror "true" and
  service.kubernetes.io/headless "" for headless Services;
- written only when subsets, labels or the capacity annotation differ (create or PUT with
  the cached resourceVersion; a conflict backs off).
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.client.lister import LABEL_INDEX, label_index
from kubemu.cluster.controllers.endpointslice_util import (
    LABEL_HEADLESS, LABEL_SKIP_MIRROR, find_port, is_service_ip_set, service_matches_pod,
    service_selector, should_pod_be_in_endpoints, should_set_hostname)
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.podutil import is_pod_ready
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["EndpointsController", "endpoint_subsets", "repack_subsets", "truncate_subsets",
           "MAX_CAPACITY", "OVER_CAPACITY_ANNOTATION", "COMPONENT"]

COMPONENT = "endpoint-controller"
MAX_CAPACITY = 1000
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"

log = logging.getLogger("kubemu.controllers.endpoints")


class EndpointsController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=COMPONENT)
        self.service_informer = self.factory.informer("v1", "Service")
        self.pod_informer = self.factory.informer("v1", "Pod",
                                                  indexers={LABEL_INDEX: label_index})
        self.endpoints_informer = self.factory.informer("v1", "Endpoints")
        self.controller = Controller("endpoints", reconcile=self.reconcile, clock=timing.clock,
                                     workers=workers, sleep=timing.sleep)
        self.controller.watch(self.service_informer)
        self.controller.watch(self.pod_informer, map_to=self._pod_requests)
        self.endpoints_informer.add_handler(
            on_delete=lambda ep: self.controller.enqueue(Request.from_object(ep)))

    async def run(self) -> None:
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.service_informer, self.pod_informer,
                                   self.endpoints_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        namespace, name = request.namespace, request.name
        service = self.service_informer.lister.get(name, namespace or None)
        if service is None:
            try:
                await self.client.delete("v1", "Endpoints", name, namespace=namespace)
            except NotFound:
                pass
            return None
        if service_selector(service) is None:
            return None
        pods = [p for p in self.pod_informer.lister.with_labels(
            namespace, service["spec"]["selector"]) if service_matches_pod(service, p)]
        subsets = endpoint_subsets(service, pods)
        truncated = truncate_subsets(subsets)
        current = self.endpoints_informer.lister.get(name, namespace or None)
        labels = dict((service.get("metadata") or {}).get("labels") or {})
        if is_service_ip_set(service):
            labels.pop(LABEL_HEADLESS, None)
        else:
            labels[LABEL_HEADLESS] = ""
        labels[LABEL_SKIP_MIRROR] = "true"
        md = copy.deepcopy((current or {}).get("metadata") or {
            "name": name, "namespace": namespace})
        annotations = md.get("annotations") or {}
        if truncated:
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        if current is not None and (current.get("subsets") or []) == subsets and \
                (current.get("metadata") or {}).get("labels") == labels and \
                ((current.get("metadata") or {}).get("annotations") or {}) == annotations:
            return None
        md["labels"] = labels
        if annotations:
            md["annotations"] = annotations
        else:
            md.pop("annotations", None)
        body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": md, "subsets": subsets}
        if current is None:
            if not (service.get("metadata") or {}).get("deletionTimestamp"):
                await self.client.create(body, namespace=namespace)
        else:
            await self.client.update(body)
        return None

    def _pod_requests(self, pod: dict) -> list[Request]:
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        return [Request.from_object(svc) for svc in self.service_informer.lister.list(namespace)
                if service_matches_pod(svc, pod)]


def endpoint_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """The Service's packed subsets from its matching pods."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    subsets: list[dict] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, include_terminating=tolerate):
            continue
        ip = (pod.get("status") or {}).get("podIP") or ""
        if not ip:
            continue
        address = _address(pod, service, ip)
        ready = tolerate or is_pod_ready(pod)
        kind = "addresses" if ready else "notReadyAddresses"
        service_ports = spec.get("ports") or []
        if not service_ports:
            if spec.get("clusterIP") == "None":
                subsets.append({kind: [address]})
            continue
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is None:
                continue
            port: dict = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
            if service_port.get("name"):
                port["name"] = service_port["name"]
            if service_port.get("appProtocol"):
                port["appProtocol"] = service_port["appProtocol"]
            subsets.append({kind: [address], "ports": [port]})
    return repack_subsets(subsets)


def repack_subsets(subsets: list[dict]) -> list[dict]:
    """Merge subsets with equal port sets; an address ready in any is ready; sorted."""
    groups: dict[tuple, tuple[list[dict], dict[tuple, dict], dict[tuple, dict]]] = {}
    for subset in subsets:
        ports = sorted(subset.get("ports") or [], key=_port_key)
        key = tuple(_port_key(p) for p in ports)
        group = groups.setdefault(key, (ports, {}, {}))
        for address in subset.get("addresses") or ():
            group[1][_address_key(address)] = address
        for address in subset.get("notReadyAddresses") or ():
            group[2][_address_key(address)] = address
    result: list[dict] = []
    for key in sorted(groups):
        ports, ready, not_ready = groups[key]
        subset: dict = {}
        if ready:
            subset["addresses"] = [ready[k] for k in sorted(ready)]
        unready = [not_ready[k] for k in sorted(not_ready) if k not in ready]
        if unready:
            subset["notReadyAddresses"] = unready
        if ports:
            subset["ports"] = ports
        if ready or unready:
            result.append(subset)
    return result


def truncate_subsets(subsets: list[dict], *, max_capacity: int = MAX_CAPACITY) -> bool:
    """Cut `subsets` in place to `max_capacity` addresses as upstream's truncateEndpoints:
    ready addresses are kept first, each subset keeps its proportional share. True if cut."""
    total_ready = sum(len(s.get("addresses") or ()) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if total_ready + total_not_ready <= max_capacity:
        return False
    truncate_ready = total_ready > max_capacity
    limit = max_capacity if truncate_ready else max_capacity - total_ready
    total = total_ready if truncate_ready else total_not_ready
    room = limit
    for subset in subsets:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        have = subset.get(field) or []
        share = min(math.ceil(len(have) / total * limit) if total else 0, room)
        kept = have[:share]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        if kept:
            subset[field] = kept
        else:
            subset.pop(field, None)
        room -= len(kept)
    subsets[:] = [s for s in subsets if s.get("addresses") or s.get("notReadyAddresses")]
    return True


# -- helpers ---------------------------------------------------------------------------------

def _address(pod: dict, service: dict, ip: str) -> dict:
    md = pod.get("metadata") or {}
    address: dict = {"ip": ip}
    if should_set_hostname(pod, service):
        address["hostname"] = (pod.get("spec") or {})["hostname"]
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        address["nodeName"] = node_name
    address["targetRef"] = {"kind": "Pod", "namespace": md.get("namespace") or "",
                            "name": md.get("name") or "", "uid": md.get("uid") or ""}
    return address


def _port_key(port: dict) -> tuple:
    return (port.get("name") or "", port.get("port") or 0, port.get("protocol") or "TCP",
            port.get("appProtocol") or "")


def _address_key(address: dict) -> tuple:
    return (address.get("ip") or "", (address.get("targetRef") or {}).get("uid") or "")
