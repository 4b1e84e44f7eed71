"""NodeInfo, Snapshot and pod requests (upstream PodRequests: init containers, sidecars,
pod-level requests, overhead; the non-zero scoring defaults)."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.nodeinfo import (
    DEFAULT_MEMORY_REQUEST,
    NodeInfo,
    Resources,
    Snapshot,
    pod_requests,
    pod_requests_nonzero,
)

from tests.unit.scheduler.builders import container, node, pod

Mi = 1024 * 1024
G = 1000 ** 3


def sidecar(name: str, **requests: str) -> dict:
    return {**container(name, **requests), "restartPolicy": "Always"}


@pytest.mark.parametrize(("spec_pod", "cpu", "memory"), [
    pytest.param(pod(containers=[container("a", cpu="100m", memory="100Mi"),
                                 container("b", cpu="200m", memory="50Mi")]),
                 300, 150 * Mi, id="app-containers-sum"),
    pytest.param(pod(init=[container("i1", cpu="2", memory="1G"),
                           container("i2", cpu="2", memory="3G")],
                     containers=[container("a", cpu="2", memory="1G"),
                                 container("b", cpu="1", memory="1G")]),
                 3000, 3 * G, id="largest-init-container-wins-per-resource"),
    pytest.param(pod(init=[container("i", cpu="100m")], containers=[container(cpu="500m")]),
                 500, 0, id="small-init-container-changes-nothing"),
    pytest.param(pod(init=[sidecar("s", cpu="100m", memory="64Mi")],
                     containers=[container(cpu="200m", memory="128Mi")]),
                 300, 192 * Mi, id="sidecar-runs-beside-app-containers"),
    pytest.param(pod(init=[sidecar("s", cpu="1"), container("i", cpu="2")],
                     containers=[container(cpu="500m")]),
                 3000, 0, id="init-after-sidecar-runs-beside-it"),
    pytest.param(pod(init=[container("i", cpu="2"), sidecar("s", cpu="1")],
                     containers=[container(cpu="500m")]),
                 2000, 0, id="init-before-sidecar-runs-alone"),
    pytest.param(pod(overhead={"cpu": "250m", "memory": "120Mi"}, cpu="100m", memory="100Mi"),
                 350, 220 * Mi, id="overhead-added"),
    pytest.param({**pod(cpu="100m", memory="1Gi"),
                  "spec": {**pod(cpu="100m", memory="1Gi")["spec"],
                           "resources": {"requests": {"cpu": "2"}}}},
                 2000, 1024 * Mi, id="pod-level-cpu-overrides-containers"),
    pytest.param(pod(cpu="0.0001", memory="1.5"), 1, 2, id="quantities-round-up"),
    pytest.param(pod(), 0, 0, id="no-requests"),
])
def test_pod_requests(spec_pod: dict, cpu: int, memory: int) -> None:
    requests = pod_requests(spec_pod)
    assert (requests.milli_cpu, requests.memory) == (cpu, memory)


def test_pod_requests_keeps_scheduling_scalars_and_storage_only() -> None:
    requests = pod_requests(pod(**{"example.com/gpu": "2", "hugepages-2Mi": "4Mi",
                                   "foo": "3", "ephemeral-storage": "1Gi"}))
    assert requests.scalar == {"example.com/gpu": 2, "hugepages-2Mi": 4 * Mi}
    assert requests.ephemeral_storage == 1024 * Mi


@pytest.mark.parametrize(("spec_pod", "cpu", "memory"), [
    pytest.param(pod(), 100, DEFAULT_MEMORY_REQUEST, id="empty-container-gets-defaults"),
    pytest.param(pod(cpu="300m"), 300, DEFAULT_MEMORY_REQUEST, id="only-missing-one-defaulted"),
    pytest.param(pod(cpu="0"), 0, DEFAULT_MEMORY_REQUEST, id="explicit-zero-is-kept"),
    pytest.param(pod(containers=[container("a"), container("b")]),
                 200, 2 * DEFAULT_MEMORY_REQUEST, id="defaults-per-container"),
    pytest.param(pod(init=[container("i")], containers=[container("a")]),
                 100, DEFAULT_MEMORY_REQUEST, id="init-container-defaults-take-max"),
    pytest.param(pod(overhead={"cpu": "50m"}), 150, DEFAULT_MEMORY_REQUEST,
                 id="overhead-on-top-of-defaults"),
])
def test_pod_requests_nonzero(spec_pod: dict, cpu: int, memory: int) -> None:
    requests = pod_requests_nonzero(spec_pod)
    assert (requests.milli_cpu, requests.memory) == (cpu, memory)


def test_node_info_parses_node_once() -> None:
    info = NodeInfo(node("n1", cpu="3500m", memory="2Gi", pods="10", unschedulable=True,
                         taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}],
                         extra={"example.com/gpu": "4", "ephemeral-storage": "10Gi"}))
    assert info.name == "n1"
    assert info.allocatable == Resources(3500, 2048 * Mi, 10240 * Mi, 10, {"example.com/gpu": 4})
    assert info.taints == (("k", "v", "NoSchedule"),)
    assert info.unschedulable
    assert info.labels["kubernetes.io/hostname"] == "n1"


def test_add_and_remove_pod_keep_sums_and_bump_generation() -> None:
    info = NodeInfo(node("n1"))
    generations = [info.generation]
    info.add_pod(pod("a", cpu="100m", memory="1Gi"))
    generations.append(info.generation)
    info.add_pod(pod("b"))
    generations.append(info.generation)
    assert info.requested.milli_cpu == 100 and info.requested.memory == 1024 * Mi
    assert info.non_zero_requested.milli_cpu == 200
    assert info.non_zero_requested.memory == 1024 * Mi + DEFAULT_MEMORY_REQUEST
    assert info.remove_pod(pod("a"))
    generations.append(info.generation)
    assert info.requested.milli_cpu == 0 and info.requested.memory == 0
    assert info.non_zero_requested.milli_cpu == 100
    assert [p["metadata"]["name"] for p in info.pods] == ["b"]
    assert generations == sorted(set(generations))


def test_remove_pod_subtracts_what_the_stored_copy_asked_for() -> None:
    info = NodeInfo(node("n1"))
    info.add_pod(pod("a", cpu="100m"))
    assert info.remove_pod(pod("a", cpu="900m"))      # same uid, changed spec
    assert info.requested.milli_cpu == 0


def test_remove_unknown_pod_is_false_and_changes_nothing() -> None:
    info = NodeInfo(node("n1"), pods=[pod("a", cpu="1")])
    generation = info.generation
    assert not info.remove_pod(pod("zzz"))
    assert info.generation == generation and info.requested.milli_cpu == 1000


def test_clone_changes_independently() -> None:
    info = NodeInfo(node("n1"), pods=[pod("a", cpu="1")])
    copy = info.clone()
    copy.add_pod(pod("b", cpu="1"))
    assert info.requested.milli_cpu == 1000 and len(info.pods) == 1
    assert copy.requested.milli_cpu == 2000 and len(copy.pods) == 2
    assert copy.generation > info.generation


def test_pods_with_affinity_are_tracked() -> None:
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{}]}}
    info = NodeInfo(node("n1"), pods=[pod("plain"), pod("anti", affinity=anti)])
    assert [p["metadata"]["name"] for p in info.pods_with_affinity] == ["anti"]
    assert [p["metadata"]["name"] for p in info.pods_with_required_anti_affinity] == ["anti"]
    info.remove_pod(pod("anti"))
    assert info.pods_with_affinity == [] and info.pods_with_required_anti_affinity == []


def test_node_info_without_node_holds_pods() -> None:
    info = NodeInfo(pods=[pod("a", cpu="1")])
    assert info.name == "" and info.node is None and info.requested.milli_cpu == 1000


def test_snapshot_looks_nodes_up_by_name() -> None:
    snap = Snapshot([NodeInfo(node("a")), NodeInfo(node("b"))])
    assert snap.get("b") is snap.node_infos[1]
    assert snap.get("c") is None
    assert len(snap) == 2
