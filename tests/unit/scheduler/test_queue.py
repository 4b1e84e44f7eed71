"""SchedulingQueue: ordering, backoff, unschedulable moves, the 5-minute flush, in-flight
events, gates -- all with plain numbers for time."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.events import ClusterEvent
from kubemu.cluster.scheduler.queue import QueuedPodInfo, SchedulingQueue

NODE_ADD = ClusterEvent("Node", "Add")
NODE_TAINT = ClusterEvent("Node", "UpdateNodeTaint")
NODE_LABEL = ClusterEvent("Node", "UpdateNodeLabel")
POD_DELETE = ClusterEvent("Pod", "Delete")

EVENTS = {
    "NodeResourcesFit": [NODE_ADD, ClusterEvent("Node", "UpdateNodeAllocatable"), POD_DELETE],
    "TaintToleration": [NODE_ADD, NODE_TAINT],
    "NodeAffinity": [NODE_ADD, ClusterEvent("Node", "Update")],
}


def pod(name: str, *, priority: int = 0, gates: list[str] | None = None,
        cpu: str = "100m") -> dict:
    spec: dict = {"priority": priority, "containers": [
        {"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}
    if gates:
        spec["schedulingGates"] = [{"name": g} for g in gates]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "resourceVersion": "1"},
            "spec": spec, "status": {"phase": "Pending"}}


def queue() -> SchedulingQueue:
    return SchedulingQueue(events_by_plugin=EVENTS)


def names(q: SchedulingQueue, now: float) -> list[str]:
    out = []
    while (info := q.pop(now)) is not None:
        out.append(info.pod["metadata"]["name"])
        q.done(info.uid)
    return out


def unschedulable(q: SchedulingQueue, p: dict, rejectors: set[str], now: float) -> QueuedPodInfo:
    """Add, pop and reject `p` at `now`; it stays in flight."""
    q.add(p, now)
    info = q.pop(now)
    assert info is not None and info.uid == p["metadata"]["uid"]
    q.add_unschedulable(info, rejectors, now)
    return info


def test_active_queue_pops_higher_priority_first_then_older() -> None:
    q = queue()
    q.add(pod("low-old", priority=0), 1.0)
    q.add(pod("high-new", priority=100), 3.0)
    q.add(pod("low-new", priority=0), 2.0)
    q.add(pod("high-old", priority=100), 2.5)
    assert names(q, 10.0) == ["high-old", "high-new", "low-old", "low-new"]
    assert q.pop(10.0) is None


def test_priority_raised_while_queued_reorders() -> None:
    q = queue()
    q.add(pod("a"), 1.0)
    q.add(pod("b"), 2.0)
    q.update(pod("b"), pod("b", priority=5), 3.0)
    assert names(q, 4.0) == ["b", "a"]


@pytest.mark.parametrize("attempts, expected", [
    pytest.param(1, 1.0, id="first-attempt-1s"),
    pytest.param(2, 2.0, id="second-2s"),
    pytest.param(3, 4.0, id="third-4s"),
    pytest.param(4, 8.0, id="fourth-8s"),
    pytest.param(5, 10.0, id="capped-at-10s"),
    pytest.param(40, 10.0, id="many-attempts-still-10s"),
])
def test_backoff_doubles_per_attempt_up_to_ten_seconds(attempts: int, expected: float) -> None:
    q = queue()
    info = QueuedPodInfo(pod=pod("p"), uid="uid-p", timestamp=0.0, attempts=attempts)
    assert q.backoff_duration(info) == expected


def test_error_requeues_to_backoff_and_flushes_to_active_when_backoff_completes() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    info = q.pop(0.0)
    assert info is not None and info.attempts == 1
    assert q.requeue_backoff(info, 5.0) == "backoff"
    q.done(info.uid)
    assert q.next_ready_time() == 6.0
    assert q.pop(5.99) is None
    again = q.pop(6.0)
    assert again is info and again.attempts == 2
    q.requeue_backoff(again, 7.0)
    assert q.next_ready_time() == 9.0  # second attempt: 2 s


def test_with_zero_initial_backoff_an_error_requeues_straight_to_active() -> None:
    q = SchedulingQueue(initial_backoff=0.0)
    q.add(pod("p"), 0.0)
    assert q.requeue_backoff(q.pop(0.0), 0.0) == "active"


@pytest.mark.parametrize("rejectors, event, moved", [
    pytest.param({"NodeResourcesFit"}, NODE_ADD, True, id="fit-node-added"),
    pytest.param({"NodeResourcesFit"}, POD_DELETE, True, id="fit-pod-deleted"),
    pytest.param({"NodeResourcesFit"}, NODE_TAINT, False, id="fit-taint-change-unrelated"),
    pytest.param({"TaintToleration"}, NODE_TAINT, True, id="taint-taint-change"),
    pytest.param({"TaintToleration"}, POD_DELETE, False, id="taint-pod-delete-unrelated"),
    pytest.param({"NodeAffinity"}, NODE_LABEL, True, id="affinity-any-node-update"),
    pytest.param({"TaintToleration", "NodeResourcesFit"}, POD_DELETE, True,
                 id="any-rejector-interested"),
    pytest.param({"UnknownPlugin"}, NODE_ADD, False, id="unregistered-plugin-never-moves"),
])
def test_unschedulable_pod_moves_only_on_an_event_its_rejectors_registered_for(
        rejectors: set[str], event: ClusterEvent, moved: bool) -> None:
    q = queue()
    info = unschedulable(q, pod("p"), rejectors, 0.0)
    q.done(info.uid)
    assert q.where(info.uid) == "unschedulable"
    assert q.move_all_on_event(event, 20.0) == (1 if moved else 0)
    assert q.where(info.uid) == ("active" if moved else "unschedulable")


def test_event_during_backoff_moves_pod_to_backoff_not_active() -> None:
    q = queue()
    info = unschedulable(q, pod("p"), {"NodeResourcesFit"}, 0.0)
    q.done(info.uid)
    q.move_all_on_event(NODE_ADD, 0.5)
    assert q.where(info.uid) == "backoff"
    assert q.pop(0.9) is None
    assert q.pop(1.0) is info


def test_unschedulable_pods_are_flushed_after_five_minutes() -> None:
    q = queue()
    info = unschedulable(q, pod("p"), {"NodeResourcesFit"}, 10.0)
    q.done(info.uid)
    assert q.next_ready_time() == 310.0
    q.flush(309.9)
    assert q.where(info.uid) == "unschedulable"
    q.flush(310.0)
    assert q.where(info.uid) == "active"


def test_event_during_the_attempt_is_not_lost() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    info = q.pop(0.0)
    q.move_all_on_event(NODE_ADD, 0.1)  # a node arrives while the pod is being scheduled
    assert q.add_unschedulable(info, {"NodeResourcesFit"}, 0.2) == "backoff"
    q.done(info.uid)
    assert q.pop(1.2) is info


def test_unrelated_event_during_the_attempt_still_parks_the_pod() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    info = q.pop(0.0)
    q.move_all_on_event(NODE_TAINT, 0.1)
    assert q.add_unschedulable(info, {"NodeResourcesFit"}, 0.2) == "unschedulable"


def test_event_before_the_pop_does_not_count_for_the_attempt() -> None:
    q = queue()
    q.add(pod("other"), 0.0)
    other = q.pop(0.0)                 # keeps the event log alive
    q.move_all_on_event(NODE_ADD, 0.1)
    q.add(pod("p"), 0.2)
    info = q.pop(0.2)
    assert q.add_unschedulable(info, {"NodeResourcesFit"}, 0.3) == "unschedulable"
    assert q.add_unschedulable(other, {"NodeResourcesFit"}, 0.3) == "backoff"


def test_pod_updated_during_its_attempt_is_retried_with_the_new_object() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    info = q.pop(0.0)
    q.update(pod("p"), pod("p", cpu="50m"), 0.1)
    assert q.add_unschedulable(info, {"NodeResourcesFit"}, 0.2) == "backoff"
    assert info.pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "50m"


def test_pod_deleted_during_its_attempt_is_dropped() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    info = q.pop(0.0)
    q.delete(pod("p"))
    assert q.add_unschedulable(info, {"NodeResourcesFit"}, 0.1) == ""
    assert len(q) == 0 and not q.in_flight(info.uid)


def test_pod_deleted_while_queued_leaves_every_part() -> None:
    q = queue()
    c = unschedulable(q, pod("c"), {"NodeResourcesFit"}, 0.0)
    q.done(c.uid)
    for name in ("a", "b"):
        q.add(pod(name), 0.0)
    q.delete(pod("a"))
    q.delete(pod("c"))
    assert q.pending() == {"active": 1, "backoff": 0, "unschedulable": 0, "gated": 0}
    assert names(q, 1.0) == ["b"]


def test_attempt_without_rejector_plugins_goes_to_backoff() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    assert q.add_unschedulable(q.pop(0.0), set(), 0.0) == "backoff"


@pytest.mark.parametrize("change, moved", [
    pytest.param(lambda p: p["spec"].update(tolerations=[{"operator": "Exists"}]), True,
                 id="spec-change-moves"),
    pytest.param(lambda p: p["metadata"].update(labels={"a": "b"}), True,
                 id="label-change-moves"),
    pytest.param(lambda p: p["status"].update(conditions=[{"type": "PodScheduled"}]), False,
                 id="status-only-stays"),
    pytest.param(lambda p: p["metadata"].update(resourceVersion="9"), False,
                 id="resource-version-only-stays"),
])
def test_update_of_an_unschedulable_pod(change, moved: bool) -> None:
    q = queue()
    info = unschedulable(q, pod("p"), {"NodeResourcesFit"}, 0.0)
    q.done(info.uid)
    new = pod("p")
    change(new)
    q.update(pod("p"), new, 50.0)
    assert q.where(info.uid) == ("active" if moved else "unschedulable")
    assert q.get(info.uid).pod is new


def test_gated_pods_wait_until_their_gates_are_removed() -> None:
    q = queue()
    q.add(pod("gated", gates=["example.com/wait"]), 0.0)
    q.add(pod("free"), 1.0)
    assert q.pending()["gated"] == 1
    assert names(q, 2.0) == ["free"]
    q.update(pod("gated", gates=["example.com/wait"]), pod("gated"), 3.0)
    assert names(q, 3.0) == ["gated"]


def test_event_log_is_trimmed_once_nothing_is_in_flight() -> None:
    q = queue()
    q.add(pod("p"), 0.0)
    info = q.pop(0.0)
    for _ in range(100):
        q.move_all_on_event(NODE_TAINT, 0.1)
    q.add_unschedulable(info, {"NodeResourcesFit"}, 0.2)
    q.done(info.uid)
    assert not q._events
    q.move_all_on_event(NODE_TAINT, 0.3)  # nobody in flight: nothing to remember
    assert not q._events
