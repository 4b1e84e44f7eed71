"""ServiceTable: the Services and EndpointSlices kube-proxy compiles its rules from, parsed
once per process and shared by the rules of every node in it.

A node pool's hundred kube-proxies are handed the same informer events. The table keeps what
they all need -- each Service's port infos and its parsed slices -- and tells every listener
(a node's `ProxyRules`) which Service changed, so an EndpointSlice event is parsed and
compared once, and each node only marks that Service for recompilation. `service_version`
moves only when a Service changes (NodePort listeners follow it, not endpoint churn).
`attach(factory)` feeds the table from the factory's shared Service and EndpointSlice
informers (once, however many nodes ask); the latter keeps only each slice's `proxy_view`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubemu.network.proxy_endpoints import ParsedSlice, parse_slice, proxy_view
from kubemu.network.proxy_services import ServicePortInfo, parse_service, service_key

__all__ = ["ServiceTable"]


class ServiceTable:
    def __init__(self) -> None:
        self.services: dict[str, tuple[ServicePortInfo, ...]] = {}
        self.slices: dict[str, dict[str, ParsedSlice]] = {}  # service -> slice key -> slice
        self.service_version = 0
        self.load_balanced: set[str] = set()  # Services with load balancer ingress IPs
        self._slice_owner: dict[str, str] = {}  # slice key -> service
        self._listeners: list[Callable[[str], None]] = []
        self._attached = False

    def listen(self, changed: Callable[[str], None]) -> None:
        """Call `changed(service key)` whenever that Service's rules may differ."""
        self._listeners.append(changed)

    def unlisten(self, changed: Callable[[str], None]) -> None:
        if changed in self._listeners:
            self._listeners.remove(changed)

    def attach(self, factory: Any) -> None:
        """Follow the factory's Service and EndpointSlice informers (once)."""
        if self._attached:
            return
        self._attached = True
        factory.informer("v1", "Service").add_handler(
            self.update_service, lambda _old, new: self.update_service(new),
            self.delete_service)
        slices = factory.informer("discovery.k8s.io/v1", "EndpointSlice", transform=proxy_view)
        slices.add_handler(self.update_slice, lambda _old, new: self.update_slice(new),
                           self.delete_slice)

    # -- inputs ---------------------------------------------------------------------------

    def update_service(self, svc: dict) -> None:
        key = service_key(svc)
        infos = parse_service(svc)
        if key in self.services and self.services[key] == infos:
            return
        self.services[key] = infos
        if any(info.load_balancer_ips for info in infos):
            self.load_balanced.add(key)
        else:
            self.load_balanced.discard(key)
        self.service_version += 1
        self._changed(key)

    def delete_service(self, svc: dict) -> None:
        key = service_key(svc)
        if self.services.pop(key, None) is None:
            return
        self.load_balanced.discard(key)
        self.service_version += 1
        self._changed(key)

    def update_slice(self, slc: dict) -> None:
        skey = service_key(slc)
        parsed = parse_slice(slc)
        if parsed is None:
            self._remove_slice(skey)
            return
        old_owner = self._slice_owner.get(skey)
        if old_owner == parsed.service and self.slices[old_owner].get(skey) == parsed:
            return
        if old_owner is not None and old_owner != parsed.service:
            self._remove_slice(skey)
        self._slice_owner[skey] = parsed.service
        self.slices.setdefault(parsed.service, {})[skey] = parsed
        self._changed(parsed.service)

    def delete_slice(self, slc: dict) -> None:
        self._remove_slice(service_key(slc))

    # -- helpers --------------------------------------------------------------------------

    def _remove_slice(self, skey: str) -> None:
        owner = self._slice_owner.pop(skey, None)
        if owner is None:
            return
        slices = self.slices.get(owner, {})
        slices.pop(skey, None)
        if not slices:
            self.slices.pop(owner, None)
        self._changed(owner)

    def _changed(self, key: str) -> None:
        for changed in self._listeners:
            changed(key)
