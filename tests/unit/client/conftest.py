"""The real API server in-process (a LocalStore under it), reached through `Faults`.

`api` is the fault layer over a started `ApiServer`; `client` is the real ApiClient over
`RouterTransport(api, token=...)`, so every call passes the server's bearer-token check.
Watch bookmarks are off unless a test turns them on (`watches.BOOKMARK_SECONDS` is set to
infinity here), so no resourceVersion moves because real time passed. The fixtures share
the test's event loop, so the server's background loops and watch feeds run during it.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from kubemu.cluster.api import watches
from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.client import ApiClient, RouterTransport
from kubemu.cluster.store.local import LocalStore

from .faults import Faults

TOKEN = "client-test-token"
NOW = 1_800_000_000.0


@pytest_asyncio.fixture(loop_scope="function")
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Faults]:
    monkeypatch.setattr(watches, "BOOKMARK_SECONDS", math.inf)
    store = LocalStore()
    server = ApiServer(store, token=TOKEN, wall_clock=lambda: NOW, rng=random.Random(7))
    await server.start()
    faults = Faults(server)
    try:
        yield faults
    finally:
        await faults.close()
        await server.stop()
        await store.close()


@pytest.fixture
def client(api: Faults) -> ApiClient:
    return ApiClient(RouterTransport(api, token=TOKEN))
