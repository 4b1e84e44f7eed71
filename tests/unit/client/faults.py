"""Faults: the real in-process API server's router behind a thin layer of injected faults.

Client and informer tests run against the real `ApiServer` over a `LocalStore`; the only thing
this wrapper adds is what a real network or a busy server would do to them, on demand:

- `fail_next(n, status)` answers the next n matching requests with that error Status;
- `end_watches()` ends every open watch stream at once (a dropped connection): lines the
  server produced but the client has not read yet are lost with it;
- `hold()` ... `hold(False)` is a network gap: the writes committed in between (store
  revisions after `hold()` up to `hold(False)`) never reach the streams open during the gap,
  while a watch opened afterwards replays them from the server as usual;
- `compact()` compacts the real store at its current revision, so older resourceVersions
  and continue tokens answer 410 Expired from the server itself.

Every request is recorded (`requests`, `count`), and open watches are listed in `watches`
until their consumer closes them. Each watch stream is pumped by one task into a queue, so
ending one never races with the consumer's read.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable

import orjson

from kubemu.cluster.api import errors
from kubemu.cluster.api.request import Request, Response
from kubemu.cluster.api.server import ApiServer

__all__ = ["Faults", "is_watch"]

_END = object()


class Faults:
    """`handle(req)` forwards to `server.router`, after faults and before gaps."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.store = server.store
        self.requests: list[Request] = []
        self.watches: list[_Watch] = []
        self._failures: list[tuple[Callable[[Request], bool], int]] = []
        self._gap: _Gap | None = None

    # -- faults ------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, *, watch: bool | None = None,
                  match: Callable[[Request], bool] | None = None) -> None:
        """Answer the next `n` requests that are (not) watches and satisfy `match` with an
        error Status of code `status`, without reaching the server."""
        def matches(req: Request) -> bool:
            return (watch is None or is_watch(req) == watch) and (match is None or match(req))
        self._failures.extend((matches, status) for _ in range(n))

    def end_watches(self) -> None:
        for w in list(self.watches):
            w.end()

    def hold(self, held: bool = True) -> None:
        """Start (True) or end (False) a network gap for the watches open during it."""
        if held and self._gap is None:
            self._gap = _Gap(self.store.revision)
            for w in self.watches:
                w.gaps.append(self._gap)
        elif not held and self._gap is not None:
            self._gap.last = self.store.revision
            self._gap = None

    async def compact(self) -> None:
        await self.store.compact(self.store.revision)

    # -- observation -------------------------------------------------------------------------

    def count(self, *, watch: bool, method: str = "GET") -> int:
        """Requests of `method` to resource paths (not discovery) that are (not) watches."""
        return sum(1 for r in self.requests
                   if r.method == method and is_watch(r) == watch and _is_resource_path(r.path))

    # -- the API -----------------------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        self.requests.append(req)
        for i, (matches, status) in enumerate(self._failures):
            if matches(req):
                del self._failures[i]
                err = errors.error_from_status({"code": status,
                                                "message": "injected fault"})
                return Response(status, body=err.body())
        resp = await self.server.router.handle(req)
        if resp.stream is None:
            return resp
        watch = _Watch(self, resp.stream, [self._gap] if self._gap else [])
        self.watches.append(watch)
        return Response(resp.status, body=resp.body, content_type=resp.content_type,
                        headers=resp.headers, stream=watch)

    async def close(self) -> None:
        for w in list(self.watches):
            await w.aclose()


def is_watch(req: Request) -> bool:
    return req.query.get("watch") in ("true", "1")


class _Gap:
    """Revisions in (first, last] are lost to the streams holding this gap."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.last = math.inf

    def hides(self, revision: int) -> bool:
        return self.first < revision <= self.last


class _Watch:
    """One open watch: a pump task copies the server's lines into a queue, dropping those a
    gap hides; `end()` stops the pump and ends the stream; `aclose()` releases everything."""

    def __init__(self, faults: Faults, upstream: AsyncIterator[bytes], gaps: list[_Gap]) -> None:
        self.faults = faults
        self.gaps = gaps
        self.closed = False
        self._upstream = upstream
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._run())

    def end(self) -> None:
        self._pump.cancel()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> bytes:
        item = _END if self.closed else await self._queue.get()
        if item is _END:
            await self.aclose()
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self in self.faults.watches:
            self.faults.watches.remove(self)
        self._pump.cancel()
        await asyncio.gather(self._pump, return_exceptions=True)
        await self._upstream.aclose()  # type: ignore[attr-defined]

    async def _run(self) -> None:
        try:
            async for line in self._upstream:
                if not self._hidden(line):
                    self._queue.put_nowait(line)
        finally:
            self._queue.put_nowait(_END)

    def _hidden(self, line: bytes) -> bool:
        if not self.gaps:
            return False
        rv = ((orjson.loads(line).get("object") or {}).get("metadata") or {}).get(
            "resourceVersion")
        return bool(rv) and any(g.hides(int(rv)) for g in self.gaps)


def _is_resource_path(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return len(parts) > (2 if parts[:1] == ["api"] else 3)
