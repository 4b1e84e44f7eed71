"""PodWorker termination: graceful deletion, deadlines, eviction, rejection, OOM kills."""

from __future__ import annotations

import pytest
from kubemu.cluster.node.actions import DeletePod, Event

from tests.unit.node.podkit import (condition, container, deleted, make_pod, run_until, script,
                                    server, state, times_of, worker)


def deletes(actions) -> list[float]:
    return [round(t, 3) for t, a in actions if isinstance(a, DeletePod)]


def test_deleted_server_exits_at_sigterm_and_the_pod_finishes_at_once():
    pod = make_pod(server())
    w = worker(pod)
    run_until(w, 10.0)
    w.update(deleted(pod), 10.0)
    actions = [(10.0, a) for a in w.step(10.0)]
    assert [(a.reason, a.message) for _, a in actions if isinstance(a, Event)] == [
        ("Killing", "Stopping container web")]
    assert deletes(actions) == [10.0]
    assert w.finished
    assert state(w, "web") == "terminated:Completed"
    assert w.status()["phase"] == "Succeeded"  # all containers exited 0 on a terminal pod
    assert condition(w, "PodReadyToStartContainers")["status"] == "False"
    assert run_until(w, 100.0) == []  # DeletePod is asked for once


def test_deleted_sleeping_shell_ignores_sigterm_and_is_killed_after_the_grace_period():
    pod = make_pod(script("sleeper", "sleep 3600"))
    w = worker(pod)
    run_until(w, 10.0)
    w.update(deleted(pod, grace=30), 10.0)
    actions = run_until(w, 39.9)
    assert state(w, "sleeper") == "running" and not w.finished
    actions += run_until(w, 60.0)
    assert deletes(actions) == [40.0]
    terminated = container(w, "sleeper")["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    assert w.status()["phase"] == "Failed"


def test_a_newer_update_shortens_the_grace_period():
    pod = make_pod(script("sleeper", "sleep 3600"))
    w = worker(pod)
    w.update(deleted(pod, grace=30), 10.0)
    w.update(deleted(pod, grace=5), 12.0)
    assert deletes(run_until(w, 60.0)) == [17.0]


def test_pre_stop_hook_runs_before_sigterm():
    hook = {"lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5"]}}}}
    pod = make_pod(server(**hook))
    w = worker(pod)
    w.update(deleted(pod), 10.0)
    actions = run_until(w, 60.0)
    assert deletes(actions) == [15.0]
    assert container(w, "web")["state"]["terminated"]["exitCode"] == 0


def test_pre_stop_hook_longer_than_the_grace_period_is_cut_short():
    hook = {"lifecycle": {"preStop": {"sleep": {"seconds": 100}}}}
    pod = make_pod(server(**hook), grace=10)
    w = worker(pod)
    w.update(deleted(pod, grace=10), 10.0)
    # preStop takes the whole grace period; SIGTERM at 20 gets the 2 s minimum window, but
    # nginx exits at SIGTERM.
    assert deletes(run_until(w, 60.0)) == [20.0]


def test_pod_deleted_before_its_sandbox_is_ready_finishes_without_starting():
    pod = make_pod(server())
    w = worker(pod, create_delay=5.0)
    w.update(deleted(pod), 1.0)
    actions = [(1.0, a) for a in w.step(1.0)] + run_until(w, 10.0)
    assert deletes(actions) == [1.0]
    assert times_of(actions, "Started") == []


def test_already_terminal_pod_is_not_run_and_finishes_at_once_on_deletion():
    pod = make_pod(script("c", "exit 0"))
    pod["status"] = {"phase": "Succeeded", "conditions": [], "reason": "x"}
    w = worker(pod)
    assert w.step(5.0) == [] and w.next_wakeup() is None
    assert w.status()["phase"] == "Succeeded" and w.status()["reason"] == "x"
    w.update(deleted(pod), 6.0)
    assert w.step(6.0) == [DeletePod("uid-1")]


def test_active_deadline_fails_the_pod_and_kills_its_containers():
    pod = make_pod(script("sleeper", "sleep 3600"), activeDeadlineSeconds=60, grace=10)
    w = worker(pod)
    actions = run_until(w, 100.0)
    assert [(t, a.reason, a.message) for t, a in actions
            if isinstance(a, Event) and a.reason in ("DeadlineExceeded", "Killing")] == [
        (60.0, "DeadlineExceeded",
         "Pod was active on the node longer than the specified deadline"),
        (60.0, "Killing", "Stopping container sleeper")]
    status = w.status()
    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert container(w, "sleeper")["state"]["terminated"]["finishedAt"] == \
        "2027-01-15T08:01:10Z"
    assert not w.finished  # not deleted: the failed pod stays


def test_eviction_kills_everything_at_once_and_marks_the_disruption():
    pod = make_pod(script("sleeper", "sleep 3600"), server())
    w = worker(pod)
    run_until(w, 10.0)
    w.evict(20.0, "The node was low on resource: memory.")
    actions = w.step(20.0)
    assert [a.message for a in actions] == ["Stopping container sleeper", "Stopping container web"]
    status = w.status()
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed", "Evicted", "The node was low on resource: memory.")
    assert condition(w, "DisruptionTarget")["reason"] == "TerminationByKubelet"
    assert {state(w, "web"), state(w, "sleeper")} == {"terminated:Error"}
    assert w.memory_bytes() == 0
    assert not w.finished
    w.update(deleted(pod), 30.0)
    assert w.step(30.0) == [DeletePod("uid-1")]
    assert w.status()["phase"] == "Failed"


def test_rejected_pod_never_runs():
    w = worker(make_pod(server()))
    w.reject("OutOfcpu", "Node didn't have enough resource: cpu, requested: 500, "
                         "used: 3800, capacity: 4000")
    actions = w.step(10.0)
    assert [(a.type, a.reason) for a in actions if isinstance(a, Event)] == \
        [("Warning", "OutOfcpu")]
    status = w.status()
    assert (status["phase"], status["reason"]) == ("Failed", "OutOfcpu")
    assert status["message"].startswith("Pod was rejected: Node didn't have enough resource")
    assert "containerStatuses" not in status
    assert w.next_wakeup() is None


@pytest.mark.parametrize("annotations, reason, exit_code", [
    pytest.param({"kubemu.io/memory": "300Mi"}, "OOMKilled", 137, id="over-limit-oom"),
    pytest.param({"kubemu.io/memory": "100Mi"}, None, None, id="under-limit-runs"),
    pytest.param({"kubemu.io/memory.other": "300Mi"}, None, None, id="other-container"),
])
def test_memory_over_the_limit_is_oom_killed_shortly_after_start(annotations, reason,
                                                                  exit_code):
    limits = {"resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "256Mi"}}}
    w = worker(make_pod(server(**limits), annotations=annotations))
    run_until(w, 1.1)
    if reason is None:
        assert state(w, "web") == "running"
        return
    terminated = container(w, "web")["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == (reason, exit_code)
    run_until(w, 10.0)
    cs = container(w, "web")
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_exit_after_annotation_with_exit_code_ends_a_job_pod():
    pod = make_pod(server("worker", "myorg/worker:1"), policy="Never",
                   annotations={"kubemu.io/exit-after": "30s", "kubemu.io/exit-code": "0"})
    w = worker(pod)
    run_until(w, 30.0)
    assert w.status()["phase"] == "Running"
    run_until(w, 30.1)
    assert w.status()["phase"] == "Succeeded"
    assert container(w, "worker")["state"]["terminated"]["finishedAt"] == "2027-01-15T08:00:30Z"


def test_crash_looping_container_of_a_deleted_pod_reads_status_unknown():
    pod = make_pod(script("c", "exit 1"))
    w = worker(pod)
    run_until(w, 5.0)
    w.update(deleted(pod), 5.0)
    assert w.step(5.0) == [DeletePod("uid-1")]
    terminated = container(w, "c")["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("ContainerStatusUnknown", 137)
    assert w.status()["phase"] == "Failed"


def test_sidecars_stop_after_the_app_containers_in_reverse_order():
    hook = {"lifecycle": {"preStop": {"exec": {"command": ["sleep", "2"]}}}}
    first = server("first", "envoyproxy/envoy", 9901, restartPolicy="Always")
    second = server("second", "fluent/fluent-bit", 2020, restartPolicy="Always", **hook)
    pod = make_pod(server(), init=(first, second))
    w = worker(pod)
    run_until(w, 10.0)
    assert state(w, "web") == "running"
    w.update(deleted(pod), 10.0)
    actions = [(10.0, a) for a in w.step(10.0)] + run_until(w, 60.0)
    assert [(t, a.message) for t, a in actions if isinstance(a, Event)] == [
        (10.0, "Stopping container web"), (10.0, "Stopping container second"),
        (12.0, "Stopping container first")]
    assert deletes(actions) == [12.0]
    assert w.status()["phase"] == "Succeeded"


def test_rejected_pod_finishes_when_deleted():
    pod = make_pod(server())
    w = worker(pod)
    w.reject("OutOfpods", "Node didn't have enough resource: pods")
    w.step(1.0)
    w.update(deleted(pod), 2.0)
    assert w.step(2.0) == [DeletePod("uid-1")]


def test_host_network_pod_uses_the_node_address():
    w = worker(make_pod(server(), hostNetwork=True))
    status = w.status()
    assert status["podIP"] == status["hostIP"] == "127.1.0.1"
