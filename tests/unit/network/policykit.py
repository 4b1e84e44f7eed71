"""Objects for NetworkPolicy tests: a small cluster of namespaces and pods, and policy dicts."""

from __future__ import annotations

from kubemu.network.policy import Peer, PolicyEngine

NAMESPACES = {
    "default": {},
    "prod": {"team": "a"},
    "dev": {"team": "b"},
    "kube-system": {},
}

# key -> (labels, ip, container ports, node)
PODS = {
    "default/web": ({"app": "web"}, "10.244.1.10",
                    [{"name": "http", "containerPort": 8080},
                     {"name": "metrics", "containerPort": 9090, "protocol": "UDP"}], "node-1"),
    "default/client": ({"app": "client"}, "10.244.1.11", [], "node-1"),
    "default/db": ({"app": "db"}, "10.244.1.12", [], "node-1"),
    "prod/client": ({"app": "client"}, "10.244.2.10", [], "node-2"),
    "prod/other": ({"app": "other"}, "10.244.2.11", [], "node-2"),
    "dev/client": ({"app": "client"}, "10.244.3.10", [], "node-3"),
    "staging/client": ({"app": "client"}, "10.244.3.11", [], "node-3"),  # namespace unseen
    "kube-system/coredns": ({"k8s-app": "kube-dns"}, "10.244.0.5",
                            [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                             {"name": "dns-tcp", "containerPort": 53}], "node-0"),
}


def namespace(name: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name,
                                                  **(labels or {})}}}


def pod(key: str, *, labels: dict | None = None, ip: str | None = None,
        phase: str = "Running") -> dict:
    ns, name = key.split("/")
    default_labels, default_ip, ports, node = PODS.get(key, ({}, None, [], "node-9"))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns,
                         "labels": default_labels if labels is None else labels},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x",
                                                       "ports": ports}]},
            "status": {"phase": phase, "podIP": ip or default_ip}}


def policy(name: str, spec: dict, *, ns: str = "default") -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def cluster(*policies: dict) -> PolicyEngine:
    """An engine that knows every namespace and pod above and the given policies."""
    engine = PolicyEngine()
    for name, labels in NAMESPACES.items():
        engine.update_namespace(namespace(name, labels))
    for key in PODS:
        engine.update_pod(pod(key))
    for np in policies:
        engine.update_policy(np)
    return engine


def peer(engine: PolicyEngine, ref: str) -> Peer:
    """A pod peer for "ns/name", a host for a bare IP, "IP@node" for a node's own address."""
    if "/" in ref:
        ns, name = ref.split("/")
        found = engine.pod(ns, name)
        assert found is not None, ref
        return found
    ip, _, node = ref.partition("@")
    return Peer.host(ip, node=node or None)


def labels(**kv: str) -> dict:
    return {"matchLabels": dict(kv)}
