"""KubeProxy: one node's kube-proxy -- informers on Services, EndpointSlices and its own Node
feeding that node's `ProxyRules`.

Handlers only forward each add/update/delete into the rules (incremental: a change costs that
Service's endpoints, never the whole table). `synced()` waits for the first lists, as
kube-proxy waits before programming. `programmed_at(version)` records, on the injected clock,
when each rules version was reached, which the programming-latency benchmark reads. A
background loop reaps expired session-affinity entries every `affinity_reap_period`
Kubernetes seconds. Shares an `InformerFactory` when given one (a node pool's nodes share the
Service and EndpointSlice caches; each keeps its own rules).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.timing import Timing
from kubemu.network.proxy import ProxyRules

__all__ = ["KubeProxy"]


class KubeProxy:
    def __init__(self, client: Any, timing: Timing, node_name: str, *,
                 factory: InformerFactory | None = None, rng: random.Random | None = None,
                 affinity_reap_period: float = 60.0) -> None:
        self.node_name = node_name
        self.timing = timing
        self.rules = ProxyRules(node_name, rng=rng or random.Random())
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._reap_period = affinity_reap_period
        self._stopped = asyncio.Event()
        self._informers: list[Any] = []
        self._regs: list[tuple[Any, Any]] = []
        self.changes: list[tuple[int, float]] = []  # (rules version, clock time reached)

    async def run(self) -> None:
        rules = self.rules
        services = self.factory.informer("v1", "Service")
        slices = self.factory.informer("discovery.k8s.io/v1", "EndpointSlice")
        node = self.factory.informer("v1", "Node",
                                     field_selector=f"metadata.name={self.node_name}")
        self._informers = [services, slices, node]
        self._regs = [
            (services, services.add_handler(
                self._track(rules.update_service), lambda _old, new: self._track(
                    rules.update_service)(new), self._track(rules.delete_service))),
            (slices, slices.add_handler(
                self._track(rules.update_slice), lambda _old, new: self._track(
                    rules.update_slice)(new), self._track(rules.delete_slice))),
            (node, node.add_handler(
                self._track(rules.update_node),
                lambda _old, new: self._track(rules.update_node)(new), None)),
        ]
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

    def _track(self, apply: Any) -> Any:
        def handler(obj: dict) -> None:
            before = self.rules.version
            apply(obj)
            if self.rules.version != before:
                self.changes.append((self.rules.version, self.timing.clock.now()))
                del self.changes[:-1000]

        return handler
