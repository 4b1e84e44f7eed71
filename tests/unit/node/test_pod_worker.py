"""PodWorker lifecycles stepped with plain numbers: start, restarts, phases, init, sidecars."""

from __future__ import annotations

import pytest
from kubemu.cluster.node.actions import DeletePod, Event

from tests.unit.node.podkit import (HOST_IP, POD_IP, condition, container, deleted, make_pod,
                                    reasons, run_until, script, server, state, times_of,
                                    worker)


def test_server_is_container_creating_until_the_create_delay_then_running_and_ready():
    w = worker(make_pod(server()))
    assert w.step(0.0) == []
    status = w.status()
    assert status["phase"] == "Pending"
    assert state(w, "web") == "waiting:ContainerCreating"
    assert condition(w, "PodReadyToStartContainers")["status"] == "False"
    assert "podIP" not in status and status["hostIP"] == HOST_IP
    assert status["startTime"] == "2027-01-15T08:00:00Z"
    assert w.next_wakeup() == pytest.approx(0.1)

    actions = w.step(0.1)
    assert [(a.reason, a.message, a.field_path) for a in actions] == [
        ("Pulled", 'Container image "nginx" already present on machine', "spec.containers{web}"),
        ("Created", "Created container: web", "spec.containers{web}"),
        ("Started", "Started container web", "spec.containers{web}")]
    status = w.status()
    assert status["phase"] == "Running"
    assert status["podIP"] == POD_IP and status["podIPs"] == [{"ip": POD_IP}]
    assert status["qosClass"] == "BestEffort"
    cs = container(w, "web")
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
    assert cs["image"] == "docker.io/library/nginx:latest"
    assert cs["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert cs["containerID"].startswith("containerd://") and len(cs["containerID"]) == 77
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", "True"),
        ("ContainersReady", "True"), ("PodScheduled", "True")]
    assert condition(w, "PodScheduled")["lastTransitionTime"] == "2027-01-15T07:59:59Z"
    assert w.next_wakeup() is None  # nothing happens until the pod object changes


def test_step_is_idempotent_for_the_same_now():
    w = worker(make_pod(server()))
    assert len(w.step(0.1)) == 3
    assert w.step(0.1) == []
    assert w.step(0.05) == []  # time never goes backwards


def test_exit_1_under_always_crash_loops_with_doubling_back_off():
    w = worker(make_pod(script("c", "exit 1")))
    actions = run_until(w, 200.0)
    assert times_of(actions, "Started") == [0.1, 1.1, 11.1, 31.1, 71.1, 151.1]
    backoffs = [a.message for _, a in actions if isinstance(a, Event) and a.reason == "BackOff"]
    assert backoffs[0] == "Back-off restarting failed container c in pod p_ns(uid-1)"
    w.step(160.0)
    cs = container(w, "c")
    assert cs["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": "back-off 2m40s restarting failed container=c pod=p_ns(uid-1)"}
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 5
    assert w.status()["phase"] == "Running"


def test_crash_loop_back_off_messages_read_10s_20s_40s():
    w = worker(make_pod(script("c", "exit 1")))
    messages = []
    for t in (2.1, 12.1, 32.1):
        run_until(w, t)
        messages.append(container(w, "c")["state"]["waiting"]["message"].split(" restarting")[0])
    assert messages == ["back-off 10s", "back-off 20s", "back-off 40s"]


def test_an_exited_container_shows_terminated_until_the_kubelet_reacts():
    w = worker(make_pod(script("c", "sleep 5; exit 3")))
    run_until(w, 5.1)
    assert state(w, "c") == "terminated:Error"
    assert container(w, "c")["state"]["terminated"]["exitCode"] == 3
    run_until(w, 6.1)
    assert state(w, "c") == "running" and container(w, "c")["restartCount"] == 1


def test_back_off_resets_after_a_container_ran_ten_minutes():
    w = worker(make_pod(script("c", "sleep 700; exit 1")))
    actions = run_until(w, 3000.0)
    assert times_of(actions, "BackOff") == []  # every run is longer than 2 x 300 s
    assert times_of(actions, "Started")[:3] == [0.1, 701.1, 1402.1]


@pytest.mark.parametrize("policy, text, phase, restarts", [
    pytest.param("OnFailure", "exit 0", "Succeeded", 0, id="onfailure-success-completes"),
    pytest.param("OnFailure", "exit 1", "Running", 1, id="onfailure-failure-restarts"),
    pytest.param("Never", "exit 1", "Failed", 0, id="never-failure-fails"),
    pytest.param("Never", "exit 0", "Succeeded", 0, id="never-success-completes"),
    pytest.param("Always", "exit 0", "Running", 1, id="always-success-restarts"),
])
def test_phase_after_the_container_exits_follows_restart_policy(policy, text, phase, restarts):
    w = worker(make_pod(script("c", text), policy=policy))
    run_until(w, 5.0)
    assert w.status()["phase"] == phase
    assert container(w, "c")["restartCount"] == restarts


def test_completed_pod_reports_pod_completed_conditions_and_stops_its_sandbox():
    w = worker(make_pod(script("c", "echo done"), policy="Never"))
    run_until(w, 5.0)
    assert condition(w, "Ready")["reason"] == "PodCompleted"
    assert condition(w, "Initialized")["reason"] == "PodCompleted"
    assert condition(w, "PodReadyToStartContainers")["status"] == "False"
    assert not w.finished and w.next_wakeup() is None
    assert w.logs("c") == ["done"]


def test_init_containers_run_in_order_before_the_app_containers():
    pod = make_pod(server(), init=(script("first", "sleep 5"), script("second", "echo ok")))
    w = worker(pod)
    w.step(0.0)
    assert state(w, "first") == "waiting:PodInitializing"
    assert state(w, "web") == "waiting:PodInitializing"
    assert condition(w, "Initialized")["message"] == \
        "containers with incomplete status: [first second]"
    actions = run_until(w, 20.0)
    started = [(round(t, 3), a.field_path) for t, a in actions
               if isinstance(a, Event) and a.reason == "Started"]
    assert started == [(0.1, "spec.initContainers{first}"),
                       (6.1, "spec.initContainers{second}"),
                       (7.1, "spec.containers{web}")]
    assert state(w, "first") == "terminated:Completed"
    assert container(w, "first")["ready"] is True
    assert condition(w, "Initialized")["status"] == "True"
    assert w.status()["phase"] == "Running"


def test_failed_init_container_fails_the_pod_under_never():
    w = worker(make_pod(server(), init=(script("setup", "exit 2"),), policy="Never"))
    run_until(w, 10.0)
    status = w.status()
    assert status["phase"] == "Failed"
    assert state(w, "setup") == "terminated:Error"
    assert "running" not in container(w, "web")["state"]


def test_failed_init_container_crash_loops_under_always():
    w = worker(make_pod(server(), init=(script("setup", "exit 2"),)))
    run_until(w, 30.0)
    assert state(w, "setup") == "waiting:CrashLoopBackOff"
    assert state(w, "web") == "waiting:PodInitializing"
    assert w.status()["phase"] == "Pending"


def sidecar(**fields) -> dict:
    return server("proxy", "envoyproxy/envoy", 9901, restartPolicy="Always", **fields)


def test_sidecar_must_be_started_before_the_next_container_and_keeps_running():
    startup = {"startupProbe": {"tcpSocket": {"port": 9901}, "periodSeconds": 2}}
    pod = make_pod(script("job", "sleep 10"), init=(sidecar(**startup),), policy="Never",
                   annotations={"kubemu.io/ready-after.proxy": "3s"})
    w = worker(pod)
    actions = run_until(w, 5.0)
    assert times_of(actions, "Started") == [0.1, 4.1]  # startup probe passes at 4.1
    assert container(w, "proxy")["started"] is True
    assert w.status()["phase"] == "Running"
    actions = run_until(w, 30.0)
    assert [a.message for _, a in actions if isinstance(a, Event) and a.reason == "Killing"] \
        == ["Stopping container proxy"]
    assert state(w, "job") == "terminated:Completed"
    assert state(w, "proxy") == "terminated:Completed"  # envoy exits 0 on SIGTERM
    assert w.status()["phase"] == "Succeeded"


def test_sidecar_restarts_with_back_off_without_blocking_the_app():
    pod = make_pod(server(), init=(script("log", "sleep 5; exit 1", restartPolicy="Always"),))
    w = worker(pod)
    actions = run_until(w, 30.0)
    assert times_of(actions, "Started") == [0.1, 0.1, 6.1, 21.1]  # 2nd exit at 11.1 + 10 s
    assert w.status()["phase"] == "Running"
    assert condition(w, "Initialized")["status"] == "True"


def test_liveness_failure_restarts_the_container():
    probe = {"livenessProbe": {"httpGet": {"path": "/healthz", "port": 80},
                               "periodSeconds": 10, "failureThreshold": 3}}
    w = worker(make_pod(server(**probe),
                        annotations={"kubemu.io/fail-liveness-after": "20s"}))
    actions = run_until(w, 45.0)
    unhealthy = [a for _, a in actions if isinstance(a, Event) and a.reason == "Unhealthy"]
    assert [a.message for a in unhealthy] == \
        ["Liveness probe failed: HTTP probe failed with statuscode: 500"] * 3
    assert times_of(actions, "Unhealthy") == [20.1, 30.1, 40.1]
    killing = [a.message for _, a in actions if isinstance(a, Event) and a.reason == "Killing"]
    assert killing == ["Container web failed liveness probe, will be restarted"]
    assert times_of(actions, "Started") == [0.1, 41.1]
    cs = container(w, "web")
    assert cs["restartCount"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Completed"  # nginx exits 0 on SIGTERM


def test_failing_startup_probe_restarts_the_container_and_keeps_it_unready():
    probe = {"startupProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5,
                              "failureThreshold": 2},
             "livenessProbe": {"tcpSocket": {"port": 80}}}
    w = worker(make_pod(server(**probe)))
    actions = run_until(w, 7.0)
    assert times_of(actions, "Unhealthy") == [0.1, 5.1, 6.1]  # the new run probes at once
    assert [a.message for _, a in actions if isinstance(a, Event) and a.reason == "Killing"] \
        == ["Container web failed startup probe, will be restarted"]
    assert times_of(actions, "Started") == [0.1, 6.1]
    assert container(w, "web")["started"] is False
    assert condition(w, "ContainersReady")["status"] == "False"


def test_liveness_exec_probe_of_the_documentation_example():
    text = "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"
    probe = {"livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]},
                               "initialDelaySeconds": 5, "periodSeconds": 5}}
    w = worker(make_pod(script("liveness", text, **probe)))
    actions = run_until(w, 50.0)
    messages = {a.message for _, a in actions if isinstance(a, Event) and a.reason == "Unhealthy"}
    assert messages == {"Liveness probe failed: cat: can't open '/tmp/healthy': "
                        "No such file or directory"}
    assert times_of(actions, "Unhealthy") == [30.1, 35.1, 40.1]  # rm ran at 30 s
    assert times_of(actions, "Killing") == [40.1]
    run_until(w, 70.0)
    assert state(w, "liveness") == "running"  # sh ignores SIGTERM: killed at 70.1
    run_until(w, 80.0)
    assert container(w, "liveness")["lastState"]["terminated"]["exitCode"] == 137
    assert container(w, "liveness")["restartCount"] == 1


def test_readiness_probe_gates_ready_and_records_the_transition_time():
    probe = {"readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 2}}
    w = worker(make_pod(server(**probe), annotations={"kubemu.io/ready-after": "5s"}))
    run_until(w, 5.0)
    assert container(w, "web")["ready"] is False
    assert condition(w, "Ready")["message"] == "containers with unready status: [web]"
    assert condition(w, "ContainersReady")["reason"] == "ContainersNotReady"
    run_until(w, 7.0)
    assert condition(w, "Ready")["status"] == "True"
    assert condition(w, "Ready")["lastTransitionTime"] == "2027-01-15T08:00:06Z"
    run_until(w, 60.0)
    assert condition(w, "Ready")["lastTransitionTime"] == "2027-01-15T08:00:06Z"


def test_readiness_gates_keep_the_pod_unready_until_their_condition_is_true():
    pod = make_pod(server(), readinessGates=[{"conditionType": "example.com/lb"}])
    w = worker(pod)
    run_until(w, 1.0)
    assert condition(w, "Ready")["reason"] == "ReadinessGatesNotReady"
    assert condition(w, "ContainersReady")["status"] == "True"
    pod["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    w.update(pod, 2.0)
    assert condition(w, "Ready")["status"] == "True"
    assert condition(w, "example.com/lb")["status"] == "True"  # foreign conditions are kept


def test_app_container_statuses_are_sorted_by_name():
    w = worker(make_pod(server("zeta", port=81), server("alpha", port=82)))
    w.step(1.0)
    assert [s["name"] for s in w.status()["containerStatuses"]] == ["alpha", "zeta"]


def test_changing_a_running_containers_image_restarts_it():
    pod = make_pod(server())
    w = worker(pod)
    run_until(w, 5.0)
    pod["spec"]["containers"][0]["image"] = "nginx:1.27"
    w.update(pod, 10.0)
    actions = [(10.0, a) for a in w.step(10.0)] + run_until(w, 20.0)
    assert [a.message for _, a in actions if isinstance(a, Event) and a.reason == "Killing"] == \
        ["Container web definition changed, will be restarted"]
    assert container(w, "web")["image"] == "docker.io/library/nginx:1.27"
    assert container(w, "web")["restartCount"] == 1


def test_bad_annotation_values_are_ignored_with_a_warning_event():
    w = worker(make_pod(server(), annotations={"kubemu.io/exit-after": "30"}))
    actions = run_until(w, 60.0)
    warnings = [a.message for _, a in actions if isinstance(a, Event) and a.type == "Warning"]
    assert warnings == ['invalid kubemu.io/exit-after "30": time: missing unit in duration "30"']
    assert state(w, "web") == "running"


def test_logs_bound_current_and_previous_instances():
    w = worker(make_pod(script("c", "echo one; sleep 1; echo two; exit 1")))
    run_until(w, 1.5)
    assert w.logs("c") == ["one", "two"]
    assert w.logs("c", previous=True) == []
    run_until(w, 2.5)  # restarted at 2.1
    assert w.logs("c") == ["one"]
    assert w.logs("c", previous=True) == ["one", "two"]
    assert w.logs("nope") == []


def test_memory_of_running_containers_comes_from_the_annotation():
    w = worker(make_pod(server(), annotations={"kubemu.io/memory": "300Mi"}))
    assert w.memory_bytes() == 0
    w.step(0.1)
    assert w.memory_bytes() == 300 * 1024 * 1024
    assert w.container_memory() == {"web": 300 * 1024 * 1024}


def test_reason_order_of_a_crash_loop():
    w = worker(make_pod(script("c", "exit 1")))
    assert reasons(run_until(w, 3.0)) == ["Pulled", "Created", "Started", "Pulled", "Created",
                                          "Started", "BackOff"]
    assert not any(isinstance(a, DeletePod) for _, a in run_until(w, 100.0))


@pytest.mark.parametrize("lifecycle", ["run-then-delete", "complete", "fail", "evict", "reject"])
def test_the_kept_phase_is_the_status_phase_at_every_step(lifecycle: str) -> None:
    """Admission and eviction read `phase` for every pod of a node: it must never lag the
    status the kubelet writes."""
    policy = "Never" if lifecycle in ("complete", "fail") else "Always"
    text = {"complete": "echo done", "fail": "exit 1"}.get(lifecycle, "sleep 1000")
    pod = make_pod(script("c", text), policy=policy)
    w = worker(pod)
    seen = []

    def check() -> None:
        assert w.phase == w.status()["phase"]
        seen.append(w.phase)

    check()
    if lifecycle == "reject":
        w.reject("OutOfcpu", "Node didn't have enough resource: cpu")
        check()
    for t in (0.05, 0.1, 0.5, 2.0, 5.0):
        w.step(t)
        check()
    if lifecycle == "run-then-delete":
        w.update(deleted(pod, grace=1), 6.0)
        check()
        for t in (6.5, 8.0, 40.0):
            w.step(t)
            check()
    if lifecycle == "evict":
        w.evict(6.0, "The node was low on resource: memory.")
        check()
    assert seen[-1] == {"run-then-delete": "Failed", "complete": "Succeeded", "fail": "Failed",
                        "evict": "Failed", "reject": "Failed"}[lifecycle]
    ran = lifecycle in ("run-then-delete", "evict")
    assert "Pending" in seen and (not ran or "Running" in seen)
