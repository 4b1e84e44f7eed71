"""SchedulerCache: assumed pods (assume, confirm, forget, expire), terminated pods, snapshots
that reuse unchanged NodeInfos, node-less pods, zone-interleaved node order."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.cache import SchedulerCache


def node(name: str, *, cpu: str = "4", zone: str = "") -> dict:
    labels = {"kubernetes.io/hostname": name}
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"}}}


def pod(name: str, *, cpu: str = "500m", node_name: str = "", phase: str = "Pending") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "nginx",
                                  "resources": {"requests": {"cpu": cpu}}}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": spec, "status": {"phase": phase}}


def cpu_used(cache: SchedulerCache) -> dict[str, int]:
    return {i.name: i.requested.milli_cpu for i in cache.snapshot().node_infos}


def cache_with(*names: str) -> SchedulerCache:
    cache = SchedulerCache()
    for n in names:
        cache.add_node(node(n))
    return cache


def test_assumed_pod_counts_on_its_node_before_the_bind_finishes() -> None:
    cache = cache_with("a", "b")
    assumed = cache.assume(pod("p"), "a")
    assert assumed["spec"]["nodeName"] == "a"
    assert cpu_used(cache) == {"a": 500, "b": 0}
    assert cache.is_assumed(pod("p"))


def test_informer_confirms_an_assumed_pod_once() -> None:
    cache = cache_with("a")
    cache.assume(pod("p"), "a")
    cache.finish_binding(pod("p"), 0.0)
    cache.add_pod(pod("p", node_name="a"))
    assert not cache.is_assumed(pod("p"))
    assert cpu_used(cache) == {"a": 500}
    assert cache.cleanup_expired(1000.0) == []  # confirmed pods never expire
    assert cpu_used(cache) == {"a": 500}


def test_confirmation_on_another_node_moves_the_pod() -> None:
    cache = cache_with("a", "b")
    cache.assume(pod("p"), "a")
    cache.add_pod(pod("p", node_name="b"))
    assert cpu_used(cache) == {"a": 0, "b": 500}


def test_forget_takes_a_failed_binding_back() -> None:
    cache = cache_with("a")
    cache.assume(pod("p"), "a")
    cache.forget(pod("p"))
    assert cpu_used(cache) == {"a": 0}
    assert not cache.has_pod(pod("p"))


def test_forget_leaves_a_confirmed_pod_alone() -> None:
    cache = cache_with("a")
    cache.add_pod(pod("p", node_name="a"))
    cache.forget(pod("p"))
    assert cpu_used(cache) == {"a": 500}


@pytest.mark.parametrize("finished, at, expired", [
    pytest.param(True, 29.9, False, id="before-ttl-kept"),
    pytest.param(True, 30.0, True, id="at-ttl-expired"),
    pytest.param(False, 1000.0, False, id="binding-not-finished-never-expires"),
])
def test_assumed_pod_expires_ttl_after_its_binding_finished(finished: bool, at: float,
                                                            expired: bool) -> None:
    cache = cache_with("a")
    cache.assume(pod("p"), "a")
    if finished:
        cache.finish_binding(pod("p"), 0.0)
    gone = cache.cleanup_expired(at)
    assert [p["metadata"]["name"] for p in gone] == (["p"] if expired else [])
    assert cpu_used(cache) == {"a": 0 if expired else 500}


def test_assuming_a_pod_twice_is_an_error() -> None:
    cache = cache_with("a")
    cache.assume(pod("p"), "a")
    with pytest.raises(ValueError):
        cache.assume(pod("p"), "a")


@pytest.mark.parametrize("phase", [pytest.param("Succeeded", id="succeeded"),
                                   pytest.param("Failed", id="failed")])
def test_terminated_pods_free_their_resources(phase: str) -> None:
    cache = cache_with("a")
    cache.add_pod(pod("p", node_name="a", phase="Running"))
    cache.update_pod(pod("p", node_name="a", phase="Running"),
                     pod("p", node_name="a", phase=phase))
    assert cpu_used(cache) == {"a": 0}
    cache.add_pod(pod("q", node_name="a", phase=phase))
    assert cpu_used(cache) == {"a": 0}


def test_removed_pod_frees_its_node() -> None:
    cache = cache_with("a")
    cache.add_pod(pod("p", node_name="a"))
    cache.remove_pod(pod("p", node_name="a"))
    assert cpu_used(cache) == {"a": 0} and cache.pod_count == 0


def test_snapshot_reuses_unchanged_node_infos_and_is_never_mutated() -> None:
    cache = cache_with("a", "b")
    first = cache.snapshot()
    assert cache.snapshot() is first  # nothing changed: the same snapshot
    cache.assume(pod("p"), "a")
    second = cache.snapshot()
    assert second.get("b") is first.get("b")
    assert second.get("a") is not first.get("a")
    assert first.get("a").requested.milli_cpu == 0
    assert second.get("a").requested.milli_cpu == 500
    cache.add_pod(pod("q", node_name="a"))
    assert second.get("a").requested.milli_cpu == 500  # the cycle's view stays put


def test_pods_seen_before_their_node_count_once_it_arrives() -> None:
    cache = SchedulerCache()
    cache.add_pod(pod("p", node_name="late"))
    assert cache.snapshot().node_infos == []
    cache.add_node(node("late"))
    assert cpu_used(cache) == {"late": 500}


def test_removed_node_leaves_snapshots_while_its_pods_drain() -> None:
    cache = cache_with("a", "b")
    cache.add_pod(pod("p", node_name="a"))
    cache.remove_node(node("a"))
    assert cpu_used(cache) == {"b": 0}
    assert cache.node_info("a") is not None
    cache.remove_pod(pod("p", node_name="a"))
    assert cache.node_info("a") is None


def test_node_update_refreshes_allocatable() -> None:
    cache = cache_with("a")
    cache.update_node(node("a"), node("a", cpu="8"))
    assert cache.snapshot().get("a").allocatable.milli_cpu == 8000


def test_node_order_interleaves_zones() -> None:
    cache = SchedulerCache()
    for name, zone in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c"),
                       ("c2", "c")]:
        cache.add_node(node(name, zone=zone))
    assert [i.name for i in cache.snapshot().node_infos] == ["a1", "b1", "c1", "a2", "c2", "a3"]
