"""Pod admission on the node: upstream's predicate admission reasons and messages."""

from __future__ import annotations

import pytest

from kubemu.cluster.node.admission import Rejection, admit
from kubemu.cluster.node.pod_driver import PodDriver
from kubemu.cluster.scheduler.nodeinfo import pod_requests

ALLOCATABLE = {"cpu": "4", "memory": "8092Mi", "pods": "3", "ephemeral-storage": "90Gi"}


def pod(name: str, **requests: str) -> dict:
    res = {"requests": dict(requests)} if requests else {}
    return {"metadata": {"name": name, "uid": name},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": res}]}}


@pytest.mark.parametrize("new, running, expected", [
    pytest.param(pod("p", cpu="500m"), [pod("a", cpu="3800m")],
                 Rejection("OutOfcpu", "Node didn't have enough resource: cpu, requested: 500, "
                                       "used: 3800, capacity: 4000"), id="cpu"),
    pytest.param(pod("p", memory="8Gi"), [],
                 Rejection("OutOfmemory", "Node didn't have enough resource: memory, "
                                          "requested: 8589934592, used: 0, "
                                          "capacity: 8485076992"), id="memory"),
    pytest.param(pod("p"), [pod("a"), pod("b"), pod("c")],
                 Rejection("OutOfpods", "Node didn't have enough resource: pods, requested: 1, "
                                        "used: 3, capacity: 3"), id="pods-first"),
    pytest.param(pod("p", cpu="200m"), [pod("a", cpu="3800m")], None, id="exact-fit"),
    pytest.param(pod("p"), [pod("a", cpu="4")], None, id="no-requests-always-fit"),
    pytest.param(pod("p", **{"example.com/gpu": "1"}), [],
                 Rejection("OutOfexample.com/gpu", "Node didn't have enough resource: "
                           "example.com/gpu, requested: 1, used: 0, capacity: 0"),
                 id="extended-resource"),
])
def test_admit(new: dict, running: list[dict], expected: Rejection | None) -> None:
    assert admit(new, allocatable=ALLOCATABLE,
                 admitted=[pod_requests(p) for p in running]) == expected


def test_best_effort_pod_rejected_under_memory_pressure() -> None:
    assert admit(pod("p"), allocatable=ALLOCATABLE, admitted=[], memory_pressure=True) == \
        Rejection("Evicted", "The node had condition: [MemoryPressure]. ")
    assert admit(pod("p", memory="1Mi"), allocatable=ALLOCATABLE, admitted=[],
                 memory_pressure=True) is None


def test_a_pods_requests_follow_its_spec() -> None:
    """The driver parses requests once per spec object, and again when a newer object of the
    pod (an in-place resize) brings another spec."""
    driver = PodDriver(pod("p", cpu="500m"), client=None, timing=None, recorder=None)
    first = driver.requests
    assert first.milli_cpu == 500 and driver.requests is first
    driver.pod = pod("p", cpu="1")  # as `update` sets it, without a worker to tell
    assert driver.requests.milli_cpu == 1000
    assert admit(pod("q", cpu="3500m"), allocatable=ALLOCATABLE,
                 admitted=[driver.requests]) == Rejection(
        "OutOfcpu", "Node didn't have enough resource: cpu, requested: 3500, used: 1000, "
                    "capacity: 4000")
