"""Kubelet and its Node: registration, Lease renewals, status heartbeats, restart, stop."""

from __future__ import annotations

import asyncio
import random

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.kubelet import Kubelet
from tests import vtime
from tests.kube import api, eventually
from tests.unit.node.kubelet_fixtures import kubelet_running


def test_node_registers_with_labels_capacity_conditions_and_events() -> None:
    async def main() -> None:
        async with api() as kube:
            cfg = NodeConfig("n1", zone="zone-b", labels={"tier": "gold"}, address="127.1.0.5",
                             taints=({"key": "dedicated", "value": "x", "effect": "NoSchedule"},))
            async with kubelet_running(kube, cfg):
                node = await eventually(lambda: _get(kube, "Node", "n1"), what="node")
                labels = node["metadata"]["labels"]
                assert labels["kubernetes.io/hostname"] == "n1"
                assert labels["topology.kubernetes.io/zone"] == "zone-b"
                assert labels["tier"] == "gold"
                assert node["spec"]["taints"] == [{"key": "dedicated", "value": "x",
                                                   "effect": "NoSchedule"}]
                status = node["status"]
                assert status["capacity"]["cpu"] == "4"
                assert status["allocatable"]["memory"] == "8092Mi"
                ready = [c for c in status["conditions"] if c["type"] == "Ready"][0]
                assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
                assert {"type": "InternalIP", "address": "127.1.0.5"} in status["addresses"]

                async def reasons() -> set[str]:
                    items = (await kube.client.list(
                        "v1", "Event", namespace="default",
                        field_selector="involvedObject.kind=Node"))["items"]
                    got = {e["reason"] for e in items}
                    return got if {"Starting", "NodeReady"} <= got else set()

                got = await eventually(reasons, what="start-up events")
                assert {"NodeHasSufficientMemory", "NodeHasNoDiskPressure",
                        "NodeHasSufficientPID"} <= got

    vtime.run(main)


def test_lease_is_owned_by_the_node_and_renewed_every_ten_seconds() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1")):
                lease = await eventually(lambda: _lease(kube), what="lease")
                node = await _get(kube, "Node", "n1")
                assert lease["spec"]["holderIdentity"] == "n1"
                assert lease["spec"]["leaseDurationSeconds"] == 40
                assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
                renew = lease["spec"]["renewTime"]
                assert renew.endswith("Z") and "." in renew  # MicroTime
                times = [renew]
                for _ in range(3):
                    await asyncio.sleep(10)
                    times.append((await _lease(kube))["spec"]["renewTime"])
                assert len(set(times)) == 4
                assert times == sorted(times)

    vtime.run(main)


def test_status_heartbeat_at_least_every_five_minutes_and_unknown_is_corrected() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1")):
                node = await eventually(lambda: _get(kube, "Node", "n1"), what="node")
                first = _ready(node)["lastHeartbeatTime"]
                await asyncio.sleep(315)  # upstream's nodeStatusReportFrequency: 5m
                node = await _get(kube, "Node", "n1")
                assert _ready(node)["lastHeartbeatTime"] > first
                # the node lifecycle controller marks the node Unknown: the kubelet answers
                conditions = [{**c, "status": "Unknown", "reason": "NodeStatusUnknown"}
                              for c in node["status"]["conditions"]]
                await kube.client.patch("v1", "Node", "n1", {"status": {"conditions": conditions}},
                                        patch_type="strategic", subresource="status")

                async def ready_again() -> bool:
                    return _ready(await _get(kube, "Node", "n1"))["status"] == "True"

                await eventually(ready_again, timeout=15, what="Ready True again")

    vtime.run(main)


def test_restarted_kubelet_adopts_its_node_and_lease() -> None:
    async def main() -> None:
        async with api() as kube:
            cfg = NodeConfig("n1")
            async with kubelet_running(kube, cfg):
                node = await eventually(lambda: _get(kube, "Node", "n1"), what="node")
                await eventually(lambda: _lease(kube), what="lease")
            await kube.client.patch("v1", "Node", "n1", {"spec": {"podCIDR": "10.244.7.0/24"},
                                                         "metadata": {"labels": {"x": "y"}}})
            cfg2 = NodeConfig("n1", labels={"tier": "gold"})
            async with kubelet_running(kube, cfg2, seed=2) as again:
                async def adopted() -> dict | None:
                    n = await _get(kube, "Node", "n1")
                    return n if n and n["metadata"]["labels"].get("tier") == "gold" else None

                n = await eventually(adopted, what="labels reconciled")
                assert n["metadata"]["uid"] == node["metadata"]["uid"]
                assert n["metadata"]["labels"]["x"] == "y"
                assert n["spec"]["podCIDR"] == "10.244.7.0/24"
                nodes = (await kube.client.list("v1", "Node"))["items"]
                assert [x["metadata"]["name"] for x in nodes] == ["n1"]
                await eventually(lambda: again.lease.renewals >= 2, what="lease renewed")

    vtime.run(main)


def test_stopped_kubelet_writes_nothing() -> None:
    async def main() -> None:
        async with api() as kube:
            kubelet = Kubelet(kube.client, kube.timing, NodeConfig("n1"), rng=random.Random(1))
            task = asyncio.create_task(kubelet.run())
            await eventually(lambda: _lease(kube), what="lease")
            await kubelet.stop()
            await asyncio.wait_for(task, 5)
            lease = await _lease(kube)
            node = await _get(kube, "Node", "n1")
            await asyncio.sleep(120)
            assert (await _lease(kube)) == lease
            assert (await _get(kube, "Node", "n1")) == node

    vtime.run(main)


async def _get(kube, kind: str, name: str, namespace: str | None = None) -> dict | None:
    try:
        return await kube.client.get("v1", kind, name, namespace=namespace)
    except NotFound:
        return None


async def _lease(kube) -> dict | None:
    try:
        return await kube.client.get("coordination.k8s.io/v1", "Lease", "n1",
                                     namespace="kube-node-lease")
    except NotFound:
        return None


def _ready(node: dict) -> dict:
    return [c for c in node["status"]["conditions"] if c["type"] == "Ready"][0]
