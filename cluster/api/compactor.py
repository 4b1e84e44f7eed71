"""Compactor: the API server's periodic store compaction, as kube-apiserver's
(`--etcd-compaction-interval`, 5 minutes).

Without it the store keeps every revision of every key forever: a large cluster's replicas
grow with every write. Every `interval` the compactor compacts the store to the revision it
read one interval earlier, so about one interval of history is always kept (watchers resuming
from older resourceVersions get 410 and relist, as upstream's do). Several API servers over one
store take turns through upstream's protocol: a key (`COMPACT_KEY`) whose version is a logical
compaction time; a server compacts only if its local time equals the key's version, and bumps
both in the same txn; one that loses the race adopts the key's time and tries again an interval
later. The first tick only records a revision: nothing is compacted at start. `tick()` is one
step (sans-I/O apart from the store calls), `run(sleep)` the loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from kubemu.cluster.store import StoreError

__all__ = ["Compactor", "COMPACT_KEY", "COMPACT_INTERVAL"]

log = logging.getLogger(__name__)

COMPACT_KEY = "compact_rev_key"  # upstream's key: its value is the last compacted revision
COMPACT_INTERVAL = 300.0


class Compactor:
    def __init__(self, store: Any, *, interval: float = COMPACT_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        self.time = 0  # the compaction time this server last saw (the key's version)
        self.revision = 0  # the store revision read at the last tick
        self.compacted = 0  # the revision this server last compacted to (0: none yet)

    async def run(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        while True:
            await sleep(self.interval)
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - retried an interval later
                log.warning("store compaction: %s", exc)

    async def tick(self) -> None:
        result = await self.store.request({
            "op": "txn",
            "compares": [{"key": COMPACT_KEY, "target": "version", "result": "=",
                          "value": self.time}],
            "success": [{"op": "put", "key": COMPACT_KEY,
                         "value": str(self.revision).encode()}],
            "failure": [{"op": "range", "key": COMPACT_KEY}]})
        previous, self.revision = self.revision, result["revision"]
        if not result["succeeded"]:  # another server compacted this interval: follow its time
            kvs = result["responses"][0]["kvs"]
            self.time = kvs[0]["version"] if kvs else 0
            return
        self.time += 1
        if previous == 0:
            return  # as upstream: no compaction on the first tick
        try:
            await self.store.request({"op": "compact", "revision": previous})
        except StoreError as exc:  # already compacted at or past it
            log.info("store compaction to %d: %s", previous, exc)
            return
        self.compacted = previous
