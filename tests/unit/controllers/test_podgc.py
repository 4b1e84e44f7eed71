"""PodGCController: orphans of deleted nodes, surplus terminated pods, terminating pods on
out-of-service nodes -- all force-deleted (grace period 0: gone at once, no kubelet needed)."""

from __future__ import annotations

import asyncio

from kubemu.cluster.controllers.podgc import PodGCController
from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.nodekit import FakeKubelet, bound_pod, pod_or_none


async def _start(kube: Kube, **options: object) -> tuple[PodGCController, asyncio.Task]:
    gc = PodGCController(kube.client, kube.timing, **options)  # type: ignore[arg-type]
    return gc, asyncio.create_task(gc.run())


async def _gone(kube: Kube, name: str) -> bool:
    return await pod_or_none(kube, name) is None


def test_pods_of_a_deleted_node_are_force_deleted_after_quarantine() -> None:
    async def main() -> None:
        async with api() as kube:
            for name in ("n0", "n1"):
                await FakeKubelet(kube, name).register(lease=False)
            await bound_pod(kube, "orphan", "n1")
            await bound_pod(kube, "kept", "n0")
            seen: list[dict] = []

            async def watch() -> None:
                async for event in kube.client.watch("v1", "Pod", namespace="default",
                                                     field_selector="metadata.name=orphan"):
                    if event["type"] != "BOOKMARK":  # they may come at any time
                        seen.append(event)

            watcher = asyncio.create_task(watch())
            gc, task = await _start(kube)
            await asyncio.sleep(1)
            loop = asyncio.get_running_loop()
            await kube.client.delete("v1", "Node", "n1")
            deleted_at = loop.time()
            await asyncio.sleep(35)
            assert await pod_or_none(kube, "orphan") is not None  # quarantined, not yet
            await eventually(lambda: _gone(kube, "orphan"), timeout=60, what="orphan gone")
            assert 40 <= loop.time() - deleted_at <= 40 + 20 + 1
            assert await pod_or_none(kube, "kept") is not None
            await eventually(lambda: seen and seen[-1]["type"] == "DELETED", timeout=5)
            last = seen[-1]["object"]["status"]
            assert last["phase"] == "Failed"
            assert [(c["type"], c["reason"]) for c in last["conditions"]
                    if c["type"] == "DisruptionTarget"] == [("DisruptionTarget",
                                                            "DeletionByPodGC")]
            watcher.cancel()
            await gc.stop()
            await task

    vtime.run(main)


def test_node_recreated_within_quarantine_keeps_its_pods() -> None:
    async def main() -> None:
        async with api() as kube:
            await FakeKubelet(kube, "n1").register(lease=False)
            await bound_pod(kube, "p", "n1")
            gc, task = await _start(kube)
            await kube.client.delete("v1", "Node", "n1")
            await asyncio.sleep(25)
            await FakeKubelet(kube, "n1").register(lease=False)
            await asyncio.sleep(100)
            assert await pod_or_none(kube, "p") is not None
            await gc.stop()
            await task

    vtime.run(main)


def test_terminated_pods_beyond_threshold_are_deleted_oldest_first() -> None:
    async def main() -> None:
        async with api() as kube:
            for i in range(4):
                await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                                          "metadata": {"name": f"done-{i}"},
                                          "spec": {"containers": [{"name": "c",
                                                                   "image": "busybox"}]}})
                await kube.client.patch("v1", "Pod", f"done-{i}",
                                        {"status": {"phase": "Succeeded"}},
                                        subresource="status")
                await asyncio.sleep(2)  # distinct creationTimestamps
            await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                                      "metadata": {"name": "running"},
                                      "spec": {"containers": [{"name": "c", "image": "x"}]}})
            gc, task = await _start(kube, terminated_pod_threshold=2)

            async def remaining() -> list[str] | None:
                items = (await kube.client.list("v1", "Pod", namespace="default"))["items"]
                names = sorted(p["metadata"]["name"] for p in items)
                return names if len(names) == 3 else None

            assert await eventually(remaining, timeout=30) == ["done-2", "done-3", "running"]
            await gc.stop()
            await task

    vtime.run(main)


def test_pods_that_finish_after_the_collector_started_are_counted() -> None:
    """The collector follows phase changes (its index of the pod cache), not a listing."""
    async def main() -> None:
        async with api() as kube:
            for name in ("a", "b", "c"):
                await kube.client.create({"apiVersion": "v1", "kind": "Pod",
                                          "metadata": {"name": name},
                                          "spec": {"containers": [{"name": "c",
                                                                   "image": "busybox"}]}})
                await asyncio.sleep(2)  # distinct creationTimestamps
            gc, task = await _start(kube, terminated_pod_threshold=1)
            assert await gc.pods.wait_synced(timeout=30)
            await gc.gc()  # nothing terminated yet: a pass deletes nothing
            assert all([await pod_or_none(kube, n) for n in ("a", "b", "c")])
            for name in ("a", "b"):
                await kube.client.patch("v1", "Pod", name, {"status": {"phase": "Failed"}},
                                        subresource="status")
            assert await eventually(lambda: _gone(kube, "a"), timeout=60)
            assert await pod_or_none(kube, "b") and await pod_or_none(kube, "c")
            await gc.stop()
            await task

    vtime.run(main)


def test_terminating_pods_on_out_of_service_nodes_are_force_deleted() -> None:
    async def main() -> None:
        async with api() as kube:
            await FakeKubelet(kube, "down").register(ready="False", lease=False)
            await FakeKubelet(kube, "flaky").register(ready="False", lease=False)
            await bound_pod(kube, "stuck", "down")
            await bound_pod(kube, "waiting", "flaky")
            for name in ("stuck", "waiting"):
                await kube.client.delete("v1", "Pod", name, namespace="default")
            await kube.client.patch("v1", "Node", "down", {"spec": {"taints": [
                {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown",
                 "effect": "NoExecute"}]}})
            gc, task = await _start(kube)
            await eventually(lambda: _gone(kube, "stuck"), timeout=30, what="stuck pod gone")
            waiting = await pod_or_none(kube, "waiting")
            assert waiting is not None and waiting["metadata"]["deletionTimestamp"]
            await gc.stop()
            await task

    vtime.run(main)
