"""Node-pressure eviction: upstream's memory ranking, message and pressure transition."""

from __future__ import annotations

import pytest

from kubemu.cluster.node.eviction import (
    Candidate, PressureTracker, eviction_message, format_bytes, memory_available,
    pod_memory_request, rank_memory_pressure,
)

Mi = 1 << 20


def pod(name: str, *, request: str | None = None, priority: int | None = None,
        containers: tuple[str, ...] = ("c",)) -> dict:
    spec: dict = {"containers": [
        {"name": c, "image": "nginx",
         **({"resources": {"requests": {"memory": request}}} if request else {})}
        for c in containers]}
    if priority is not None:
        spec["priority"] = priority
    return {"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": spec}


def cand(p: dict, usage_mi: int) -> Candidate:
    return Candidate(p["metadata"]["uid"], p, usage_mi * Mi,
                     {p["spec"]["containers"][0]["name"]: usage_mi * Mi})


@pytest.mark.parametrize("candidates, order", [
    pytest.param([cand(pod("guaranteed", request="500Mi"), 400),
                  cand(pod("besteffort"), 100)],
                 ["besteffort", "guaranteed"], id="usage-above-request-first"),
    pytest.param([cand(pod("high", priority=1000), 300), cand(pod("low", priority=10), 100)],
                 ["low", "high"], id="then-lower-priority"),
    pytest.param([cand(pod("small"), 100), cand(pod("big"), 300)],
                 ["big", "small"], id="then-larger-usage"),
    pytest.param([cand(pod("a", request="100Mi"), 400), cand(pod("b", request="350Mi"), 450)],
                 ["a", "b"], id="usage-measured-above-request"),
    pytest.param([cand(pod("critical", priority=2_000_000_000), 900), cand(pod("x"), 1)],
                 ["x"], id="critical-pods-never-evicted"),
])
def test_rank_memory_pressure(candidates: list[Candidate], order: list[str]) -> None:
    assert [c.key for c in rank_memory_pressure(candidates)] == order


def test_eviction_message_names_containers_over_their_request() -> None:
    p = pod("web", containers=("c", "side"))
    p["spec"]["containers"][1]["resources"] = {"requests": {"memory": "64Mi"}}
    c = Candidate("web", p, 310 * Mi, {"c": 300 * Mi, "side": 10 * Mi})
    assert eviction_message(c, threshold="100Mi", available=50 * Mi) == (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
        "Container c was using 300Mi, request is 0, has larger consumption of memory. ")


@pytest.mark.parametrize("value, text", [
    pytest.param(0, "0", id="zero"),
    pytest.param(1000, "1000", id="bytes"),
    pytest.param(51200 * 1024 + 1024, "51201Ki", id="kibibytes"),
    pytest.param(300 * Mi, "300Mi", id="mebibytes"),
    pytest.param(8 << 30, "8Gi", id="gibibytes"),
    pytest.param(-2 * Mi, "-2Mi", id="negative"),
])
def test_format_bytes_is_canonical_binary_quantity(value: int, text: str) -> None:
    assert format_bytes(value) == text


def test_pod_memory_request_counts_sidecars_and_init_peak() -> None:
    p = pod("p", request="100Mi")
    p["spec"]["initContainers"] = [
        {"name": "init", "image": "busybox", "resources": {"requests": {"memory": "1Gi"}}},
        {"name": "side", "image": "envoy", "restartPolicy": "Always",
         "resources": {"requests": {"memory": "50Mi"}}}]
    assert pod_memory_request(p) == 1024 * Mi
    p["spec"]["initContainers"][0]["resources"]["requests"]["memory"] = "10Mi"
    assert pod_memory_request(p) == 150 * Mi


def test_memory_available_is_allocatable_plus_threshold_minus_usage() -> None:
    assert memory_available(allocatable=900 * Mi, threshold=100 * Mi, usage=950 * Mi) == 50 * Mi


def test_pressure_holds_for_the_transition_period_after_last_met() -> None:
    tracker = PressureTracker(transition_period=300)
    assert tracker.observe(0, False) is False
    assert tracker.observe(10, True) is True
    assert tracker.observe(20, True) is True
    assert tracker.observe(300, False) is True  # 280 s since last met
    assert tracker.observe(319, False) is True
    assert tracker.observe(320, False) is False
