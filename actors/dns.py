"""The cluster DNS on Ray: one actor (`dns` in the cluster's Ray namespace) serving
`cluster.local` over UDP and TCP on a host port, as CoreDNS serves the `kube-dns` Service.

`DnsActor` (`num_cpus=0`) builds what `dns/` provides: an `ApiClient` from its `ApiAccess`
(as a component actor does), `KubeDNS` (informers on Services, EndpointSlices and Namespaces
feeding a `Records` table), a `Resolver` (TTL 5 s, precomputed answers), a `Forwarder`
(aiodns; upstream the host's /etc/resolv.conf unless `upstream` names servers;
`forward=False` answers out-of-zone names REFUSED) and a `DnsServer` on `host:port`.
Decisions:
- `start()` binds the port only once the informers have listed, so the first answer a
  client gets is already from a full table (CoreDNS answers SERVFAIL until it has synced).
- Metrics: `DnsMetrics` served over HTTP at `http://<host>:<ephemeral>/metrics` (aiohttp,
  as the API server's front), Prometheus text format; `start()` returns that URL, which
  bootstrap records as `dnsMetrics` in cluster.json.
- Pods reach the DNS through the `kube-dns` Service's ClusterIP (10.96.0.10) in their
  resolv.conf; clients on the host, `dig` and `kubemu net`, use the host port
  (`address()`: "host:port", 127.0.0.1 when bound to every interface).
- dnslib objects never cross Ray: everything in and out of the actor is plain data.
- Restarts: a killed DNS actor is re-created by Ray and starts itself (`SelfStart`) on the
  same port (`start_dns` turns port 0 into a concrete free port first).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import ray
from aiohttp import web
from kubemu.actors.access import ApiAccess
from kubemu.actors.runtime import SelfStart, namespace
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.timing import Timing
from kubemu.dns.forwarder import Forwarder
from kubemu.dns.kubedns import KubeDNS
from kubemu.dns.metrics import CONTENT_TYPE, DnsMetrics
from kubemu.dns.records import Records
from kubemu.dns.resolver import Resolver
from kubemu.dns.server import DnsServer

__all__ = ["DEFAULT_DNS_PORT", "DNS_ACTOR", "DnsActor", "dns_address", "start_dns", "stop_dns"]

DNS_ACTOR = "dns"
DEFAULT_DNS_PORT = 10053
SYNC_TIMEOUT = 60.0
_WILDCARD = ("0.0.0.0", "", "::")

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)
class DnsActor:
    """The cluster DNS server of one cluster (see the module docstring)."""

    def __init__(self, *, access: ApiAccess, host: str = "127.0.0.1",
                 port: int = DEFAULT_DNS_PORT, zone: str = "cluster.local", ttl: int = 5,
                 pod_mode: str = "insecure", forward: bool = True,
                 upstream: list[str] | None = None, time_scale: float = 1.0) -> None:
        self.access = access
        self.host, self.port = host, port
        self.timing = Timing.real(time_scale)
        self.records = Records(zone=zone, pod_mode=pod_mode)
        self.metrics = DnsMetrics()
        self.resolver = Resolver(self.records, ttl=ttl, forward=forward, wall=time.time)
        self.forwarder = Forwarder(upstream, metrics=self.metrics) if forward else None
        self.client: Any = None
        self.factory: InformerFactory | None = None
        self.kubedns: KubeDNS | None = None
        self.task: asyncio.Task | None = None
        self.server: DnsServer | None = None
        self.http: web.AppRunner | None = None
        self.metrics_url = ""
        self._starting = SelfStart(self._start, started=lambda: self.server is not None)

    async def start(self) -> dict:
        """Wait until the table is synced and the DNS port and the metrics endpoint are bound
        (the actor starts by itself: `SelfStart`); where they are."""
        await self._starting.wait()
        return {"address": self.address(), "metrics": self.metrics_url, "pid": os.getpid()}

    async def _start(self) -> None:
        if self.server is None:
            self.client = self.access.client(user_agent="kubemu-dns")
            self.factory = InformerFactory(self.client, self.timing)
            self.factory.start()  # informers start as KubeDNS.run() creates them
            self.kubedns = KubeDNS(self.client, self.timing, self.records,
                                   factory=self.factory)
            self.task = asyncio.get_running_loop().create_task(self.kubedns.run())
            await self._wait_synced()
            server = DnsServer(self.resolver, host=self.host, port=self.port,
                               forwarder=self.forwarder, metrics=self.metrics)
            _, self.port = await server.start()
            self.server = server
            self.metrics_url = await self._serve_metrics()

    def address(self) -> str:
        """"host:port" for clients on this host (every-interface binds answer on 127.0.0.1)."""
        return dns_address(self.host, self.port)

    async def ping(self) -> dict:
        return {"running": self.task is not None and not self.task.done(), "pid": os.getpid(),
                "names": self.records.names, "version": self.records.version}

    async def stop(self) -> None:
        await self._starting.settle()
        if self.server is not None:
            await self.server.close()
        if self.http is not None:
            await self.http.cleanup()
        if self.kubedns is not None:
            await self.kubedns.stop()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        if self.factory is not None:
            await self.factory.stop()
        if self.forwarder is not None:
            await self.forwarder.close()
        if self.client is not None:
            await self.client.close()
        self.server = self.http = self.kubedns = self.task = self.factory = self.client = None

    async def _wait_synced(self) -> None:
        """Until every informer has listed (polled: `synced()` is False before `run()` has
        created them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SYNC_TIMEOUT
        while not await self.kubedns.synced(0.5):
            if self.task.done() or loop.time() > deadline:
                raise RuntimeError(f"the DNS informers did not sync within {SYNC_TIMEOUT:g}s")
            await asyncio.sleep(0.05)

    async def _serve_metrics(self) -> str:
        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(body=self.metrics.render(),
                                headers={"Content-Type": CONTENT_TYPE})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self.http = web.AppRunner(app, handle_signals=False, access_log=None)
        await self.http.setup()
        site = web.TCPSite(self.http, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # aiohttp names no public accessor
        return f"http://{dns_address(self.host, port)}/metrics"


def dns_address(host: str, port: int) -> str:
    """"host:port" a client on this machine uses for a server bound to host:port."""
    if host in _WILDCARD:
        host = "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start_dns(*, cluster: str, access: ApiAccess, host: str = "127.0.0.1",
                    port: int = DEFAULT_DNS_PORT, time_scale: float = 1.0,
                    ray_options: dict | None = None, **options: Any) -> tuple[Any, dict]:
    """Start the DNS actor of `cluster`; (handle, `start()`'s answer) once it serves. Port 0
    is resolved to a free port here, so that a restarted actor binds the same one."""
    if port == 0:
        port = free_udp_tcp_port(host)
    handle = DnsActor.options(name=DNS_ACTOR, namespace=namespace(cluster),
                              **(ray_options or {})).remote(
        access=access, host=host, port=port, time_scale=time_scale, **options)
    try:
        return handle, await handle.start.remote()
    except BaseException:
        ray.kill(handle, no_restart=True)
        raise


async def stop_dns(handle: Any) -> None:
    """Stop the DNS actor (quietly when it is already gone) and kill it."""
    if handle is None:
        return
    try:
        await asyncio.wait_for(handle.stop.remote(), 15)
    except Exception as exc:  # noqa: BLE001 - already dead: nothing left to stop
        log.debug("dns stop: %s", exc)
    ray.kill(handle, no_restart=True)


def free_udp_tcp_port(host: str) -> int:
    """A port free for both UDP and TCP on `host` (bound and released: a race with another
    process is possible, and then the start fails with a clear bind error)."""
    bind = "127.0.0.1" if host in _WILDCARD else host
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((bind, 0))
            port = tcp.getsockname()[1]
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((bind, port))
                except OSError:
                    continue
                return port
    raise OSError(f"no port free for both UDP and TCP on {bind}")
