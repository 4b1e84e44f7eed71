"""Lessor: etcd's leases, the TTLs that keys can be attached to.

Granting and revoking a lease are Raft writes, so every member holds the same leases and
attached keys (the snapshot stores id, ttl and grant index; attached keys are rebuilt from the
kvs' `lease` field). Deadlines are local, not replicated: only the leader's deadlines matter.
A member that becomes leader `promote`s: every deadline restarts at now + ttl (a new leader
cannot know how long the old one had let a lease run, so it errs on the side of keeping it);
a follower's deadlines are infinite (`demote`). The leader finds expired leases with
`expired(now)` (a heap with lazy invalidation, O(log n) per renewal) and proposes their
revocation; keepalives renew the deadline on the leader without a Raft write.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from kubemu.cluster.store.errors import BadRequestError, LeaseNotFoundError

__all__ = ["Lease", "Lessor", "MAX_LEASE_TTL"]

MAX_LEASE_TTL = 9_000_000_000  # etcd's MaxLeaseTTL (seconds)
MIN_LEASE_TTL = 1


@dataclass(slots=True)
class Lease:
    id: int
    ttl: int  # granted TTL, seconds
    grant_index: int = 0  # the log index of the grant entry (identifies this incarnation)
    expiry: float = math.inf  # deadline on this member's clock (meaningful on the leader)
    keys: set[str] = field(default_factory=set)


class Lessor:
    """Leases by id; attached keys; deadlines from the caller's clock readings."""

    def __init__(self) -> None:
        self.leases: dict[int, Lease] = {}
        self.primary = False  # True while this member is the leader
        self._heap: list[tuple[float, int, int]] = []  # (expiry, id, grant_index), lazy

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self.leases

    def get(self, lease_id: int) -> Lease:
        lease = self.leases.get(lease_id)
        if lease is None:
            raise LeaseNotFoundError(f"lease {lease_id} not found")
        return lease

    def pick_id(self, hint: int) -> int:
        """A free lease id derived deterministically from `hint` (the entry index)."""
        lease_id = max(hint, 1)
        while lease_id in self.leases:
            lease_id += 1
        return lease_id

    def grant(self, lease_id: int, ttl: int, *, now: float, index: int = 0) -> Lease:
        if lease_id <= 0:
            raise BadRequestError(f"lease id must be positive, got {lease_id}")
        if lease_id in self.leases:
            raise BadRequestError(f"lease {lease_id} already exists")
        if ttl > MAX_LEASE_TTL:
            raise BadRequestError(f"lease TTL {ttl} is over the maximum {MAX_LEASE_TTL}")
        lease = Lease(lease_id, max(ttl, MIN_LEASE_TTL), index)
        self.leases[lease_id] = lease
        if self.primary:
            self._set_expiry(lease, now + lease.ttl)
        return lease

    def revoke(self, lease_id: int) -> list[str]:
        """Forget the lease; returns its attached keys (sorted) for the caller to delete."""
        lease = self.get(lease_id)
        del self.leases[lease_id]
        return sorted(lease.keys)

    def renew(self, lease_id: int, *, now: float) -> int:
        """Keepalive (leader only): the deadline restarts at now + ttl; returns the ttl."""
        lease = self.get(lease_id)
        if self.primary:
            self._set_expiry(lease, now + lease.ttl)
        return lease.ttl

    def remaining(self, lease_id: int, *, now: float) -> int:
        """Seconds left before expiry (the full ttl on a follower), rounded up."""
        lease = self.get(lease_id)
        if lease.expiry == math.inf:
            return lease.ttl
        return max(0, math.ceil(lease.expiry - now))

    def attach(self, lease_id: int, key: str) -> None:
        if lease_id:
            lease = self.leases.get(lease_id)
            if lease is not None:
                lease.keys.add(key)

    def detach(self, lease_id: int, key: str) -> None:
        if lease_id:
            lease = self.leases.get(lease_id)
            if lease is not None:
                lease.keys.discard(key)

    def promote(self, *, now: float) -> None:
        """This member became leader: every lease's deadline restarts at now + ttl."""
        self.primary = True
        self._heap = []
        for lease in self.leases.values():
            lease.expiry = now + lease.ttl
            self._heap.append((lease.expiry, lease.id, lease.grant_index))
        heapq.heapify(self._heap)

    def demote(self) -> None:
        """This member stopped being leader: leases never expire here."""
        self.primary = False
        self._heap = []
        for lease in self.leases.values():
            lease.expiry = math.inf

    def expired(self, now: float) -> list[Lease]:
        """Leases whose deadline has passed (leader only), oldest deadline first. They stay
        expired (and listed again) until revoked or renewed."""
        out: list[Lease] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            expiry, lease_id, grant_index = heapq.heappop(heap)
            lease = self.leases.get(lease_id)
            if lease is None or lease.grant_index != grant_index or lease.expiry != expiry:
                continue  # revoked, re-granted or renewed since this heap entry
            out.append(lease)
        for lease in out:
            heapq.heappush(heap, (lease.expiry, lease.id, lease.grant_index))
        return out

    def snapshot_obj(self) -> list:
        return [(lease.id, lease.ttl, lease.grant_index)
                for lease in sorted(self.leases.values(), key=lambda x: x.id)]

    @classmethod
    def from_snapshot_obj(cls, obj: list) -> Lessor:
        lessor = cls()
        for lease_id, ttl, grant_index in obj:
            lessor.leases[lease_id] = Lease(lease_id, ttl, grant_index)
        return lessor

    def _set_expiry(self, lease: Lease, expiry: float) -> None:
        lease.expiry = expiry
        heapq.heappush(self._heap, (expiry, lease.id, lease.grant_index))
