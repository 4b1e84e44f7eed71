"""ApiServer: the API server's parts assembled over one store, with no HTTP and no Ray.

It owns the registry (kept in step with the CustomResourceDefinitions in the store, so two API
servers over one store serve the same kinds), the handlers, the watch hub (its resource feeds
share one store watch and keep the watch caches lists are served from; `hub.stats` counts
them), the OpenAPI cache, the router, the store compactor (every 5 minutes, `compactor.py`),
and two background loops: CRD sync and namespace finalisation (the latter only with
`finalize_namespaces`, the default for a standalone API server; a cluster whose controller
manager runs the namespace controller passes False and lets it finalise). `bootstrap`
creates what every cluster starts with (the default, kube-system, kube-public and
kube-node-lease namespaces and the `default/kubernetes` Service at the first address of the
service CIDR) and is safe to run again. At start the ClusterIP / NodePort markers are
repaired from the Services in the store (`ipalloc.repair`).
The aiohttp front in `actors/` and the in-process client transport both call `router.handle`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from kubemu.cluster.api.compactor import Compactor
from kubemu.cluster.api.errors import AlreadyExists, Invalid
from kubemu.cluster.api.handlers import Handlers
from kubemu.cluster.api.ipalloc import (
    DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, ServiceAllocator, repair)
from kubemu.cluster.api.namespaces import sweep
from kubemu.cluster.api.nscache import NamespaceCache
from kubemu.cluster.api.objects import decode
from kubemu.cluster.api.openapi import OpenAPICache
from kubemu.cluster.api.registry import Registry, builtin_registry, resource_from_crd
from kubemu.cluster.api.router import Router
from kubemu.cluster.api.watches import WatchHub
from kubemu.cluster.store import prefix_end

__all__ = ["ApiServer", "SYSTEM_NAMESPACES"]

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_SWEEP_IDLE = 10.0
_SWEEP_BUSY = 0.3


class ApiServer:
    def __init__(self, store: Any, *, token: str | None, server_address: str = "127.0.0.1:6443",
                 wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, finalize_namespaces: bool = True,
                 service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> None:
        self.store = store
        self.finalize_namespaces = finalize_namespaces
        self.registry: Registry = builtin_registry()
        rng = rng or random.Random()
        self.services = ServiceAllocator(service_cidr=service_cidr,
                                         node_port_range=node_port_range, rng=rng)
        self.handlers = Handlers(store, self.registry, wall_clock=wall_clock, rng=rng,
                                 service_allocator=self.services)
        self.hub = WatchHub(store)
        self.handlers.suggest = self.hub.cached_kv
        self.openapi = OpenAPICache(self.registry)
        self.router = Router(self.handlers, self.hub, self.openapi, token=token,
                             server_address=server_address, ready=self._ready,
                             resync_crds=self.sync_crds)
        self.handlers.on_crd_change.append(self._crd_written)
        self.handlers.on_namespace_delete.append(lambda _name: self._sweep_now.set())
        self._sweep_now = asyncio.Event()
        self.compactor = Compactor(store)
        self._tasks: list[asyncio.Task] = []

    async def start(self, *, bootstrap: bool = True) -> None:
        await self.sync_crds()
        await repair(self.store)  # ClusterIP / NodePort markers agree with the Services
        if bootstrap:
            await self.bootstrap()
        loop = asyncio.get_running_loop()
        cache = NamespaceCache(self.store, self.registry.lookup("", "v1", "namespaces"),
                               self.hub)
        self.handlers.namespaces = cache
        self._tasks = [loop.create_task(self._crd_loop()), loop.create_task(cache.run()),
                       loop.create_task(self.compactor.run(asyncio.sleep))]
        if self.finalize_namespaces:
            self._tasks.append(loop.create_task(self._namespace_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        await self.hub.stop()

    async def bootstrap(self) -> None:
        namespaces = self.registry.lookup("", "v1", "namespaces")
        for name in SYSTEM_NAMESPACES:
            try:
                await self.handlers.create(namespaces, "", {"metadata": {"name": name}})
            except AlreadyExists:
                pass
        services = self.registry.lookup("", "v1", "services")
        kubernetes = {"metadata": {"name": "kubernetes", "namespace": "default",
                                   "labels": {"component": "apiserver",
                                              "provider": "kubernetes"}},
                      "spec": {"type": "ClusterIP", "clusterIP": self.services.first_ip,
                               "clusterIPs": [self.services.first_ip],
                               "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                          "targetPort": 6443}]}}
        if await self.handlers.read_kv(services, "default", "kubernetes") is not None:
            return  # (a create would fail on its address, held by itself, before the name)
        try:
            await self.handlers.create(services, "default", kubernetes)
        except (AlreadyExists, Invalid):
            # another API server starting at the same moment created it first (its address
            # is then taken, which a create reports before the name)
            if await self.handlers.read_kv(services, "default", "kubernetes") is None:
                raise

    # ---- CRDs -----------------------------------------------------------------------------

    async def sync_crds(self) -> None:
        """Serve exactly the kinds of the CRDs in the store."""
        crds = self.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        prefix = crds.prefix()
        listed = await self.store.request({"op": "range", "key": prefix,
                                           "range_end": prefix_end(prefix)})
        wanted = []
        for kv in listed["kvs"]:
            crd = decode(kv)
            if not (crd.get("metadata") or {}).get("deletionTimestamp"):
                wanted.extend(resource_from_crd(crd))
        current = set(self.registry.custom_resources())
        if set(wanted) != current or any(
                w.schema != self.registry.lookup(w.group, w.version, w.plural).schema
                for w in wanted if self.registry.lookup(w.group, w.version, w.plural)):
            for r in current:
                self.registry.remove_custom(r.group, r.plural)
            self.registry.add_custom(wanted)
            self.openapi.invalidate()

    def _crd_written(self, crd: dict, deleted: bool) -> None:
        spec = crd.get("spec") or {}
        self.registry.remove_custom(spec.get("group", ""), (spec.get("names") or {}).get(
            "plural", ""))
        if not deleted:
            self.registry.add_custom(resource_from_crd(crd))
        self.openapi.invalidate()

    async def _crd_loop(self) -> None:
        crds = self.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        while True:
            try:
                async for kind, _ in self.hub.stream(crds, await self._next_rev()):
                    if kind == "event":
                        await self.sync_crds()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("CRD sync: %s; retrying", exc)
            await asyncio.sleep(1.0)

    async def _next_rev(self) -> int:
        result = await self.store.request({"op": "range", "key": "/", "count_only": True,
                                           "limit": 1})
        return result["revision"] + 1

    # ---- namespaces -----------------------------------------------------------------------

    async def _namespace_loop(self) -> None:
        while True:
            try:
                waiting = await sweep(self.handlers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("namespace sweep: %s", exc)
                waiting = 1
            self._sweep_now.clear()
            try:  # asyncio.timeout, unlike wait_for in 3.11, never swallows a cancel
                async with asyncio.timeout(_SWEEP_BUSY if waiting else _SWEEP_IDLE):
                    await self._sweep_now.wait()
            except TimeoutError:
                pass

    async def _ready(self) -> bool:
        await self.store.request({"op": "range", "key": "/", "count_only": True, "limit": 1})
        return True
