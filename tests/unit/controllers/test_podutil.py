"""podutil: active / ready / available pods, the scale-down ranking, the ReadyTracker."""

from __future__ import annotations

import pytest
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.clock import ManualClock
from kubemu.cluster.controllers.podutil import (
    ReadyTracker, available_in, deletion_cost, is_pod_active, is_pod_available, is_pod_ready,
    max_container_restarts, pods_to_delete, rank_pods_for_deletion)
from kubemu.cluster.timing import Timing

EPOCH = 1_800_000_000.0


def pod(name: str, *, node: str = "", phase: str = "Pending", ready: bool | None = None,
        ready_at: float | None = None, created: float = EPOCH, restarts: int = 0,
        cost: str | None = None, deleting: bool = False, uid: str | None = None) -> dict:
    md: dict = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                "creationTimestamp": rfc3339(created)}
    if cost is not None:
        md["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    if deleting:
        md["deletionTimestamp"] = rfc3339(created + 1)
    status: dict = {"phase": phase,
                    "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    if ready is not None:
        cond = {"type": "Ready", "status": "True" if ready else "False"}
        if ready_at is not None:
            cond["lastTransitionTime"] = rfc3339(ready_at)
        status["conditions"] = [cond]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]},
            "status": status}


@pytest.mark.parametrize("p, active", [
    pytest.param(pod("a", phase="Running"), True, id="running"),
    pytest.param(pod("a"), True, id="pending"),
    pytest.param(pod("a", phase="Succeeded"), False, id="succeeded"),
    pytest.param(pod("a", phase="Failed"), False, id="failed"),
    pytest.param(pod("a", phase="Running", deleting=True), False, id="terminating"),
])
def test_active_pods_are_neither_terminal_nor_terminating(p: dict, active: bool) -> None:
    assert is_pod_active(p) is active


@pytest.mark.parametrize("p, ready", [
    pytest.param(pod("a", ready=True), True, id="ready-true"),
    pytest.param(pod("a", ready=False), False, id="ready-false"),
    pytest.param(pod("a"), False, id="no-condition"),
])
def test_ready_reads_the_ready_condition(p: dict, ready: bool) -> None:
    assert is_pod_ready(p) is ready


@pytest.mark.parametrize("min_ready, since, now, expected", [
    pytest.param(0, None, 0.0, 0.0, id="no-min-ready-is-available-at-once"),
    pytest.param(10, 100.0, 105.0, 5.0, id="five-seconds-to-go"),
    pytest.param(10, 100.0, 110.0, 0.0, id="exactly-min-ready-is-available"),
    pytest.param(10, 100.0, 200.0, 0.0, id="long-ready"),
])
def test_availability_counts_min_ready_seconds_from_ready_since(
        min_ready: int, since: float | None, now: float, expected: float) -> None:
    p = pod("a", ready=True)
    assert available_in(p, min_ready, now, ready_since=since) == expected
    assert is_pod_available(p, min_ready, now, ready_since=since) is (expected == 0.0)


def test_unready_pod_is_never_available() -> None:
    p = pod("a", ready=False)
    assert available_in(p, 0, 1.0, ready_since=0.0) is None
    assert not is_pod_available(p, 0, 1.0)


def test_availability_falls_back_to_the_condition_transition_time_in_wall_seconds() -> None:
    p = pod("a", ready=True, ready_at=EPOCH)
    assert not is_pod_available(p, 30, EPOCH + 29)
    assert is_pod_available(p, 30, EPOCH + 30)


def _names(pods: list[dict]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


@pytest.mark.parametrize("first, second", [
    pytest.param(pod("first"), pod("second", node="n1"), id="unassigned-before-assigned"),
    pytest.param(pod("first", node="n1"), pod("second", node="n1", phase="Unknown"),
                 id="pending-before-unknown"),
    pytest.param(pod("first", node="n1", phase="Unknown"),
                 pod("second", node="n1", phase="Running"), id="unknown-before-running"),
    pytest.param(pod("first", node="n1", phase="Running", ready=False),
                 pod("second", node="n1", phase="Running", ready=True),
                 id="unready-before-ready"),
    pytest.param(pod("first", node="n1", phase="Running", cost="-5"),
                 pod("second", node="n1", phase="Running"), id="lower-deletion-cost-first"),
    pytest.param(pod("first", node="n1", phase="Running", ready=True, ready_at=EPOCH + 50),
                 pod("second", node="n1", phase="Running", ready=True, ready_at=EPOCH),
                 id="ready-for-less-time-first"),
    pytest.param(pod("first", node="n1", phase="Running", ready=True),
                 pod("second", node="n1", phase="Running", ready=True, ready_at=EPOCH),
                 id="unknown-ready-time-first"),
    pytest.param(pod("first", node="n1", phase="Running", restarts=3),
                 pod("second", node="n1", phase="Running", restarts=1),
                 id="more-restarts-first"),
    pytest.param(pod("first", node="n1", phase="Running", created=EPOCH + 10),
                 pod("second", node="n1", phase="Running", created=EPOCH),
                 id="newer-first"),
])
def test_scale_down_ranking_deletes_the_least_valuable_pod_first(first: dict,
                                                                  second: dict) -> None:
    assert _names(rank_pods_for_deletion([second, first])) == ["first", "second"]
    assert _names(rank_pods_for_deletion([first, second])) == ["first", "second"]


def test_pods_doubled_up_on_a_node_go_first() -> None:
    lonely = pod("lonely", node="n1", phase="Running")
    crowded = pod("crowded", node="n2", phase="Running")
    sibling = pod("sibling", node="n2", phase="Running")  # another ReplicaSet's, same node
    ranked = rank_pods_for_deletion([lonely, crowded], related=[lonely, crowded, sibling])
    assert _names(ranked) == ["crowded", "lonely"]


def test_pods_to_delete_takes_the_first_ranked() -> None:
    pods = [pod("ready", node="n1", phase="Running", ready=True),
            pod("running", node="n1", phase="Running"), pod("unassigned")]
    assert _names(pods_to_delete(pods, [], 2)) == ["unassigned", "running"]
    assert len(pods_to_delete(pods, [], 5)) == 3


def test_restarts_count_sidecars_only_after_regular_containers() -> None:
    p = pod("a", restarts=2)
    p["spec"]["initContainers"] = [{"name": "side", "restartPolicy": "Always"},
                                   {"name": "init"}]
    p["status"]["initContainerStatuses"] = [{"name": "side", "restartCount": 7},
                                            {"name": "init", "restartCount": 9}]
    assert max_container_restarts(p) == (2, 7)


@pytest.mark.parametrize("value, cost", [
    pytest.param(None, 0, id="unset"), pytest.param("-3", -3, id="negative"),
    pytest.param("x", 0, id="malformed"),
])
def test_deletion_cost_annotation(value: str | None, cost: int) -> None:
    assert deletion_cost(pod("a", cost=value)) == cost


def test_ready_tracker_times_readiness_by_the_clock() -> None:
    clock = ManualClock(1000.0)
    tracker = ReadyTracker(_timing(clock))
    assert tracker.observe(pod("a", ready=False)) is None
    clock.advance(5)
    assert tracker.observe(pod("a", ready=True, ready_at=EPOCH - 500)) == 1005.0  # seen turn
    clock.advance(5)
    assert tracker.ready_since(pod("a", ready=True)) == 1005.0
    tracker.observe(pod("a", ready=False))
    clock.advance(5)
    assert tracker.observe(pod("a", ready=True)) == 1015.0  # ready again: a new time
    tracker.forget(pod("a"))
    assert len(tracker) == 0


def test_ready_tracker_back_dates_a_pod_first_seen_ready_by_its_scaled_condition() -> None:
    clock = ManualClock(1000.0)
    tracker = ReadyTracker(_timing(clock, scale=60.0))
    since = tracker.observe(pod("a", ready=True, ready_at=EPOCH - 2))
    assert since == 1000.0 - 120.0  # two wall seconds are two minutes of Kubernetes time


def _timing(clock: ManualClock, *, scale: float = 1.0) -> Timing:
    async def sleep(seconds: float) -> None:
        raise AssertionError("the tracker never sleeps")

    return Timing(clock=clock, sleep=sleep, wall=lambda: EPOCH, scale=scale)
