"""DNS propagation figure: how soon a Service created (deleted) through the API server is
answered (NXDOMAIN) by the cluster DNS server.

Everything runs in the benchmark's own event loop, in real time: the in-process API server of
tests/kube.py (`api()`: real ApiServer, LocalStore, ApiClient), `KubeDNS` feeding a `Records`
table from its informers, and a `DnsServer` (`Resolver(forward=False)`) on 127.0.0.1. For each
of N Services: the clock starts before `client.create` is called and stops at the first UDP
answer carrying the Service's allocated ClusterIP (a query every 2 ms, each waiting at most
50 ms); then the same from the start of `client.delete` to the first NXDOMAIN. The figure
thus includes the API write, the watch delivery to the informer, the table update and the
resolver's cache invalidation. Target (issue 8): both within 1 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dnslib import DNSRecord
from rich.table import Table

from bench import percentile

__all__ = ["propagation"]

TARGET = 1.0
POLL = 0.002


async def propagation(count: int, *, console: Any) -> tuple[str, str]:
    """Create and delete `count` Services one at a time; a markdown table and a verdict."""
    from kubemu.dns.kubedns import KubeDNS
    from kubemu.dns.records import Records
    from kubemu.dns.resolver import Resolver
    from kubemu.dns.server import DnsServer

    from tests.kube import api

    created: list[float] = []
    deleted: list[float] = []
    missed = 0
    async with api() as kube:
        records = Records()
        kube_dns = KubeDNS(kube.client, kube.timing, records)
        task = asyncio.create_task(kube_dns.run())
        server = DnsServer(Resolver(records, forward=False), host="127.0.0.1", port=0)
        _, port = await server.start()
        client = await _UdpClient.open(port)
        try:
            if not await kube_dns.synced(10):
                raise TimeoutError("KubeDNS informers did not sync")
            for i in range(count):
                name = f"prop-{i:03d}"
                fqdn = f"{name}.default.svc.cluster.local"
                svc = {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": name, "namespace": "default"},
                       "spec": {"selector": {"app": name},
                                "ports": [{"name": "http", "port": 80}]}}
                t0 = time.perf_counter()
                made = await kube.client.create(svc, namespace="default")
                ip = made["spec"]["clusterIP"]
                took = await client.wait_for(
                    fqdn, lambda r, ip=ip: ip in {str(a.rdata) for a in r.rr})
                created.append(time.perf_counter() - t0 if took >= 0 else -1)
                if took < 0:
                    missed += 1
                t0 = time.perf_counter()
                await kube.client.delete("v1", "Service", name, namespace="default")
                took = await client.wait_for(fqdn, lambda r: r.header.rcode == 3)
                deleted.append(time.perf_counter() - t0 if took >= 0 else -1)
                if took < 0:
                    missed += 1
        finally:
            client.close()
            await server.close()
            await kube_dns.stop()
            await task
    return _render(created, deleted, missed, console)


class _UdpClient(asyncio.DatagramProtocol):
    """One UDP socket to the server; `wait_for` polls a name until a response satisfies a
    check."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[int, asyncio.Future] = {}
        self._next_id = 0

    @classmethod
    async def open(cls, port: int) -> _UdpClient:
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(cls, remote_addr=("127.0.0.1", port))
        return proto

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        future = self._waiting.pop(int.from_bytes(data[:2], "big"), None)
        if future is not None and not future.done():
            future.set_result(DNSRecord.parse(data))

    async def wait_for(self, name: str, check, *, timeout: float = 5.0) -> float:
        """Seconds until an A answer for `name` satisfies `check`; -1 after `timeout`."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            self._next_id = (self._next_id + 1) & 0xFFFF
            query = DNSRecord.question(name, "A")
            query.header.id = self._next_id
            future = asyncio.get_running_loop().create_future()
            self._waiting[self._next_id] = future
            self.transport.sendto(query.pack())
            try:
                if check(await asyncio.wait_for(future, 0.05)):
                    return time.perf_counter() - start
            except TimeoutError:
                self._waiting.pop(query.header.id, None)
            await asyncio.sleep(POLL)
        return -1.0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _render(created: list[float], deleted: list[float], missed: int,
            console: Any) -> tuple[str, str]:
    cols = ("change", "samples", "p50 ms", "p99 ms", "max ms", "missed")
    table = Table(title="propagation: API write -> DNS answer")
    for col in cols:
        table.add_column(col, justify="left" if col == "change" else "right")
    md = ["### propagation: API write start -> first DNS answer reflecting it", "",
          "| " + " | ".join(cols) + " |", "|---|---:|---:|---:|---:|---:|"]
    worst = 0.0
    for change, times in (("Service created -> A answers its ClusterIP", created),
                          ("Service deleted -> NXDOMAIN", deleted)):
        ok = [t for t in times if t >= 0]
        worst = max(worst, percentile(ok, 99))
        row = [change, str(len(times)), f"{percentile(ok, 50) * 1000:.1f}",
               f"{percentile(ok, 99) * 1000:.1f}", f"{max(ok, default=0) * 1000:.1f}",
               str(len(times) - len(ok))]
        table.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    console.print(table)
    passed = missed == 0 and worst <= TARGET
    verdict = (f"Verdict: propagation p99 <= 1 s: {'PASS' if passed else 'FAIL'} "
               f"(worst p99 {worst * 1000:.1f} ms, {missed} never answered)")
    console.print(verdict)
    return "\n".join(md), verdict
