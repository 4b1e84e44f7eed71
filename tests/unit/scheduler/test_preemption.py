"""Priority and preemption: DefaultPreemption's victim selection and node choice as pure
logic, nominated pods counted by the framework, PriorityClass globalDefault admission, and the
scheduler preempting on a full cluster against the real API server in virtual time."""

from __future__ import annotations

import asyncio
import random

import pytest
from kubemu.cluster.api.errors import Forbidden
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.scheduler.framework import Framework, default_profile
from kubemu.cluster.scheduler.nominator import Nominator
from kubemu.cluster.scheduler.podstatus import evict_victims
from kubemu.cluster.scheduler.preemption import (
    Candidate,
    DefaultPreemption,
    pick_one_node,
    terminating_by_preemption,
)
from kubemu.cluster.scheduler.scheduler import Scheduler

from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.scheduler.builders import node, pod, snapshot

# ---- pure logic --------------------------------------------------------------------------


def prio(p: dict, value: int, *, labels: dict | None = None, start: str | None = None,
         policy: str | None = None) -> dict:
    p["spec"]["priority"] = value
    if policy:
        p["spec"]["preemptionPolicy"] = policy
    if labels:
        p["metadata"]["labels"] = labels
    if start:
        p["status"]["startTime"] = start
    return p


def framework(*, pdbs: list[dict] | None = None) -> Framework:
    profile = default_profile()
    preemption = next(p for p in profile.plugins if p.name == "DefaultPreemption")
    preemption.pdb_lister = lambda: list(pdbs or [])
    return Framework(profile, rng=random.Random(1))


def pdb(name: str, labels: dict, allowed: int) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": labels}, "minAvailable": 1},
            "status": {"disruptionsAllowed": allowed}}


def test_high_priority_pod_preempts_only_as_many_low_pods_as_needed() -> None:
    low = [prio(pod(f"low-{i}", cpu="1", node_name="n1"), 10 + i) for i in range(4)]
    result = framework().schedule(prio(pod("high", cpu="2"), 100),
                                  snapshot(node("n1", cpu="4"), pods={"n1": low}))
    assert result.node_name is None and result.post_filter is not None
    assert result.post_filter.nominated_node == "n1"
    # the least important go; the two highest-priority low pods are reprieved
    assert [p["metadata"]["name"] for p in result.post_filter.victims] == ["low-1", "low-0"]


def test_pods_of_equal_priority_are_never_victims() -> None:
    peers = [prio(pod(f"peer-{i}", cpu="2", node_name="n1"), 100) for i in range(2)]
    result = framework().schedule(prio(pod("high", cpu="2"), 100),
                                  snapshot(node("n1", cpu="4"), pods={"n1": peers}))
    assert result.post_filter is not None and result.post_filter.nominated_node == ""
    assert result.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 "
                              "nodes are available: 1 No preemption victims found for "
                              "incoming pod.")


def test_only_lower_priority_pods_are_victims_beside_equal_ones() -> None:
    pods = [prio(pod("peer", cpu="2", node_name="n1"), 100),
            prio(pod("low", cpu="2", node_name="n1"), 1)]
    result = framework().schedule(prio(pod("high", cpu="2"), 100),
                                  snapshot(node("n1", cpu="4"), pods={"n1": pods}))
    assert [p["metadata"]["name"] for p in result.post_filter.victims] == ["low"]


def test_preemption_policy_never_does_not_preempt() -> None:
    low = [prio(pod("low", cpu="4", node_name="n1"), 1)]
    result = framework().schedule(prio(pod("polite", cpu="2"), 100, policy="Never"),
                                  snapshot(node("n1", cpu="4"), pods={"n1": low}))
    assert result.post_filter is None
    assert result.message.endswith(
        "Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.")


def test_pdb_makes_the_other_nodes_victims_preferred() -> None:
    pods = {"n1": [prio(pod("guarded", cpu="4", node_name="n1"), 1, labels={"app": "db"})],
            "n2": [prio(pod("free", cpu="4", node_name="n2"), 5, labels={"app": "web"})]}
    snap = snapshot(node("n1", cpu="4"), node("n2", cpu="4"), pods=pods)
    high = prio(pod("high", cpu="2"), 100)
    unguarded = framework().schedule(high, snap)
    assert unguarded.post_filter.nominated_node == "n1"   # lowest victim priority wins
    guarded = framework(pdbs=[pdb("db", {"app": "db"}, 0)]).schedule(high, snap)
    assert guarded.post_filter.nominated_node == "n2"
    assert [p["metadata"]["name"] for p in guarded.post_filter.victims] == ["free"]


def test_unresolvable_nodes_are_not_preemption_candidates() -> None:
    taint = [{"key": "k", "value": "v", "effect": "NoSchedule"}]
    low = [prio(pod("low", cpu="4", node_name="n1"), 1)]
    result = framework().schedule(prio(pod("high", cpu="2"), 100),
                                  snapshot(node("n1", cpu="4", taints=taint), pods={"n1": low}))
    assert result.message.endswith("preemption: 0/1 nodes are available: 1 Preemption is not "
                                   "helpful for scheduling.")


def test_no_second_preemption_while_victims_terminate_on_the_nominated_node() -> None:
    victim = prio(pod("low", cpu="4", node_name="n1"), 1)
    victim["metadata"]["deletionTimestamp"] = "2027-01-01T00:00:00Z"
    victim["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True",
                                       "reason": "PreemptionByScheduler"}]
    assert terminating_by_preemption(victim)
    high = prio(pod("high", cpu="2"), 100)
    high["status"]["nominatedNodeName"] = "n1"
    result = framework().schedule(high, snapshot(node("n1", cpu="4"), pods={"n1": [victim]}))
    assert result.post_filter is None
    assert result.message.endswith(
        "preemption: not eligible due to a terminating pod on the nominated node.")


def test_nominated_pods_of_higher_priority_take_their_room() -> None:
    nominator = Nominator()
    nominator.add(prio(pod("high", cpu="3"), 100), "n1")
    snap = snapshot(node("n1", cpu="4"), node("n2", cpu="1"))
    lower = framework().schedule(prio(pod("mid", cpu="2"), 50), snap, nominator=nominator)
    assert lower.node_name is None
    higher = framework().schedule(prio(pod("top", cpu="2"), 200), snap, nominator=nominator)
    assert higher.node_name == "n1"   # a lower-priority nomination does not count


def test_nominated_node_is_tried_first() -> None:
    me = prio(pod("me", cpu="1"), 100)
    me["status"]["nominatedNodeName"] = "n3"
    snap = snapshot(node("n1"), node("n2"), node("n3"))
    result = framework().schedule(me, snap)
    assert (result.node_name, result.evaluated) == ("n3", 1)


def victim(name: str, priority: int, start: str = "2026-01-01T00:00:00Z") -> dict:
    return prio(pod(name), priority, start=start)


@pytest.mark.parametrize("candidates, chosen", [
    pytest.param([Candidate("a", [victim("x", 1)], 1), Candidate("b", [victim("y", 9)], 0)],
                 "b", id="fewest-pdb-violations"),
    pytest.param([Candidate("a", [victim("x", 9)]), Candidate("b", [victim("y", 5)])],
                 "b", id="lowest-highest-victim-priority"),
    pytest.param([Candidate("a", [victim("x", 5), victim("x2", 4)]),
                  Candidate("b", [victim("y", 5), victim("y2", 1)])],
                 "b", id="smallest-priority-sum"),
    pytest.param([Candidate("a", [victim("x", 5), victim("x2", -2**31)]),
                  Candidate("b", [victim("y", 5)])],
                 "b", id="fewest-victims"),
    pytest.param([Candidate("a", [victim("x", 5, "2026-01-01T00:00:00Z")]),
                  Candidate("b", [victim("y", 5, "2026-02-01T00:00:00Z")])],
                 "b", id="latest-start-time"),
    pytest.param([Candidate("a", [victim("x", 5)]), Candidate("b", [victim("y", 5)])],
                 "a", id="first-on-full-tie"),
    pytest.param([Candidate("a", [victim("x", 1)]), Candidate("b", [])],
                 "b", id="no-victims-at-all"),
])
def test_pick_one_node_follows_upstream_order(candidates: list[Candidate], chosen: str) -> None:
    assert pick_one_node(candidates).node == chosen


def test_default_preemption_counts_at_least_a_hundred_candidates() -> None:
    plugin = DefaultPreemption()
    assert [plugin._num_candidates(n) for n in (3, 500, 5000)] == [3, 100, 500]


# ---- PriorityClass admission ------------------------------------------------------------

def priority_class(name: str, value: int, *, default: bool = False,
                   policy: str | None = None) -> dict:
    pc: dict = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "globalDefault": default}
    if policy:
        pc["preemptionPolicy"] = policy
    return pc


def api_pod(name: str, *, cpu: str = "500m", cls: str | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx",
                                  "resources": {"requests": {"cpu": cpu}}}],
                  "terminationGracePeriodSeconds": 30}
    if cls:
        spec["priorityClassName"] = cls
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def test_global_default_priority_class_applies_to_pods_without_a_class() -> None:
    async def main() -> None:
        async with api() as kube:
            before = await kube.client.create(api_pod("before"))
            assert before["spec"]["priority"] == 0
            await kube.client.create(priority_class("everyone", 7, default=True,
                                                    policy="Never"))
            after = await kube.client.create(api_pod("after"))
            assert (after["spec"]["priorityClassName"], after["spec"]["priority"],
                    after["spec"]["preemptionPolicy"]) == ("everyone", 7, "Never")
            await kube.client.create(priority_class("vip", 1000))
            vip = await kube.client.create(api_pod("vip", cls="vip"))
            assert (vip["spec"]["priority"], vip["spec"]["preemptionPolicy"]) == (
                1000, "PreemptLowerPriority")
    vtime.run(main)


def test_a_second_global_default_priority_class_is_forbidden() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create(priority_class("first", 1, default=True))
            with pytest.raises(Forbidden, match="PriorityClass first is the default"):
                await kube.client.create(priority_class("second", 2, default=True))
            other = await kube.client.create(priority_class("other", 3))
            other["globalDefault"] = True
            with pytest.raises(Forbidden):
                await kube.client.update(other)
            first = await kube.client.get("scheduling.k8s.io/v1", "PriorityClass", "first")
            first["description"] = "still the default"
            await kube.client.update(first)   # the default itself may be updated
    vtime.run(main)


# ---- the scheduler preempting ------------------------------------------------------------

def api_node(name: str, cpu: str = "1") -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"},
                       "capacity": {"cpu": cpu, "memory": "16Gi", "pods": "110"}}}


async def kubelets(kube: Kube) -> None:
    """Stand in for kubelets: a pod being deleted is gone a few seconds later."""
    while True:
        await asyncio.sleep(2)
        for p in (await kube.client.list("v1", "Pod", namespace="default"))["items"]:
            if p["metadata"].get("deletionTimestamp"):
                await kube.client.delete("v1", "Pod", p["metadata"]["name"],
                                         namespace="default", grace_period_seconds=0)


def test_high_priority_pod_preempts_on_a_full_cluster_and_binds_on_the_nominated_node() -> None:
    async def main() -> None:
        async with api() as kube:
            c = kube.client
            for n in ("n1", "n2", "n3"):
                await c.create(api_node(n))
            await c.create(priority_class("low", 10))
            await c.create(priority_class("high", 1000))
            sched = Scheduler(c, kube.timing, rng=random.Random(5))
            tasks = [asyncio.create_task(sched.run()), asyncio.create_task(kubelets(kube))]
            for i in range(3):
                await c.create(api_pod(f"low-{i}", cpu="800m", cls="low"))
            await eventually(lambda: sched.stats.scheduled == 3, what="low pods bound")
            await c.create(api_pod("high", cpu="800m", cls="high"))
            high = await eventually(lambda: _nominated(kube, "high"), what="nominated")
            nominated = high["status"]["nominatedNodeName"]
            bound = await eventually(lambda: _bound(kube, "high"), timeout=60, what="bound")
            assert bound == nominated
            pods = {p["metadata"]["name"]: p
                    for p in (await c.list("v1", "Pod", namespace="default"))["items"]}
            gone = {f"low-{i}" for i in range(3)} - set(pods)
            assert len(gone) == 1   # exactly one victim, from the nominated node
            assert sched.stats.victims == 1
            events = (await c.list("v1", "Event", namespace="default"))["items"]
            preempted = [e for e in events if e["reason"] == "Preempted"]
            assert [e["message"] for e in preempted] == [
                f"Preempted by pod {high['metadata']['uid']} on node {nominated}"]
            assert preempted[0]["involvedObject"]["name"] in gone
            await sched.stop()
            tasks[1].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    vtime.run(main)


def test_preemption_policy_never_pod_waits_without_evicting() -> None:
    async def main() -> None:
        async with api() as kube:
            c = kube.client
            await c.create(api_node("n1"))
            await c.create(priority_class("low", 10))
            await c.create(priority_class("polite", 1000, policy="Never"))
            sched = Scheduler(c, kube.timing, rng=random.Random(5))
            task = asyncio.create_task(sched.run())
            await c.create(api_pod("low", cpu="800m", cls="low"))
            await eventually(lambda: sched.stats.scheduled == 1, what="low bound")
            await c.create(api_pod("polite", cpu="800m", cls="polite"))
            cond = await eventually(lambda: _scheduled_condition(kube, "polite"), what="pending")
            assert cond["message"] == ("0/1 nodes are available: 1 Insufficient cpu. preemption: "
                                       "not eligible due to preemptionPolicy=Never.")
            low = await c.get("v1", "Pod", "low", namespace="default")
            assert not low["metadata"].get("deletionTimestamp") and sched.stats.victims == 0
            await sched.stop()
            await task
    vtime.run(main)


async def _nominated(kube: Kube, name: str) -> dict | None:
    p = await kube.client.get("v1", "Pod", name, namespace="default")
    return p if p["status"].get("nominatedNodeName") else None


async def _bound(kube: Kube, name: str) -> str:
    p = await kube.client.get("v1", "Pod", name, namespace="default")
    return p["spec"].get("nodeName", "")


async def _scheduled_condition(kube: Kube, name: str) -> dict | None:
    p = await kube.client.get("v1", "Pod", name, namespace="default")
    return next((c for c in p["status"].get("conditions") or ()
                 if c["type"] == "PodScheduled"), None)


def test_victims_get_the_disruption_target_condition_before_their_deletion() -> None:
    async def main() -> None:
        async with api() as kube:
            c = kube.client
            await c.create(api_node("n1"))
            bound = api_pod("low")
            bound["spec"]["nodeName"] = "n1"
            victim = await c.create(bound)
            recorder = EventRecorder(c, kube.timing, component="default-scheduler")
            preemptor = {"metadata": {"name": "high", "uid": "u-1"}, "spec": {}}
            assert await evict_victims(c, recorder, preemptor, "n1", [victim],
                                       wall=kube.timing.wall()) == 1
            after = await c.get("v1", "Pod", "low", namespace="default")
            assert after["metadata"]["deletionTimestamp"]
            assert terminating_by_preemption(after)
            condition = next(x for x in after["status"]["conditions"]
                             if x["type"] == "DisruptionTarget")
            assert (condition["status"], condition["message"]) == (
                "True", "default-scheduler: preempting to accommodate a higher priority pod")
            assert await evict_victims(c, recorder, preemptor, "n1", [after],
                                       wall=kube.timing.wall()) == 0   # already terminating
    vtime.run(main)
