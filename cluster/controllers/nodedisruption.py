"""Zone disruption and rate-limited NoExecute tainting (upstream node lifecycle controller).

Upstream does not taint every failed node at once. Each zone (region + zone labels) has a
queue of nodes waiting for their not-ready/unreachable NoExecute taint, drained through a
token bucket (burst 1): `eviction_qps` (0.1/s, one node per 10 s) while the zone is Normal or
fully disrupted; while it is partially disrupted (more than 2 and at least 55% of its nodes
not Ready) 0 in small clusters (<= 50 nodes) and `secondary_eviction_qps` (0.01/s) in larger
ones. When *every* zone is fully disrupted the controller assumes the fault is its own (a
control-plane partition, not the nodes) and enters "master disruption mode": the caller
removes every NoExecute taint it placed and tainting stops until some node is Ready again; on
leaving it the caller counts every node as just seen, so none is judged on stale timestamps.

`TaintQueue` is RateLimitedTimedQueue over a UniqueQueue: a node stays "processed" after its
taint was placed, so later passes do not re-queue it until `remove` (the node became
reachable, or its taint disappeared). `DisruptionMonitor.handle` is handleDisruption: it
updates zone states and rates and tells the caller which transition, if any, happened. Time
is passed in (`now`, Kubernetes clock); nothing here does I/O.
"""

from __future__ import annotations

from collections import OrderedDict

from kubemu.cluster.controllers.nodehealth import (
    STATE_FULL_DISRUPTION, STATE_INITIAL, STATE_PARTIAL_DISRUPTION, compute_zone_state)

__all__ = ["TokenBucket", "TaintQueue", "DisruptionMonitor", "ENTER_MASTER_DISRUPTION",
           "EXIT_MASTER_DISRUPTION"]

ENTER_MASTER_DISRUPTION = "enter"
EXIT_MASTER_DISRUPTION = "exit"


class TokenBucket:
    """client-go's token bucket with burst 1, full at creation; qps 0 never accepts."""

    def __init__(self, qps: float, now: float, *, burst: int = 1) -> None:
        self.qps, self.burst = qps, burst
        self._tokens = float(burst)
        self._last = now

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float) -> float | None:
        """Seconds until a token exists; None when never."""
        if self.qps <= 0:
            return None
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.qps)

    def drain(self) -> None:
        self._tokens = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now


class TaintQueue:
    """Per-zone FIFO of node names waiting for a NoExecute taint, rate limited per zone."""

    def __init__(self, *, qps: float, now: float = 0.0) -> None:
        self.default_qps = qps
        self._queues: dict[str, OrderedDict[str, None]] = {}
        self._limiters: dict[str, TokenBucket] = {}
        self._processed: set[str] = set()
        self._created = now

    def ensure_zone(self, zone: str, now: float) -> None:
        if zone not in self._queues:
            self._queues[zone] = OrderedDict()
            self._limiters[zone] = TokenBucket(self.default_qps, now)

    def add(self, zone: str, name: str, now: float) -> bool:
        """Queue `name` unless queued or already processed; True when queued."""
        self.ensure_zone(zone, now)
        if name in self._processed or any(name in q for q in self._queues.values()):
            return False
        self._queues[zone][name] = None
        return True

    def remove(self, name: str) -> None:
        """Forget `name` (queued or processed): it may be queued again."""
        self._processed.discard(name)
        for queue in self._queues.values():
            queue.pop(name, None)

    def take(self, now: float) -> list[tuple[str, str]]:
        """(zone, name) pairs the limiters let through now, in queue order."""
        taken: list[tuple[str, str]] = []
        for zone, queue in self._queues.items():
            while queue and self._limiters[zone].try_accept(now):
                name, _ = queue.popitem(last=False)
                self._processed.add(name)
                taken.append((zone, name))
        return taken

    def retry(self, zone: str, name: str) -> None:
        """Processing `name` failed: back to the head of its zone's queue."""
        self._processed.discard(name)
        queue = self._queues.setdefault(zone, OrderedDict())
        queue[name] = None
        queue.move_to_end(name, last=False)

    def set_rate(self, zone: str, qps: float, now: float) -> None:
        """Upstream SwapLimiter: a fresh bucket, drained if the old one had no token."""
        self.ensure_zone(zone, now)
        old = self._limiters[zone]
        if old.qps == qps:
            return
        new = TokenBucket(qps, now)
        if qps > 0 and not old.try_accept(now):
            new.drain()
        self._limiters[zone] = new

    def rate(self, zone: str) -> float | None:
        limiter = self._limiters.get(zone)
        return None if limiter is None else limiter.qps

    def next_in(self, now: float) -> float | None:
        """Seconds until some queued node may be taken; None when none ever can."""
        waits = [self._limiters[z].wait_time(now) for z, q in self._queues.items() if q]
        known = [w for w in waits if w is not None]
        return min(known) if known else None

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())


class DisruptionMonitor:
    """Zone states and tainting rates (upstream handleDisruption)."""

    def __init__(self, queue: TaintQueue, *, eviction_qps: float = 0.1,
                 secondary_eviction_qps: float = 0.01, large_cluster_threshold: int = 50,
                 unhealthy_zone_threshold: float = 0.55) -> None:
        self.queue = queue
        self.eviction_qps = eviction_qps
        self.secondary_eviction_qps = secondary_eviction_qps
        self.large_cluster_threshold = large_cluster_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self.zone_states: dict[str, str] = {}

    def add_zone(self, zone: str, now: float) -> None:
        """A node of `zone` appeared (upstream addPodEvictorForNewZone)."""
        self.queue.ensure_zone(zone, now)
        self.zone_states.setdefault(zone, STATE_INITIAL)

    def handle(self, zone_ready: dict[str, list[str | None]], now: float) -> str | None:
        """Update states from each zone's Ready statuses; the master-disruption transition
        the caller must act on, or None."""
        new_states = {zone: compute_zone_state(
            statuses, unhealthy_threshold=self.unhealthy_zone_threshold)
            for zone, statuses in zone_ready.items()}
        for zone in zone_ready:
            self.add_zone(zone, now)
        for zone in [z for z in self.zone_states if z not in zone_ready]:
            del self.zone_states[zone]
        all_fully = all(s == STATE_FULL_DISRUPTION for s in new_states.values())
        all_were = all(s == STATE_FULL_DISRUPTION for s in self.zone_states.values())
        if all_fully and all_were:
            return None
        if all_fully:
            for zone in self.zone_states:
                self.queue.set_rate(zone, 0.0, now)
                self.zone_states[zone] = STATE_FULL_DISRUPTION
            return ENTER_MASTER_DISRUPTION
        for zone, old in self.zone_states.items():
            new = new_states[zone]
            if all_were or old != new:
                self.queue.set_rate(zone, self._rate(len(zone_ready[zone]), new), now)
                self.zone_states[zone] = new
        return EXIT_MASTER_DISRUPTION if all_were else None

    def _rate(self, zone_size: int, state: str) -> float:
        if state == STATE_PARTIAL_DISRUPTION:
            return (self.secondary_eviction_qps if zone_size > self.large_cluster_threshold
                    else 0.0)
        return self.eviction_qps  # Normal, and FullDisruption of only some zones

