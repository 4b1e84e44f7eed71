"""An in-process API server over a LocalStore, and a tiny caller speaking Request/Response."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio

from kubemu.cluster.api.request import Request, Response
from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.store.local import LocalStore

from .watchlines import watch_lines

TOKEN = "test-token"
NOW = 1_800_000_000.0


class Api:
    """Calls the router the way an HTTP client would."""

    def __init__(self, server: ApiServer, store: LocalStore) -> None:
        self.server = server
        self.store = store
        self.now = NOW

    async def call(self, method: str, path: str, body: Any = None, *,
                   query: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                   token: str | None = TOKEN, raw: bytes | None = None) -> Response:
        h = {"accept": "application/json"}
        if token is not None:
            h["authorization"] = f"Bearer {token}"
        if body is not None or raw is not None:
            h["content-type"] = "application/json"
        h.update(headers or {})
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
        return await self.server.router.handle(Request(method, path, dict(query or {}), h, data))

    async def json(self, method: str, path: str, body: Any = None, *, expect: int = 200,
                   **kw: Any) -> dict:
        resp = await self.call(method, path, body, **kw)
        assert resp.status == expect, (resp.status, resp.body[:500])
        return orjson.loads(resp.body)

    async def events(self, path: str, query: dict[str, str], *, count: int) -> list[dict]:
        """The first `count` watch events of a watch request."""
        resp = await self.call("GET", path, query={"watch": "true", **query})
        assert resp.status == 200 and resp.stream is not None
        out = []
        try:
            async for line in watch_lines(resp.stream):
                out.append(orjson.loads(line))
                if len(out) == count:
                    break
        finally:
            await resp.stream.aclose()
        return out


@pytest_asyncio.fixture(loop_scope="function")  # the test's own loop runs the server's tasks
async def api() -> AsyncIterator[Api]:
    store = LocalStore()
    box = Api.__new__(Api)
    server = ApiServer(store, token=TOKEN, wall_clock=lambda: box.now,
                       rng=random.Random(7))
    box.__init__(server, store)
    await server.start()
    try:
        yield box
    finally:
        await server.stop()
        await store.close()
