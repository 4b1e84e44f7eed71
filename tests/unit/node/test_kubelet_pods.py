"""Kubelet and its pods: start with an IP from the podCIDR, terminate, reject, evict."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from kubemu.cluster.api.errors import Invalid, NotFound
from kubemu.cluster.node.config import NodeConfig
from tests import vtime
from tests.kube import api, eventually
from tests.unit.node.kubelet_fixtures import kubelet_running, pod

CIDR = "10.244.1.0/24"


def test_bound_pod_runs_with_ip_from_pod_cidr_and_host_ip() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR,
                                                        address="127.1.0.3")) as kubelet:
                await kube.client.create(pod("web"))
                status = await eventually(lambda: _phase(kube, "web", "Running"), what="Running")
                assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(CIDR)
                assert status["podIP"] not in ("10.244.1.0", "10.244.1.1")
                assert status["hostIP"] == "127.1.0.3"
                assert kubelet.logs("default", "web", "c") is not None

    vtime.run(main)


def test_pods_wait_for_the_node_ipam_pod_cidr() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1")):
                await eventually(lambda: _exists(kube, "Node", "n1"), what="node")
                await kube.client.create(pod("web"))
                await asyncio.sleep(30)
                current = await kube.client.get("v1", "Pod", "web", namespace="default")
                assert current["status"].get("phase") == "Pending"
                assert not current["status"].get("podIP")
                await kube.client.patch("v1", "Node", "n1", {"spec": {
                    "podCIDR": "10.244.9.0/24", "podCIDRs": ["10.244.9.0/24"]}})
                status = await eventually(lambda: _phase(kube, "web", "Running"), what="Running")
                assert status["podIP"].startswith("10.244.9.")

    vtime.run(main)


def test_host_network_pod_uses_the_node_address() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", address="127.1.0.4")):
                p = pod("hostnet")
                p["spec"]["hostNetwork"] = True
                await kube.client.create(p)
                status = await eventually(lambda: _phase(kube, "hostnet", "Running"),
                                          what="Running without a pod CIDR")
                assert status["podIP"] == "127.1.0.4"

    vtime.run(main)


def test_deleted_pod_terminates_and_disappears() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)) as kubelet:
                await kube.client.create(pod("web", grace=30))
                await eventually(lambda: _phase(kube, "web", "Running"), what="Running")
                await kube.client.delete("v1", "Pod", "web", namespace="default")
                gone = await kube.client.get("v1", "Pod", "web", namespace="default")
                assert gone["metadata"].get("deletionTimestamp")  # graceful: kubelet finishes
                await eventually(lambda: _gone(kube, "web"), timeout=40, what="pod deleted")
                await eventually(lambda: not kubelet.pods, what="worker ended")

    vtime.run(main)


def test_pod_that_does_not_fit_is_rejected_out_of_cpu() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)):
                await kube.client.create(pod("big", cpu="3800m"))
                await eventually(lambda: _phase(kube, "big", "Running"), what="Running")
                await kube.client.create(pod("more", cpu="500m"))
                status = await eventually(lambda: _phase(kube, "more", "Failed"),
                                          what="rejected")
                assert status["reason"] == "OutOfcpu"
                assert status["message"] == (
                    "Pod was rejected: Node didn't have enough resource: cpu, requested: 500, "
                    "used: 3800, capacity: 4000")
                assert not status.get("podIP")

                async def warned() -> list:
                    items = (await kube.client.list(
                        "v1", "Event", namespace="default",
                        field_selector="involvedObject.name=more"))["items"]
                    return [e for e in items if e["reason"] == "OutOfcpu"]

                [event] = await eventually(warned, what="OutOfcpu event")
                assert event["type"] == "Warning"

    vtime.run(main)


def test_memory_pressure_evicts_best_effort_pod_first_and_taints_node() -> None:
    async def main() -> None:
        async with api() as kube:
            cfg = NodeConfig("n1", memory="1Gi", pod_cidr=CIDR)  # allocatable 924Mi
            async with kubelet_running(kube, cfg):
                await kube.client.create(pod("guaranteed", memory="750Mi",
                                             annotations={"kubemu.io/memory": "700Mi"}))
                await kube.client.create(pod("besteffort",
                                             annotations={"kubemu.io/memory": "300Mi"}))
                await eventually(lambda: _phase(kube, "besteffort", "Running"), what="Running")
                await eventually(lambda: _phase(kube, "guaranteed", "Running"), what="Running")
                status = await eventually(lambda: _phase(kube, "besteffort", "Failed"),
                                          timeout=30, what="evicted")
                assert status["reason"] == "Evicted"
                assert status["message"].startswith(
                    "The node was low on resource: memory. Threshold quantity: 100Mi, "
                    "available: ")
                assert "Container c was using 300Mi, request is 0" in status["message"]
                node = await kube.client.get("v1", "Node", "n1")
                pressure = [c for c in node["status"]["conditions"]
                            if c["type"] == "MemoryPressure"][0]
                assert (pressure["status"], pressure["reason"]) == (
                    "True", "KubeletHasInsufficientMemory")
                assert {"key": "node.kubernetes.io/memory-pressure",
                        "effect": "NoSchedule"} in node["spec"]["taints"]
                await asyncio.sleep(60)
                assert (await _phase(kube, "guaranteed", "Running"))  # one eviction was enough

                async def cleared() -> bool:
                    n = await kube.client.get("v1", "Node", "n1")
                    mem = [c for c in n["status"]["conditions"] if c["type"] == "MemoryPressure"]
                    return mem[0]["status"] == "False" and not n["spec"].get("taints")

                await eventually(cleared, timeout=320, what="pressure cleared after 5 min")

    vtime.run(main)


def test_recreated_pod_with_same_name_is_a_new_pod() -> None:
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)) as kubelet:
                first = await kube.client.create(pod("web"))
                await eventually(lambda: _phase(kube, "web", "Running"), what="Running")
                await kube.client.delete("v1", "Pod", "web", namespace="default",
                                         grace_period_seconds=0)
                second = await kube.client.create(pod("web"))
                assert second["metadata"]["uid"] != first["metadata"]["uid"]
                await eventually(lambda: _phase(kube, "web", "Running"), what="Running again")
                await eventually(lambda: list(kubelet.pods) == [second["metadata"]["uid"]],
                                 what="only the new pod's worker")

    vtime.run(main)


def test_a_ready_condition_another_writer_sets_false_is_written_back() -> None:
    """The node lifecycle controller marks a node's pods not ready when the node misses its
    Leases (MarkPodsNotReady); a kubelet that is still alive writes its own status back, as
    upstream's status manager reconciles, instead of leaving the pod unready for good."""
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)):
                await kube.client.create(pod("web"))
                await eventually(lambda: _ready(kube, "web", "True"), what="Ready")
                current = await kube.client.get("v1", "Pod", "web", namespace="default")
                for condition in current["status"]["conditions"]:
                    if condition["type"] == "Ready":
                        condition["status"] = "False"
                await kube.client.update(current, subresource="status")
                await eventually(lambda: _ready(kube, "web", "True"), what="Ready again")

    vtime.run(main)


def test_a_pod_turning_ready_loses_the_reason_and_message_it_had_while_not_ready() -> None:
    """Written first as ContainerCreating (Ready False, ContainersNotReady, "containers with
    unready status"), then Ready: the conditions read back hold no stale reason or message,
    as upstream's status manager's two-way merge patch clears them."""
    async def main() -> None:
        async with api() as kube:
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)):
                await kube.client.create(pod("web"))
                await eventually(lambda: _ready(kube, "web", "True"), what="Ready")
                current = await kube.client.get("v1", "Pod", "web", namespace="default")
                conditions = {c["type"]: c for c in current["status"]["conditions"]}
                for kind in ("Ready", "ContainersReady"):
                    assert conditions[kind]["status"] == "True"
                    assert "reason" not in conditions[kind], conditions[kind]
                    assert "message" not in conditions[kind], conditions[kind]

    vtime.run(main)


def test_a_pod_bound_by_its_spec_runs_with_two_status_writes() -> None:
    """Pending (ContainerCreating), then Running and Ready: no write repeats what the API
    server already holds (a default PodScheduled condition read back used to cause one)."""
    async def main() -> None:
        async with api() as kube:
            writes: list[bytes] = []
            handle = kube.server.router.handle

            async def counting(req):
                if req.method == "PATCH" and req.path.endswith("/pods/web/status"):
                    writes.append(req.body)
                return await handle(req)

            kube.server.router.handle = counting
            async with kubelet_running(kube, NodeConfig("n1", pod_cidr=CIDR)):
                await kube.client.create(pod("web"))
                await eventually(lambda: _ready(kube, "web", "True"), what="Ready")
                await asyncio.sleep(60)  # nothing changes: nothing more is written
            assert len(writes) == 2, writes

    vtime.run(main)


def test_status_patch_with_a_stale_uid_is_rejected() -> None:
    """What PodDriver relies on: the API server never applies a status meant for a pod of the
    same name that was deleted and recreated."""
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(pod("web"))
            with pytest.raises(Invalid, match="metadata.uid"):
                await kube.client.patch("v1", "Pod", "web", {
                    "metadata": {"uid": "0000-stale"}, "status": {"phase": "Running"}},
                    namespace="default", patch_type="strategic", subresource="status")
            current = await kube.client.get("v1", "Pod", "web", namespace="default")
            assert current["status"]["phase"] == "Pending"

    vtime.run(main)


async def _phase(kube, name: str, phase: str) -> dict | None:
    try:
        current = await kube.client.get("v1", "Pod", name, namespace="default")
    except NotFound:
        return None
    status = current.get("status") or {}
    return status if status.get("phase") == phase else None


async def _ready(kube, name: str, status: str) -> bool:
    current = await kube.client.get("v1", "Pod", name, namespace="default")
    return any(c["type"] == "Ready" and c["status"] == status
               for c in (current.get("status") or {}).get("conditions") or ())


async def _gone(kube, name: str) -> bool:
    try:
        await kube.client.get("v1", "Pod", name, namespace="default")
    except NotFound:
        return True
    return False


async def _exists(kube, kind: str, name: str) -> bool:
    try:
        await kube.client.get("v1", kind, name)
    except NotFound:
        return False
    return True
