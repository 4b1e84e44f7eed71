"""Scheduler component against the real in-process API server, in virtual time: pods get
bound with Scheduled events; a pod too big for every node stays Pending with the upstream
message until a node that fits appears; cluster events (pod deleted, taint removed) and a
failed Binding send pods around the queue as upstream does."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from kubemu.cluster.client import ApiClient, RouterTransport
from kubemu.cluster.scheduler.scheduler import Scheduler

from tests import vtime
from tests.kube import TOKEN, Kube, api, eventually
from tests.unit.client.faults import Faults


def node(name: str, *, cpu: str = "4", taints: list[dict] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints} if taints else {},
            "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"},
                       "capacity": {"cpu": cpu, "memory": "16Gi", "pods": "110"}}}


def pod(name: str, *, cpu: str = "500m", scheduler: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx",
                                  "resources": {"requests": {"cpu": cpu}}}]}
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@asynccontextmanager
async def scheduling(kube: Kube, client: ApiClient | None = None) -> AsyncIterator[Scheduler]:
    sched = Scheduler(client or kube.client, kube.timing, rng=random.Random(3))
    task = asyncio.create_task(sched.run())
    try:
        yield sched
    finally:
        await sched.stop()
        await asyncio.wait_for(task, 30)


def run(test: Callable[[Kube], Awaitable[None]]) -> None:
    async def main() -> None:
        async with api() as kube:
            await test(kube)
    vtime.run(main)


async def bound_to(kube: Kube, name: str) -> str:
    p = await kube.client.get("v1", "Pod", name, namespace="default")
    return p["spec"].get("nodeName", "")


async def events(kube: Kube, name: str, reason: str) -> list[dict]:
    items = (await kube.client.list("v1", "Event", namespace="default",
                                    field_selector=f"involvedObject.name={name}"))["items"]
    return [e for e in items if e["reason"] == reason]


async def scheduled_condition(kube: Kube, name: str) -> dict | None:
    p = await kube.client.get("v1", "Pod", name, namespace="default")
    return next((c for c in p["status"].get("conditions") or ()
                 if c["type"] == "PodScheduled"), None)


def test_pods_are_bound_and_get_scheduled_events() -> None:
    async def test(kube: Kube) -> None:
        for n in ("n1", "n2", "n3"):
            await kube.client.create(node(n))
        async with scheduling(kube) as sched:
            for i in range(6):
                await kube.client.create(pod(f"p{i}"))

            async def all_bound() -> bool:
                return all([await bound_to(kube, f"p{i}") for i in range(6)])

            await eventually(all_bound, what="six pods bound")
            placed = {await bound_to(kube, f"p{i}") for i in range(6)}
            assert placed == {"n1", "n2", "n3"}  # LeastAllocated spreads them
            p0 = await bound_to(kube, "p0")
            ev = await eventually(lambda: events(kube, "p0", "Scheduled"), what="event")
            assert ev[0]["message"] == f"Successfully assigned default/p0 to {p0}"
            assert ev[0]["source"]["component"] == "default-scheduler"
            cond = await scheduled_condition(kube, "p0")
            assert cond is not None and cond["status"] == "True"
            assert sched.stats.scheduled == 6 and len(sched.stats.latencies) == 6
            assert sched.stats.failures == 0
    run(test)


def test_too_big_pod_stays_pending_until_a_bigger_node_is_added() -> None:
    async def test(kube: Kube) -> None:
        for n in ("n1", "n2", "n3"):
            await kube.client.create(node(n))
        async with scheduling(kube) as sched:
            await kube.client.create(pod("big", cpu="6"))
            message = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
                       "available: 3 No preemption victims found for incoming pod.")
            cond = await eventually(lambda: scheduled_condition(kube, "big"),
                                    what="PodScheduled condition")
            assert (cond["status"], cond["reason"], cond["message"]) == (
                "False", "Unschedulable", message)
            failed = await eventually(lambda: events(kube, "big", "FailedScheduling"),
                                      what="FailedScheduling event")
            assert failed[0]["type"] == "Warning" and failed[0]["message"] == message
            assert sched.queue.pending()["unschedulable"] == 1
            attempts = sched.stats.attempts
            await asyncio.sleep(60)  # nothing changed: no retry before the 5-minute flush
            assert sched.stats.attempts == attempts
            await kube.client.create(node("n4", cpu="8"))
            assert await eventually(lambda: bound_to(kube, "big"), what="big bound") == "n4"
            cond = await scheduled_condition(kube, "big")
            assert cond["status"] == "True"
    run(test)


def test_unschedulable_pod_is_retried_after_five_minutes_even_without_events() -> None:
    async def test(kube: Kube) -> None:
        await kube.client.create(node("n1", cpu="1"))
        async with scheduling(kube) as sched:
            await kube.client.create(pod("big", cpu="2"))
            await eventually(lambda: sched.stats.failures == 1, what="first failure")
            start = kube.timing.clock.now()
            await eventually(lambda: sched.stats.failures == 2, timeout=400,
                             what="second attempt")
            assert 299.5 <= kube.timing.clock.now() - start <= 301
            assert len(await events(kube, "big", "FailedScheduling")) == 1  # aggregated
    run(test)


async def delete_blocker(kube: Kube) -> None:
    await kube.client.delete("v1", "Pod", "blocker", namespace="default",
                             grace_period_seconds=0)


async def blocker_succeeds(kube: Kube) -> None:
    await kube.client.patch("v1", "Pod", "blocker", {"status": {"phase": "Succeeded"}},
                            namespace="default", subresource="status")


async def remove_taint(kube: Kube) -> None:
    await kube.client.patch("v1", "Node", "n1", {"spec": {"taints": None}})


async def uncordon(kube: Kube) -> None:
    await kube.client.patch("v1", "Node", "n1", {"spec": {"unschedulable": None}})


async def grow_node(kube: Kube) -> None:
    await kube.client.patch("v1", "Node", "n1", {"status": {"allocatable": {"cpu": "2"}}},
                            subresource="status")


TAINT = {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}
NO_VICTIMS = (" preemption: 0/1 nodes are available: 1 No preemption victims found for "
              "incoming pod.")
NOT_HELPFUL = " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."


@pytest.mark.parametrize("start, message, change", [
    pytest.param({"blocker": True}, "0/1 nodes are available: 1 Insufficient cpu." + NO_VICTIMS,
                 delete_blocker, id="bound-pod-deleted"),
    pytest.param({"blocker": True}, "0/1 nodes are available: 1 Insufficient cpu." + NO_VICTIMS,
                 blocker_succeeds, id="bound-pod-succeeded"),
    pytest.param({"taints": [TAINT]}, "0/1 nodes are available: 1 node(s) had untolerated "
                 "taint {dedicated: infra}." + NOT_HELPFUL, remove_taint, id="taint-removed"),
    pytest.param({"unschedulable": True}, "0/1 nodes are available: 1 node(s) were "
                 "unschedulable." + NOT_HELPFUL, uncordon, id="node-uncordoned"),
    pytest.param({"cpu": "500m"}, "0/1 nodes are available: 1 Insufficient cpu." + NO_VICTIMS,
                 grow_node,
                 id="allocatable-raised"),
])
def test_cluster_event_schedules_the_pending_pod_it_helps(
        start: dict, message: str, change: Callable[[Kube], Awaitable[None]]) -> None:
    async def test(kube: Kube) -> None:
        n1 = node("n1", cpu=start.get("cpu", "1"), taints=start.get("taints"))
        if start.get("unschedulable"):
            n1["spec"]["unschedulable"] = True
        await kube.client.create(n1)
        async with scheduling(kube) as sched:
            if start.get("blocker"):
                await kube.client.create(pod("blocker", cpu="800m"))
                await eventually(lambda: bound_to(kube, "blocker"), what="blocker bound")
            await kube.client.create(pod("p", cpu="800m"))
            cond = await eventually(lambda: scheduled_condition(kube, "p"), what="pending")
            assert cond["message"] == message
            await eventually(lambda: sched.queue.pending()["unschedulable"] == 1,
                             what="parked")
            await change(kube)
            assert await eventually(lambda: bound_to(kube, "p"), timeout=20,
                                    what="bound after the change") == "n1"
    run(test)


def test_pod_deleted_while_queued_leaves_the_queue() -> None:
    async def test(kube: Kube) -> None:
        await kube.client.create(node("n1", cpu="1"))
        async with scheduling(kube) as sched:
            await kube.client.create(pod("big", cpu="2"))
            await eventually(lambda: sched.queue.pending()["unschedulable"] == 1,
                             what="parked")
            await kube.client.delete("v1", "Pod", "big", namespace="default",
                                     grace_period_seconds=0)
            await eventually(lambda: len(sched.queue) == 0, what="queue empty")
    run(test)


def test_pods_of_another_scheduler_are_left_alone() -> None:
    async def test(kube: Kube) -> None:
        await kube.client.create(node("n1"))
        async with scheduling(kube) as sched:
            await kube.client.create(pod("mine"))
            await kube.client.create(pod("theirs", scheduler="other-scheduler"))
            await eventually(lambda: bound_to(kube, "mine"), what="mine bound")
            await asyncio.sleep(30)
            assert await bound_to(kube, "theirs") == ""
            assert sched.stats.attempts == 1
    run(test)


def test_failed_binding_is_retried_after_backoff() -> None:
    async def test(kube: Kube) -> None:
        faults = Faults(kube.server)
        client = ApiClient(RouterTransport(faults, token=TOKEN))
        await kube.client.create(node("n1"))
        faults.fail_next(1, 500, match=lambda r: r.path.endswith("/binding"))
        async with scheduling(kube, client) as sched:
            await kube.client.create(pod("p"))
            assert await eventually(lambda: bound_to(kube, "p"), what="bound") == "n1"
            assert sched.stats.bind_failures == 1 and sched.stats.scheduled == 1
            rejected = await eventually(lambda: events(kube, "p", "FailedScheduling"),
                                        what="event")
            assert rejected[0]["message"].startswith("Binding rejected: ")
            assert sched.cache.assumed_count == 0  # the confirmed pod is no longer assumed
        await faults.close()
    run(test)
