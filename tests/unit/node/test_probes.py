"""Prober timing: initial delay, period, thresholds, startup gating, holds."""

from __future__ import annotations

import pytest
from kubemu.cluster.node.probes import ContainerProbes, ProbeSpec, ProbeWorker

TCP = {"tcpSocket": {"port": 80}}


def run(worker: ProbeWorker, results: list[bool]) -> list[tuple[float, bool | None]]:
    """Feed results at each due time; (time, transition) pairs."""
    out = []
    for ok in results:
        t = worker.next_time()
        assert t is not None
        out.append((t, worker.observe(t, ok)))
    return out


def test_first_probe_after_the_initial_delay_then_every_period():
    w = ProbeWorker("readiness", ProbeSpec.of({**TCP, "initialDelaySeconds": 5,
                                                "periodSeconds": 3}), started_at=100.0)
    assert not w.due(104.9) and w.due(105.0)
    assert [t for t, _ in run(w, [False, False, True])] == [105.0, 108.0, 111.0]


def test_spec_defaults_are_upstreams():
    spec = ProbeSpec.of(TCP)
    assert (spec.initial_delay, spec.period, spec.timeout, spec.success_threshold,
            spec.failure_threshold) == (0.0, 10.0, 1.0, 1, 3)


@pytest.mark.parametrize("kind, fields, results, transitions", [
    pytest.param("readiness", {}, [True], [True], id="readiness-starts-failed"),
    pytest.param("readiness", {"successThreshold": 2}, [True, True], [None, True],
                 id="success-threshold"),
    pytest.param("readiness", {"successThreshold": 2}, [True, False, True, True],
                 [None, None, None, True], id="success-run-is-reset-by-a-failure"),
    pytest.param("liveness", {}, [False, False, False], [None, None, False],
                 id="liveness-failure-threshold"),
    pytest.param("liveness", {"failureThreshold": 1}, [True, False], [None, False],
                 id="liveness-starts-succeeded"),
    pytest.param("readiness", {}, [True, False, False, False], [True, None, None, False],
                 id="readiness-drops-after-threshold"),
    pytest.param("startup", {"failureThreshold": 2}, [False, False], [None, False],
                 id="startup-fails"),
])
def test_results_change_only_after_their_threshold(kind, fields, results, transitions):
    w = ProbeWorker(kind, ProbeSpec.of({**TCP, **fields}), started_at=0.0)
    assert [changed for _, changed in run(w, results)] == transitions


def test_failed_liveness_holds_the_worker():
    w = ProbeWorker("liveness", ProbeSpec.of({**TCP, "failureThreshold": 1}), started_at=0.0)
    run(w, [False])
    assert w.on_hold and w.next_time() is None


def test_startup_probe_gates_liveness_and_readiness():
    container = {"startupProbe": {**TCP, "periodSeconds": 2},
                 "livenessProbe": {**TCP, "initialDelaySeconds": 1, "periodSeconds": 10},
                 "readinessProbe": {**TCP, "periodSeconds": 5}}
    probes = ContainerProbes(container, started_at=0.0)
    assert not probes.started and not probes.ready
    assert [w.kind for w in probes.due(0.0)] == ["startup"]
    assert probes.observe(probes.workers["startup"], 0.0, False) is None
    assert probes.next_time() == 2.0  # liveness (due at 1.0) waits for the startup probe
    assert probes.observe(probes.workers["startup"], 2.0, True) == "started"
    assert probes.started and not probes.ready
    assert sorted(w.kind for w in probes.due(2.0)) == ["liveness", "readiness"]
    assert probes.observe(probes.workers["readiness"], 2.0, True) == "ready"
    assert probes.ready
    assert probes.workers["startup"].next_time() is None  # startup stops once it succeeded


def test_without_a_readiness_probe_a_started_container_is_ready():
    assert ContainerProbes({}, started_at=0.0).ready
    assert ContainerProbes({}, started_at=0.0).next_time() is None


def test_liveness_failure_is_reported_once():
    probes = ContainerProbes({"livenessProbe": {**TCP, "failureThreshold": 2}}, started_at=0.0)
    worker = probes.workers["liveness"]
    assert probes.observe(worker, 0.0, False) is None
    assert probes.observe(worker, 10.0, False) == "liveness-failed"
    assert probes.due(100.0) == []
