"""Playing the kubelet and kubectl in Deployment controller tests.

`controllers(kube)` runs the real ReplicaSetController and DeploymentController on one shared
InformerFactory, plus `Kubelet`: a fake that marks every new pod Running and Ready after
`ready_after` seconds unless `never_ready` names its image. Pods stay unbound, so deleting one
removes it at once. `rolled_out` is kubectl's DeploymentStatusViewer (a test finishes a rollout
exactly when `kubectl rollout status` would) and `undo` is kubectl's client-side
`rollout undo --to-revision`. `record` keeps the extremes of pods and replicas seen during a
rollout, from informer events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.deployment import DeploymentController
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.replicaset import ReplicaSetController

from tests.kube import Kube, eventually

NS = "default"
REVISION = "deployment.kubernetes.io/revision"


def deployment(name: str = "web", replicas: int = 3, *, image: str = "nginx:1",
               strategy: dict | None = None, **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "annotations": {"team": "a"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": strategy or {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}


@dataclass
class Kubelet:
    """Marks new pods ready after `ready_after` seconds (never for `never_ready` images)."""

    kube: Kube
    ready_after: float = 1.0
    never_ready: set[str] = field(default_factory=set)
    tasks: set[asyncio.Task] = field(default_factory=set)

    def on_add(self, pod: dict) -> None:
        image = pod["spec"]["containers"][0]["image"]
        if image not in self.never_ready:
            task = asyncio.create_task(self._ready(pod["metadata"]["name"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _ready(self, name: str) -> None:
        await self.kube.timing.sleep(self.ready_after)
        status = {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True",
             "lastTransitionTime": rfc3339(self.kube.timing.wall())}]}
        try:
            await self.kube.client.patch("v1", "Pod", name, {"status": status}, namespace=NS,
                                         subresource="status")
        except NotFound:
            pass


@asynccontextmanager
async def controllers(kube: Kube, **kubelet: object) -> AsyncIterator[InformerFactory]:
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="controller-manager")
    rsc = ReplicaSetController(kube.client, kube.timing, factory=factory, recorder=recorder)
    dc = DeploymentController(kube.client, kube.timing, factory=factory, recorder=recorder)
    fake = Kubelet(kube, **kubelet)  # type: ignore[arg-type]
    factory.informer("v1", "Pod").add_handler(on_add=fake.on_add)
    tasks = [asyncio.create_task(c) for c in (rsc.run(), dc.run(), recorder.run())]
    factory.start()
    try:
        yield factory
    finally:
        await dc.stop()
        await rsc.stop()
        await factory.stop()
        for task in [*tasks, *fake.tasks]:
            task.cancel()
        await asyncio.gather(*tasks, *fake.tasks, return_exceptions=True)


def rolled_out(d: dict) -> bool:
    """kubectl's DeploymentStatusViewer says "successfully rolled out" (raises on a
    progress deadline, as kubectl exits with an error)."""
    status = d.get("status") or {}
    if d["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return False
    for cond in status.get("conditions") or ():
        if cond["type"] == "Progressing" and cond["reason"] == "ProgressDeadlineExceeded":
            raise AssertionError(f'deployment "{d["metadata"]["name"]}" exceeded its '
                                 "progress deadline")
    updated = status.get("updatedReplicas", 0)
    return (updated >= d["spec"]["replicas"] and status.get("replicas", 0) <= updated
            and status.get("availableReplicas", 0) >= updated)


async def get(kube: Kube, name: str = "web") -> dict:
    return await kube.client.get("apps/v1", "Deployment", name, namespace=NS)


async def replica_sets(kube: Kube) -> list[dict]:
    return (await kube.client.list("apps/v1", "ReplicaSet", namespace=NS))["items"]


async def wait_rolled_out(kube: Kube, name: str = "web", timeout: float = 300) -> dict:
    async def done() -> dict | None:
        d = await get(kube, name)
        return d if rolled_out(d) else None
    return await eventually(done, timeout=timeout, what=f"{name} rolled out")


async def set_image(kube: Kube, image: str, name: str = "web") -> None:
    await kube.client.patch("apps/v1", "Deployment", name, {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": image}]}}}}, namespace=NS,
        patch_type="strategic")


def by_image(rss: list[dict]) -> dict[str, dict]:
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in rss}


def conditions(d: dict) -> dict[str, dict]:
    return {c["type"]: c for c in d["status"].get("conditions") or ()}


@dataclass
class Watermarks:
    """Extremes seen during a rollout: most active pods and RS replicas, fewest ready pods."""

    most_pods: int = 0
    most_desired: int = 0
    fewest_ready: int = 10**9
    new_before_old_gone: bool = False


def record(factory: InformerFactory, marks: Watermarks, old_image: str) -> Callable[[], None]:
    pods, rss = factory.informer("v1", "Pod").lister, factory.informer(
        "apps/v1", "ReplicaSet").lister

    def check(*_: object) -> None:
        active = [p for p in pods.list(NS) if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in active if any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in p["status"].get("conditions") or ())]
        old = [p for p in active if p["spec"]["containers"][0]["image"] == old_image]
        marks.most_pods = max(marks.most_pods, len(active))
        marks.fewest_ready = min(marks.fewest_ready, len(ready))
        marks.most_desired = max(marks.most_desired,
                                 sum(rs["spec"]["replicas"] for rs in rss.list(NS)))
        marks.new_before_old_gone |= bool(old) and len(old) < len(active)

    registrations = [factory.informer("v1", "Pod").add_handler(check, check, check),
                     factory.informer("apps/v1", "ReplicaSet").add_handler(check, check, check)]

    def stop() -> None:
        for informer, reg in zip((factory.informer("v1", "Pod"),
                                  factory.informer("apps/v1", "ReplicaSet")), registrations):
            informer.remove_handler(reg)
    return stop


async def undo(kube: Kube, to_revision: int, name: str = "web") -> None:
    """kubectl rollout undo --to-revision (kubectl's client-side DeploymentRollbacker)."""
    d = await get(kube, name)
    skip = {"kubectl.kubernetes.io/last-applied-configuration", REVISION,
            "deployment.kubernetes.io/revision-history",
            "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
            "deprecated.deployment.rollback.to"}
    [rs] = [rs for rs in await replica_sets(kube)
            if rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
            and rs["metadata"]["annotations"].get(REVISION) == str(to_revision)]
    template = rs["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    annotations = {k: v for k, v in d["metadata"]["annotations"].items() if k in skip}
    annotations.update({k: v for k, v in rs["metadata"]["annotations"].items()
                        if k not in skip})
    await kube.client.patch("apps/v1", "Deployment", name, [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations}],
        namespace=NS, patch_type="json")
