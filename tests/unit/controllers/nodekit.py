"""Playing the kubelet in node controller tests: a Node, its kube-node-lease Lease, a Ready
condition, and a heartbeat loop the test can silence and revive.

`FakeKubelet.run()` renews the Lease every `period` Kubernetes seconds while `alive`;
`last_renew` is the loop time of the last renewal, so tests can bound how long the controller
took to notice. Pods are created bound to a node (`bound_pod`) and marked Running/Ready.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import rfc3339
from tests.kube import Kube

LEASE_NS = "kube-node-lease"


def micro_time(wall: float) -> str:
    return datetime.fromtimestamp(wall, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeKubelet:
    def __init__(self, kube: Kube, name: str, *, labels: dict | None = None,
                 period: float = 10.0) -> None:
        self.kube = kube
        self.name = name
        self.labels = labels or {}
        self.period = period
        self.alive = True
        self.last_renew = 0.0

    async def register(self, *, ready: str | None = "True", lease: bool = True,
                       unschedulable: bool = False) -> dict:
        node: dict = {"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": self.name, "labels": dict(self.labels)}}
        if unschedulable:
            node["spec"] = {"unschedulable": True}
        created = await self.kube.client.create(node)
        if ready is not None:
            created = await self.post_status(ready=ready)
        if lease:
            await self.kube.client.create({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": LEASE_NS},
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40,
                         "renewTime": micro_time(self.kube.timing.wall())}})
            self.last_renew = asyncio.get_running_loop().time()
        return created

    async def post_status(self, *, ready: str = "True", **others: str) -> dict:
        """Post the Ready condition (and e.g. MemoryPressure="True") as the kubelet does."""
        stamp = rfc3339(self.kube.timing.wall())
        conds = [{"type": "Ready", "status": ready, "reason": "KubeletReady"
                  if ready == "True" else "KubeletNotReady", "message": "kubelet",
                  "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}]
        for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            conds.append({"type": type_, "status": others.get(type_, "False"),
                          "lastHeartbeatTime": stamp, "lastTransitionTime": stamp})
        return await self.kube.client.patch("v1", "Node", self.name,
                                            {"status": {"conditions": conds}},
                                            patch_type="strategic", subresource="status")

    async def renew(self) -> None:
        await self.kube.client.patch("coordination.k8s.io/v1", "Lease", self.name,
                                     {"spec": {"renewTime": micro_time(
                                         self.kube.timing.wall())}}, namespace=LEASE_NS)
        self.last_renew = asyncio.get_running_loop().time()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            if self.alive:
                await self.renew()

    async def node(self) -> dict:
        return await self.kube.client.get("v1", "Node", self.name)


async def bound_pod(kube: Kube, name: str, node: str, *, tolerations: list | None = None,
                    namespace: str = "default") -> dict:
    spec: dict = {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": name, "namespace": namespace},
                              "spec": spec})
    return await kube.client.patch("v1", "Pod", name, {"status": {
        "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        namespace=namespace, patch_type="strategic", subresource="status")


async def pod_or_none(kube: Kube, name: str, namespace: str = "default") -> dict | None:
    try:
        return await kube.client.get("v1", "Pod", name, namespace=namespace)
    except NotFound:
        return None


def taint_keys(node: dict, effect: str) -> set[str]:
    return {t["key"] for t in (node.get("spec") or {}).get("taints") or ()
            if t.get("effect") == effect}


def condition(obj: dict, type_: str) -> dict:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond["type"] == type_:
            return cond
    return {}


async def events(kube: Kube, name: str, reason: str) -> list[dict]:
    items = (await kube.client.list("v1", "Event", namespace="default",
                                    field_selector=f"involvedObject.name={name}"))["items"]
    return [e for e in items if e["reason"] == reason]
