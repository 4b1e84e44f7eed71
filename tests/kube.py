"""An in-process cluster API for component tests: the real ApiServer over a LocalStore, the
real ApiClient over RouterTransport, and `Timing` that follows the event loop.

Run component tests under `tests.vtime.run` (virtual time): every sleep, lease period, backoff
and grace period then costs no wall time, and `eventually` waits for a condition with a
deadline in Kubernetes seconds.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.client import ApiClient, RouterTransport
from kubemu.cluster.store.local import LocalStore
from kubemu.cluster.timing import Timing

TOKEN = "component-test-token"
EPOCH = 1_800_000_000.0

__all__ = ["Kube", "api", "eventually", "TOKEN", "EPOCH"]


@dataclass
class Kube:
    server: ApiServer
    store: LocalStore
    client: ApiClient
    timing: Timing

    def new_client(self) -> ApiClient:
        return ApiClient(RouterTransport(self.server.router, token=TOKEN))


@asynccontextmanager
async def api(*, seed: int = 7) -> AsyncIterator[Kube]:
    """A started in-process API server (namespaces bootstrapped) and a client for it."""
    timing = Timing.of_loop(epoch=EPOCH)
    store = LocalStore(clock=timing.clock)
    server = ApiServer(store, token=TOKEN, wall_clock=timing.wall, rng=random.Random(seed))
    await server.start()
    client = ApiClient(RouterTransport(server.router, token=TOKEN))
    try:
        yield Kube(server, store, client, timing)
    finally:
        await server.stop()
        await store.close()


async def eventually(check: Callable[[], Any | Awaitable[Any]], *, timeout: float = 60.0,
                     step: float = 0.1, what: str = "condition") -> Any:
    """Poll `check` (sync or async) until it returns something truthy; its value. Raises
    AssertionError after `timeout` seconds of loop time with the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value: Any = None
    while True:
        value = check()
        if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        await asyncio.sleep(step)
