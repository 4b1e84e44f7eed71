"""TaintEvictionController (NoExecute taint manager) and the taint/toleration rules.

Component tests taint nodes directly (as `kubectl taint` would) or, end to end, let the
NodeLifecycleController taint a node whose kubelet went silent. An evicted pod bound to a node
is deleted gracefully, so "evicted" means it got a deletionTimestamp.
"""

from __future__ import annotations

import asyncio

import pytest
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.nodelifecycle import NodeLifecycleController
from kubemu.cluster.controllers.taints import (
    matching_tolerations, min_toleration_seconds, swap_taints, tolerates)
from kubemu.cluster.controllers.tainteviction import TaintEvictionController
from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.nodekit import (
    FakeKubelet, bound_pod, condition, events, pod_or_none, taint_keys)

DEDICATED = {"key": "dedicated", "value": "db", "effect": "NoExecute"}
UNREACHABLE = "node.kubernetes.io/unreachable"


def _tol(key: str = "dedicated", *, seconds: int | None = None, op: str = "Exists") -> dict:
    tol = {"key": key, "operator": op, "effect": "NoExecute"}
    if seconds is not None:
        tol["tolerationSeconds"] = seconds
    return tol


async def _evicted_at(kube: Kube, name: str, *, timeout: float) -> float | None:
    """Loop time at which the pod got a deletionTimestamp (None: not within `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        pod = await pod_or_none(kube, name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return loop.time()
        await asyncio.sleep(0.5)
    return None


async def _taint(kube: Kube, node: str, taints: list[dict]) -> None:
    await kube.client.patch("v1", "Node", node, {"spec": {"taints": taints}})


@pytest.mark.parametrize("taints,tolerations,after", [
    pytest.param([DEDICATED], [], 0, id="untolerated-taint-evicts-at-once"),
    pytest.param([DEDICATED], [_tol(seconds=30)], 30, id="toleration-seconds-delay"),
    pytest.param([DEDICATED], [_tol()], None, id="tolerated-forever-stays"),
    pytest.param([DEDICATED, {"key": "b", "effect": "NoExecute"}],
                 [_tol(seconds=60), _tol("b", seconds=20)], 20, id="smallest-seconds-wins"),
    pytest.param([DEDICATED], [_tol(seconds=0)], 0, id="zero-seconds-evicts-at-once"),
    pytest.param([{"key": "soft", "effect": "NoSchedule"}], [], None,
                 id="no-schedule-taint-never-evicts"),
])
def test_pods_on_tainted_nodes_are_evicted_per_their_tolerations(
        taints: list[dict], tolerations: list[dict], after: float | None) -> None:
    async def main() -> None:
        async with api() as kube:
            await FakeKubelet(kube, "n1").register(lease=False)
            await bound_pod(kube, "p", "n1", tolerations=tolerations)
            ctl = TaintEvictionController(kube.client, kube.timing)
            task = asyncio.create_task(ctl.run())
            await asyncio.sleep(5)
            tainted = asyncio.get_running_loop().time()
            await _taint(kube, "n1", taints)
            when = await _evicted_at(kube, "p", timeout=120)
            if after is None:
                assert when is None
            else:
                assert when is not None and after <= when - tainted <= after + 1.5
                pod = await kube.client.get("v1", "Pod", "p", namespace="default")
                cond = condition(pod, "DisruptionTarget")
                assert (cond["status"], cond["reason"]) == ("True", "DeletionByTaintManager")
                found = await eventually(lambda: events(kube, "p", "TaintManagerEviction"),
                                         timeout=5)
                assert found[0]["message"] == "Marking for deletion Pod default/p"
            await ctl.stop()
            await task

    vtime.run(main)


def test_removing_the_taint_cancels_a_scheduled_eviction() -> None:
    async def main() -> None:
        async with api() as kube:
            await FakeKubelet(kube, "n1").register(lease=False)
            await bound_pod(kube, "p", "n1", tolerations=[_tol(seconds=100)])
            ctl = TaintEvictionController(kube.client, kube.timing)
            task = asyncio.create_task(ctl.run())
            await _taint(kube, "n1", [DEDICATED])
            await eventually(lambda: ctl.scheduled("default", "p") is not None, timeout=5,
                             what="eviction scheduled")
            await asyncio.sleep(50)
            await _taint(kube, "n1", [])
            assert await _evicted_at(kube, "p", timeout=150) is None
            found = await eventually(lambda: events(kube, "p", "TaintManagerEviction"),
                                     timeout=5)
            assert found[0]["message"] == "Cancelling deletion of Pod default/p"
            await ctl.stop()
            await task

    vtime.run(main)


def test_silent_node_evicts_pods_per_default_and_explicit_tolerations() -> None:
    """End to end: node lifecycle taints the silent node unreachable; the admission's 300 s
    default toleration delays eviction, a forever toleration keeps the pod, zero evicts."""
    async def main() -> None:
        async with api() as kube:
            kubelets = [FakeKubelet(kube, "n0"), FakeKubelet(kube, "n1")]
            for kubelet in kubelets:
                await kubelet.register()
            await bound_pod(kube, "default-toleration", "n1")
            await bound_pod(kube, "forever", "n1", tolerations=[_tol(UNREACHABLE)])
            await bound_pod(kube, "at-once", "n1", tolerations=[_tol(UNREACHABLE, seconds=0)])
            await bound_pod(kube, "healthy-node", "n0")
            factory = InformerFactory(kube.client, kube.timing)
            recorder = EventRecorder(kube.client, kube.timing, component="controller-manager")
            lifecycle = NodeLifecycleController(kube.client, kube.timing, factory=factory,
                                                recorder=recorder)
            eviction = TaintEvictionController(kube.client, kube.timing, factory=factory,
                                               recorder=recorder)
            tasks = [asyncio.create_task(c) for c in (
                lifecycle.run(), eviction.run(), recorder.run(), kubelets[0].run(),
                kubelets[1].run())]
            factory.start()
            await asyncio.sleep(20)
            kubelets[1].alive = False

            async def tainted() -> bool:
                return UNREACHABLE in taint_keys(await kubelets[1].node(), "NoExecute")

            await eventually(tainted, timeout=120, what="unreachable NoExecute taint")
            loop = asyncio.get_running_loop()
            tainted_at = loop.time()
            assert await _evicted_at(kube, "at-once", timeout=3) is not None
            when = await _evicted_at(kube, "default-toleration", timeout=320)
            assert when is not None and 299 <= when - tainted_at <= 302
            assert await _evicted_at(kube, "forever", timeout=100) is None
            assert await _evicted_at(kube, "healthy-node", timeout=1) is None
            await asyncio.gather(lifecycle.stop(), eviction.stop())
            await factory.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    vtime.run(main)


# -- pure rules ------------------------------------------------------------------------------

TAINT = {"key": "k", "value": "v", "effect": "NoExecute"}


@pytest.mark.parametrize("toleration,tolerated", [
    pytest.param({"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute"}, True,
                 id="equal-all-fields"),
    pytest.param({"key": "k", "value": "v"}, True, id="empty-operator-is-equal-any-effect"),
    pytest.param({"key": "k", "value": "other"}, False, id="equal-value-differs"),
    pytest.param({"key": "k", "operator": "Exists"}, True, id="exists-ignores-value"),
    pytest.param({"operator": "Exists"}, True, id="empty-key-exists-matches-all"),
    pytest.param({"key": "k", "operator": "Exists", "effect": "NoSchedule"}, False,
                 id="effect-differs"),
    pytest.param({"key": "x", "operator": "Exists"}, False, id="key-differs"),
    pytest.param({"key": "k", "operator": "Lt", "value": "v"}, False, id="unknown-operator"),
])
def test_toleration_matching(toleration: dict, tolerated: bool) -> None:
    assert tolerates(toleration, TAINT) is tolerated


def test_each_taint_uses_the_first_matching_toleration() -> None:
    first = {"key": "k", "operator": "Exists", "tolerationSeconds": 300}
    wildcard = {"operator": "Exists"}
    assert matching_tolerations([TAINT], [first, wildcard]) == (True, [first])
    assert matching_tolerations([TAINT, {"key": "z", "effect": "NoExecute"}], [first]) == \
        (False, [])
    assert matching_tolerations([], []) == (True, [])


@pytest.mark.parametrize("seconds,expected", [
    pytest.param([300, 60], 60.0, id="smallest"),
    pytest.param([None, 60], 60.0, id="forever-ignored-when-others-limit"),
    pytest.param([None], None, id="forever"),
    pytest.param([-5, 60], 0.0, id="negative-means-now"),
    pytest.param([], 0.0, id="no-tolerations-means-now"),
])
def test_min_toleration_seconds(seconds: list, expected: float | None) -> None:
    tolerations = [{"operator": "Exists", **({"tolerationSeconds": s} if s is not None else {})}
                   for s in seconds]
    assert min_toleration_seconds(tolerations) == expected


def test_swap_taints_adds_removes_and_reports_no_change() -> None:
    taints = [{"key": "a", "effect": "NoExecute", "timeAdded": "old"}]
    swapped = swap_taints(taints, add=[{"key": "b", "effect": "NoExecute"}],
                          remove=[{"key": "a", "effect": "NoExecute"}], time_added="now")
    assert swapped == [{"key": "b", "effect": "NoExecute", "timeAdded": "now"}]
    assert swap_taints(swapped, add=[{"key": "b", "effect": "NoExecute"}],
                       remove=[{"key": "a", "effect": "NoExecute"}], time_added="x") is None
    assert taints[0]["timeAdded"] == "old"  # inputs untouched
