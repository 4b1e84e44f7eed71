"""Runtime: how kubemu finds Ray and names its actors.

Every cluster lives in its own Ray namespace `kubemu-{cluster}`, so two clusters (or two tests)
on one Ray instance never see each other's actors; inside it the store replicas are `store-{id}`.
`SelfStart` is how an actor Ray restarts comes back serving with no call from anyone.
`ensure_ray` starts a local Ray instance (no dashboard, usage stats off) only when the process
is not already connected, so a driver, a test fixture or a CLI command may call it freely.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import ray

from kubemu.actors import heap

__all__ = ["SelfStart", "namespace", "store_actor_name", "init_local", "ensure_ray"]

log = logging.getLogger(__name__)


def namespace(cluster: str) -> str:
    """The Ray namespace holding every actor of `cluster`."""
    return f"kubemu-{cluster}"


def store_actor_name(replica_id: int) -> str:
    return f"store-{replica_id}"


def init_local(*, namespace: str | None = None, num_cpus: int | None = None,
               **options: Any) -> None:
    """Start (or join, with `address=...`) Ray for local use: no dashboard, usage stats off."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(namespace=namespace, num_cpus=num_cpus, include_dashboard=False,
             ignore_reinit_error=True, **options)


def ensure_ray() -> None:
    """Connect to Ray unless this process already is (an actor, a driver, a test fixture)."""
    if not ray.is_initialized():
        init_local()


class SelfStart:
    """An actor's start that runs by itself. Ray (2.60) runs an async actor's `__init__` on
    the actor's event loop, so the constructor schedules `start` there: an actor Ray
    re-creates after a crash or a kill (`max_restarts=-1`) serves again at once. The actor's
    `start()` method only `wait()`s for it (and starts it where `__init__` had no loop). A
    start that fails ends the process a second later (time for a waiting caller to hear
    why), and Ray tries again."""

    def __init__(self, start: Callable[[], Awaitable[None]], *,
                 started: Callable[[], bool]) -> None:
        self._serve, self._started = start, started
        self._task: asyncio.Task | None = None
        self._settled: asyncio.Task | None = None
        try:
            self._task = asyncio.get_running_loop().create_task(self._start())
        except RuntimeError:
            return  # no loop here: `wait()` starts it
        self._task.add_done_callback(_exit_unless_started)

    async def _start(self) -> None:
        await self._serve()
        if self._settled is None:  # serving, its caches filled: see `heap`
            heap.settle()
            self._settled = asyncio.get_running_loop().create_task(heap.keep_settled())

    async def wait(self) -> None:
        """Until the start is done (starting it again after a failed one)."""
        if self._task is None or (not self._started() and self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._task)

    async def settle(self) -> None:
        """Let a start under way finish (or fail) before stopping."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def _exit_unless_started(task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is None:
        return
    log.error("start failed; exiting so that Ray restarts this actor", exc_info=task.exception())
    asyncio.get_running_loop().call_later(1.0, os._exit, 1)
