"""The node Lease: the kubelet's heartbeat (`kube-node-lease/<node>`, coordination.k8s.io/v1).

Upstream's lease controller (component-helpers/apimachinery/lease): make sure the Lease
exists (create it, or take over the one a previous kubelet of this node left), then renew
`spec.renewTime` every `renew_interval` (10 s: a quarter of the 40 s lease duration) with an
update guarded by the resourceVersion last seen. A conflict re-reads the Lease at once; any
other failure retries quickly with backoff (0.2 s doubling to 7 s) so a short API outage does
not cost a whole renew interval. The node lifecycle controller watches these renewals; a
kubelet that stops renewing is what a dead node looks like. `renewTime` is a MicroTime
(RFC 3339 with microseconds) of wall time; all waiting is Kubernetes time via `Timing`.

A lone kubelet renews on its own timer (`NodeLease.run`). A node pool's hundred kubelets would
then reach the API server one by one, each renewal a store commit and a Raft round of its own:
at 1,000 nodes those 100 lone writes a second were most of an idle cluster's CPU. So a pool
renews through one `LeaseTicker`: every `tick` (1 s) it starts, together, every renewal that is
due, and the API server's store client packs writes that arrive together into one commit. A
renewal is at most one tick late (still a quarter of the lease duration apart, near enough);
each Lease keeps its own backoff, and a slow or failing one holds up neither the others nor
the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from kubemu.cluster.api.errors import Conflict, NotFound
from kubemu.cluster.timing import Timing

__all__ = ["LeaseTicker", "NodeLease", "micro_time", "LEASE_NAMESPACE"]

LEASE_NAMESPACE = "kube-node-lease"
_BACKOFF_INITIAL = 0.2
_BACKOFF_MAX = 7.0
TICK = 1.0  # seconds between a LeaseTicker's rounds

log = logging.getLogger("kubemu.kubelet.lease")


def micro_time(wall: float) -> str:
    """A MicroTime: `2027-01-15T08:00:00.123456Z`."""
    return datetime.fromtimestamp(wall, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeLease:
    def __init__(self, client: Any, timing: Timing, node_name: str, *,
                 duration_seconds: int = 40, renew_interval: float = 10.0) -> None:
        self.client = client
        self.timing = timing
        self.node_name = node_name
        self.duration_seconds = duration_seconds
        self.renew_interval = renew_interval
        self.node_uid = ""
        self.renewals = 0  # successful writes (create or renew)
        self._lease: dict | None = None
        self._backoff = _BACKOFF_INITIAL

    async def run(self) -> None:
        """Renew until cancelled; never ends on API or connection errors."""
        while True:
            await self.timing.sleep(await self.attempt())

    async def attempt(self) -> float:
        """One renewal, failures logged; the seconds until the next: the renew interval, or
        after a failure a backoff that doubles up to 7 s."""
        try:
            await self.renew()
        except Exception as err:  # noqa: BLE001 - API or connection
            log.info("node %s: lease renewal failed: %s", self.node_name, err)
            delay, self._backoff = self._backoff, min(self._backoff * 2, _BACKOFF_MAX)
            return delay
        self._backoff = _BACKOFF_INITIAL
        return self.renew_interval

    async def renew(self) -> dict:
        """One renewal: create, take over, or update the Lease with a fresh renewTime."""
        if self._lease is None:
            self._lease = await self._ensure()
            self.renewals += 1
            return self._lease
        lease = self._desired(self._lease)
        try:
            self._lease = await self.client.update(lease)
        except (Conflict, NotFound):
            self._lease = None  # someone else wrote it, or it is gone: start over at once
            return await self.renew()
        self.renewals += 1
        return self._lease

    async def _ensure(self) -> dict:
        try:
            current = await self.client.get("coordination.k8s.io/v1", "Lease", self.node_name,
                                            namespace=LEASE_NAMESPACE)
        except NotFound:
            return await self.client.create(self._desired(None), namespace=LEASE_NAMESPACE)
        return await self.client.update(self._desired(current))

    def _desired(self, current: dict | None) -> dict:
        meta = dict((current or {}).get("metadata") or {})
        meta.update(name=self.node_name, namespace=LEASE_NAMESPACE)
        if self.node_uid:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node",
                                        "name": self.node_name, "uid": self.node_uid}]
        spec = dict((current or {}).get("spec") or {})
        spec.update(holderIdentity=self.node_name, leaseDurationSeconds=self.duration_seconds,
                    renewTime=micro_time(self.timing.wall()))
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": spec}


class LeaseTicker:
    """Many nodes' Leases renewed on shared ticks (see the module docstring)."""

    def __init__(self, timing: Timing, *, tick: float = TICK) -> None:
        self.timing = timing
        self.tick = tick
        self._due: dict[NodeLease, float] = {}  # Kubernetes time of its next renewal
        self._renewing: dict[NodeLease, asyncio.Task] = {}

    def add(self, lease: NodeLease) -> None:
        """Renew `lease` from the next tick on."""
        self._due[lease] = self.timing.clock.now()

    def remove(self, lease: NodeLease) -> None:
        """Stop renewing `lease` (a renewal under way is cancelled)."""
        self._due.pop(lease, None)
        task = self._renewing.pop(lease, None)
        if task is not None:
            task.cancel()

    async def run(self) -> None:
        """Tick until cancelled."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                now = self.timing.clock.now()
                for lease, due in self._due.items():
                    if due <= now and lease not in self._renewing:
                        self._renewing[lease] = loop.create_task(
                            self._renew(lease, now), name=f"lease {lease.node_name}")
                await self.timing.sleep(self.tick)
        finally:
            for task in self._renewing.values():
                task.cancel()

    async def _renew(self, lease: NodeLease, started: float) -> None:
        try:
            delay = await lease.attempt()
        finally:
            if self._renewing.get(lease) is asyncio.current_task():
                del self._renewing[lease]
        if lease in self._due:
            self._due[lease] = started + delay
