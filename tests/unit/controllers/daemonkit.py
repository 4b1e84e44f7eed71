"""Playing the nodes, the kubelet and kubectl in DaemonSet controller tests.

`daemons(kube)` runs the real DaemonSetController (and, with `scheduler=True`, the real
Scheduler, which binds daemon pods by their node affinity) on one shared InformerFactory,
plus `Kubelet`: a fake that marks every new pod Running and Ready after `ready_after` seconds
(never for images in `never_ready`) and finishes graceful deletions at once. `node()` makes a
Ready node with room for pods. `rolled_out` is kubectl's DaemonSetStatusViewer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.daemonset import DaemonSetController
from kubemu.cluster.controllers.daemonset_util import target_node_name
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.scheduler.scheduler import Scheduler

from tests.kube import Kube, eventually

NS = "default"


def daemon_set(name: str = "agent", *, image: str = "agent:1", strategy: dict | None = None,
               min_ready: int = 0, **pod_spec: object) -> dict:
    spec: dict = {"selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "c", "image": image}],
                                        **pod_spec}}}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def node(name: str, *, labels: dict | None = None, taints: list | None = None,
         unschedulable: bool = False) -> dict:
    spec: dict = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    room = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": spec,
            "status": {"capacity": room, "allocatable": room,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


@dataclass
class Kubelet:
    kube: Kube
    ready_after: float = 1.0
    never_ready: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)  # images whose pods fail at once
    tasks: set[asyncio.Task] = field(default_factory=set)

    def on_add(self, pod: dict) -> None:
        image = pod["spec"]["containers"][0]["image"]
        if image in self.fail:
            self._spawn(self._status(pod["metadata"]["name"], {"phase": "Failed"}, 0.5))
        elif image not in self.never_ready:
            self._spawn(self._status(pod["metadata"]["name"], {
                "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                self.ready_after))

    def on_update(self, old: dict, new: dict) -> None:
        md = new["metadata"]
        if md.get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self._spawn(self._finish(md["name"]))

    def _spawn(self, coro: object) -> None:
        task = asyncio.create_task(coro)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _status(self, name: str, status: dict, after: float) -> None:
        await self.kube.timing.sleep(after)
        for cond in status.get("conditions") or ():
            cond["lastTransitionTime"] = rfc3339(self.kube.timing.wall())
        try:
            await self.kube.client.patch("v1", "Pod", name, {"status": status}, namespace=NS,
                                         subresource="status")
        except NotFound:
            pass

    async def _finish(self, name: str) -> None:
        try:
            await self.kube.client.delete("v1", "Pod", name, namespace=NS,
                                          grace_period_seconds=0)
        except NotFound:
            pass


@asynccontextmanager
async def daemons(kube: Kube, *, scheduler: bool = False,
                  **kubelet: object) -> AsyncIterator[tuple[DaemonSetController, Kubelet]]:
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="daemonset-controller")
    ctl = DaemonSetController(kube.client, kube.timing, factory=factory, recorder=recorder)
    fake = Kubelet(kube, **kubelet)  # type: ignore[arg-type]
    factory.informer("v1", "Pod").add_handler(on_add=fake.on_add, on_update=fake.on_update)
    components: list = [ctl]
    if scheduler:
        components.append(Scheduler(kube.client, kube.timing, factory=factory,
                                    recorder=recorder, rng=random.Random(1)))
    tasks = [asyncio.create_task(c.run()) for c in components]
    tasks.append(asyncio.create_task(recorder.run()))
    factory.start()
    try:
        yield ctl, fake
    finally:
        for component in components:
            await component.stop()
        await factory.stop()
        for task in [*tasks, *fake.tasks]:
            task.cancel()
        await asyncio.gather(*tasks, *fake.tasks, return_exceptions=True)


def rolled_out(ds: dict) -> bool:
    """kubectl's DaemonSetStatusViewer says "successfully rolled out"."""
    status = ds.get("status") or {}
    if ds["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return False
    desired = status.get("desiredNumberScheduled", 0)
    return status.get("updatedNumberScheduled", 0) >= desired and \
        status.get("numberAvailable", 0) >= desired


async def get(kube: Kube, name: str = "agent") -> dict:
    return await kube.client.get("apps/v1", "DaemonSet", name, namespace=NS)


async def wait_rolled_out(kube: Kube, name: str = "agent", timeout: float = 300) -> dict:
    async def done() -> dict | None:
        ds = await get(kube, name)
        return ds if rolled_out(ds) else None
    return await eventually(done, timeout=timeout, what=f"{name} rolled out")


async def active_pods(kube: Kube) -> list[dict]:
    items = (await kube.client.list("v1", "Pod", namespace=NS))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def pods_by_node(kube: Kube) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for pod in await active_pods(kube):
        out.setdefault(target_node_name(pod) or "", []).append(pod)
    return out


async def events(kube: Kube, reason: str) -> list[dict]:
    items = (await kube.client.list("v1", "Event", namespace=NS))["items"]
    return [e for e in items if e["reason"] == reason]
