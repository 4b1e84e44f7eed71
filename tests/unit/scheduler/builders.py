"""Node and pod dicts for scheduler tests, shaped like the API's JSON (only what matters)."""

from __future__ import annotations

from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
         labels: dict | None = None, taints: list | None = None, unschedulable: bool = False,
         extra: dict | None = None) -> dict:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    spec: dict = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": spec, "status": {"allocatable": allocatable, "capacity": allocatable}}


def container(name: str = "c", **requests: str) -> dict:
    """A container; keyword names are resources (`ephemeral_storage` -> ephemeral-storage)."""
    reqs = {k.replace("_", "-"): v for k, v in requests.items()}
    return {"name": name, "image": "app", "resources": {"requests": reqs} if reqs else {}}


def pod(name: str = "p", *, containers: list | None = None, init: list | None = None,
        node_name: str = "", tolerations: list | None = None, node_selector: dict | None = None,
        affinity: dict | None = None, overhead: dict | None = None, uid: str | None = None,
        **requests: str) -> dict:
    """A pod; bare keyword resources make one container requesting them."""
    spec: dict = {"containers": containers if containers is not None else [container(**requests)]}
    if init:
        spec["initContainers"] = init
    if node_name:
        spec["nodeName"] = node_name
    if tolerations:
        spec["tolerations"] = tolerations
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if overhead:
        spec["overhead"] = overhead
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"},
            "spec": spec, "status": {"phase": "Pending"}}


def snapshot(*nodes: dict, pods: dict[str, list[dict]] | None = None) -> Snapshot:
    """A Snapshot of `nodes`, with `pods[node_name]` already assigned."""
    pods = pods or {}
    return Snapshot([NodeInfo(n, pods=pods.get(n["metadata"]["name"], [])) for n in nodes])


def required_terms(*terms: dict) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                             {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict:
    out: dict = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out
