"""Deployment status: counters, Available, Progressing (progress, completion, deadline)."""

from __future__ import annotations

import pytest
from kubemu.cluster.clock import ManualClock
from kubemu.cluster.controllers import deployment_status as ds

NOW = "2027-01-15T08:00:00Z"
LATER = "2027-01-15T08:05:00Z"


def deployment(replicas: int = 4, *, status: dict | None = None, generation: int = 2,
               deadline: int | None = 600, paused: bool = False) -> dict:
    spec: dict = {"replicas": replicas, "paused": paused, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"metadata": {"name": "web", "uid": "u1", "generation": generation}, "spec": spec,
            "status": status or {}}


def rs(name: str, spec: int, *, actual: int | None = None, ready: int = 0,
       available: int = 0) -> dict:
    return {"metadata": {"name": name}, "spec": {"replicas": spec},
            "status": {"replicas": spec if actual is None else actual,
                       "readyReplicas": ready, "availableReplicas": available}}


def progressing(reason: str, status: str = "True", stamp: str = NOW) -> dict:
    return {"type": "Progressing", "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": "m"}


def test_counters_come_from_the_replica_sets_and_zeros_are_omitted() -> None:
    new, old = rs("n", 2, ready=1, available=1), rs("o", 3, ready=3, available=3)
    status = ds.calculate_status(deployment(4), [old, new], new, NOW)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 2, "replicas": 5, "updatedReplicas": 2, "readyReplicas": 4,
        "availableReplicas": 4, "unavailableReplicas": 1}
    assert status["conditions"] == [{
        "type": "Available", "status": "True", "lastUpdateTime": NOW,
        "lastTransitionTime": NOW, "reason": "MinimumReplicasAvailable",
        "message": "Deployment has minimum availability."}]
    empty = ds.calculate_status(deployment(0, generation=1), [], None, NOW)
    assert set(empty) == {"observedGeneration", "conditions"}


def test_available_turns_false_below_the_floor_and_keeps_its_time_while_unchanged() -> None:
    low = ds.calculate_status(deployment(4), [rs("n", 4, available=2)], None, NOW)
    assert ds.get_condition(low, "Available")["reason"] == "MinimumReplicasUnavailable"
    again = ds.calculate_status(deployment(4, status=low), [rs("n", 4, available=2)], None,
                                LATER)
    assert ds.get_condition(again, "Available")["lastUpdateTime"] == NOW


def test_set_condition_keeps_transition_time_when_only_the_reason_changes() -> None:
    status = {"conditions": [progressing("NewReplicaSetCreated")]}
    ds.set_condition(status, ds.new_condition("Progressing", "True", "ReplicaSetUpdated", "x",
                                              LATER))
    cond = ds.get_condition(status, "Progressing")
    assert (cond["reason"], cond["lastUpdateTime"], cond["lastTransitionTime"]) == (
        "ReplicaSetUpdated", LATER, NOW)


@pytest.mark.parametrize("old_status,rss,elapsed,reason,touched", [
    pytest.param({"replicas": 4, "updatedReplicas": 1, "observedGeneration": 2,
                  "conditions": [progressing("NewReplicaSetCreated")]},
                 [rs("o", 3, available=3), rs("n", 2, available=0)], 10,
                 "ReplicaSetUpdated", True, id="more-updated-is-progress"),
    pytest.param({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 3,
                  "observedGeneration": 2, "conditions": [progressing("ReplicaSetUpdated")]},
                 [rs("n", 4, ready=4, available=4)], 10, "NewReplicaSetAvailable", True,
                 id="complete"),
    pytest.param({"replicas": 4, "updatedReplicas": 2, "availableReplicas": 3,
                  "observedGeneration": 2, "conditions": [progressing("ReplicaSetUpdated")]},
                 [rs("o", 2, available=2), rs("n", 2, available=1)], 599,
                 "ReplicaSetUpdated", False, id="no-progress-within-deadline"),
    pytest.param({"replicas": 4, "updatedReplicas": 2, "availableReplicas": 3,
                  "observedGeneration": 2, "conditions": [progressing("ReplicaSetUpdated")]},
                 [rs("o", 2, available=2), rs("n", 2, available=1)], 600,
                 "ProgressDeadlineExceeded", True, id="deadline-exceeded"),
    pytest.param({"replicas": 4, "updatedReplicas": 4, "availableReplicas": 4,
                  "observedGeneration": 2,
                  "conditions": [progressing("NewReplicaSetAvailable")]},
                 [rs("n", 4, available=3)], 9999, "NewReplicaSetAvailable", False,
                 id="finished-rollout-never-times-out"),
])
def test_rollout_status_progressing_condition(old_status: dict, rss: list[dict],
                                              elapsed: float, reason: str,
                                              touched: bool) -> None:
    d = deployment(4, status=old_status)
    new = rss[-1]
    status, did = ds.rollout_status(d, rss, new, now=LATER, elapsed=elapsed)
    cond = ds.get_condition(status, "Progressing")
    assert (cond["reason"], did) == (reason, touched)
    if reason == "ProgressDeadlineExceeded":
        assert cond["status"] == "False"
        assert cond["message"] == 'ReplicaSet "n" has timed out progressing.'
    if reason == "ReplicaSetUpdated" and touched:
        assert (cond["lastUpdateTime"], cond["lastTransitionTime"]) == (LATER, NOW)
        assert cond["message"] == 'ReplicaSet "n" is progressing.'


def test_stuck_rollout_is_requeued_for_the_time_left() -> None:
    d = deployment(4, status={"replicas": 4, "updatedReplicas": 2, "observedGeneration": 2,
                              "conditions": [progressing("ReplicaSetUpdated")]})
    status, _ = ds.rollout_status(d, [rs("n", 4, available=1)], None, now=NOW, elapsed=100)
    assert ds.stuck_requeue_after(d, status, 100) == 500
    assert ds.stuck_requeue_after(deployment(4, deadline=None), status, 100) is None


def test_no_deadline_means_no_progressing_condition() -> None:
    d = deployment(4, deadline=None, status={"conditions": [progressing("ReplicaSetUpdated")]})
    status, _ = ds.rollout_status(d, [rs("n", 4, available=4)], None, now=NOW, elapsed=0)
    assert ds.get_condition(status, "Progressing") is None


@pytest.mark.parametrize("paused,current,reason", [
    pytest.param(True, None, "DeploymentPaused", id="pause"),
    pytest.param(False, progressing("DeploymentPaused", "Unknown"), "DeploymentResumed",
                 id="resume"),
    pytest.param(True, progressing("ProgressDeadlineExceeded", "False"),
                 "ProgressDeadlineExceeded", id="timeout-is-kept"),
])
def test_paused_conditions(paused: bool, current: dict | None, reason: str) -> None:
    d = deployment(paused=paused, status={"conditions": [current] if current else []})
    changed = ds.paused_conditions(d, LATER)
    assert changed is (reason != "ProgressDeadlineExceeded")
    assert ds.get_condition(d["status"], "Progressing")["reason"] == reason


def test_progress_clock_measures_from_touch_or_first_sight() -> None:
    clock = ManualClock(100.0)
    progress = ds.ProgressClock(clock)
    d = deployment(status={"conditions": [progressing("ReplicaSetUpdated")]})
    cond = ds.get_condition(d["status"], "Progressing")
    assert progress.elapsed(d, cond) == 0.0
    clock.advance(30)
    assert progress.elapsed(d, cond) == 30.0
    progress.touch(d)
    clock.advance(5)
    assert progress.elapsed(d, cond) == 5.0
    assert progress.elapsed(d, progressing("ReplicaSetUpdated", stamp=LATER)) == 0.0
