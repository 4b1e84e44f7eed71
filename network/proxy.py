"""kube-proxy rules of one node, sans-I/O: Services + EndpointSlices in, routing decisions out.

`ProxyRules` is what iptables mode programs, as data. It is fed incrementally from a
`ServiceTable` (parsed Services and slices, shared by a node pool's nodes): a Service or
EndpointSlice change recompiles only that Service, O(its endpoints x ports), and only when the
rules are next read, so a burst of changes costs one compile. It answers
`route(dst_ip, dst_port, protocol, ...)` per connection with a `Route` (the backend), a `Drop`
(upstream's REJECT when a Service has no endpoints at all, DROP when a Local traffic policy
finds none on this node, DROP by loadBalancerSourceRanges) or None (not a Service address:
the caller delivers the packet as addressed).

Which endpoints a connection may use (upstream iptables proxier over CategorizeEndpoints):
- to a ClusterIP: internalTrafficPolicy Local -> this node's endpoints, else cluster ones;
- to a NodePort, LoadBalancer ingress IP or externalIP, entering from outside the cluster
  (`external=True`, e.g. a host listener): externalTrafficPolicy Local -> this node's
  endpoints, else cluster ones;
- the same destinations from a pod (`external=False`) take the cluster endpoints whenever the
  Service uses them (upstream's "pod traffic for external destinations" short-circuit).
A backend is picked uniformly at random per connection with the injected RNG (iptables
`statistic --mode random`). sessionAffinity ClientIP keeps a client on its last backend while
that backend is still eligible and was used within timeoutSeconds (iptables `recent --rcheck
--seconds`; each use refreshes it); `now` is the caller's clock, in seconds.
`version` increases on every change that alters the rules, for programming-latency metrics.
`load_balancer_ips()` lists the ingress listeners this node opens; a node without local
endpoints for an externalTrafficPolicy Local port opens none for it, as a cloud load balancer
health-checking healthCheckNodePort would not send it there.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

from kubemu.network.proxy_endpoints import ParsedSlice, SliceEndpoint, categorize
from kubemu.network.proxy_services import ServicePortInfo
from kubemu.network.proxy_table import ServiceTable

__all__ = ["ZONE_LABEL", "Drop", "ProxyRules", "Route"]

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True)
class Route:
    """DNAT decision: send the connection to this backend."""

    pod_ip: str
    port: int
    node_name: str
    zone: str
    pod_name: str
    pod_namespace: str
    service: str        # "namespace/name"
    port_name: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Refusal: reason "REJECT" (connection refused) or "DROP" (silently lost)."""

    reason: str
    message: str


class ProxyRules:
    """The Service rules of node `node_name` (in `zone`), updated incrementally."""

    def __init__(self, node_name: str, zone: str = "", *, rng: random.Random,
                 table: ServiceTable | None = None) -> None:
        """`table`: the Services and slices, shared by the rules of a process's nodes (one
        of its own when not given)."""
        self.node_name = node_name
        self.zone = zone
        self.version = 0
        self.on_change: Callable[[], None] | None = None  # after each version bump
        self._rng = rng
        self.table = table if table is not None else ServiceTable()
        self._rules: dict[str, tuple[_PortRules, ...]] = {}        # service -> compiled ports
        self._affinity: dict[str, dict[str, tuple[Route, float]]] = {}   # port key -> table
        self._vips: dict[tuple[str, int, str], tuple[_PortRules, bool]] = {}
        # the load balancer ingress addresses among them (listed often, by the node's overlay)
        self._lb_vips: dict[tuple[str, int, str], _PortRules] = {}
        self._node_ports: dict[tuple[int, str], _PortRules] = {}
        self._dirty: set[str] = set()  # services changed since their rules were compiled
        self._node_port_map: tuple[int, dict[int, tuple[str, str]]] = (0, {})
        for key in self.table.services:  # a table already filled: compiled when first read
            self._compile(key)
        self.table.listen(self._compile)

    @property
    def service_version(self) -> int:
        """Moves only when a Service changes (NodePorts follow it)."""
        return self.table.service_version

    def close(self) -> None:
        """Stop following the table (a node leaving a pool's shared table)."""
        self.table.unlisten(self._compile)

    # -- inputs ---------------------------------------------------------------------------

    def update_service(self, svc: dict) -> None:
        self.table.update_service(svc)

    def delete_service(self, svc: dict) -> None:
        self.table.delete_service(svc)

    def update_slice(self, slc: dict) -> None:
        self.table.update_slice(slc)

    def delete_slice(self, slc: dict) -> None:
        self.table.delete_slice(slc)

    def update_node(self, node: dict) -> None:
        """Take this node's zone from its `topology.kubernetes.io/zone` label."""
        md = node.get("metadata") or {}
        if md.get("name") != self.node_name:
            return
        zone = (md.get("labels") or {}).get(ZONE_LABEL, "")
        if zone != self.zone:
            self.zone = zone
            for key in list(self.table.services):
                self._compile(key)

    # -- outputs --------------------------------------------------------------------------

    def route(self, dst_ip: str, dst_port: int, protocol: str = "TCP", *, src_ip: str,
              now: float, from_node_port: bool = False,
              external: bool = False) -> Route | Drop | None:
        """Decide one new connection; None when the destination is no Service address.

        With `from_node_port` the connection arrived at this node's `dst_port` (any node
        address: `dst_ip` is not consulted)."""
        self._flush()
        if from_node_port:
            rules = self._node_ports.get((dst_port, protocol))
            if rules is None:
                return None
            targets = rules.external if external else rules.external_pod
        else:
            hit = self._vips.get((dst_ip, dst_port, protocol))
            if hit is None:
                return None
            rules, is_external = hit
            if not is_external:
                targets = rules.internal
            else:
                if rules.ranges and dst_ip in rules.info.load_balancer_ips \
                        and not _in_ranges(src_ip, rules.ranges):
                    return rules.firewall_drop
                targets = rules.external if external else rules.external_pod
        if type(targets) is Drop:
            return targets
        routes = targets.routes
        affinity = rules.affinity
        if affinity is None:
            return routes[0] if len(routes) == 1 else self._rng.choice(routes)
        last = affinity.get(src_ip)
        if last is not None:
            chosen, used = last
            if now - used <= rules.info.affinity_timeout \
                    and (chosen.pod_ip, chosen.port) in targets.keys:
                affinity[src_ip] = (chosen, now)
                return chosen
        chosen = routes[0] if len(routes) == 1 else self._rng.choice(routes)
        affinity[src_ip] = (chosen, now)
        return chosen

    def node_ports(self) -> dict[int, tuple[str, str]]:
        """NodePort -> (protocol, service key): the listeners every node opens. Read from
        the Services alone (endpoints do not open or close a NodePort): no compile, and
        the same map until a Service changes (do not modify it)."""
        version, ports = self._node_port_map
        if version != self.service_version or not self.service_version:
            ports = {info.node_port: (info.protocol, key)
                     for key, infos in self.table.services.items() for info in infos
                     if info.node_port}
            self._node_port_map = (self.service_version, ports)
        return ports

    def load_balancer_ips(self) -> dict[tuple[str, int], tuple[str, str]]:
        """(ingress IP, port) -> (protocol, service key) for LoadBalancer ingress listeners.

        An externalTrafficPolicy Local port with endpoints, none of them on this node, is
        left out: the cloud load balancer's health check (healthCheckNodePort, 503 without
        local endpoints) takes this node out of its targets."""
        # only Services that have (or had, compiled) ingress addresses: not every Service an
        # EndpointSlice change marked since the last call (ten calls a second)
        had = {rules.info.service for rules in self._lb_vips.values()}
        for key in (self.table.load_balanced | had) & self._dirty:
            self._dirty.discard(key)
            self._build(key)
        out: dict[tuple[str, int], tuple[str, str]] = {}
        for (ip, port, proto), rules in self._lb_vips.items():
            if not rules.lb_unhealthy:
                out[(ip, port)] = (proto, rules.info.service)
        return out

    def reap_affinity(self, now: float) -> int:
        """Forget ClientIP affinity entries older than their timeout; how many went. The
        tables outlive compiles (keyed by Service port): nothing is compiled for this."""
        if not self._affinity:  # no ClientIP Service has routed anything: the usual case
            return 0
        gone = 0
        for infos in self.table.services.values():
            for info in infos:
                table = self._affinity.get(info.port_key)
                if not table or info.affinity_timeout is None:
                    continue
                stale = [ip for ip, (_, used) in table.items()
                         if now - used > info.affinity_timeout]
                for ip in stale:
                    del table[ip]
                gone += len(stale)
        return gone

    def endpoints(self, service: str, port_name: str = "") -> tuple[Route, ...]:
        """Cluster-policy backends of a Service port (for inspection and metrics)."""
        self._flush()
        for rules in self._rules.get(service, ()):
            if rules.info.name == port_name:
                return () if type(rules.cluster) is Drop else rules.cluster.routes
        return ()

    # -- compilation ----------------------------------------------------------------------

    def _compile(self, key: str) -> None:
        """Note that `key`'s rules changed (the table calls this); they are rebuilt when next
        read (`_flush`): a pool's hundred nodes each hear every EndpointSlice change, and
        most never route to that Service before it changes again."""
        self.version += 1
        self._dirty.add(key)
        if self.on_change is not None:
            self.on_change()

    def _flush(self) -> None:
        """Compile the changed Services."""
        while self._dirty:
            self._build(self._dirty.pop())

    def _build(self, key: str) -> None:
        """Recompute one Service's rules and (re)register its addresses."""
        for rules in self._rules.pop(key, ()):
            for vip in rules.vips():
                if self._vips.get(vip, (None,))[0] is rules:
                    del self._vips[vip]
                if self._lb_vips.get(vip) is rules:
                    del self._lb_vips[vip]
            np = (rules.info.node_port, rules.info.protocol)
            if self._node_ports.get(np) is rules:
                del self._node_ports[np]
        infos = self.table.services.get(key)
        if not infos:
            for port_key in [k for k in self._affinity if k == key or k.startswith(key + ":")]:
                del self._affinity[port_key]
            return
        slices = tuple(self.table.slices.get(key, {}).values())
        compiled = []
        for info in infos:
            eps = _endpoints_for(slices, info)
            cat = categorize((ep for ep, _ in eps), node_name=self.node_name, zone=self.zone)
            port_of = {ep.ip: port for ep, port in eps}
            affinity = None
            if info.affinity_timeout is not None:
                affinity = self._affinity.setdefault(info.port_key, {})
            else:
                self._affinity.pop(info.port_key, None)
            rules = _PortRules(info, cat.has_any, cat.cluster, cat.local, port_of, affinity)
            compiled.append(rules)
            for vip in rules.vips():
                self._vips[vip] = (rules, vip[0] != info.cluster_ip)
                if vip[0] in info.load_balancer_ips:
                    self._lb_vips[vip] = rules
                else:
                    self._lb_vips.pop(vip, None)
            if info.node_port:
                self._node_ports[(info.node_port, info.protocol)] = rules
        self._rules[key] = tuple(compiled)


class _Targets:
    __slots__ = ("keys", "routes")

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes
        self.keys = frozenset((r.pod_ip, r.port) for r in routes)


class _PortRules:
    """Compiled rules of one Service port: the eligible backends per kind of traffic."""

    __slots__ = (
        "affinity",
        "cluster",
        "external",
        "external_pod",
        "firewall_drop",
        "info",
        "internal",
        "lb_unhealthy",
        "ranges",
    )

    def __init__(self, info: ServicePortInfo, has_any: bool,
                 cluster_eps: tuple[SliceEndpoint, ...], local_eps: tuple[SliceEndpoint, ...],
                 port_of: dict[str, int],
                 affinity: dict[str, tuple[Route, float]] | None) -> None:
        self.info = info
        self.affinity = affinity
        self.ranges = info.source_ranges
        self.firewall_drop = Drop("DROP", f'"{info.port_key} loadBalancerSourceRanges"')
        self.lb_unhealthy = False
        if not has_any:
            reject = Drop("REJECT", f'"{info.port_key} has no endpoints"')
            self.cluster = self.internal = self.external = self.external_pod = reject
            return
        no_local = Drop("DROP", f'"{info.port_key} has no local endpoints"')
        cluster = _targets(info, cluster_eps, port_of) or no_local
        local = _targets(info, local_eps, port_of) or no_local
        self.cluster = cluster
        self.internal = local if info.internal_local else cluster
        self.external = local if info.external_local else cluster
        self.external_pod = cluster if info.uses_cluster_endpoints else local
        self.lb_unhealthy = info.external_local and local is no_local

    def vips(self) -> list[tuple[str, int, str]]:
        info = self.info
        ips = ([info.cluster_ip] if info.cluster_ip else []) + list(info.load_balancer_ips) \
            + list(info.external_ips)
        return [(ip, info.port, info.protocol) for ip in ips]


def _endpoints_for(slices: tuple[ParsedSlice, ...],
                   info: ServicePortInfo) -> list[tuple[SliceEndpoint, int]]:
    """Endpoints of a Service port across slices: slice port matched by name and protocol;
    an IP in several slices counts once, a ready copy winning."""
    found: dict[str, tuple[SliceEndpoint, int]] = {}
    for slc in slices:
        port = next((num for name, proto, num in slc.ports
                     if name == info.name and proto == info.protocol), None)
        if port is None:
            continue
        for ep in slc.endpoints:
            prev = found.get(ep.ip)
            if prev is None or (ep.ready and not prev[0].ready):
                found[ep.ip] = (ep, port)
    return list(found.values())


def _targets(info: ServicePortInfo, eps: tuple[SliceEndpoint, ...],
             port_of: dict[str, int]) -> _Targets | None:
    if not eps:
        return None
    return _Targets(tuple(
        Route(pod_ip=ep.ip, port=port_of[ep.ip], node_name=ep.node_name, zone=ep.zone,
              pod_name=ep.pod_name, pod_namespace=ep.pod_namespace, service=info.service,
              port_name=info.name) for ep in eps))


def _in_ranges(src_ip: str, ranges: tuple) -> bool:
    try:
        addr = ipaddress.ip_address(src_ip)
    except ValueError:
        return False
    return any(addr in net for net in ranges)
