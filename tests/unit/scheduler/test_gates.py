"""Scheduling gates: a gated pod gets PodScheduled=False SchedulingGated from the API server,
waits aside in the queue, and is scheduled once an update removes its last gate (the API
allows removing gates only)."""

from __future__ import annotations

import asyncio
import random

import pytest
from kubemu.cluster.api.errors import Invalid
from kubemu.cluster.scheduler.queue import ACTIVE, GATED, SchedulingQueue
from kubemu.cluster.scheduler.scheduler import Scheduler

from tests import vtime
from tests.kube import api, eventually
from tests.unit.scheduler.builders import pod


def gated(name: str, *gates: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}],
                     "schedulingGates": [{"name": g} for g in gates]}}


def node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}


@pytest.mark.parametrize("gates, where", [
    pytest.param(["a", "b"], GATED, id="two-gates"),
    pytest.param(["b"], GATED, id="one-gate-left"),
    pytest.param([], ACTIVE, id="all-gates-removed"),
])
def test_queue_releases_a_pod_only_when_its_last_gate_is_removed(gates: list[str],
                                                                  where: str) -> None:
    queue = SchedulingQueue()
    old = pod("p")
    old["spec"]["schedulingGates"] = [{"name": "a"}, {"name": "b"}]
    queue.add(old, 0.0)
    new = pod("p")
    new["spec"]["schedulingGates"] = [{"name": g} for g in gates]
    queue.update(old, new, 1.0)
    assert queue.where("uid-p") == where


def test_gated_pod_waits_with_scheduling_gated_condition_then_binds_when_released() -> None:
    async def main() -> None:
        async with api() as kube:
            c = kube.client
            await c.create(node("n1"))
            sched = Scheduler(c, kube.timing, rng=random.Random(1))
            task = asyncio.create_task(sched.run())
            created = await c.create(gated("g", "example.com/quota", "example.com/review"))
            cond = next(x for x in created["status"]["conditions"] if x["type"] == "PodScheduled")
            assert (cond["status"], cond["reason"], cond["message"]) == (
                "False", "SchedulingGated",
                "Scheduling is blocked due to non-empty scheduling gates")
            await eventually(lambda: sched.queue.pending()[GATED] == 1, what="gated in queue")
            await asyncio.sleep(30)
            held = await c.get("v1", "Pod", "g", namespace="default")
            assert not held["spec"].get("nodeName") and sched.stats.attempts == 0
            with pytest.raises(Invalid, match="only deletion is allowed"):
                await c.patch("v1", "Pod", "g", {"spec": {"schedulingGates": [
                    {"name": "example.com/quota"}, {"name": "example.com/review"},
                    {"name": "example.com/new"}]}}, namespace="default", patch_type="merge")
            await c.patch("v1", "Pod", "g", {"spec": {"schedulingGates": [
                {"name": "example.com/review"}]}}, namespace="default", patch_type="merge")
            await asyncio.sleep(5)
            assert sched.queue.pending()[GATED] == 1 and sched.stats.attempts == 0
            await c.patch("v1", "Pod", "g", {"spec": {"schedulingGates": None}},
                          namespace="default", patch_type="merge")

            async def bound() -> str:
                p = await c.get("v1", "Pod", "g", namespace="default")
                return p["spec"].get("nodeName", "")
            assert await eventually(bound, what="bound after release") == "n1"
            await sched.stop()
            await task
    vtime.run(main)
