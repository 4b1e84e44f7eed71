"""Shared endpoint helpers of the EndpointSlice and Endpoints controllers (upstream's
pkg/controller/util/endpoint and staging endpointslice/util).

- `should_pod_be_in_endpoints`: a pod backs a Service when it is not terminal (Succeeded or
  Failed) and has an IP; a terminating pod only when the caller includes terminating pods.
- `find_port`: a Service port's targetPort resolved against one pod: a number as is, a name
  looked up among the containerPorts (and restartable init containers') of the same protocol;
  None when the pod has no such port (the pod then lacks that port, as upstream's FindPort).
- `pod_to_endpoint`: discovery.k8s.io/v1 Endpoint of a pod: conditions ready (Ready and not
  terminating, or publishNotReadyAddresses), serving (Ready), terminating
  (deletionTimestamp set), nodeName, zone (the node's topology.kubernetes.io/zone), hostname
  (pod hostname when its subdomain names the Service), targetRef.
Objects stay plain dicts; nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubemu.cluster.api.selectors import LabelSelector, selector_from_dict
from kubemu.cluster.controllers.podutil import is_pod_ready, is_pod_terminal

__all__ = ["LABEL_SERVICE_NAME", "LABEL_MANAGED_BY", "LABEL_HEADLESS", "LABEL_SKIP_MIRROR",
           "LABEL_ZONE", "should_pod_be_in_endpoints", "find_port", "pod_to_endpoint",
           "pod_ipv4s", "should_set_hostname", "service_selector", "is_service_ip_set",
           "service_matches_pod"]

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
LABEL_ZONE = "topology.kubernetes.io/zone"


def should_pod_be_in_endpoints(pod: dict, *, include_terminating: bool) -> bool:
    if is_pod_terminal(pod):
        return False
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    if not include_terminating and (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return True


def find_port(pod: dict, service_port: dict) -> int | None:
    """The port number `service_port.targetPort` names on `pod` (None: not found)."""
    target = service_port.get("targetPort")
    if target is None or target == "":
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ())
    containers += [c for c in spec.get("initContainers") or ()
                   if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port.get("containerPort") or 0) or None
    return None


def pod_ipv4s(pod: dict) -> list[str]:
    """The pod's IPv4 addresses (status.podIPs, else status.podIP)."""
    status = pod.get("status") or {}
    ips = [entry.get("ip") for entry in status.get("podIPs") or ()] or [status.get("podIP")]
    return [ip for ip in ips if ip and _is_ipv4(ip)][:1]


def should_set_hostname(pod: dict, service: dict) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == _name(service) \
        and _namespace(pod) == _namespace(service)


def pod_to_endpoint(pod: dict, node: dict | None, service: dict) -> dict:
    md = pod.get("metadata") or {}
    serving = is_pod_ready(pod)
    terminating = bool(md.get("deletionTimestamp"))
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: dict[str, Any] = {
        "addresses": pod_ipv4s(pod),
        "conditions": {"ready": publish or (serving and not terminating),
                       "serving": serving, "terminating": terminating}}
    if should_set_hostname(pod, service):
        endpoint["hostname"] = (pod.get("spec") or {})["hostname"]
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(LABEL_ZONE) \
        if node else None
    if zone:
        endpoint["zone"] = zone
    endpoint["targetRef"] = {"kind": "Pod", "namespace": md.get("namespace", ""),
                             "name": md.get("name", ""), "uid": md.get("uid", "")}
    return endpoint


def service_selector(service: dict) -> LabelSelector | None:
    """The Service's pod selector; None for a Service without one (user-managed endpoints;
    an empty selector counts as none, as it does once upstream's storage dropped it) or of
    type ExternalName."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName" or not spec.get("selector"):
        return None
    return selector_from_dict({"matchLabels": spec.get("selector") or {}})


def service_matches_pod(service: dict, pod: dict) -> bool:
    """`service_selector(service)` matches `pod` in the Service's namespace. A Service's
    selector is a plain label map (matchLabels): compared as one, with no selector built for
    every pod event of every Service."""
    spec = service.get("spec") or {}
    wanted = spec.get("selector")
    if not wanted or spec.get("type") == "ExternalName" or \
            _namespace(pod) != _namespace(service):
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


def is_service_ip_set(service: dict) -> bool:
    cluster_ip = (service.get("spec") or {}).get("clusterIP") or ""
    return cluster_ip not in ("", "None")


# -- helpers ---------------------------------------------------------------------------------

def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def _namespace(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""
