"""LocalStore: the store in this process, with the replicated client's async interface.

It runs the same `StateMachine` the replicas run, with no Raft and no disk, so API-server logic
and clients are tested in-process under the same semantics (revisions, txn compares, watch
history, compaction, 410 on compacted revisions) as on Ray. Its methods mirror
`actors.store_client.StoreClient`: `request(command)` returns the result dict or raises the
store error it carries; `watch` yields event dicts in revision order (and, with
`progress=True`, `{"type": "PROGRESS", "revision": r}` markers when it has caught up);
`progress` names how far a range is quiet, on demand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kubemu.cluster.clock import Clock, WallClock
from kubemu.cluster.store.commands import StateMachine, event_to_dict, is_read
from kubemu.cluster.store.errors import check_result

__all__ = ["LocalStore"]


class LocalStore:
    def __init__(self, *, clock: Clock | None = None, history_events: int = 100_000) -> None:
        self.state = StateMachine(history_events=history_events)
        self._clock = clock or WallClock()
        self._index = 0
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def revision(self) -> int:
        return self.state.revision

    async def request(self, command: dict) -> dict:
        now = self._clock.now()
        if is_read(command):
            result = self.state.read(command, now=now)
        elif command.get("op") == "lease_keepalive":
            result = self.state.keepalive(command, now=now)
        else:
            self._index += 1
            before = self.state.revision
            result = self.state.apply(command, index=self._index, now=now)
            if self.state.revision != before:
                self._changed.set()
                self._changed = asyncio.Event()
        check_result(result)
        return result

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> dict:
        return await self.request({"op": "put", "key": key, "value": value, "lease": lease})

    async def get(self, key: str) -> dict | None:
        kvs = (await self.request({"op": "range", "key": key}))["kvs"]
        return kvs[0] if kvs else None

    async def range(self, key: str, range_end: str = "", *, revision: int = 0,
                    limit: int = 0) -> dict:
        return await self.request({"op": "range", "key": key, "range_end": range_end,
                                   "revision": revision, "limit": limit})

    async def delete(self, key: str, range_end: str = "") -> dict:
        return await self.request({"op": "delete_range", "key": key, "range_end": range_end})

    async def txn(self, compares: list, success: list, failure: list) -> dict:
        return await self.request({"op": "txn", "compares": compares, "success": success,
                                   "failure": failure})

    async def compact(self, revision: int) -> dict:
        return await self.request({"op": "compact", "revision": revision})

    async def watch(self, key: str, range_end: str = "", *, start_revision: int,
                    progress: bool = False, poll_seconds: float = 5.0) -> AsyncIterator[dict]:
        """Events from `start_revision` (<= 0: from now on); CompactedError when the history
        no longer reaches back that far."""
        next_revision = start_revision if start_revision > 0 else self.state.revision + 1
        while not self._closed:
            changed = self._changed
            events, through = self.state.watch.events_since(
                key, range_end, next_revision, current_revision=self.state.revision)
            for event in events:
                yield event_to_dict(event)
            next_revision = max(next_revision, through + 1)
            if progress:
                yield {"type": "PROGRESS", "revision": through}
            if not events:
                try:
                    async with asyncio.timeout(poll_seconds):
                        await changed.wait()
                except TimeoutError:
                    pass

    async def progress(self, key: str, range_end: str, start_revision: int) -> int:
        """The revision through which the range has no event at or after `start_revision`
        (a progress notify on demand: the watch cache asks it before a consistent read)."""
        events, through = self.state.watch.events_since(
            key, range_end, start_revision, 1, current_revision=self.state.revision)
        return events[0].kv.mod_revision - 1 if events else through

    async def close(self) -> None:
        self._closed = True
        self._changed.set()
