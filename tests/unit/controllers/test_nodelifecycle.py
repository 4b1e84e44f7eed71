"""NodeLifecycleController: silent nodes go Unknown and get tainted; pure health, zone and
rate-limit logic.

Component tests run the real API server in virtual time and play the kubelet (FakeKubelet:
Node, Lease, heartbeats). A second healthy node keeps its zone out of full disruption where
a test wants NoExecute taints, as upstream needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from kubemu.cluster.controllers.nodedisruption import (
    ENTER_MASTER_DISRUPTION, EXIT_MASTER_DISRUPTION, DisruptionMonitor, TaintQueue)
from kubemu.cluster.controllers.nodehealth import (
    HealthMonitor, compute_zone_state, no_schedule_taint_diff, unknown_conditions, zone_key)
from kubemu.cluster.controllers.nodelifecycle import NodeLifecycleController
from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.nodekit import (
    FakeKubelet, bound_pod, condition, events, taint_keys)

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


def run_cluster(body: Callable[[Kube, NodeLifecycleController, dict[str, FakeKubelet]],
                               Awaitable[None]], *names: str) -> None:
    """Register kubelets `names`, start the controller and their heartbeats, run `body`."""
    async def main() -> None:
        async with api() as kube:
            kubelets = {n: FakeKubelet(kube, n) for n in names}
            for kubelet in kubelets.values():
                await kubelet.register()
            ctl = NodeLifecycleController(kube.client, kube.timing)
            tasks = [asyncio.create_task(ctl.run())]
            tasks += [asyncio.create_task(k.run()) for k in kubelets.values()]
            try:
                await body(kube, ctl, kubelets)
            finally:
                await ctl.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    vtime.run(main)


def test_silent_node_goes_unknown_after_grace_period_and_is_tainted_unreachable() -> None:
    async def body(kube: Kube, ctl: NodeLifecycleController,
                   kubelets: dict[str, FakeKubelet]) -> None:
        loop = asyncio.get_running_loop()
        await bound_pod(kube, "web", "n1")
        await asyncio.sleep(60)
        node = await kubelets["n1"].node()
        assert condition(node, "Ready")["status"] == "True"
        assert not (node.get("spec") or {}).get("taints")
        kubelets["n1"].alive = False

        async def unknown() -> dict | None:
            node = await kubelets["n1"].node()
            return node if condition(node, "Ready")["status"] == "Unknown" else None

        node = await eventually(unknown, timeout=120, what="n1 Ready=Unknown")
        silent_for = loop.time() - kubelets["n1"].last_renew
        assert 40 <= silent_for <= 40 + 2 * ctl.monitor_period + 0.5
        for type_ in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
            cond = condition(node, type_)
            assert (cond["status"], cond["reason"], cond["message"]) == (
                "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")

        async def tainted() -> dict | None:
            node = await kubelets["n1"].node()
            return node if UNREACHABLE in taint_keys(node, "NoExecute") and \
                UNREACHABLE in taint_keys(node, "NoSchedule") else None

        node = await eventually(tainted, timeout=30, what="unreachable taints")
        no_execute = [t for t in node["spec"]["taints"] if t["effect"] == "NoExecute"]
        assert no_execute[0]["timeAdded"]
        assert not (await kubelets["n0"].node()).get("spec", {}).get("taints")
        pod = await kube.client.get("v1", "Pod", "web", namespace="default")
        assert condition(pod, "Ready")["status"] == "False"
        assert await eventually(lambda: events(kube, "n1", "NodeNotReady"), timeout=5)
        assert (await events(kube, "n1", "NodeNotReady"))[0]["message"] == \
            "Node n1 status is now: NodeNotReady"
        assert await eventually(lambda: events(kube, "web", "NodeNotReady"), timeout=5)

        kubelets["n1"].alive = True
        await kubelets["n1"].renew()
        await kubelets["n1"].post_status(ready="True")

        async def untainted() -> bool:
            return not ((await kubelets["n1"].node()).get("spec") or {}).get("taints")

        await eventually(untainted, timeout=30, what="taints removed after recovery")

    run_cluster(body, "n0", "n1")


def test_not_ready_node_is_tainted_not_ready_and_swapped_to_unreachable_when_silent() -> None:
    async def body(kube: Kube, ctl: NodeLifecycleController,
                   kubelets: dict[str, FakeKubelet]) -> None:
        await asyncio.sleep(10)
        await kubelets["n1"].post_status(ready="False")

        async def keys(effect: str) -> set[str]:
            return taint_keys(await kubelets["n1"].node(), effect)

        await eventually(lambda: _equals(keys("NoExecute"), {NOT_READY}), timeout=30,
                         what="not-ready NoExecute")
        assert await keys("NoSchedule") == {NOT_READY}
        kubelets["n1"].alive = False
        await eventually(lambda: _equals(keys("NoExecute"), {UNREACHABLE}), timeout=120,
                         what="swapped to unreachable")
        await eventually(lambda: _equals(keys("NoSchedule"), {UNREACHABLE}), timeout=10,
                         what="NoSchedule swapped to unreachable")

    run_cluster(body, "n0", "n1")


def test_all_nodes_silent_enters_master_disruption_without_no_execute_taints() -> None:
    async def body(kube: Kube, ctl: NodeLifecycleController,
                   kubelets: dict[str, FakeKubelet]) -> None:
        await asyncio.sleep(10)
        for kubelet in kubelets.values():
            kubelet.alive = False

        async def all_unknown() -> bool:
            nodes = [await k.node() for k in kubelets.values()]
            return all(condition(n, "Ready")["status"] == "Unknown" for n in nodes)

        await eventually(all_unknown, timeout=120, what="both nodes Unknown")
        await asyncio.sleep(120)
        for kubelet in kubelets.values():
            node = await kubelet.node()
            assert taint_keys(node, "NoExecute") == set()
            assert taint_keys(node, "NoSchedule") == {UNREACHABLE}
        assert ctl.disruption.zone_states == {"": "FullDisruption"}

    run_cluster(body, "n0", "n1")


def test_unschedulable_and_pressure_conditions_get_no_schedule_taints() -> None:
    async def body(kube: Kube, ctl: NodeLifecycleController,
                   kubelets: dict[str, FakeKubelet]) -> None:
        async def keys() -> set[str]:
            return taint_keys(await kubelets["n0"].node(), "NoSchedule")

        await kube.client.patch("v1", "Node", "n0", {"spec": {"unschedulable": True}})
        await kubelets["n0"].post_status(ready="True", MemoryPressure="True")
        want = {"node.kubernetes.io/unschedulable", "node.kubernetes.io/memory-pressure"}
        await eventually(lambda: _equals(keys(), want), timeout=10, what="NoSchedule taints")
        await kube.client.patch("v1", "Node", "n0", {"spec": {"unschedulable": False}})
        await kubelets["n0"].post_status(ready="True")
        await eventually(lambda: _equals(keys(), set()), timeout=10, what="taints removed")

    run_cluster(body, "n0")


def test_node_that_never_posts_status_goes_unknown_after_startup_grace() -> None:
    async def main() -> None:
        async with api() as kube:
            ctl = NodeLifecycleController(kube.client, kube.timing)
            task = asyncio.create_task(ctl.run())
            await asyncio.sleep(30)
            loop = asyncio.get_running_loop()
            await FakeKubelet(kube, "fresh").register(ready=None, lease=False)
            created = loop.time()

            async def unknown() -> dict | None:
                node = await kube.client.get("v1", "Node", "fresh")
                return node if condition(node, "Ready").get("status") == "Unknown" else None

            node = await eventually(unknown, timeout=120, what="never-updated node Unknown")
            assert 60 <= loop.time() - created <= 60 + 2 * ctl.monitor_period + 0.5
            assert condition(node, "Ready")["reason"] == "NodeStatusNeverUpdated"
            assert condition(node, "Ready")["message"] == "Kubelet never posted node status."
            assert await eventually(lambda: events(kube, "fresh", "RegisteredNode"),
                                    timeout=5)
            await ctl.stop()
            await task

    vtime.run(main)


async def _equals(value: Awaitable[set[str]], want: set[str]) -> bool:
    return await value == want


# -- pure logic ------------------------------------------------------------------------------

def _node(name: str = "n", *, ready: str | None = "True", heartbeat: str = "t0",
          conditions: dict | None = None, taints: list | None = None,
          unschedulable: bool = False, labels: dict | None = None) -> dict:
    conds = []
    if ready is not None:
        conds.append({"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                      "lastTransitionTime": "t0"})
    conds += [{"type": t, "status": s} for t, s in (conditions or {}).items()]
    return {"metadata": {"name": name, "labels": labels or {},
                         "creationTimestamp": "created"},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"conditions": conds}}


def _lease(renew: str) -> dict:
    return {"spec": {"renewTime": renew}}


@pytest.mark.parametrize("heartbeats,leases,expired", [
    pytest.param(["t0", "t0", "t0"], [None, None, None], True, id="nothing-changes-expires"),
    pytest.param(["t0", "t0", "t1"], [None, None, None], False,
                 id="new-heartbeat-counts-as-alive"),
    pytest.param(["t0", "t0", "t0"], ["r0", "r0", "r1"], False,
                 id="lease-renewal-counts-as-alive"),
    pytest.param(["t0", "t0", "t0"], ["r0", "r0", "r0"], True,
                 id="unchanged-lease-expires"),
])
def test_health_monitor_measures_silence_from_last_observed_change(
        heartbeats: list[str], leases: list[str | None], expired: bool) -> None:
    monitor = HealthMonitor(grace_period=40, startup_grace_period=60)
    for now, hb, renew in zip((0.0, 20.0, 39.0), heartbeats, leases, strict=True):
        grace = monitor.observe(_node(heartbeat=hb), _lease(renew) if renew else None, now)
    assert grace == 40
    assert monitor.expired("n", 41.0, grace) is expired


def test_health_monitor_gives_new_nodes_the_startup_grace_from_first_sight() -> None:
    monitor = HealthMonitor(grace_period=40, startup_grace_period=60)
    assert monitor.observe(_node(ready=None), None, 100.0) == 60
    assert not monitor.expired("n", 160.0, 60)
    assert monitor.expired("n", 160.5, 60)


def test_unknown_conditions_mark_posted_ones_and_add_missing_ones() -> None:
    node = _node(conditions={"MemoryPressure": "False", "DiskPressure": "Unknown"})
    conds = {c["type"]: c for c in unknown_conditions(node, now="NOW") or []}
    assert conds["Ready"]["reason"] == "NodeStatusUnknown"
    assert conds["Ready"]["lastTransitionTime"] == "NOW"
    assert conds["MemoryPressure"]["status"] == "Unknown"
    assert "reason" not in conds["DiskPressure"]  # already Unknown: left as it was
    assert conds["PIDPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert conds["PIDPressure"]["lastHeartbeatTime"] == "created"
    all_unknown = _node(ready="Unknown", conditions={t: "Unknown" for t in (
        "MemoryPressure", "DiskPressure", "PIDPressure")})
    assert unknown_conditions(all_unknown, now="NOW") is None


@pytest.mark.parametrize("node,add,remove", [
    pytest.param(_node(), set(), set(), id="ready-node-no-taints"),
    pytest.param(_node(ready="False"), {NOT_READY}, set(), id="not-ready"),
    pytest.param(_node(ready="Unknown", taints=[{"key": NOT_READY, "effect": "NoSchedule"}]),
                 {UNREACHABLE}, {NOT_READY}, id="unknown-swaps-not-ready"),
    pytest.param(_node(conditions={"DiskPressure": "True", "PIDPressure": "True"}),
                 {"node.kubernetes.io/disk-pressure", "node.kubernetes.io/pid-pressure"},
                 set(), id="pressure"),
    pytest.param(_node(unschedulable=True), {"node.kubernetes.io/unschedulable"}, set(),
                 id="unschedulable"),
    pytest.param(_node(taints=[{"key": "node.kubernetes.io/unschedulable",
                                "effect": "NoSchedule"},
                               {"key": "user", "effect": "NoSchedule"},
                               {"key": NOT_READY, "effect": "NoExecute"}]),
                 set(), {"node.kubernetes.io/unschedulable"},
                 id="only-controller-noschedule-keys-removed"),
])
def test_no_schedule_taints_follow_conditions(node: dict, add: set, remove: set) -> None:
    to_add, to_remove = no_schedule_taint_diff(node)
    assert {t["key"] for t in to_add} == add
    assert {t["key"] for t in to_remove} == remove


@pytest.mark.parametrize("statuses,state", [
    pytest.param(["True", "True"], "Normal", id="healthy"),
    pytest.param(["Unknown", None], "FullDisruption", id="none-ready"),
    pytest.param(["True", "False", "False"], "Normal", id="two-down-is-not-partial"),
    pytest.param(["True", "False", "False", "Unknown"], "PartialDisruption", id="partial"),
    pytest.param(["True"] * 2 + ["False"] * 2, "Normal", id="below-threshold"),
    pytest.param([], "Normal", id="empty"),
])
def test_zone_state(statuses: list, state: str) -> None:
    assert compute_zone_state(statuses) == state


def test_zone_key_joins_region_and_zone() -> None:
    labels = {"topology.kubernetes.io/region": "r", "topology.kubernetes.io/zone": "z"}
    assert zone_key(_node(labels=labels)) == "r:\x00:z"
    assert zone_key(_node()) == ""


def test_taint_queue_lets_one_node_per_ten_seconds_through_each_zone() -> None:
    queue = TaintQueue(qps=0.1)
    for name in ("a", "b", "c"):
        assert queue.add("z1", name, 0.0)
    assert queue.add("z2", "d", 0.0)
    assert not queue.add("z1", "a", 0.0)  # already queued
    assert queue.take(0.0) == [("z1", "a"), ("z2", "d")]
    assert queue.take(5.0) == []
    assert queue.next_in(5.0) == pytest.approx(5.0)
    assert queue.take(10.0) == [("z1", "b")]
    assert not queue.add("z1", "a", 10.0)  # processed stays processed until removed
    queue.remove("a")
    assert queue.add("z1", "a", 10.0)
    queue.set_rate("z1", 0.0, 10.0)
    assert queue.take(100.0) == [] and queue.next_in(100.0) is None


def test_disruption_monitor_enters_and_leaves_master_disruption() -> None:
    queue = TaintQueue(qps=0.1)
    monitor = DisruptionMonitor(queue)
    assert monitor.handle({"a": ["True"], "b": ["True"]}, 0.0) is None
    assert monitor.zone_states == {"a": "Normal", "b": "Normal"}
    assert monitor.handle({"a": ["Unknown"], "b": ["True"]}, 1.0) is None
    assert queue.rate("a") == 0.1  # one zone fully disrupted: normal rate
    assert monitor.handle({"a": ["Unknown"], "b": ["False"]}, 2.0) == ENTER_MASTER_DISRUPTION
    assert queue.rate("a") == queue.rate("b") == 0.0
    assert monitor.handle({"a": ["Unknown"], "b": ["False"]}, 3.0) is None
    assert monitor.handle({"a": ["True"], "b": ["False"]}, 4.0) == EXIT_MASTER_DISRUPTION
    assert monitor.zone_states == {"a": "Normal", "b": "FullDisruption"}
    assert queue.rate("a") == queue.rate("b") == 0.1


def test_partial_disruption_stops_tainting_in_small_clusters_only() -> None:
    queue = TaintQueue(qps=0.1)
    monitor = DisruptionMonitor(queue, large_cluster_threshold=4)
    monitor.handle({"small": ["True", "False", "False", "False"],
                    "large": ["True"] * 2 + ["False"] * 3}, 0.0)
    assert monitor.zone_states == {"small": "PartialDisruption", "large": "PartialDisruption"}
    assert (queue.rate("small"), queue.rate("large")) == (0.0, 0.01)
