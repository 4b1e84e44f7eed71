"""PodNetwork: what every node of one process knows of the overlay -- which node owns a pod
IP (each Node's podCIDR), each node's zone and the Ray actor serving it, the NetworkPolicy
state, and the link faults between nodes.

All of it comes from shared informers (Nodes, Pods, Namespaces, NetworkPolicies) and none of
it depends on which node asks, so a node pool keeps one `PodNetwork` for all its nodes and a
lone node keeps its own. `attach()` registers the handlers on the factory; whoever owns the
factory starts it. `links` holds the chaos rules (`LinkFaults`) this process applies to the
connections its nodes send.

Only NetworkPolicy reads other nodes' pods and the namespaces' labels, and without a policy
every connection is allowed whoever its ends are. So the Pod and Namespace informers start
when the first NetworkPolicy is seen (and then stay): a cluster without policies costs a pool
nothing per pod of other nodes. Until they have listed, the new policy's pods are not known
and connections pass, as while a CNI plugin is still programming a new policy. The Pod
informer keeps only what NetworkPolicy reads of each pod (`policy_view`): a pool then holds
every pod of the cluster.
"""

from __future__ import annotations

import ipaddress

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.node.node_status import ACTOR_ANNOTATION
from kubemu.network.links import LinkFaults
from kubemu.network.policy import PolicyEngine

__all__ = ["PodNetwork", "ZONE_LABEL"]

ZONE_LABEL = "topology.kubernetes.io/zone"


class PodNetwork:
    def __init__(self, factory: InformerFactory, *, links: LinkFaults | None = None) -> None:
        self.factory = factory
        self.policy = PolicyEngine()
        self.links = links or LinkFaults()
        self.actors: dict[str, str] = {}  # node -> the Ray actor serving it (annotation)
        self._cidrs: dict[str, ipaddress.IPv4Network] = {}
        self._zones: dict[str, str] = {}
        self._attached = False
        self._pods_watched = False

    def attach(self) -> None:
        """Register the handlers on the factory's informers (once)."""
        if self._attached:
            return
        self._attached = True
        nodes = self.factory.informer("v1", "Node")
        nodes.add_handler(self._node, lambda _old, new: self._node(new), self._node_gone)
        self.factory.informer("networking.k8s.io/v1", "NetworkPolicy").add_handler(
            self._policy, lambda _old, new: self._policy(new), self.policy.delete_policy)

    @property
    def watching_pods(self) -> bool:
        """Whether the Pod and Namespace informers run (some NetworkPolicy was seen)."""
        return self._pods_watched

    def _policy(self, np: dict) -> None:
        self.policy.update_policy(np)
        if self._pods_watched:
            return
        self._pods_watched = True
        policy = self.policy
        for api_version, kind, update, delete, transform in (
                ("v1", "Pod", policy.update_pod, policy.delete_pod, policy_view),
                ("v1", "Namespace", policy.update_namespace, policy.delete_namespace, None)):
            self.factory.informer(api_version, kind, transform=transform).add_handler(
                update, lambda _old, new, _update=update: _update(new), delete)

    def node_of(self, ip: str) -> str | None:
        """The node whose podCIDR holds `ip` (None: no node's)."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for name, cidr in self._cidrs.items():
            if address in cidr:
                return name
        return None

    def zone_of(self, node: str) -> str:
        return self._zones.get(node, "")

    def _node(self, node: dict) -> None:
        meta, spec = node.get("metadata") or {}, node.get("spec") or {}
        name = meta.get("name", "")
        actor = (meta.get("annotations") or {}).get(ACTOR_ANNOTATION)
        if actor:
            self.actors[name] = actor
        self._zones[name] = (meta.get("labels") or {}).get(ZONE_LABEL, "")
        cidr = spec.get("podCIDR")
        if cidr:
            self._cidrs[name] = ipaddress.ip_network(cidr, strict=False)

    def _node_gone(self, node: dict) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        for table in (self._cidrs, self._zones, self.actors):
            table.pop(name, None)


def policy_view(pod: dict) -> dict:
    """What NetworkPolicy reads of a pod (its informer's transform): every node pool keeps
    every pod of the cluster, and whole pods were most of a pool's memory per pod."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    return {
        "apiVersion": pod.get("apiVersion"), "kind": pod.get("kind"),
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "labels", "deletionTimestamp") if k in meta},
        "spec": {"nodeName": spec.get("nodeName"), "containers": [
            {"ports": c["ports"]} for c in [*(spec.get("initContainers") or ()),
                                            *(spec.get("containers") or ())] if c.get("ports")]},
        "status": {k: status[k] for k in ("phase", "podIP") if k in status},
    }
