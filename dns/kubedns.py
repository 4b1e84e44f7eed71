"""KubeDNS: the informers that keep a `Records` table current (CoreDNS's `kubernetes` plugin
controller).

Informers on Services, EndpointSlices and Namespaces (and Pods only when `pod_mode` is
"verified", as CoreDNS builds its pod cache only then) forward every add, update and delete
into the table's handlers; the table recomputes the one Service a change concerns. Namespaces
feed the NODATA/NXDOMAIN choice for `<ns>.svc.<zone>.`. `synced()` waits for the first lists
(CoreDNS answers SERVFAIL rather than NXDOMAIN before it has synced: the server may ask).
Shares an `InformerFactory` when given one, like kube-proxy (`network/kubeproxy.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.timing import Timing
from kubemu.dns.records import Records

__all__ = ["KubeDNS"]


class KubeDNS:
    def __init__(self, client: Any, timing: Timing, records: Records, *,
                 factory: InformerFactory | None = None) -> None:
        self.records = records
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._stopped = asyncio.Event()
        self._informers: list[Any] = []
        self._regs: list[tuple[Any, Any]] = []

    async def run(self) -> None:
        """Feed the table until `stop()` (or cancellation)."""
        records = self.records
        feeds: list[tuple[str, str, Callable[[dict], None], Callable[[dict], None]]] = [
            ("v1", "Service", records.update_service, records.delete_service),
            ("discovery.k8s.io/v1", "EndpointSlice", records.update_slice,
             records.delete_slice),
            ("v1", "Namespace", records.update_namespace, records.delete_namespace),
        ]
        if records.pod_mode == "verified":
            feeds.append(("v1", "Pod", records.update_pod, records.delete_pod))
        for api_version, kind, update, delete in feeds:
            informer = self.factory.informer(api_version, kind)
            self._informers.append(informer)
            self._regs.append((informer, informer.add_handler(
                update, _new_of(update), delete)))
        if self._own_factory:
            self.factory.start()
        try:
            await self._stopped.wait()
        finally:
            for informer, reg in self._regs:
                informer.remove_handler(reg)
            self._regs.clear()
            if self._own_factory:
                await self.factory.stop()

    async def synced(self, timeout: float | None = None) -> bool:
        """True once every informer has listed (False before `run()` or on timeout)."""
        results = await asyncio.gather(*(i.wait_synced(timeout) for i in self._informers))
        return bool(self._informers) and all(results)

    async def stop(self) -> None:
        self._stopped.set()


def _new_of(update: Callable[[dict], None]) -> Callable[[dict, dict], None]:
    def on_update(_old: dict, new: dict) -> None:
        update(new)

    return on_update
