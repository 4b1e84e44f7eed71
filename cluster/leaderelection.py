"""Leader election over a coordination.k8s.io/v1 Lease (client-go's leaderelection package).

Candidates race to be the Lease's `holderIdentity`; the holder renews `renewTime` every
`retry_period`; the others wait. Three parts:
- `LeaseElection`, the sans-I/O core (client-go's tryAcquireOrRenew decisions): it remembers
  the last Lease spec it observed and *when, by its own clock,* that spec last changed. A lease
  held by someone else is valid until observed-change time + leaseDurationSeconds; remote
  timestamps (renewTime) are never compared with local time, so clock skew and
  `--time-scale` are harmless. It says which spec to write to acquire (a new acquireTime,
  leaseTransitions + 1), renew (same acquireTime and transitions, new renewTime) or release
  (holderIdentity "", leaseDurationSeconds 1: ReleaseOnCancel), or None when another
  holder's lease is still valid;
- `LeaderElector`, the async runner: acquire (retry every retry_period, jittered x1.2), then
  renew until a renewal fails to succeed within renew_deadline (the lease is then lost), and
  release on stop. Writes are optimistic: an update carries the resourceVersion of the Lease
  read, so two candidates can never both win one term (409 for the loser);
- `LeaderElected` (in `leaderelected`), a wrapper with the component shape (`run()`/`stop()`): it builds a fresh
  component from `component_factory()` each time it becomes leader, runs it while it leads, and
  stops it when the lease is lost (client-go's OnStoppedLeading) -- then, unlike a real binary,
  goes back to waiting as a standby instead of exiting. The component never knows.
Invariant: renew_deadline < lease_duration, so a leader that cannot renew stops its component
before any standby can consider the lease expired (given clocks of equal rate).
All durations are Kubernetes seconds through `Timing`; the Lease's times are wall-clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.timing import Timing

__all__ = ["ElectionConfig", "LeaseElection", "LeaderElector", "JITTER_FACTOR", "micro_time",
           "within"]

JITTER_FACTOR = 1.2
_LEASE_API = "coordination.k8s.io/v1"

log = logging.getLogger("kubemu.leaderelection")


@dataclass(frozen=True)
class ElectionConfig:
    """client-go's LeaderElectionConfig durations (the kube-scheduler and
    kube-controller-manager defaults), in Kubernetes seconds."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renewDeadline must be greater than retryPeriod*JitterFactor")
        if self.retry_period < 0.001:
            raise ValueError("retryPeriod must be positive")


class LeaseElection:
    """The decisions of one candidate, without I/O. `now` is `timing.clock` seconds, `wall`
    epoch seconds (for the times written into the Lease)."""

    def __init__(self, identity: str, config: ElectionConfig | None = None) -> None:
        if not identity:
            raise ValueError("leader election requires an identity")
        self.identity = identity
        self.config = config or ElectionConfig()
        self.observed: dict | None = None  # the Lease spec last seen or written
        self.observed_time = 0.0  # when (clock) `observed` last changed

    @property
    def leader(self) -> str:
        """The holder of the lease as last observed ("" when free or unknown)."""
        return (self.observed or {}).get("holderIdentity") or ""

    def is_leader(self) -> bool:
        return self.observed is not None and self.leader == self.identity

    def lease_valid(self, now: float) -> bool:
        """Whether the observed lease has not expired by this candidate's own clock."""
        if self.observed is None:
            return False
        duration = float(self.observed.get("leaseDurationSeconds") or 0)
        return self.observed_time + duration > now

    def observe(self, spec: dict | None, now: float) -> None:
        """A Lease spec just read: the observation time moves only if the spec changed."""
        record = _record(spec)
        if record != self.observed:
            self.observed = record
            self.observed_time = now

    def written(self, spec: dict, now: float) -> None:
        """The spec this candidate just wrote successfully (client-go's setObservedRecord)."""
        self.observed = _record(spec)
        self.observed_time = now

    def forget(self) -> None:
        """Drop the observation (the Lease is gone)."""
        self.observed = None
        self.observed_time = 0.0

    def renewal(self, wall: float) -> dict:
        """The spec that renews this candidate's own lease (the optimistic fast path)."""
        old = self.observed or {}
        return self._spec(wall, acquire=old.get("acquireTime"),
                          transitions=int(old.get("leaseTransitions") or 0))

    def initial(self, wall: float) -> dict:
        """The spec of a Lease this candidate creates."""
        return self._spec(wall, acquire=None, transitions=0)

    def next_spec(self, now: float, wall: float) -> dict | None:
        """After `observe`: the spec to write to acquire or renew, or None while another
        holder's lease is valid."""
        if self.leader and self.lease_valid(now) and not self.is_leader():
            return None
        old = self.observed or {}
        transitions = int(old.get("leaseTransitions") or 0)
        if self.is_leader():
            return self._spec(wall, acquire=old.get("acquireTime"), transitions=transitions)
        return self._spec(wall, acquire=None, transitions=transitions + 1)

    def release_spec(self, wall: float) -> dict | None:
        """The spec that gives the lease up at once, or None when not leading."""
        if not self.is_leader():
            return None
        stamp = micro_time(wall)
        return {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": int((self.observed or {}).get("leaseTransitions") or 0)}

    def _spec(self, wall: float, *, acquire: str | None, transitions: int) -> dict:
        stamp = micro_time(wall)
        return {"holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, int(self.config.lease_duration)),
                "acquireTime": acquire or stamp, "renewTime": stamp,
                "leaseTransitions": transitions}


class LeaderElector:
    """Acquires, renews and releases one Lease for `identity` through `client`."""

    def __init__(self, client: Any, timing: Timing, *, name: str, identity: str,
                 namespace: str = "kube-system", config: ElectionConfig | None = None,
                 rng: random.Random | None = None,
                 on_new_leader: Callable[[str], Any] | None = None) -> None:
        self.client = client
        self.timing = timing
        self.name = name
        self.namespace = namespace
        self.election = LeaseElection(identity, config)
        self.config = self.election.config
        self.rng = rng or random.Random(0)
        self.on_new_leader = on_new_leader
        self._lease: dict | None = None  # the Lease object last read or written
        self._reported = ""

    @property
    def identity(self) -> str:
        return self.election.identity

    def is_leader(self) -> bool:
        return self.election.is_leader()

    async def acquire(self) -> None:
        """Return once this candidate holds the lease (retrying every retry_period, jittered)."""
        while not await self.try_acquire_or_renew():
            period = self.config.retry_period
            await self.timing.sleep(period + self.rng.random() * JITTER_FACTOR * period)

    async def renew(self) -> None:
        """Keep renewing; return when a renewal did not succeed within renew_deadline (the
        lease is lost)."""
        while True:
            deadline = self.timing.clock.now() + self.config.renew_deadline
            while True:
                remaining = deadline - self.timing.clock.now()
                if remaining > 0 and await within(self.timing, remaining,
                                                   self.try_acquire_or_renew()):
                    break
                if self.timing.clock.now() >= deadline:
                    log.info("%s: failed to renew lease %s/%s within %ss", self.identity,
                             self.namespace, self.name, self.config.renew_deadline)
                    return
                await self.timing.sleep(min(self.config.retry_period,
                                            max(0.0, deadline - self.timing.clock.now())))
            await self.timing.sleep(self.config.retry_period)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt (client-go's tryAcquireOrRenew); False on any failure."""
        try:
            return await self._try_acquire_or_renew()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - an unreachable or failing API: no luck
            log.debug("%s: lease %s/%s: %s", self.identity, self.namespace, self.name, err)
            return False

    async def release(self) -> bool:
        """Give the lease up (holderIdentity "", leaseDurationSeconds 1) if holding it."""
        spec = self.election.release_spec(self.timing.wall())
        if spec is None or self._lease is None:
            return True
        try:
            await self._update(spec)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.info("%s: failed to release lease %s/%s: %s", self.identity, self.namespace,
                     self.name, err)
            return False
        return True

    async def _try_acquire_or_renew(self) -> bool:
        election, now, wall = self.election, self.timing.clock.now(), self.timing.wall()
        if election.is_leader() and election.lease_valid(now) and self._lease is not None:
            try:
                await self._update(election.renewal(wall))
                return True
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.debug("%s: optimistic renewal failed (%s); reading the lease",
                          self.identity, err)
        try:
            self._lease = await self.client.get(_LEASE_API, "Lease", self.name,
                                                namespace=self.namespace)
        except NotFound:
            spec = election.initial(wall)
            self._lease = await self.client.create({
                "apiVersion": _LEASE_API, "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec},
                namespace=self.namespace)
            self._observed_written(spec)
            return True
        election.observe(self._lease.get("spec"), self.timing.clock.now())
        self._report()
        spec = election.next_spec(self.timing.clock.now(), wall)
        if spec is None:
            return False
        await self._update(spec)
        return True

    async def _update(self, spec: dict) -> None:
        lease = {**(self._lease or {}), "spec": spec}
        self._lease = await self.client.update(lease)
        self._observed_written(spec)

    def _observed_written(self, spec: dict) -> None:
        self.election.written(spec, self.timing.clock.now())
        self._report()

    def _report(self) -> None:
        leader = self.election.leader
        if leader and leader != self._reported:
            self._reported = leader
            log.info("%s: the leader of %s/%s is %s", self.identity, self.namespace,
                     self.name, leader)
            if self.on_new_leader is not None:
                self.on_new_leader(leader)


def micro_time(wall: float) -> str:
    """A metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(wall, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- helpers ---------------------------------------------------------------------------------

def _record(spec: dict | None) -> dict | None:
    """The leader election record of a Lease spec (the fields election compares)."""
    if spec is None:
        return None
    return {k: spec.get(k) for k in ("holderIdentity", "leaseDurationSeconds", "acquireTime",
                                     "renewTime", "leaseTransitions")}


async def within(timing: Timing, seconds: float, work: Awaitable[Any]) -> Any:
    """`work`'s result, or False if it takes longer than `seconds` Kubernetes seconds (it is
    then cancelled)."""
    task = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(timing.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    return task.result()
