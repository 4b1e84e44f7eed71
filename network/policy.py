"""NetworkPolicy enforcement: may this connection be opened? (networking.k8s.io/v1, sans-I/O)

`PolicyEngine` is fed incrementally from informers (`update_policy`, `update_pod`,
`update_namespace` and their deletes) and answers `allowed(src, dst, port, protocol)` for a
connection between two `Peer`s: a pod (namespace, labels, IP, named container ports) or a host
address outside the pod network. The decision is per connection, as a stateful dataplane
makes it: replies of an allowed connection are allowed, so callers check only the opening.

Semantics, as upstream:
- a pod is isolated for ingress when some policy of its namespace selects it and has Ingress
  in its (defaulted) policyTypes; likewise for egress; a direction nobody isolates allows all;
- a connection needs egress allowed at its source AND ingress allowed at its destination;
  a host address has no policy of its own, so only the pod side is checked;
- for an isolated direction, the union of the rules of every selecting policy applies;
- namespace labels always include `kubernetes.io/metadata.name` (the API server sets it;
  the engine adds it for namespaces it has not seen yet);
- what a pod cannot block (upstream "What you can't do"): traffic to itself (loopback) and
  traffic from its own node (kubelet probes) are always allowed.
Rule matching lives in `policy_rules`. Verdicts are memoised until the next update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubemu.network.policy_rules import (
    Address,
    CompiledPolicy,
    NamedPorts,
    Rule,
    compile_policy,
    parse_address,
)

__all__ = ["NAMESPACE_NAME_LABEL", "Peer", "PolicyEngine", "Verdict", "named_ports_of"]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
_CACHE_LIMIT = 65536


@dataclass(frozen=True, eq=True)
class Peer:
    """One end of a connection. A pod has a namespace; a host (an address outside the pod
    network, or a node) has none. `node` names the node a pod runs on, or the node a host
    address belongs to."""

    ip: str | None
    namespace: str | None = None
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    named_ports: NamedPorts = field(default_factory=dict)
    node: str | None = None

    def __hash__(self) -> int:  # mappings do not hash; equal peers still hash alike
        return hash((self.ip, self.namespace, self.name, self.node))

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None

    @classmethod
    def from_pod(cls, pod: dict) -> Peer:
        meta = pod.get("metadata") or {}
        return cls(ip=(pod.get("status") or {}).get("podIP") or None,
                   namespace=meta.get("namespace") or "default", name=meta.get("name"),
                   labels=dict(meta.get("labels") or {}), named_ports=named_ports_of(pod),
                   node=(pod.get("spec") or {}).get("nodeName"))

    @classmethod
    def host(cls, ip: str, *, node: str | None = None) -> Peer:
        return cls(ip=ip, node=node)

    def __str__(self) -> str:
        return f"pod {self.namespace}/{self.name}" if self.is_pod else f"host {self.ip}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


class PolicyEngine:
    """The cluster's NetworkPolicies, pods and namespace labels, and connection verdicts."""

    def __init__(self) -> None:
        self._policies: dict[str, dict[str, CompiledPolicy]] = {}  # ns -> name -> policy
        self._namespaces: dict[str, dict[str, str]] = {}  # ns -> labels
        self._pods: dict[tuple[str, str], Peer] = {}
        self._by_ip: dict[str, tuple[str, str]] = {}
        self._verdicts: dict[tuple, Verdict] = {}

    # -- incremental updates (informer handlers call these) --------------------------------

    def update_policy(self, np: dict) -> None:
        policy = compile_policy(np)
        self._policies.setdefault(policy.namespace, {})[policy.name] = policy
        self._verdicts.clear()

    def delete_policy(self, np: dict) -> None:
        meta = np.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        policies = self._policies.get(namespace, {})
        policies.pop(meta.get("name") or "", None)
        if not policies:
            self._policies.pop(namespace, None)
        self._verdicts.clear()

    def update_namespace(self, ns: dict) -> None:
        meta = ns.get("metadata") or {}
        name = meta.get("name") or ""
        self._namespaces[name] = {**(meta.get("labels") or {}), NAMESPACE_NAME_LABEL: name}
        self._verdicts.clear()

    def delete_namespace(self, ns: dict) -> None:
        self._namespaces.pop((ns.get("metadata") or {}).get("name") or "", None)
        self._verdicts.clear()

    def update_pod(self, pod: dict) -> None:
        peer = Peer.from_pod(pod)
        key = (peer.namespace or "", peer.name or "")
        self._forget_ip(key)
        self._pods[key] = peer
        if peer.ip and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            self._by_ip[peer.ip] = key  # a finished pod's IP is free for reuse
        self._verdicts.clear()

    def delete_pod(self, pod: dict) -> None:
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace") or "default", meta.get("name") or "")
        self._forget_ip(key)
        self._pods.pop(key, None)
        self._verdicts.clear()

    # -- queries ------------------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Peer | None:
        """The peer of a known pod."""
        return self._pods.get((namespace, name))

    def peer_for_ip(self, ip: str, *, node: str | None = None) -> Peer:
        """The pod holding `ip`, or a host peer (on `node`, if given) when no pod does."""
        key = self._by_ip.get(ip)
        return self._pods[key] if key is not None else Peer.host(ip, node=node)

    def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        return self._namespaces.get(namespace) or {NAMESPACE_NAME_LABEL: namespace}

    def isolating(self, peer: Peer, direction: str) -> list[str]:
        """Keys (`ns/name`) of the policies isolating `peer` for "Ingress" or "Egress"."""
        return [p.key for p in self._isolating(peer, direction)]

    def allowed(self, src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> Verdict:
        """Whether `src` may open a connection to `dst` on `port`/`protocol`."""
        key = (src, dst, port, protocol)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._decide(src, dst, port, protocol)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict

    # -- decision -----------------------------------------------------------------------------

    def _decide(self, src: Peer, dst: Peer, port: int, protocol: str) -> Verdict:
        target = f"{dst}:{port}/{protocol}"
        if dst.is_pod and src.is_pod and (src.namespace, src.name) == (dst.namespace, dst.name):
            return Verdict(True, f"{target}: a pod may always reach itself")
        if dst.is_pod and not src.is_pod and src.node is not None and src.node == dst.node:
            return Verdict(True, f"{target}: traffic from the pod's own node is always allowed")
        egress = self._check(src, dst, port, protocol, "Egress")
        if not egress.allowed:
            return egress
        ingress = self._check(src, dst, port, protocol, "Ingress")
        if not ingress.allowed:
            return ingress
        return Verdict(True, f"{src} -> {target}: {egress.reason}; {ingress.reason}")

    def _check(self, src: Peer, dst: Peer, port: int, protocol: str, direction: str) -> Verdict:
        """The verdict of one side: egress at `src` or ingress at `dst`."""
        subject, other = (src, dst) if direction == "Egress" else (dst, src)
        word = direction.lower()
        if not subject.is_pod:
            return Verdict(True, f"{word}: {subject} has no policies")
        policies = self._isolating(subject, direction)
        if not policies:
            return Verdict(True, f"{word}: {subject} is not isolated")
        other_ip = parse_address(other.ip)
        for policy in policies:
            rules = policy.egress if direction == "Egress" else policy.ingress
            for index, rule in enumerate(rules or ()):
                if self._rule_matches(rule, policy, other, other_ip, port, protocol, dst):
                    return Verdict(True, f"{word} allowed by NetworkPolicy {policy.key} "
                                         f"rule {index}")
        names = ", ".join(p.key for p in policies)
        return Verdict(False, f"{word} {'from' if direction == 'Egress' else 'to'} {subject} "
                              f"denied: no rule of NetworkPolicy {names} allows "
                              f"{src} -> {dst}:{port}/{protocol}")

    def _rule_matches(self, rule: Rule, policy: CompiledPolicy, other: Peer,
                      other_ip: Address | None, port: int, protocol: str, dst: Peer) -> bool:
        named = dst.named_ports if dst.is_pod else None
        if not rule.matches_port(port, protocol, named):
            return False
        if rule.peers is None:
            return True
        return any(m.matches(policy_namespace=policy.namespace, namespace=other.namespace,
                             labels=other.labels, ip=other_ip,
                             namespace_labels=self.namespace_labels)
                   for m in rule.peers)

    def _isolating(self, peer: Peer, direction: str) -> list[CompiledPolicy]:
        if not peer.is_pod:
            return []
        attr = "ingress" if direction == "Ingress" else "egress"
        return [p for _, p in sorted(self._policies.get(peer.namespace or "", {}).items())
                if getattr(p, attr) is not None and p.selects(peer.namespace or "", peer.labels)]

    def _forget_ip(self, key: tuple[str, str]) -> None:
        old = self._pods.get(key)
        if old is not None and old.ip and self._by_ip.get(old.ip) == key:
            del self._by_ip[old.ip]


def named_ports_of(pod: dict) -> dict[str, tuple[int, str]]:
    """A pod's named container ports (containers and init containers): name -> (port, proto)."""
    spec = pod.get("spec") or {}
    ports: dict[str, tuple[int, str]] = {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for p in container.get("ports") or []:
            if p.get("name") and isinstance(p.get("containerPort"), int):
                ports[p["name"]] = (p["containerPort"], p.get("protocol") or "TCP")
    return ports
