"""The node Lease: the kubelet's heartbeat (`kube-node-lease/<node>`, coordination.k8s.io/v1).

Upstream's lease controller (component-helpers/apimachinery/lease): make sure the Lease
exists (create it, or take over the one a previous kubelet of this node left), then renew
`spec.renewTime` every `renew_interval` (10 s: a quarter of the 40 s lease duration) with an
update guarded by the resourceVersion last seen. A conflict re-reads the Lease at once; any
other failure retries quickly with backoff (0.2 s doubling to 7 s) so a short API outage does
not cost a whole renew interval. The node lifecycle controller watches these renewals; a
kubelet that stops renewing is what a dead node looks like. `renewTime` is a MicroTime
(RFC 3339 with microseconds) of wall time; all waiting is Kubernetes time via `Timing`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from kubemu.cluster.api.errors import Conflict, NotFound
from kubemu.cluster.timing import Timing

__all__ = ["NodeLease", "micro_time", "LEASE_NAMESPACE"]

LEASE_NAMESPACE = "kube-node-lease"
_BACKOFF_INITIAL = 0.2
_BACKOFF_MAX = 7.0

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

    async def run(self) -> None:
        """Renew until cancelled; never ends on API or connection errors."""
        backoff = _BACKOFF_INITIAL
        while True:
            try:
                await self.renew()
            except Exception as err:  # noqa: BLE001 - API or connection
                log.info("node %s: lease renewal failed: %s", self.node_name, err)
                await self.timing.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            backoff = _BACKOFF_INITIAL
            await self.timing.sleep(self.renew_interval)

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
