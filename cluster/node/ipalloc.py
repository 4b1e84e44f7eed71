"""Pod IP allocation from the node's podCIDR (what host-local IPAM does for a CNI plugin).

Each node owns one pod CIDR (spec.podCIDR, 10.244.N.0/24, set by the node IPAM controller),
and its kubelet hands every pod sandbox one address from it. Addresses skip the network
address, the gateway (network + 1, the node's bridge) and the broadcast address. Fresh
addresses go out in order; released ones queue up and are handed out again only once the
fresh ones are used up (host-local's "reuse last"), so a deleted pod's IP is not given to the
next pod at once -- stale Endpoints and conntrack entries cannot reach the wrong pod. The
allocator is keyed by pod uid: asking twice for one uid gives the same address, and a
restarted kubelet `reserve`s the addresses its pods already report. Invariant: an address
belongs to at most one uid.
"""

from __future__ import annotations

import ipaddress
from collections import deque

__all__ = ["PodIPAllocator", "IPExhausted"]


class IPExhausted(RuntimeError):
    """Every address of the pod CIDR is taken."""


class PodIPAllocator:
    def __init__(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        self.cidr = str(net)
        self._net = net
        self._first = int(net.network_address) + 2  # skip network and gateway
        self._last = int(net.broadcast_address) - 1  # skip broadcast
        if net.version == 6:
            self._last = int(net.broadcast_address)  # IPv6 has no broadcast address
        self._next_fresh = self._first
        self._freed: deque[int] = deque()
        self._by_uid: dict[str, int] = {}
        self._owner: dict[int, str] = {}

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_address(int(self._net.network_address) + 1))

    @property
    def size(self) -> int:
        """How many pod addresses the CIDR holds."""
        return max(0, self._last - self._first + 1)

    def __len__(self) -> int:
        """Addresses in use."""
        return len(self._by_uid)

    def contains(self, ip: str) -> bool:
        try:
            value = int(ipaddress.ip_address(ip))
        except ValueError:
            return False
        return self._first <= value <= self._last

    def ip_of(self, uid: str) -> str | None:
        value = self._by_uid.get(uid)
        return None if value is None else str(ipaddress.ip_address(value))

    def allocate(self, uid: str) -> str:
        """The address of pod `uid` (the one it already has, or a new one)."""
        held = self._by_uid.get(uid)
        if held is not None:
            return str(ipaddress.ip_address(held))
        value = self._take()
        self._by_uid[uid] = value
        self._owner[value] = uid
        return str(ipaddress.ip_address(value))

    def reserve(self, uid: str, ip: str) -> bool:
        """Give `ip` to `uid` (a pod that already has it); False when it is outside the CIDR
        or held by another pod."""
        if not self.contains(ip):
            return False
        value = int(ipaddress.ip_address(ip))
        owner = self._owner.get(value)
        if owner is not None:
            return owner == uid
        self.release(uid)
        self._by_uid[uid] = value
        self._owner[value] = uid
        return True

    def release(self, uid: str) -> None:
        """Free the address of `uid` (no-op when it holds none)."""
        value = self._by_uid.pop(uid, None)
        if value is None:
            return
        del self._owner[value]
        self._freed.append(value)

    def _take(self) -> int:
        while self._next_fresh <= self._last:
            value = self._next_fresh
            self._next_fresh += 1
            if value not in self._owner:
                return value
        while self._freed:
            value = self._freed.popleft()
            if value not in self._owner:
                return value
        raise IPExhausted(f"no IP addresses available in range set: {self.cidr}")
