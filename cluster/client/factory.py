"""InformerFactory: client-go's SharedInformerFactory -- one informer per resource, shared.

Every controller in a controller manager that needs Pods gets the same Pod informer, so the
process holds one cache and one watch per resource however many controllers read it.
`informer(api_version, kind, ...)` returns the shared informer for that resource and
selector set (created on first use, with the factory's timing); `start()` runs every informer
created so far and any created later; `stop()` ends them all. Informers are keyed by
(apiVersion, kind, namespace, label selector, field selector), so a kubelet's
`spec.nodeName=<node>` Pod informer is its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubemu.cluster.client.informer import Informer
from kubemu.cluster.client.lister import IndexFunc
from kubemu.cluster.timing import Timing

__all__ = ["InformerFactory"]

_Key = tuple[str, str, str | None, str | None, str | None, Callable[[dict], dict] | None]


class InformerFactory:
    def __init__(self, client: Any, timing: Timing) -> None:
        self.client = client
        self.timing = timing
        self._informers: dict[_Key, Informer] = {}
        self._tasks: dict[_Key, asyncio.Task] = {}
        self._started = False

    def informer(self, api_version: str, kind: str, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 indexers: dict[str, IndexFunc] | None = None,
                 transform: Callable[[dict], dict] | None = None) -> Informer:
        """The shared informer of this resource, selectors and `transform` (callers share it
        only when they pass the same function); `indexers` are added to it (an index name two
        callers share must use the same function)."""
        key = (api_version, kind, namespace, label_selector, field_selector, transform)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(self.client, api_version, kind, namespace=namespace,
                                label_selector=label_selector, field_selector=field_selector,
                                indexers=indexers, clock=self.timing.clock,
                                sleep=self.timing.sleep, transform=transform)
            self._informers[key] = informer
            if self._started:
                self._start(key, informer)
        elif indexers:
            informer.add_indexers(indexers)
        return informer

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Run every informer (those created later start at creation)."""
        self._started = True
        for key, informer in self._informers.items():
            if key not in self._tasks:
                self._start(key, informer)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_synced(timeout) for i in self.informers))
        return all(results)

    async def stop(self) -> None:
        for informer in self._informers.values():
            informer.stop()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._started = False

    def _start(self, key: _Key, informer: Informer) -> None:
        self._tasks[key] = asyncio.get_running_loop().create_task(
            informer.run(), name=f"informer {informer.name}")
