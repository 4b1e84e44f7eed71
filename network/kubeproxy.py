"""KubeProxy: one node's kube-proxy -- informers on Services, EndpointSlices and its own Node
feeding that node's `ProxyRules`.

Handlers only forward each add/update/delete into the rules (incremental: a change costs that
Service's endpoints, never the whole table). `synced()` waits for the first lists, as
kube-proxy waits before programming. `programmed_at(version)` records, on the injected clock,
when each rules version was reached, which the programming-latency benchmark reads. A
background loop reaps expired session-affinity entries every `affinity_reap_period`
Kubernetes seconds. Shares an `InformerFactory` and a `ServiceTable` when given them (a node
pool's nodes share the Service and EndpointSlice caches and their parsed state, fed once;
each keeps its own compiled rules).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.timing import Timing
from kubemu.network.proxy import ProxyRules
from kubemu.network.proxy_endpoints import proxy_view
from kubemu.network.proxy_table import ServiceTable

__all__ = ["KubeProxy"]


class KubeProxy:
    def __init__(self, client: Any, timing: Timing, node_name: str, *,
                 factory: InformerFactory | None = None, rng: random.Random | None = None,
                 affinity_reap_period: float = 60.0, table: ServiceTable | None = None) -> None:
        self.node_name = node_name
        self.timing = timing
        self.rules = ProxyRules(node_name, rng=rng or random.Random(), table=table)
        self.rules.on_change = self._record
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._reap_period = affinity_reap_period
        self._stopped = asyncio.Event()
        self._informers: list[Any] = []
        self._regs: list[tuple[Any, Any]] = []
        self.changes: list[tuple[int, float]] = []  # (rules version, clock time reached)

    async def run(self) -> None:
        rules = self.rules
        rules.table.attach(self.factory)  # a shared table is fed once for all its nodes
        node = self.factory.informer("v1", "Node",
                                     field_selector=f"metadata.name={self.node_name}")
        self._informers = [self.factory.informer("v1", "Service"),
                           self.factory.informer("discovery.k8s.io/v1", "EndpointSlice",
                                                 transform=proxy_view), node]
        self._regs = [(node, node.add_handler(
            rules.update_node, lambda _old, new: rules.update_node(new), None))]
        if self._own_factory:
            self.factory.start()
        try:
            while not self._stopped.is_set():
                sleeper = asyncio.ensure_future(self.timing.sleep(self._reap_period))
                stopper = asyncio.ensure_future(self._stopped.wait())
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (sleeper, stopper):
                    task.cancel()
                rules.reap_affinity(self.timing.clock.now())
        finally:
            for informer, reg in self._regs:
                informer.remove_handler(reg)
            rules.close()
            if self._own_factory:
                await self.factory.stop()

    async def synced(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_synced(timeout) for i in self._informers))
        return bool(self._informers) and all(results)

    async def stop(self) -> None:
        self._stopped.set()

    def programmed_at(self, version: int) -> float | None:
        """Clock time at which the rules first reached `version` (None: not yet)."""
        for reached, at in self.changes:
            if reached >= version:
                return at
        return None

    def _record(self) -> None:
        self.changes.append((self.rules.version, self.timing.clock.now()))
        del self.changes[:-1000]
