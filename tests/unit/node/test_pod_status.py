"""Pod phase (upstream getPhase) and kubelet-owned conditions from container statuses."""

from __future__ import annotations

import pytest
from kubemu.cluster.node.pod_status import (containers_ready_condition, get_phase,
                                            initialized_condition, merge_conditions,
                                            terminate_statuses)


def running(name: str, *, ready: bool = True, started: bool = True) -> dict:
    return {"name": name, "state": {"running": {}}, "lastState": {}, "ready": ready,
            "started": started}


def exited(name: str, code: int = 0) -> dict:
    return {"name": name, "state": {"terminated": {"exitCode": code}}, "lastState": {},
            "ready": False}


def waiting(name: str, reason: str = "ContainerCreating", last_code: int | None = None) -> dict:
    last = {} if last_code is None else {"terminated": {"exitCode": last_code}}
    return {"name": name, "state": {"waiting": {"reason": reason}}, "lastState": last,
            "ready": False}


def spec(policy: str = "Always", init: tuple[str, ...] = (), sidecars: tuple[str, ...] = (),
         apps: tuple[str, ...] = ("app",)) -> dict:
    inits = [{"name": n} for n in init] + [{"name": n, "restartPolicy": "Always"}
                                           for n in sidecars]
    return {"restartPolicy": policy, "initContainers": inits,
            "containers": [{"name": n} for n in apps]}


@pytest.mark.parametrize("pod_spec, statuses, terminal, phase", [
    pytest.param(spec(), [waiting("app")], False, "Pending", id="creating"),
    pytest.param(spec(), [running("app")], False, "Running", id="running"),
    pytest.param(spec(), [waiting("app", "CrashLoopBackOff", 1)], False, "Running",
                 id="crash-loop-is-running"),
    pytest.param(spec("Never"), [exited("app", 1)], False, "Failed", id="never-failed"),
    pytest.param(spec("OnFailure"), [exited("app", 1)], False, "Running",
                 id="onfailure-restarting"),
    pytest.param(spec("OnFailure"), [exited("app", 0)], False, "Succeeded",
                 id="onfailure-succeeded"),
    pytest.param(spec("Always"), [exited("app", 0)], False, "Running",
                 id="always-restarting"),
    pytest.param(spec("Always"), [exited("app", 0)], True, "Succeeded", id="terminal-success"),
    pytest.param(spec("Always"), [exited("app", 137)], True, "Failed", id="terminal-killed"),
    pytest.param(spec(init=("i",)), [running("i"), waiting("app", "PodInitializing")], False,
                 "Pending", id="initializing"),
    pytest.param(spec("Never", init=("i",)), [exited("i", 1), waiting("app")], False,
                 "Failed", id="init-failed-never"),
    pytest.param(spec(init=("i",)), [waiting("i", "CrashLoopBackOff", 1), waiting("app")],
                 False, "Pending", id="init-crash-loop-pending"),
    pytest.param(spec("Never", sidecars=("s",)), [running("s"), exited("app", 0)], False,
                 "Running", id="sidecar-still-running"),
    pytest.param(spec("Never", sidecars=("s",)), [exited("s", 137), exited("app", 0)], True,
                 "Succeeded", id="sidecar-exit-code-ignored"),
    pytest.param(spec(sidecars=("s",)), [running("s", started=False), waiting("app")], False,
                 "Pending", id="sidecar-not-started"),
    pytest.param(spec(sidecars=("s",)), [waiting("s", "CrashLoopBackOff", 1), running("app")],
                 False, "Running", id="sidecar-restarting-after-init"),
])
def test_get_phase(pod_spec, statuses, terminal, phase):
    assert get_phase(pod_spec, statuses, terminal=terminal) == phase


def test_initialized_condition_lists_incomplete_init_containers():
    cond = initialized_condition(spec(init=("a", "b")), [exited("a", 0), running("b"),
                                                        waiting("app")], "Pending")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [b]")


def test_containers_ready_condition_for_failed_and_unready_pods():
    statuses = [running("app", ready=False)]
    assert containers_ready_condition(spec(), statuses, "Running")["message"] == \
        "containers with unready status: [app]"
    assert containers_ready_condition(spec(), statuses, "Failed")["reason"] == "PodFailed"
    assert containers_ready_condition(spec(), [running("app")], "Running")["status"] == "True"


def test_merge_conditions_keeps_transition_times_and_foreign_conditions():
    old = [{"type": "Ready", "status": "False", "lastTransitionTime": "T1"},
           {"type": "example.com/gate", "status": "True", "lastTransitionTime": "T0"}]
    merged = merge_conditions(old, [{"type": "Ready", "status": "False"},
                                    {"type": "Initialized", "status": "True"}], now="T2")
    assert merged == [{"type": "example.com/gate", "status": "True", "lastTransitionTime": "T0"},
                      {"type": "Ready", "status": "False", "lastTransitionTime": "T1"},
                      {"type": "Initialized", "status": "True", "lastTransitionTime": "T2"}]


def test_terminate_statuses_marks_never_terminated_containers_unknown():
    inits = [exited("a", 0), waiting("b")]
    apps = [waiting("app", "CrashLoopBackOff", 1)]
    terminate_statuses(spec(init=("a", "b")), inits, apps)
    assert apps[0]["state"]["terminated"]["reason"] == "ContainerStatusUnknown"
    assert "waiting" in inits[1]["state"]  # never started: the tail stays waiting
