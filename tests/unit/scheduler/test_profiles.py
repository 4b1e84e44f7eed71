"""Multiple scheduler profiles: one Scheduler routes each pod by spec.schedulerName to the
matching profile's framework, leaves pods naming another scheduler alone, and signs each
pod's Events with its own scheduler's name."""

from __future__ import annotations

import asyncio
import random

import pytest
from kubemu.cluster.scheduler.framework import default_profile
from kubemu.cluster.scheduler.scheduler import Scheduler

from tests import vtime
from tests.kube import api, eventually


def node(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}}


def pod(name: str, scheduler: str | None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx",
                                  "resources": {"requests": {"cpu": "500m"}}}]}
    if scheduler:
        spec["schedulerName"] = scheduler
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_profiles_must_have_distinct_scheduler_names() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Scheduler(object(), object(), profiles=[default_profile(), default_profile()])


def test_two_profiles_route_pods_by_scheduler_name() -> None:
    async def main() -> None:
        async with api() as kube:
            c = kube.client
            for n in ("n1", "n2", "n3"):
                await c.create(node(n))
            sched = Scheduler(c, kube.timing, rng=random.Random(2), profiles=[
                default_profile(),
                default_profile(scheduler_name="bin-packer", scoring_strategy="MostAllocated")])
            assert set(sched.frameworks) == {"default-scheduler", "bin-packer"}
            task = asyncio.create_task(sched.run())
            for i in range(3):
                await c.create(pod(f"packed-{i}", "bin-packer"))
            await eventually(lambda: sched.stats.scheduled == 3, what="packed pods bound")
            for i in range(3):
                await c.create(pod(f"spread-{i}", None))
            await c.create(pod("foreign", "someone-else"))
            await eventually(lambda: sched.stats.scheduled == 6, what="all ours bound")
            await asyncio.sleep(30)
            pods = {p["metadata"]["name"]: p
                    for p in (await c.list("v1", "Pod", namespace="default"))["items"]}
            packed = {pods[f"packed-{i}"]["spec"]["nodeName"] for i in range(3)}
            spread = {pods[f"spread-{i}"]["spec"]["nodeName"] for i in range(3)}
            assert len(packed) == 1        # MostAllocated stacks them on one node
            assert packed.isdisjoint(spread)   # LeastAllocated avoids the packed node
            assert not pods["foreign"]["spec"].get("nodeName")
            assert not pods["foreign"]["status"].get("conditions")   # not even looked at
            assert sched.stats.attempts == 6
            events = (await c.list("v1", "Event", namespace="default"))["items"]
            sources = {e["involvedObject"]["name"]: e["source"]["component"] for e in events
                       if e["reason"] == "Scheduled"}
            assert sources == {**{f"packed-{i}": "bin-packer" for i in range(3)},
                               **{f"spread-{i}": "default-scheduler" for i in range(3)}}
            await sched.stop()
            await task
    vtime.run(main)
