"""Defaults of the core kinds besides Pod: Service, Namespace, Secret, PV, PVC, Node, Endpoints.

Service defaults follow SetDefaults_Service plus the IP-family fields kube-apiserver's Service
REST storage fills on a single-stack IPv4 cluster (ipFamilyPolicy SingleStack, ipFamilies
[IPv4]; RequireDualStack for headless Services without a selector). No clusterIP is allocated
here: the IPAM does that. A Secret's `stringData` is folded into base64 `data` and dropped, as
upstream's conversion does. Some defaults live in status (Namespace phase Active, PV/PVC phase
Pending), so the handler applies defaults after it resets status on create.
"""

from __future__ import annotations

import base64
import ipaddress

__all__ = ["default_service", "default_namespace", "default_secret", "default_pv",
           "default_pvc", "default_node", "default_endpoints"]


def default_service(svc: dict) -> None:
    spec = svc.setdefault("spec", {})
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    stype = spec["type"]
    for port in spec.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    external = stype in ("NodePort", "LoadBalancer") or (
        stype == "ClusterIP" and bool(spec.get("externalIPs")))
    if external and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and stype in ("ClusterIP", "NodePort",
                                                               "LoadBalancer"):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if stype != "ExternalName":
        _default_ip_families(spec)


def default_namespace(ns: dict) -> None:
    meta = ns.setdefault("metadata", {})
    if meta.get("name"):
        meta.setdefault("labels", {})
        if meta["labels"] is None:
            meta["labels"] = {}
        meta["labels"]["kubernetes.io/metadata.name"] = meta["name"]
    spec = ns.setdefault("spec", {})
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]
    status = ns.setdefault("status", {})
    if not status.get("phase"):
        status["phase"] = "Active"


def default_secret(secret: dict) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"
    string_data = secret.pop("stringData", None)
    if string_data:
        data = secret.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        secret["data"] = data


def default_pv(pv: dict) -> None:
    spec = pv.setdefault("spec", {})
    if not spec.get("persistentVolumeReclaimPolicy"):
        spec["persistentVolumeReclaimPolicy"] = "Retain"
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    if spec.get("hostPath") is not None and spec["hostPath"].get("type") is None:
        spec["hostPath"]["type"] = ""
    status = pv.setdefault("status", {})
    if not status.get("phase"):
        status["phase"] = "Pending"


def default_pvc(pvc: dict) -> None:
    spec = pvc.setdefault("spec", {})
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    status = pvc.setdefault("status", {})
    if not status.get("phase"):
        status["phase"] = "Pending"


def default_node(node: dict) -> None:
    status = node.get("status")
    if status and status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = dict(status["capacity"])


def default_endpoints(endpoints: dict) -> None:
    for subset in endpoints.get("subsets") or []:
        for port in subset.get("ports") or []:
            if not port.get("protocol"):
                port["protocol"] = "TCP"


def _default_ip_families(spec: dict) -> None:
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = spec.get("clusterIPs") or []
    if cluster_ip and not cluster_ips:
        spec["clusterIPs"] = [cluster_ip]
    elif cluster_ips and not cluster_ip:
        spec["clusterIP"] = cluster_ips[0]
    headless = spec.get("clusterIP") == "None"
    if spec.get("ipFamilyPolicy") is None:
        selectorless = not spec.get("selector")
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless and selectorless \
            else "SingleStack"
    if not spec.get("ipFamilies"):
        family = "IPv4"
        if spec.get("clusterIP") and not headless:
            try:
                family = f"IPv{ipaddress.ip_address(spec['clusterIP']).version}"
            except ValueError:
                pass
        spec["ipFamilies"] = [family]
