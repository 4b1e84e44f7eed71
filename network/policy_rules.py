"""NetworkPolicy rules compiled for matching: one networking.k8s.io/v1 policy as plain data.

`compile_policy(np)` turns a NetworkPolicy dict into a frozen `CompiledPolicy` once, when the
policy changes, so a connection check only walks tuples of parsed selectors and networks.
Defaulting follows upstream's SetDefaults_NetworkPolicy: an empty `policyTypes` means Ingress,
plus Egress when the policy has egress rules; a port's protocol defaults to TCP.

Matching semantics (upstream docs and the network-policy conformance behaviour):
- rules of one direction are ORed; inside a rule the peer list AND the port list must match;
  an absent or empty `from`/`to` matches every peer, an absent or empty `ports` every port;
  a direction in `policyTypes` with no rules matches nothing (default deny);
- inside one peer, `podSelector` and `namespaceSelector` are ANDed; `podSelector` alone means
  the policy's own namespace, `namespaceSelector` alone every pod of matching namespaces;
  `ipBlock` matches any address (pod IPs included, which upstream leaves to the
  implementation) inside `cidr` and outside every `except`;
- a numbered port matches itself or the range up to `endPort`; a named port is resolved
  against the destination pod's container ports (name and protocol), so it never matches a
  destination outside the cluster.
A selector or CIDR the API server would have rejected compiles to a peer that matches nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubemu.cluster.api.selectors import LabelSelector, selector_from_dict

__all__ = [
    "Address",
    "CompiledPolicy",
    "NamedPorts",
    "PeerMatcher",
    "PortMatcher",
    "Rule",
    "compile_policy",
    "parse_address",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# A pod's named container ports: name -> (containerPort, protocol).
NamedPorts = Mapping[str, tuple[int, str]]
# namespace name -> that namespace's labels (kubernetes.io/metadata.name included).
NamespaceLabels = Callable[[str], Mapping[str, str]]


@dataclass(frozen=True)
class PeerMatcher:
    """One `from`/`to` entry: pod and namespace selectors (ANDed) or an ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    cidr: Network | None = None
    excepts: tuple[Network, ...] = ()
    valid: bool = True

    def matches(self, *, policy_namespace: str, namespace: str | None,
                labels: Mapping[str, str] | None, ip: Address | None,
                namespace_labels: NamespaceLabels) -> bool:
        """Whether a peer matches; `namespace` is None for an address outside the cluster."""
        if not self.valid:
            return False
        if self.cidr is not None:
            return (ip is not None and ip in self.cidr
                    and not any(ip in e for e in self.excepts))
        if namespace is None:
            return False
        if self.namespace_selector is None:
            if namespace != policy_namespace:
                return False
        elif not self.namespace_selector.matches(dict(namespace_labels(namespace))):
            return False
        return self.pod_selector is None or self.pod_selector.matches(dict(labels or {}))


@dataclass(frozen=True)
class PortMatcher:
    """One `ports` entry: protocol plus a number, a number range or a named port."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def matches(self, port: int, protocol: str, named_ports: NamedPorts | None) -> bool:
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            return bool(named_ports) and named_ports.get(self.port) == (port, protocol)
        if self.end_port is not None:
            return self.port <= port <= self.end_port
        return port == self.port


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule; None for peers or ports means "all"."""

    peers: tuple[PeerMatcher, ...] | None
    ports: tuple[PortMatcher, ...] | None

    def matches_port(self, port: int, protocol: str, named_ports: NamedPorts | None) -> bool:
        return self.ports is None or any(p.matches(port, protocol, named_ports)
                                         for p in self.ports)


@dataclass(frozen=True)
class CompiledPolicy:
    """A NetworkPolicy ready for matching; `ingress`/`egress` is None when that direction
    is not in policyTypes (the policy does not isolate it)."""

    namespace: str
    name: str
    pod_selector: LabelSelector | None  # None: the selector was invalid, selects no pod
    ingress: tuple[Rule, ...] | None
    egress: tuple[Rule, ...] | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def selects(self, namespace: str, labels: Mapping[str, str] | None) -> bool:
        return (namespace == self.namespace and self.pod_selector is not None
                and self.pod_selector.matches(dict(labels or {})))


def compile_policy(np: dict) -> CompiledPolicy:
    """The compiled form of a NetworkPolicy dict, with upstream defaulting applied."""
    meta = np.get("metadata") or {}
    spec = np.get("spec") or {}
    types = spec.get("policyTypes") or _default_policy_types(spec)
    return CompiledPolicy(
        namespace=meta.get("namespace") or "default",
        name=meta.get("name") or "",
        pod_selector=_selector(spec.get("podSelector")),
        ingress=(tuple(_rule(r, "from") for r in spec.get("ingress") or [])
                 if "Ingress" in types else None),
        egress=(tuple(_rule(r, "to") for r in spec.get("egress") or [])
                if "Egress" in types else None),
    )


def parse_address(ip: str | None) -> Address | None:
    """The address `ip` names, or None when it is empty or not an address."""
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def _default_policy_types(spec: dict) -> list[str]:
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _rule(rule: dict | None, peers_field: str) -> Rule:
    rule = rule or {}
    peers = rule.get(peers_field) or []
    ports = rule.get("ports") or []
    return Rule(peers=tuple(_peer(p) for p in peers) if peers else None,
                ports=tuple(_port(p) for p in ports) if ports else None)


def _peer(peer: dict | None) -> PeerMatcher:
    peer = peer or {}
    block = peer.get("ipBlock")
    if block is not None:
        try:
            cidr = ipaddress.ip_network(block.get("cidr", ""), strict=False)
            excepts = tuple(ipaddress.ip_network(e, strict=False)
                            for e in block.get("except") or [])
        except (ValueError, TypeError):
            return PeerMatcher(valid=False)
        return PeerMatcher(cidr=cidr, excepts=excepts)
    if "podSelector" not in peer and "namespaceSelector" not in peer:
        return PeerMatcher(valid=False)  # an empty peer is invalid upstream
    pods = _selector(peer.get("podSelector")) if "podSelector" in peer else None
    namespaces = (_selector(peer.get("namespaceSelector"))
                  if "namespaceSelector" in peer else None)
    valid = (("podSelector" not in peer or pods is not None)
             and ("namespaceSelector" not in peer or namespaces is not None))
    return PeerMatcher(pod_selector=pods, namespace_selector=namespaces, valid=valid)


def _port(port: dict | None) -> PortMatcher:
    port = port or {}
    number = port.get("port")
    end = port.get("endPort")
    return PortMatcher(protocol=port.get("protocol") or "TCP", port=number,
                       end_port=end if isinstance(number, int) and isinstance(end, int) else None)


def _selector(sel: dict | None) -> LabelSelector | None:
    try:
        return selector_from_dict(sel)
    except ValueError:
        return None
