"""ReplicaSetController against the real in-process API server, in virtual time.

No kubelet runs: tests bind pods (the binding subresource) and write their status themselves
to make them Running and Ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.podcontrol import slow_start_batch
from kubemu.cluster.controllers.reconcile import Request
from kubemu.cluster.controllers.replicaset import ReplicaSetController
from tests import vtime
from tests.kube import Kube, api, eventually

NS = "default"


def replica_set(name: str = "web", replicas: int = 3, *, min_ready: int = 0,
                template_labels: dict | None = None, **pod_spec: object) -> dict:
    labels = template_labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels,
                                               "annotations": {"note": "from-template"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}],
                                           **pod_spec}}}}


def orphan(name: str, labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


@asynccontextmanager
async def running(kube: Kube) -> AsyncIterator[ReplicaSetController]:
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="replicaset-controller")
    ctl = ReplicaSetController(kube.client, kube.timing, factory=factory, recorder=recorder)
    tasks = [asyncio.create_task(ctl.run()), asyncio.create_task(recorder.run())]
    factory.start()
    try:
        yield ctl
    finally:
        await ctl.stop()
        await factory.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def pods(kube: Kube, *, active_only: bool = True) -> list[dict]:
    items = (await kube.client.list("v1", "Pod", namespace=NS))["items"]
    return [p for p in items if not (active_only and p["metadata"].get("deletionTimestamp"))]


def owned_by(items: list[dict], rs: dict) -> list[dict]:
    uid = rs["metadata"]["uid"]
    return [p for p in items if any(r["uid"] == uid and r.get("controller")
                                    for r in p["metadata"].get("ownerReferences") or ())]


async def get_rs(kube: Kube, name: str = "web") -> dict:
    return await kube.client.get("apps/v1", "ReplicaSet", name, namespace=NS)


async def set_state(kube: Kube, pod: dict, state: str) -> None:
    """Make a pod unassigned, pending (bound), running (bound, Running) or ready."""
    name = pod["metadata"]["name"]
    if state == "unassigned":
        return
    await kube.client.create({"apiVersion": "v1", "kind": "Binding",
                              "metadata": {"name": name, "namespace": NS},
                              "target": {"kind": "Node", "name": "n1"}},
                             subresource="binding", namespace=NS)
    if state == "pending":
        return
    status: dict = {"phase": "Running"}
    if state == "ready":
        status["conditions"] = [{"type": "Ready", "status": "True",
                                 "lastTransitionTime": rfc3339(kube.timing.wall())}]
    await kube.client.patch("v1", "Pod", name, {"status": status}, namespace=NS,
                            subresource="status")


async def events(kube: Kube, reason: str) -> list[dict]:
    items = (await kube.client.list("v1", "Event", namespace=NS))["items"]
    return [e for e in items if e["reason"] == reason]


def test_creates_replicas_from_the_template_with_controller_refs() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            rs = await kube.client.create(replica_set(replicas=3))

            async def three() -> list[dict]:
                items = await pods(kube)
                return items if len(items) == 3 else []

            items = await eventually(three, what="three pods")
            for p in items:
                md = p["metadata"]
                assert md["generateName"] == "web-" and md["name"].startswith("web-")
                assert md["labels"] == {"app": "web"}
                assert md["annotations"] == {"note": "from-template"}
                assert md["ownerReferences"] == [{
                    "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": rs["metadata"]["uid"], "controller": True,
                    "blockOwnerDeletion": True}]
            status = (await eventually(
                lambda: _status_when(kube, lambda s: s.get("replicas") == 3)))
            assert status["observedGeneration"] == 1
            assert status["fullyLabeledReplicas"] == 3
            assert "readyReplicas" not in status and "conditions" not in status
            created = await eventually(lambda: _at_least(events(kube, "SuccessfulCreate"), 3))
            assert {e["message"] for e in created} == {
                f"Created pod: {p['metadata']['name']}" for p in items}

    vtime.run(main)


@pytest.mark.parametrize("doomed, survivor", [
    pytest.param("unassigned", "pending", id="unassigned-before-assigned"),
    pytest.param("pending", "running", id="pending-before-running"),
    pytest.param("running", "ready", id="unready-before-ready"),
])
def test_scaling_down_removes_the_least_valuable_pods_first(doomed: str,
                                                            survivor: str) -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await kube.client.create(replica_set(replicas=2))
            first, second = await eventually(lambda: _exactly(pods(kube), 2))
            await set_state(kube, first, doomed)
            await set_state(kube, second, survivor)
            await eventually(lambda: _status_when(
                kube, lambda s: s.get("readyReplicas", 0) == (survivor == "ready")))
            await kube.client.patch("apps/v1", "ReplicaSet", "web", {"spec": {"replicas": 1}},
                                    namespace=NS)
            (left,) = await eventually(lambda: _exactly(pods(kube), 1))
            assert left["metadata"]["name"] == second["metadata"]["name"]
            await eventually(lambda: _status_when(kube, lambda s: s["replicas"] == 1))
            deleted = await eventually(lambda: _at_least(events(kube, "SuccessfulDelete"), 1))
            assert deleted[0]["message"] == f"Deleted pod: {first['metadata']['name']}"

    vtime.run(main)


def test_a_deleted_pod_is_replaced() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await kube.client.create(replica_set(replicas=3))
            items = await eventually(lambda: _exactly(pods(kube), 3))
            victim = items[0]["metadata"]["name"]
            await kube.client.delete("v1", "Pod", victim, namespace=NS)

            async def replaced() -> list[dict]:
                now = await pods(kube)
                names = {p["metadata"]["name"] for p in now}
                return now if len(now) == 3 and victim not in names else []

            await eventually(replaced, what="a replacement pod")
            await asyncio.sleep(30)  # nothing more happens
            assert len(await pods(kube)) == 3

    vtime.run(main)


def test_expectations_prevent_double_creation_until_the_informer_catches_up() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(replica_set(replicas=3))
            factory = InformerFactory(kube.client, kube.timing)
            ctl = ReplicaSetController(kube.client, kube.timing, factory=factory)
            factory.start()
            assert await factory.wait_synced()
            ctl.pod_informer.stop()  # the pod cache lags forever from here on
            request = Request(NS, "web")
            await ctl.reconcile(request)
            await ctl.reconcile(request)  # the cache still shows no pods
            assert len(await pods(kube)) == 3
            await asyncio.sleep(299)
            await ctl.reconcile(request)
            assert len(await pods(kube)) == 3
            await asyncio.sleep(2)  # past upstream's 5 minute expectations timeout
            await ctl.reconcile(request)
            assert len(await pods(kube)) == 6
            await kube.client.delete("apps/v1", "ReplicaSet", "web", namespace=NS)
            await eventually(lambda: ctl.rs_informer.lister.get("web", NS) is None)
            await ctl.reconcile(request)
            assert ctl.expectations.get("default/web") is None
            await factory.stop()

    vtime.run(main)


def test_orphans_are_adopted_and_released_when_their_labels_change() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(orphan("stray", {"app": "web"}))
            await kube.client.create(orphan("other", {"app": "db"}))
            async with running(kube):
                rs = await kube.client.create(replica_set(replicas=2))
                await eventually(lambda: _exactly(pods(kube), 3))
                stray = await kube.client.get("v1", "Pod", "stray", namespace=NS)
                assert owned_by([stray], rs), "the matching orphan was adopted"
                assert stray["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is True
                other = await kube.client.get("v1", "Pod", "other", namespace=NS)
                assert not other["metadata"].get("ownerReferences")

                await kube.client.patch("v1", "Pod", "stray",
                                        {"metadata": {"labels": {"app": "gone"}}},
                                        namespace=NS)

                async def released() -> bool:
                    items = await pods(kube)
                    stray = next(p for p in items if p["metadata"]["name"] == "stray")
                    return not stray["metadata"].get("ownerReferences") and \
                        len(owned_by(items, rs)) == 2

                await eventually(released, what="stray released and replaced")

    vtime.run(main)


def test_status_counts_ready_then_available_after_min_ready_seconds() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(orphan("partly-labeled", {"app": "web"}))
            async with running(kube):
                await kube.client.create(replica_set(
                    replicas=2, min_ready=30, template_labels={"app": "web", "tier": "fe"}))
                items = await eventually(lambda: _exactly(pods(kube), 2))
                status = await eventually(lambda: _status_when(
                    kube, lambda s: s.get("replicas") == 2))
                assert status["fullyLabeledReplicas"] == 1
                for p in items:
                    await set_state(kube, p, "ready")
                ready_at = kube.timing.clock.now()
                status = await eventually(lambda: _status_when(
                    kube, lambda s: s.get("readyReplicas") == 2))
                assert "availableReplicas" not in status
                await eventually(lambda: _status_when(
                    kube, lambda s: s.get("availableReplicas") == 2), timeout=120)
                waited = kube.timing.clock.now() - ready_at
                assert 30 <= waited < 31

    vtime.run(main)


def test_failed_creates_set_replica_failure_until_creates_succeed() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await kube.client.create(replica_set(replicas=2, priorityClassName="gold"))
            status = await eventually(lambda: _status_when(
                kube, lambda s: s.get("conditions")))
            (cond,) = status["conditions"]
            assert cond["type"] == "ReplicaFailure" and cond["status"] == "True"
            assert cond["reason"] == "FailedCreate"
            assert "no PriorityClass with name gold was found" in cond["message"]
            failed = await eventually(lambda: _at_least(events(kube, "FailedCreate"), 1))
            assert failed[0]["type"] == "Warning"
            assert failed[0]["message"].startswith("Error creating: ")
            assert await pods(kube) == []
            await kube.client.create({"apiVersion": "scheduling.k8s.io/v1",
                                      "kind": "PriorityClass", "metadata": {"name": "gold"},
                                      "value": 1000})
            await eventually(lambda: _exactly(pods(kube), 2), timeout=600)
            status = await eventually(lambda: _status_when(
                kube, lambda s: s.get("replicas") == 2 and "conditions" not in s))

    vtime.run(main)


def test_a_replica_set_being_deleted_neither_creates_nor_adopts() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(orphan("stray", {"app": "web"}))
            rs = replica_set(replicas=2)
            rs["metadata"]["finalizers"] = ["example.com/hold"]
            await kube.client.create(rs)
            await kube.client.delete("apps/v1", "ReplicaSet", "web", namespace=NS)
            async with running(kube):
                await eventually(lambda: _status_when(kube, lambda s: "replicas" in s))
                await asyncio.sleep(30)
                items = await pods(kube)
                assert [p["metadata"]["name"] for p in items] == ["stray"]
                assert not items[0]["metadata"].get("ownerReferences")

    vtime.run(main)


def test_slow_start_batches_double_and_stop_at_the_first_failure() -> None:
    async def main() -> None:
        calls: list[int] = []

        async def succeed() -> None:
            calls.append(1)

        assert await slow_start_batch(10, 1, succeed) == (10, None)
        assert len(calls) == 10
        calls.clear()

        async def fail_from_fourth() -> None:
            calls.append(1)
            if len(calls) >= 4:
                raise RuntimeError("quota")

        successes, err = await slow_start_batch(10, 1, fail_from_fourth)
        assert len(calls) == 7  # batches of 1, 2, 4: the third batch fails
        assert successes == 3 and isinstance(err, RuntimeError)

    vtime.run(main)


# -- helpers ---------------------------------------------------------------------------------

async def _status_when(kube: Kube, check) -> dict | None:  # type: ignore[no-untyped-def]
    status = (await get_rs(kube)).get("status") or {}
    return status if check(status) else None


async def _exactly(items_future, n: int) -> list[dict]:  # type: ignore[no-untyped-def]
    items = await items_future
    return items if len(items) == n else []


async def _at_least(items_future, n: int) -> list[dict]:  # type: ignore[no-untyped-def]
    items = await items_future
    return items if len(items) >= n else []
