"""A restarted kubelet adopts the pods it finds Running instead of restarting them."""

from __future__ import annotations

import pytest

from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.pod_worker import PodWorker
from tests import vtime
from tests.kube import api, eventually
from tests.unit.node.kubelet_fixtures import kubelet_running, pod
from tests.unit.node.podkit import (container, make_pod, reasons, run_until, script, server,
                                    state, worker)

CIDR = "10.244.1.0/24"
_READINESS = {"readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5,
                                 "failureThreshold": 3}}


def _restarted(before: PodWorker, now: float) -> PodWorker:
    """A new worker (a restarted kubelet's) for the pod as `before` last reported it."""
    return worker({**before.pod, "status": before.status()}, now=now)


def _containers(w: PodWorker) -> list[dict]:
    status = w.status()
    return status.get("initContainerStatuses", []) + status["containerStatuses"]


@pytest.mark.parametrize("pod_", [
    pytest.param(make_pod(server()), id="server"),
    pytest.param(make_pod(server(**_READINESS)), id="server-with-readiness-probe"),
    pytest.param(make_pod(server(), init=(script("setup", "true"),)), id="after-init"),
    pytest.param(make_pod(server(), init=(server("proxy", port=81, restartPolicy="Always"),)),
                 id="with-sidecar"),
    pytest.param(make_pod(script("c", "sleep 8; exit 1"), policy="OnFailure"),
                 id="after-a-restart"),
])
def test_adopted_running_pod_reports_the_same_containers_and_starts_nothing(pod_):
    before = worker(pod_)
    run_until(before, 12.0)
    assert before.status()["phase"] == "Running"
    after = _restarted(before, 12.0)
    started = [r for r in reasons(run_until(after, 12.5)) if r in ("Started", "Created")]
    assert started == []
    assert _containers(after) == _containers(before)
    assert after.status()["conditions"] == before.status()["conditions"]
    assert after.status()["podIP"] == before.status()["podIP"]


def test_adopted_container_keeps_its_scripted_exit_time():
    before = worker(make_pod(script("c", "sleep 100; exit 3"), policy="Never"))
    run_until(before, 40.0)
    after = _restarted(before, 40.0)
    run_until(after, 99.0)
    assert state(after, "c") == "running"
    run_until(after, 102.0)
    assert container(after, "c")["state"]["terminated"]["exitCode"] == 3
    assert after.status()["phase"] == "Failed"


def test_adopted_crash_looping_container_restarts_with_its_count_carried_on():
    before = worker(make_pod(script("c", "exit 1")))
    run_until(before, 40.0)  # backing off after its 4th exit
    count = container(before, "c")["restartCount"]
    assert state(before, "c") == "waiting:CrashLoopBackOff"
    after = _restarted(before, 40.0)
    assert container(after, "c")["lastState"] == container(before, "c")["lastState"]
    run_until(after, 40.5)
    assert container(after, "c")["restartCount"] == count + 1  # back-off is not restored


def test_pod_not_yet_running_starts_from_scratch():
    before = worker(make_pod(server(), init=(script("setup", "sleep 5"),)))
    run_until(before, 2.0)
    assert before.status()["phase"] == "Pending"
    after = _restarted(before, 2.0)
    assert "Started" in reasons(run_until(after, 2.2))
    assert state(after, "setup") == "running"


def test_kubelet_started_over_running_pods_adopts_them_without_restarting() -> None:
    async def main() -> None:
        async with api() as kube:
            cfg = NodeConfig("n1", pod_cidr=CIDR)
            async with kubelet_running(kube, cfg):
                for name in ("a", "b"):
                    await kube.client.create(pod(name))
                await eventually(lambda: _ready(kube, "a", "b"), what="Ready")
                before = {n: await _get(kube, n) for n in ("a", "b")}
            async with kubelet_running(kube, cfg, seed=2) as again:
                await eventually(lambda: len(again.pods) == 2, what="pods adopted")
                await kube.client.create(pod("c"))
                await eventually(lambda: _ready(kube, "c"), what="new pod Ready")
                for name in ("a", "b"):
                    sync = again.pod_manager.get("default", name)
                    assert sync is not None and sync.worker is not None
                    assert again.endpoint(sync.worker.pod_ip) is not None  # serving
                after = {n: await _get(kube, n) for n in ("a", "b")}
            started = await kube.client.list("v1", "Event", namespace="default",
                                             field_selector="reason=Started")
        for name in ("a", "b"):
            old, new = before[name]["status"], after[name]["status"]
            assert new["podIP"] == old["podIP"]
            assert new["containerStatuses"] == old["containerStatuses"]
            assert new["conditions"] == old["conditions"]
        assert sorted(e["involvedObject"]["name"] for e in started["items"]) == ["a", "b", "c"]

    vtime.run(main)


async def _get(kube, name: str) -> dict:
    return await kube.client.get("v1", "Pod", name, namespace="default")


async def _ready(kube, *names: str) -> bool:
    for name in names:
        conditions = (await _get(kube, name)).get("status", {}).get("conditions") or ()
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return False
    return True
