"""NodePool: several emulated nodes (kubelets) in one process, sharing one API client.

One Ray actor costs tens of MiB, so one actor per node stops at a few hundred nodes; a pool
hosts many kubelets in one actor (and one event loop). Each kubelet keeps its own Lease, Node
status and pod informer, exactly as a lone one does: the control plane cannot tell pooled
nodes from single ones. Their Lease renewals share one `LeaseTicker`, so those due together
reach the API server together and are committed as one write (lease.py). `stop()` stops
every kubelet as a dead node would (nothing written).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from kubemu.cluster.clock import derive_rng
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.kubelet import Kubelet
from kubemu.cluster.node.lease import LeaseTicker
from kubemu.cluster.timing import Timing

__all__ = ["NodePool"]


class NodePool:
    def __init__(self, client: Any, timing: Timing, configs: Sequence[NodeConfig], *,
                 rng: random.Random | None = None) -> None:
        seed = (rng or random.Random()).getrandbits(64)
        self.leases = LeaseTicker(timing)
        self.kubelets = {cfg.name: Kubelet(client, timing, cfg, rng=derive_rng(seed, cfg.name),
                                           lease_ticker=self.leases)
                         for cfg in configs}
        self._tasks: list[asyncio.Task] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(k.run(), name=f"kubelet {name}")
                       for name, k in self.kubelets.items()]
        leases = loop.create_task(self.leases.run(), name="node leases")
        try:
            await asyncio.gather(*self._tasks)
        finally:
            leases.cancel()
            for task in self._tasks:
                task.cancel()

    async def stop(self) -> None:
        await asyncio.gather(*(k.stop() for k in self.kubelets.values()),
                             return_exceptions=True)

    def logs(self, namespace: str, name: str, container: str, *,
             previous: bool = False) -> list[str]:
        for kubelet in self.kubelets.values():
            try:
                return kubelet.logs(namespace, name, container, previous=previous)
            except (KeyError, LookupError):
                continue
        raise LookupError(f"pod {namespace}/{name} is not on any node of this pool")
