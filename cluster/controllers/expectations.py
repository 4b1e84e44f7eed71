"""ControllerExpectations: what a controller is still waiting to see in its informer cache.

Upstream's `ControllerExpectations` plus `UIDTrackingControllerExpectations`, by controller
key (`namespace/name`). A controller that issued N pod creates (or M deletes) records that
before issuing them; the pod informer's handlers lower the counts as the creates (deletes)
appear in the cache. Until the counts reach zero the controller must not act on the key
again, because its cache does not show its own writes yet and a second sync would create
(delete) the same pods twice. Expectations also expire: `ttl` seconds (5 minutes, upstream's
ExpectationsTimeout) after they were set, by the injected clock, they count as satisfied, so a
lost watch event delays a controller but never wedges it.

Deletions may be tracked by pod key (`expect_pod_deletions`): a pod then lowers the count once
however many events report its deletion (deletionTimestamp set, then the object gone).
Invariants: a key with no record is satisfied (a new controller, or one whose record was
dropped); setting expectations replaces the key's record and restarts its ttl; lowering
never refreshes the ttl.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubemu.cluster.clock import Clock

__all__ = ["ControllerExpectations", "Expectation", "EXPECTATIONS_TIMEOUT"]

EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class Expectation:
    """Creations and deletions still expected, and when they were set (clock seconds)."""

    add: int
    delete: int
    timestamp: float
    pending_deletes: set[str] | None = field(default=None)  # pod keys, when tracked by key

    @property
    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    def __init__(self, clock: Clock, *, ttl: float = EXPECTATIONS_TIMEOUT) -> None:
        self._clock = clock
        self._ttl = ttl
        self._records: dict[str, Expectation] = {}

    def get(self, key: str) -> Expectation | None:
        return self._records.get(key)

    def satisfied(self, key: str) -> bool:
        """True when the controller may sync `key`: nothing expected, all observed, or the
        expectations expired."""
        record = self._records.get(key)
        if record is None:
            return True
        return record.fulfilled or self.expired(key)

    def expired(self, key: str) -> bool:
        record = self._records.get(key)
        return record is not None and self._clock.now() - record.timestamp > self._ttl

    def set_expectations(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        self._records[key] = Expectation(add, delete, self._clock.now())

    def expect_creations(self, key: str, count: int) -> None:
        self.set_expectations(key, add=count)

    def expect_deletions(self, key: str, count: int) -> None:
        self.set_expectations(key, delete=count)

    def expect_pod_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Expect exactly these pods (`namespace/name`) to be deleted."""
        keys = set(pod_keys)
        self._records[key] = Expectation(0, len(keys), self._clock.now(), keys)

    def raise_expectations(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        record = self._records.get(key)
        if record is not None:
            record.add += add
            record.delete += delete

    def lower_expectations(self, key: str, *, add: int = 0, delete: int = 0) -> None:
        record = self._records.get(key)
        if record is not None:
            record.add -= add
            record.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, add=1)

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:
        """A pod of `key` is gone or going; with deletions tracked by pod key, only a pod
        still expected (and only once) lowers the count."""
        record = self._records.get(key)
        if record is None:
            return
        if record.pending_deletes is not None:
            if pod_key is None or pod_key not in record.pending_deletes:
                return
            record.pending_deletes.discard(pod_key)
        record.delete -= 1

    def delete(self, key: str) -> None:
        """Forget `key` (its controller object is gone)."""
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)
