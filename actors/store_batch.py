"""Batcher: a store client's requests to one replica, coalesced into `submit` calls.

Requests issued in the same event-loop turn travel in ONE call, packed into one msgpack
`bytes` (and so are its results), which Ray or a replica's link (`store_link`) moves far more
cheaply than nested Python objects; while a call is unanswered, requests that arrive meanwhile
wait and go together in the next. A command msgpack cannot encode fails alone, as a bad
request. `StoreClient` owns one per replica and does the retrying.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgpack

from kubemu.actors.store_link import ReplicaLink
from kubemu.cluster.store.errors import BadRequestError

__all__ = ["Batcher"]

# submit calls per replica; more requests wait and travel as one batch (with 2, each of a
# large cluster's Lease renewals went alone: a Ray call each, a millisecond of CPU apiece)
_MAX_INFLIGHT = 1


class Batcher:
    """Coalesces requests into `submit` calls to one replica: those of one event-loop turn,
    and, while `_MAX_INFLIGHT` calls are unanswered, all that arrive meanwhile -- so at a
    moderate rate writes share Raft rounds instead of each paying for its own."""

    def __init__(self, handle: Any, stats: dict[str, int],
                 link: Callable[[], ReplicaLink | None]) -> None:
        self._handle = handle
        self._stats = stats
        self._link = link
        self._queue: list[tuple[str, dict, asyncio.Future]] = []
        self._scheduled = False
        self._inflight: set[asyncio.Task] = set()

    def call(self, request_id: str, command: dict) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.append((request_id, command, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    async def drain(self) -> None:
        if self._inflight:
            await asyncio.wait(list(self._inflight))

    def _flush(self) -> None:
        self._scheduled = False
        if len(self._inflight) >= _MAX_INFLIGHT:
            return  # sent when an answer comes back: requests meanwhile join one batch
        batch = [item for item in self._queue if not item[2].done()]
        self._queue = []
        if not batch:
            return
        try:
            payload = msgpack.packb([(rid, cmd) for rid, cmd, _ in batch], use_bin_type=True)
        except (TypeError, ValueError, OverflowError):
            batch = _drop_unpackable(batch)
            if not batch:
                return
            payload = msgpack.packb([(rid, cmd) for rid, cmd, _ in batch], use_bin_type=True)
        self._stats["submit_calls"] += 1
        try:
            if (link := self._link()) is not None:
                self._stats["link_calls"] += 1
                ref = link.call("submit", payload)
            else:
                ref = self._handle.submit.remote(payload)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            _fail(batch, exc)
            return
        task = asyncio.ensure_future(self._answer(ref, batch))
        self._inflight.add(task)
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        if self._queue and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    @staticmethod
    async def _answer(ref: Any, batch: list[tuple[str, dict, asyncio.Future]]) -> None:
        try:
            results = msgpack.unpackb(await ref, raw=False)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            _fail(batch, exc)
            return
        for (_, _, fut), result in zip(batch, results):
            if not fut.done():
                fut.set_result(result)


def _drop_unpackable(batch: list[tuple[str, dict, asyncio.Future]]
                     ) -> list[tuple[str, dict, asyncio.Future]]:
    """The requests msgpack can encode; the others complete as bad requests."""
    kept = []
    for item in batch:
        request_id, command, fut = item
        try:
            msgpack.packb((request_id, command), use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            if not fut.done():
                fut.set_result(BadRequestError(f"command cannot be encoded: {exc}").to_result())
            continue
        kept.append(item)
    return kept


def _fail(batch: list[tuple[str, dict, asyncio.Future]], exc: BaseException) -> None:
    for _, _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)
