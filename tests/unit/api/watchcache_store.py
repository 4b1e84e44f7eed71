"""A LocalStore that counts what the API server asks of it, for the watch cache tests.

`CountingStore` passes every call to a real LocalStore and records it: `ranges` (reads of
objects), `checks` (count-only reads: current revision, compaction), `watches` opened and
`progress` requests. `progress_markers=False` drops the watch's PROGRESS markers (a store
whose watch reports only events, as a replica's long poll does for a quiet range), and
`on_demand=False` takes away `progress`, so a cache can learn freshness only from events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from kubemu.cluster.store.local import LocalStore


class CountingStore:
    def __init__(self, *, progress_markers: bool = True, on_demand: bool = True) -> None:
        self.local = LocalStore()
        self.progress_markers = progress_markers
        self.on_demand = on_demand
        self.ranges = 0
        self.checks = 0
        self.watches = 0
        self.progress_requests = 0

    @property
    def revision(self) -> int:
        return self.local.revision

    async def request(self, command: dict) -> dict:
        if command.get("op") == "range":
            if command.get("count_only"):
                self.checks += 1
            else:
                self.ranges += 1
        return await self.local.request(command)

    async def watch(self, key: str, range_end: str = "", *, start_revision: int,
                    progress: bool = False, poll_seconds: float = 5.0) -> AsyncIterator[dict]:
        self.watches += 1
        async for event in self.local.watch(key, range_end, start_revision=start_revision,
                                            progress=progress, poll_seconds=poll_seconds):
            if event.get("type") != "PROGRESS" or self.progress_markers:
                yield event

    def __getattr__(self, name: str) -> Any:
        if name == "progress":
            if not self.on_demand:
                raise AttributeError(name)
            return self._progress
        return getattr(self.local, name)

    async def _progress(self, key: str, range_end: str, start_revision: int) -> int:
        self.progress_requests += 1
        return await self.local.progress(key, range_end, start_revision)

    # ---- writing objects straight into the store ----

    async def put_pod(self, namespace: str, name: str, *, labels: dict | None = None,
                      node: str = "", phase: str = "") -> dict:
        pod: dict = {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": namespace,
                                  "labels": labels or {}},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        if node:
            pod["spec"]["nodeName"] = node
        if phase:
            pod["status"] = {"phase": phase}
        return await self.local.put(pod_key(namespace, name), orjson.dumps(pod))

    async def delete_pod(self, namespace: str, name: str) -> dict:
        return await self.local.delete(pod_key(namespace, name))


def pod_key(namespace: str, name: str) -> str:
    return f"/registry/core/pods/{namespace}/{name}"
