"""The API server on Ray: an async actor serving Kubernetes REST over aiohttp.

Each actor runs one `ApiServer` (cluster/api/server.py) over a `StoreClient` and an aiohttp
low-level server bound to the configured address. Several actors may bind the same port
(SO_REUSEPORT): the kernel spreads connections over them, and since every actor is
stateless over the store, any one answers any request. The HTTP layer only translates: it
refuses bodies over 3 MiB from their Content-Length before reading them, streams watch events
as chunked lines, and turns every request into a plain `Request` for the router.

Recovery: `max_restarts=-1`. Ray (2.60) runs an async actor's `__init__` on its event loop,
so the constructor schedules the start (store client, watch caches, listening socket) and an
actor Ray restarts after a kill serves again on the same port with nobody calling `start()`
(which only waits for it); a start that fails (no store leader in time) ends the process and
Ray tries again. Clients see their connections to the dead replica reset; new ones reach a
live replica; informers re-watch from their last resourceVersion. `stop_apiservers`
ends replicas for good (`ray.kill(no_restart=True)`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray
from aiohttp import web

from kubemu.actors import heap
from kubemu.actors.certs import ServingCerts, server_ssl_context
from kubemu.actors.runtime import SelfStart, namespace
from kubemu.actors.store_client import StoreClient
from kubemu.cluster.api.errors import RequestEntityTooLarge
from kubemu.cluster.api.request import Request
from kubemu.cluster.api.router import MAX_BODY_BYTES
from kubemu.cluster.api.server import ApiServer

__all__ = ["ApiServerActor", "apiserver_actor_name", "start_apiservers", "stop_apiservers"]

log = logging.getLogger(__name__)


def apiserver_actor_name(index: int) -> str:
    return f"apiserver-{index}"


class _HttpFront:
    """aiohttp <-> Request/Response."""

    def __init__(self, api: ApiServer, *, server_id: str = "") -> None:
        self.api = api
        self.server_id = server_id  # sent as X-Kubemu-Apiserver: which replica answered
        self.runner: web.ServerRunner | None = None

    async def start(self, host: str, port: int, certs: ServingCerts | None) -> None:
        server = web.Server(self.serve)
        self.runner = web.ServerRunner(server, handle_signals=False)
        await self.runner.setup()
        ssl_context = server_ssl_context(certs) if certs is not None else None
        site = web.TCPSite(self.runner, host, port, reuse_port=True, backlog=1024,
                           ssl_context=ssl_context)
        await site.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def serve(self, http: web.BaseRequest) -> web.StreamResponse:
        body = b""
        if http.can_read_body:
            body = await _read_limited(http)
        if len(body) > MAX_BODY_BYTES:
            err = RequestEntityTooLarge(
                f"the request body is too large: limit is {MAX_BODY_BYTES} bytes")
            return web.Response(status=413, body=err.body(), content_type="application/json")
        req = Request(method=http.method, path=http.path,
                      query={k: v for k, v in http.query.items()},
                      headers={k.lower(): v for k, v in http.headers.items()}, body=body)
        resp = await self.api.router.handle(req)
        headers = dict(resp.headers)
        headers["Content-Type"] = resp.content_type
        if self.server_id:
            headers["X-Kubemu-Apiserver"] = self.server_id
        if resp.stream is None:
            return web.Response(status=resp.status, body=resp.body, headers=headers)
        out = web.StreamResponse(status=resp.status, headers=headers)
        out.enable_chunked_encoding()
        await out.prepare(http)
        try:
            async for line in resp.stream:
                await out.write(line)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await resp.stream.aclose()
        return out


async def _read_limited(http: web.BaseRequest) -> bytes:
    """The body, or (when it is over the limit) its first bytes past the limit: the rest is
    read and dropped so the client, still sending, receives the 413 instead of a reset."""
    chunks, size = [], 0
    async for chunk in http.content.iter_chunked(65536):
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        return b"".join(chunks).ljust(MAX_BODY_BYTES + 1)
    return b"".join(chunks)


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=10_000)
class ApiServerActor:
    """One API server replica of a cluster."""

    def __init__(self, *, cluster: str, store_replicas: int, host: str, port: int,
                 token: str, certs: ServingCerts | None = None, index: int = 1,
                 finalize_namespaces: bool = True) -> None:
        self.cluster = cluster
        self.index = index
        self.store_replicas = store_replicas
        self.host, self.port, self.token = host, port, token
        self.certs = certs
        self.finalize_namespaces = finalize_namespaces
        self.api: ApiServer | None = None
        self.front: _HttpFront | None = None
        self._starting = SelfStart(self._start, started=lambda: self.api is not None)

    def heap_top(self, limit: int = 30) -> list[str]:
        """Where this process's memory was allocated (`heap.top_allocations`; tracing on)."""
        return heap.top_allocations(limit)

    async def start(self) -> dict:
        """Wait until this replica serves (it starts by itself: see the module docstring)."""
        await self._starting.wait()
        scheme = "https" if self.certs is not None else "http"
        return {"pid": os.getpid(), "url": f"{scheme}://{self.host}:{self.port}"}

    async def ping(self) -> bool:
        return self.api is not None

    async def _start(self) -> None:
        if self.api is not None:
            return
        store = await StoreClient.connect(cluster=self.cluster, replicas=self.store_replicas)
        api = ApiServer(store, token=self.token, server_address=f"{self.host}:{self.port}",
                        finalize_namespaces=self.finalize_namespaces)
        await api.start()
        front = _HttpFront(api, server_id=apiserver_actor_name(self.index))
        try:
            await front.start(self.host, self.port, self.certs)
        except BaseException:
            await api.stop()
            raise
        self.api, self.front = api, front

    async def shutdown(self) -> None:
        await self._starting.settle()
        if self.front is not None:
            await self.front.stop()
        if self.api is not None:
            await self.api.stop()
        self.api = self.front = None


async def start_apiservers(*, cluster: str, store_replicas: int, count: int = 1,
                           host: str = "127.0.0.1", port: int = 6443,
                           token: str, certs: ServingCerts | None = None,
                           finalize_namespaces: bool = True,
                           ray_options: dict | None = None) -> list[Any]:
    """Start `count` API-server actors of `cluster` on host:port and wait until they serve
    (HTTPS with `certs`; plain HTTP without, for tests of the HTTP layer only: kubectl sends
    its token only over TLS). `ray_options` (e.g. a scheduling strategy) go to every actor."""
    handles = []
    for i in range(1, count + 1):
        handle = ApiServerActor.options(name=apiserver_actor_name(i),
                                        namespace=namespace(cluster),
                                        **(ray_options or {})).remote(
            cluster=cluster, store_replicas=store_replicas, host=host, port=port,
            token=token, certs=certs, index=i, finalize_namespaces=finalize_namespaces)
        handles.append(handle)
    await asyncio.gather(*(h.start.remote() for h in handles))
    return handles


async def stop_apiservers(handles: list[Any]) -> None:
    for h in handles:
        try:
            await asyncio.wait_for(h.shutdown.remote(), 10)
        except Exception as exc:  # already dead: nothing left to stop
            log.debug("apiserver shutdown: %s", exc)
        ray.kill(h, no_restart=True)

