"""The kubelet's Node object: registration, capacity and allocatable, conditions, taints.

Pure builders for what the kubelet writes about its node (upstream `kubelet_node_status.go`
and `nodestatus/setters.go`):
- `new_node` is the object registered on first start: default labels (hostname, os, arch,
  topology zone/region, kubemu.io/ray-node) plus configured labels, configured taints, and a
  full status. A restarted kubelet finds its node and only `reconcile_labels` (spec, podCIDR
  and taints stay whatever the control plane made them).
- Capacity is the machine; allocatable = capacity - system reserved - the hard eviction
  threshold (memory), and ephemeral-storage less the 10% nodefs.available threshold.
- Conditions are MemoryPressure, DiskPressure, PIDPressure and Ready in upstream's order,
  reasons and messages. `lastTransitionTime` moves only when a condition's status changes;
  `lastHeartbeatTime` on every write. `status_differs` compares statuses ignoring heartbeat
  times: the kubelet writes when that is True, or when the report frequency says a heartbeat
  is due.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.api.quantity import parse_quantity
from kubemu.cluster.node.config import KUBELET_VERSION, NodeConfig
from kubemu.cluster.node.eviction import format_bytes

__all__ = ["node_labels", "node_capacity", "node_allocatable", "node_info", "new_node",
           "reconcile_labels", "node_conditions", "node_status", "status_differs",
           "add_taint", "remove_taint", "memory_bytes", "KUBELET_PORT", "RAY_NODE_LABEL"]

KUBELET_PORT = 10250
RAY_NODE_LABEL = "kubemu.io/ray-node"
_NODEFS_AVAILABLE = 0.10  # evictionHard nodefs.available<10%

# type -> (True reason, True message, False reason, False message)
_CONDITIONS: dict[str, tuple[str, str, str, str]] = {
    "MemoryPressure": ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
                       "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasDiskPressure", "kubelet has disk pressure",
                     "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasInsufficientPID", "kubelet has insufficient PID available",
                    "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("KubeletReady", "kubelet is posting ready status",
              "KubeletNotReady", "kubelet is not ready"),
}


def node_labels(config: NodeConfig) -> dict[str, str]:
    """The labels a kubelet sets on its node: well-known defaults, then configured ones."""
    labels = {
        "kubernetes.io/hostname": config.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": config.zone,
        "topology.kubernetes.io/region": config.region,
    }
    if config.ray_node:
        labels[RAY_NODE_LABEL] = config.ray_node
    labels.update(config.labels)
    return labels


def memory_bytes(text: str) -> int:
    return math.ceil(parse_quantity(text))


def node_capacity(config: NodeConfig) -> dict[str, str]:
    return {"cpu": str(config.cpu), "ephemeral-storage": str(config.ephemeral_storage),
            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": str(config.memory),
            "pods": str(config.max_pods)}


def node_allocatable(config: NodeConfig) -> dict[str, str]:
    memory = max(0, memory_bytes(config.memory) - memory_bytes(config.system_reserved_memory)
                 - memory_bytes(config.eviction_memory_threshold))
    storage = memory_bytes(config.ephemeral_storage)
    storage -= math.ceil(storage * _NODEFS_AVAILABLE)
    return {**node_capacity(config), "memory": format_bytes(memory),
            "ephemeral-storage": format_bytes(storage)}


def node_info(rng: random.Random) -> dict[str, str]:
    """status.nodeInfo; machine identities drawn from `rng` (stable for a seeded node)."""
    return {
        "machineID": f"{rng.getrandbits(128):032x}",
        "systemUUID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "bootID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "kernelVersion": "6.8.0-kubemu",
        "osImage": "kubemu",
        "containerRuntimeVersion": "kubemu://0.1",
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": KUBELET_VERSION,
        "operatingSystem": "linux",
        "architecture": "amd64",
    }


def node_conditions(*, wall: float, memory_pressure: bool = False, ready: bool = True,
                    previous: Sequence[Mapping] | None = None) -> list[dict]:
    """The four kubelet conditions at `wall`; transition times kept from `previous` for
    conditions whose status did not change."""
    old = {c.get("type"): c for c in previous or ()}
    now = rfc3339(wall)
    out = []
    for kind, (t_reason, t_msg, f_reason, f_msg) in _CONDITIONS.items():
        true = memory_pressure if kind == "MemoryPressure" else (
            ready if kind == "Ready" else False)
        status = "True" if true else "False"
        before = old.get(kind) or {}
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        out.append({"type": kind, "status": status, "lastHeartbeatTime": now,
                    "lastTransitionTime": since or now,
                    "reason": t_reason if true else f_reason,
                    "message": t_msg if true else f_msg})
    return out


def node_status(config: NodeConfig, *, wall: float, info: Mapping[str, str],
                memory_pressure: bool = False, ready: bool = True,
                previous: Mapping | None = None) -> dict:
    """The whole status the kubelet reports."""
    return {
        "capacity": node_capacity(config),
        "allocatable": node_allocatable(config),
        "conditions": node_conditions(wall=wall, memory_pressure=memory_pressure, ready=ready,
                                      previous=(previous or {}).get("conditions")),
        "addresses": [{"type": "InternalIP", "address": config.address},
                      {"type": "Hostname", "address": config.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": dict(info),
    }


ACTOR_ANNOTATION = "kubemu.io/actor"


def new_node(config: NodeConfig, *, wall: float, info: Mapping[str, str]) -> dict:
    """The Node a kubelet registers on its first start."""
    spec: dict[str, Any] = {}
    if config.taints:
        spec["taints"] = [dict(t) for t in config.taints]
    if config.pod_cidr:
        spec["podCIDR"] = config.pod_cidr
        spec["podCIDRs"] = [config.pod_cidr]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": config.name, "labels": node_labels(config),
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         **node_annotations(config)}},
            "spec": spec,
            "status": node_status(config, wall=wall, info=info)}


def node_annotations(config: NodeConfig) -> dict[str, str]:
    """kubemu's own: the Ray actor serving the node (how other nodes reach its pods)."""
    return {ACTOR_ANNOTATION: config.actor} if config.actor else {}


def reconcile_labels(existing: dict, config: NodeConfig) -> dict | None:
    """An existing node (a restarted kubelet's) with this kubelet's labels and annotations
    set, or None when they are already there. Other labels, the spec and taints are left
    alone."""
    meta = existing.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    wanted, wanted_annotations = node_labels(config), node_annotations(config)
    if (all(labels.get(k) == v for k, v in wanted.items())
            and all(annotations.get(k) == v for k, v in wanted_annotations.items())):
        return None
    labels.update(wanted)
    annotations.update(wanted_annotations)
    return {**existing, "metadata": {**meta, "labels": labels, "annotations": annotations}}


def status_differs(observed: Mapping | None, desired: Mapping) -> bool:
    """Whether writing `desired` changes anything besides heartbeat times."""
    observed = observed or {}
    for key, value in desired.items():
        if key == "conditions":
            if _conditions_key(observed.get(key)) != _conditions_key(value):
                return True
        elif observed.get(key) != value:
            return True
    return False


def add_taint(taints: Sequence[Mapping] | None, taint: Mapping) -> list[dict] | None:
    """`taints` with `taint` added, or None when a taint of that key and effect exists."""
    current = [dict(t) for t in taints or ()]
    if any(_same_taint(t, taint) for t in current):
        return None
    return current + [dict(taint)]


def remove_taint(taints: Sequence[Mapping] | None, taint: Mapping) -> list[dict] | None:
    """`taints` without the taint of `taint`'s key and effect, or None when it is absent."""
    current = [dict(t) for t in taints or ()]
    kept = [t for t in current if not _same_taint(t, taint)]
    return None if len(kept) == len(current) else kept


def _same_taint(a: Mapping, b: Mapping) -> bool:
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def _conditions_key(conditions: Any) -> list[tuple]:
    return sorted((c.get("type", ""), c.get("status", ""), c.get("reason", ""),
                   c.get("message", "")) for c in conditions or ())
