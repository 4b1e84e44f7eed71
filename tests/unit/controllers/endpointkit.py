"""Playing kubelet and scheduler for endpoint controller tests: Nodes with a zone label,
allocatable CPU and a Ready condition; pods bound to them with a podIP and a Ready condition;
Services. Everything is written by hand through the API client."""

from __future__ import annotations

from kubemu.cluster.api.errors import NotFound
from tests.kube import Kube

NS = "default"


async def node(kube: Kube, name: str, *, zone: str | None = None, cpu: str = "4",
               ready: bool = True) -> dict:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    await kube.client.create({"apiVersion": "v1", "kind": "Node",
                              "metadata": {"name": name, "labels": labels}})
    return await kube.client.patch("v1", "Node", name, {"status": {
        "allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}},
        subresource="status")


async def pod(kube: Kube, name: str, ip: str, *, node_name: str = "n1",
              labels: dict | None = None, ready: bool = True, ports: list | None = None,
              hostname: str | None = None, subdomain: str | None = None,
              phase: str = "Running") -> dict:
    spec: dict = {"nodeName": node_name,
                  "containers": [{"name": "c", "image": "nginx",
                                  "ports": ports if ports is not None else
                                  [{"name": "http", "containerPort": 8080}]}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": name, "namespace": NS,
                                           "labels": labels or {"app": "web"}},
                              "spec": spec})
    return await set_pod(kube, name, ready=ready, ip=ip, phase=phase)


async def set_pod(kube: Kube, name: str, *, ready: bool, ip: str | None = None,
                  phase: str = "Running") -> dict:
    status: dict = {"phase": phase,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return await kube.client.patch("v1", "Pod", name, {"status": status}, namespace=NS,
                                   patch_type="strategic", subresource="status")


async def service(kube: Kube, name: str = "web", *, selector: dict | None = None,
                  ports: list | None = None, annotations: dict | None = None,
                  **spec: object) -> dict:
    body: dict = {"ports": ports if ports is not None else
                  [{"name": "http", "port": 80, "targetPort": 8080}], **spec}
    if selector is not None:
        body["selector"] = selector
    md: dict = {"name": name, "namespace": NS}
    if annotations:
        md["annotations"] = annotations
    return await kube.client.create({"apiVersion": "v1", "kind": "Service", "metadata": md,
                                     "spec": body})


async def slices(kube: Kube, service_name: str = "web") -> list[dict]:
    items = (await kube.client.list(
        "discovery.k8s.io/v1", "EndpointSlice", namespace=NS,
        label_selector=f"kubernetes.io/service-name={service_name}"))["items"]
    return sorted(items, key=lambda s: s["metadata"]["name"])


def endpoints_of(items: list[dict]) -> dict[str, dict]:
    """Endpoints of all slices by pod name."""
    return {ep["targetRef"]["name"]: ep for s in items for ep in s.get("endpoints") or ()}


async def endpoints_object(kube: Kube, name: str = "web") -> dict | None:
    try:
        return await kube.client.get("v1", "Endpoints", name, namespace=NS)
    except NotFound:
        return None
