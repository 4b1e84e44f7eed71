"""Heap: the cyclic garbage collector of a long-lived control-plane process.

An API server, a controller manager, a scheduler or a node pool holds a large cache (the watch
cache, informer stores) that lives as long as the process, and answers requests that build
many short-lived objects at once (a page of 500 pods decoded and tabled). With CPython's
default thresholds (a young collection every 700 net allocations) those temporaries are still
alive when the young generations are collected, so they are promoted, and the oldest
generation -- the whole cache -- is scanned again every time promotions reach a quarter of
it: on an API server holding 10,000 pods a third of its time went to full collections, and
one stalled a request for up to 0.9 s.

So, as the store replicas do for their data (`store_replica`), a process that has started
serving calls `settle()`: what is alive then (modules, the cache as listed) is frozen into
the permanent generation, which no collection scans, and the young generation is collected
only every `YOUNG_THRESHOLD` net allocations, so a request's temporaries usually die before
it. `refreeze()` every `REFREEZE_SECONDS` moves what has grown into the cache since. Frozen
objects are still freed by reference counting when dropped; only a reference cycle alive at
a freeze and dropped later stays (cached objects form none).

`top_allocations()` is for finding where a process's memory goes: run the cluster with
CPython's own `PYTHONTRACEMALLOC=1` in the environment of `kubemu up` (every Ray worker inherits
it; allocations get slower) and call `heap_top` on an actor.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

__all__ = ["REFREEZE_SECONDS", "YOUNG_THRESHOLD", "keep_settled", "refreeze", "settle",
           "top_allocations"]

YOUNG_THRESHOLD = 50_000   # net allocations between two young collections (CPython: 700)
REFREEZE_SECONDS = 60.0


def settle() -> None:
    """Collect once, freeze what is left, and raise the young threshold."""
    refreeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def refreeze() -> None:
    """Collect what is not frozen (what has lived since the last freeze: cheap), so no
    garbage is frozen, and freeze what is left."""
    gc.collect()
    gc.freeze()


async def keep_settled(interval: float = REFREEZE_SECONDS) -> None:
    """`refreeze()` every `interval` seconds (run as a task)."""
    while True:
        await asyncio.sleep(interval)
        refreeze()


def top_allocations(limit: int = 30, *, by: str = "lineno") -> list[str]:
    """The `limit` source lines (or files, `by="filename"`) holding the most live memory, as
    "<MiB> MiB <blocks> <where>" lines, with the traced total first; [] unless tracing."""
    if not tracemalloc.is_tracing():
        return []
    stats = tracemalloc.take_snapshot().statistics(by)
    total = sum(s.size for s in stats)
    return [f"{total / 2**20:.1f} MiB traced in all"] + [
        f"{s.size / 2**20:.1f} MiB {s.count} {s.traceback}" for s in stats[:limit]]
