"""DisruptionController against the real in-process API server, in virtual time, and the
eviction subresource it feeds (429 while a budget allows no disruption, 201 when it does).

No kubelet and no ReplicaSet controller run: tests create the workload objects and their
pods (with controller ownerReferences) and write the pods' Ready condition themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from kubemu.cluster.api.errors import TooManyRequests
from kubemu.cluster.controllers.disruption import (
    DELETION_TIMEOUT, DisruptionController, count_healthy, expected_and_desired)
from tests import vtime
from tests.kube import Kube, api, eventually

NS = "default"


@asynccontextmanager
async def running(kube: Kube) -> AsyncIterator[DisruptionController]:
    ctl = DisruptionController(kube.client, kube.timing)
    task = asyncio.create_task(ctl.run())
    try:
        yield ctl
    finally:
        await ctl.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def workload(kube: Kube, kind: str, name: str, replicas: int, *,
                   owner: dict | None = None) -> dict:
    obj = {"apiVersion": "apps/v1", "kind": kind,
           "metadata": {"name": name, "namespace": NS},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    if kind == "StatefulSet":
        obj["spec"]["serviceName"] = name
    if owner is not None:
        obj["metadata"]["ownerReferences"] = [_ref(owner)]
    return await kube.client.create(obj)


async def pod(kube: Kube, name: str, *, owner: dict | None, ready: bool = True) -> dict:
    md: dict = {"name": name, "namespace": NS, "labels": {"app": "web"}}
    if owner is not None:
        md["ownerReferences"] = [_ref(owner)]
    created = await kube.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": md,
                                        "spec": {"containers": [{"name": "c",
                                                                 "image": "nginx"}]}})
    await kube.client.create({"apiVersion": "v1", "kind": "Binding",
                              "metadata": {"name": name, "namespace": NS},
                              "target": {"kind": "Node", "name": "n1"}},
                             subresource="binding", namespace=NS)
    await set_ready(kube, name, ready)
    return created


async def set_ready(kube: Kube, name: str, ready: bool) -> None:
    status = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    await kube.client.patch("v1", "Pod", name, {"status": status}, namespace=NS,
                            subresource="status")


async def budget(kube: Kube, **spec: object) -> dict:
    return await kube.client.create({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}})


async def status_where(kube: Kube, *, timeout: float = 60.0, **expected: object) -> dict:
    async def check() -> dict | None:
        pdb = await kube.client.get("policy/v1", "PodDisruptionBudget", "web", namespace=NS)
        status = pdb.get("status") or {}
        return status if all(status.get(k) == v for k, v in expected.items()) else None

    return await eventually(check, timeout=timeout, what=f"pdb status {expected}")


async def evict(kube: Kube, name: str) -> dict:
    return await kube.client.create({"apiVersion": "policy/v1", "kind": "Eviction",
                                     "metadata": {"name": name, "namespace": NS}},
                                    subresource="eviction", namespace=NS)


def _ref(owner: dict) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _condition(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")


@pytest.mark.parametrize(("spec", "unready", "expected"), [
    pytest.param({"minAvailable": 2}, 0, (3, 2, 3, 1), id="min-available-2"),
    pytest.param({"maxUnavailable": 1}, 0, (3, 2, 3, 1), id="max-unavailable-1"),
    pytest.param({"minAvailable": "50%"}, 0, (3, 2, 3, 1), id="min-available-percent-rounds-up"),
    pytest.param({"maxUnavailable": "34%"}, 0, (3, 1, 3, 2), id="max-unavailable-percent"),
    pytest.param({"maxUnavailable": 0}, 0, (3, 3, 3, 0), id="max-unavailable-0-allows-none"),
    pytest.param({"minAvailable": 2}, 1, (3, 2, 2, 0), id="an-unready-pod-is-not-healthy"),
])
def test_status_of_a_budget_over_a_three_replica_set(spec: dict, unready: int,
                                                     expected: tuple) -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            rs = await workload(kube, "ReplicaSet", "web", 3)
            for i in range(3):
                await pod(kube, f"web-{i}", owner=rs, ready=i >= unready)
            await budget(kube, **spec)
            exp, desired, healthy, allowed = expected
            status = await status_where(kube, expectedPods=exp, desiredHealthy=desired,
                                        currentHealthy=healthy, disruptionsAllowed=allowed)
            assert status["observedGeneration"] == 1
            cond = _condition(status)
            assert (cond["status"], cond["reason"]) == (
                ("True", "SufficientPods") if allowed else ("False", "InsufficientPods"))

    vtime.run(main)


def test_eviction_is_refused_with_429_until_the_budget_allows_it() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            rs = await workload(kube, "ReplicaSet", "web", 3)
            for i in range(3):
                await pod(kube, f"web-{i}", owner=rs)
            await budget(kube, minAvailable=2)
            await status_where(kube, disruptionsAllowed=1)
            assert (await evict(kube, "web-0"))["code"] == 201
            after = await kube.client.get("policy/v1", "PodDisruptionBudget", "web",
                                          namespace=NS)
            assert after["status"]["disruptionsAllowed"] == 0
            assert "web-0" in after["status"]["disruptedPods"]
            gone = await kube.client.get("v1", "Pod", "web-0", namespace=NS)
            assert gone["metadata"]["deletionTimestamp"]
            assert {"type": "DisruptionTarget", "reason": "EvictionByEvictionAPI"}.items() <= \
                next(c for c in gone["status"]["conditions"]
                     if c["type"] == "DisruptionTarget").items()
            status = await status_where(kube, currentHealthy=2, disruptionsAllowed=0)
            assert "disruptedPods" not in status  # the pod is terminating: entry settled
            with pytest.raises(TooManyRequests) as refused:
                await evict(kube, "web-1")
            assert "would violate the pod's disruption budget" in refused.value.message
            assert refused.value.details["causes"][0]["message"] == \
                "The disruption budget web needs 2 healthy pods and has 2 currently"
            await pod(kube, "web-3", owner=rs)  # the replacement becomes Ready
            await status_where(kube, currentHealthy=3, disruptionsAllowed=1)
            assert (await evict(kube, "web-1"))["code"] == 201

    vtime.run(main)


def test_a_disrupted_pod_that_is_not_deleted_counts_again_after_two_minutes() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            rs = await workload(kube, "ReplicaSet", "web", 3)
            for i in range(3):
                await pod(kube, f"web-{i}", owner=rs)
            pdb = await budget(kube, maxUnavailable=1)
            await status_where(kube, disruptionsAllowed=1)
            pdb = await kube.client.get("policy/v1", "PodDisruptionBudget", "web",
                                        namespace=NS)
            pdb["status"]["disruptedPods"] = {"web-2": "2027-01-15T08:00:00Z"}
            pdb["status"]["disruptionsAllowed"] = 0
            await kube.client.update(pdb, subresource="status")
            loop = asyncio.get_running_loop()
            start = loop.time()
            await status_where(kube, currentHealthy=2, disruptionsAllowed=0)
            status = await status_where(kube, currentHealthy=3, disruptionsAllowed=1,
                                        timeout=DELETION_TIMEOUT + 10)
            assert "disruptedPods" not in status
            assert DELETION_TIMEOUT <= loop.time() - start <= DELETION_TIMEOUT + 5
            events = (await kube.client.list("v1", "Event", namespace=NS))["items"]
            assert any(e["reason"] == "NotDeleted" for e in events)

    vtime.run(main)


def test_a_replica_set_of_a_deployment_counts_the_deployments_replicas() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            deploy = await workload(kube, "Deployment", "web", 5)
            rs = await workload(kube, "ReplicaSet", "web-abc", 3, owner=deploy)
            for i in range(3):
                await pod(kube, f"web-{i}", owner=rs)
            await budget(kube, maxUnavailable=1)
            await status_where(kube, expectedPods=5, desiredHealthy=4, currentHealthy=3,
                               disruptionsAllowed=0)

    vtime.run(main)


def test_a_statefulset_counts_its_replicas() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            sts = await workload(kube, "StatefulSet", "web", 2)
            for i in range(2):
                await pod(kube, f"web-{i}", owner=sts)
            await budget(kube, minAvailable="50%")
            await status_where(kube, expectedPods=2, desiredHealthy=1, disruptionsAllowed=1)

    vtime.run(main)


def test_a_pod_whose_controller_is_missing_fails_safe() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            ghost = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "metadata": {"name": "ghost", "uid": "0000-gone"}}
            for i in range(2):
                await pod(kube, f"web-{i}", owner=ghost)
            await budget(kube, maxUnavailable=1)
            status = await status_where(kube, disruptionsAllowed=0)
            cond = _condition(status)
            assert (cond["status"], cond["reason"]) == ("False", "SyncFailed")
            assert 'found no controllers for pod "web-' in cond["message"]
            with pytest.raises(TooManyRequests):
                await evict(kube, "web-0")

    vtime.run(main)


def test_unmanaged_pods_count_with_an_integer_min_available() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            for i in range(3):
                await pod(kube, f"web-{i}", owner=None)
            await budget(kube, minAvailable=1)
            await status_where(kube, expectedPods=3, desiredHealthy=1, disruptionsAllowed=2)

    vtime.run(main)


def test_a_budget_without_pods_allows_nothing() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await budget(kube, maxUnavailable=1)
            await status_where(kube, expectedPods=0, currentHealthy=0, disruptionsAllowed=0)
            events = (await kube.client.list("v1", "Event", namespace=NS))["items"]
            assert any(e["reason"] == "NoPods" for e in events)

    vtime.run(main)


# -- the arithmetic, directly ------------------------------------------------------------------

def _pod(name: str, *, ready: bool = True, owner: str | None = "rs-1",
         terminating: bool = False) -> dict:
    md: dict = {"name": name, "namespace": NS}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                  "name": owner, "uid": owner, "controller": True}]
    if terminating:
        md["deletionTimestamp"] = "2027-01-15T08:00:00Z"
    return {"metadata": md, "status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("pods", "disrupted", "healthy"), [
    pytest.param([_pod("a"), _pod("b")], {}, 2, id="ready-pods"),
    pytest.param([_pod("a"), _pod("b", ready=False)], {}, 1, id="unready-excluded"),
    pytest.param([_pod("a"), _pod("b", terminating=True)], {}, 1, id="terminating-excluded"),
    pytest.param([_pod("a"), _pod("b")], {"b": "t"}, 1, id="disrupted-excluded"),
])
def test_count_healthy(pods: list[dict], disrupted: dict, healthy: int) -> None:
    assert count_healthy(pods, disrupted) == healthy


@pytest.mark.parametrize(("spec", "pods", "expected"), [
    pytest.param({"maxUnavailable": "50%"}, [_pod("a"), _pod("b", owner="rs-2")],
                 (7, 3, []), id="sum-of-distinct-controllers"),
    pytest.param({"maxUnavailable": 1}, [_pod("a"), _pod("b", owner=None)],
                 (3, 2, ["b"]), id="unmanaged-pods-listed"),
    pytest.param({"minAvailable": 5}, [_pod("a")], (1, 5, []), id="integer-min-available"),
    pytest.param({}, [_pod("a")], (0, 0, []), id="neither-bound"),
])
def test_expected_and_desired(spec: dict, pods: list[dict], expected: tuple) -> None:
    scales = {"rs-1": 3, "rs-2": 4}

    async def scale_of(ref: dict, namespace: str) -> int | None:
        return scales.get(ref["uid"])

    got = asyncio.run(expected_and_desired({"spec": spec}, pods, scale_of))
    assert got == expected
