"""Builders of Service, EndpointSlice and endpoint dicts for the kube-proxy rule tests."""

from __future__ import annotations

from typing import Any

CLUSTER_IP = "10.96.0.20"
POD_SRC = "10.244.9.9"


def service(name: str = "web", *, namespace: str = "default", type: str = "ClusterIP",
            cluster_ip: str = CLUSTER_IP, ports: list[dict] | None = None,
            ingress: list[dict] | None = None, **spec: Any) -> dict:
    if ports is None:
        ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]
    obj: dict = {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": name, "namespace": namespace},
                 "spec": {"type": type, "clusterIP": cluster_ip, "ports": ports, **spec}}
    if ingress is not None:
        obj["status"] = {"loadBalancer": {"ingress": ingress}}
    return obj


def endpoint(ip: str, node: str, zone: str = "a", *, ready: bool | None = True,
             serving: bool | None = None, terminating: bool | None = None,
             hints: list[str] | None = None, pod: str | None = None) -> dict:
    cond: dict = {}
    if ready is not None:
        cond["ready"] = ready
    cond["serving"] = ready if serving is None else serving
    if terminating is not None:
        cond["terminating"] = terminating
    ep: dict = {"addresses": [ip], "conditions": cond, "nodeName": node, "zone": zone,
                "targetRef": {"kind": "Pod", "name": pod or f"pod-{ip.rsplit('.', 1)[-1]}",
                              "namespace": "default"}}
    if hints is not None:
        ep["hints"] = {"forZones": [{"name": z} for z in hints]}
    return ep


def endpoint_slice(name: str = "web-abc", *, service: str = "web", namespace: str = "default",
                   ports: list[tuple[str, str, int]] | None = None,
                   endpoints: list[dict] = ()) -> dict:
    if ports is None:
        ports = [("http", "TCP", 8080)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "ports": [{"name": n, "protocol": p, "port": num} for n, p, num in ports],
            "endpoints": list(endpoints)}
