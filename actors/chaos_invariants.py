"""Chaos invariants: what must still hold after a fault, each answering a `Verdict`.

The write invariants (no acknowledged write lost, no watch event missed) live in
chaos_writes.py; here the state of the cluster:
- `DeploymentsReady`: every Deployment (of one namespace, or all) has observed its
  generation and has `spec.replicas` updated, ready and available replicas.
- `DnsAnswers`: when the cluster runs its DNS actor, an A query for
  kubernetes.default.svc.cluster.local answers NOERROR with an address (skipped otherwise).
- `ActorsRunning`: every actor of the cluster's Ray namespace (those killed for good are gone
  from it) answers within `timeout`: nothing is still dead or restarting.
- `NoPodBoundTwice`: an informer on Pods remembers each pod's (uid) first nodeName; one that
  later names another node is a violation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.client.informer import Informer

__all__ = ["ActorsRunning", "DeploymentsReady", "DnsAnswers", "NoPodBoundTwice", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    invariant: str
    ok: bool
    detail: str
    skipped: bool = False


@dataclass
class DeploymentsReady:
    client: Any
    namespace: str | None = None
    name: str = "Deployments ready"

    async def check(self) -> Verdict:
        items = (await self.client.list("apps/v1", "Deployment",
                                        namespace=self.namespace)).get("items") or []
        behind = []
        for d in items:
            spec, status = d.get("spec") or {}, d.get("status") or {}
            want = spec.get("replicas", 1)
            have = {k: status.get(k, 0) for k in ("updatedReplicas", "readyReplicas",
                                                   "availableReplicas")}
            if (status.get("observedGeneration", 0) < d["metadata"].get("generation", 0)
                    or any(v != want for v in have.values()) or status.get("replicas") != want):
                behind.append(f"{d['metadata']['namespace']}/{d['metadata']['name']} "
                              f"{have['readyReplicas']}/{want} ready")
        detail = (f"{len(items)} Deployments" + (f"; behind: {', '.join(behind[:5])}"
                                                 if behind else " all ready"))
        return Verdict(self.name, not behind, detail)


@dataclass
class DnsAnswers:
    cluster: str
    query: str = "kubernetes.default.svc.cluster.local"
    name: str = "DNS answering"

    async def check(self) -> Verdict:
        import ray
        from kubemu.actors.runtime import namespace

        try:
            actor = ray.get_actor("dns", namespace=namespace(self.cluster))
        except ValueError:
            return Verdict(self.name, True, "this cluster runs no DNS", skipped=True)
        try:
            address = await asyncio.wait_for(asyncio.wrap_future(
                actor.address.remote().future()), 10)
            host, _, port = address.rpartition(":")
            return await asyncio.to_thread(self._ask, host, int(port))
        except Exception as exc:  # noqa: BLE001 - any failure is the verdict
            return Verdict(self.name, False, f"no answer: {type(exc).__name__}: {exc}")

    def _ask(self, host: str, port: int) -> Verdict:
        from dnslib import QTYPE, RCODE, DNSRecord

        reply = DNSRecord.parse(DNSRecord.question(self.query).send(host, port, timeout=3))
        rcode = RCODE.get(reply.header.rcode)
        addresses = [str(r.rdata) for r in reply.rr if r.rtype == QTYPE.A]
        return Verdict(self.name, rcode == "NOERROR" and bool(addresses),
                       f"{self.query} @{host}:{port}: {rcode} {', '.join(addresses)}")


@dataclass
class ActorsRunning:
    cluster: str
    timeout: float = 5.0
    name: str = "actors running"

    async def check(self) -> Verdict:
        import ray
        from kubemu.actors.runtime import namespace

        ns = namespace(self.cluster)
        names = sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                       if a.get("namespace") == ns)
        futures = {n: asyncio.wrap_future(ray.get_actor(n, namespace=ns).__ray_ready__
                                          .remote().future()) for n in names}
        await asyncio.wait(futures.values(), timeout=self.timeout)
        down = [n for n, f in futures.items()
                if not f.done() or f.cancelled() or f.exception() is not None]
        for f in futures.values():
            f.cancel()
        return Verdict(self.name, not down, f"{len(names) - len(down)}/{len(names)} answer"
                       + (f"; not: {', '.join(down)}" if down else ""))


@dataclass
class NoPodBoundTwice:
    client: Any
    name: str = "no pod bound twice"
    bound: dict[str, str] = field(default_factory=dict)  # pod uid -> nodeName
    violations: list[str] = field(default_factory=list)
    _informer: Informer | None = None
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        self._informer = Informer(self.client, "v1", "Pod")
        self._informer.add_handler(on_add=self._saw, on_update=lambda _old, new: self._saw(new))
        self._task = asyncio.get_running_loop().create_task(self._informer.run())
        await self._informer.wait_synced(timeout=60)

    async def stop(self) -> None:
        if self._informer is not None:
            self._informer.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check(self) -> Verdict:
        return Verdict(self.name, not self.violations,
                       f"{len(self.bound)} pods bound" + (
                           f"; {'; '.join(self.violations[:3])}" if self.violations else ""))

    def _saw(self, pod: dict) -> None:
        meta = pod.get("metadata") or {}
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return
        first = self.bound.setdefault(meta.get("uid", ""), node)
        if first != node:
            self.violations.append(f"{meta.get('namespace')}/{meta.get('name')} bound to "
                                   f"{first}, then {node}")
