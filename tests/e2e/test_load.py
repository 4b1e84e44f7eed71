"""`kubemu load` and `kubemu.actors.load.Load` on the session cluster, at small numbers.

The Python API runs here with a fresh API client over HTTPS; the CLI runs as a user runs it,
a subprocess (`python -m kubemu.actors.cli load ... --kubeconfig <file>`). Each test uses its
own prefix, so its namespaces (`<prefix>-1 ..`) are its own, and deletes them at the end.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from kubemu.actors.kubeconfig import write_kubeconfig
from kubemu.actors.load import LABEL, Load, LoadReport, LoadSpec

from tests.cluster_fixtures import free_port
from tests.e2e.test_workloads import get_json, wait_for

_WAIT = 240.0  # seconds: generous, the machine is shared


def kubemu(api_cluster, *args: str, timeout: float = _WAIT + 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubemu.actors.cli", "load", *args,
                           "--kubeconfig", api_cluster.kubeconfig],
                          capture_output=True, text=True, timeout=timeout, check=False)


def on_cluster(api_cluster, body):
    """Run `body(client)` with a fresh API client of the session cluster."""
    async def go():
        async with api_cluster.client() as client:
            return await body(client)
    return asyncio.run(go())


def prefix() -> str:
    return f"ld-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def cleanup(api_cluster):
    """Prefixes whose namespaces are deleted (without waiting) after the test."""
    prefixes: list[str] = []
    yield prefixes
    for p in prefixes:
        api_cluster.kubectl("delete", "namespaces", "-l", f"{LABEL}={p}", "--wait=false",
                            check=False)


def test_load_creates_deployments_services_and_pods_and_times_them_until_running(
        api_cluster, cleanup):
    spec = LoadSpec(deployments=3, replicas=4, pods=5, namespaces=2, prefix=prefix(),
                    concurrency=4)
    cleanup.append(spec.prefix)
    steps: list[tuple[str, int, int]] = []
    report: LoadReport = on_cluster(api_cluster, lambda c: Load(c, spec).run(
        timeout=_WAIT, progress=lambda *step: steps.append(step)))

    assert report.errors == 0, report.error_messages
    assert report.created == {"Namespace": 2, "Service": 3, "Deployment": 3, "Pod": 5}
    assert (report.pods_wanted, report.pods_running) == (17, 17)
    assert len(report.running_times) == 17
    assert report.started <= report.created_at <= report.all_running_at
    assert report.running_times[-1] == report.all_running_at
    assert report.seconds_to_running > 0 and report.pods_per_second > 0
    assert ("created", 13, 13) in steps and steps[-1] == ("running", 17, 17)

    pods = get_json(api_cluster, "pods", "-A", "-l", f"{LABEL}={spec.prefix}")["items"]
    assert len(pods) == 17
    assert {p["metadata"]["namespace"] for p in pods} == {f"{spec.prefix}-1",
                                                         f"{spec.prefix}-2"}
    assert all(p["status"]["phase"] == "Running" for p in pods)
    services = get_json(api_cluster, "services", "-A", "-l", f"{LABEL}={spec.prefix}")["items"]
    assert sorted(s["metadata"]["name"] for s in services) == ["app-1", "app-2", "app-3"]
    assert all(s["spec"]["clusterIP"].startswith("10.") for s in services)

    def ready() -> list:  # the Deployment controller writes status a little later
        items = get_json(api_cluster, "deployments", "-n", f"{spec.prefix}-1")["items"]
        got = sorted((d["metadata"]["name"], d["status"].get("readyReplicas")) for d in items)
        return got if got == [("app-1", 4), ("app-3", 4)] else []
    wait_for(ready, timeout=120, what="Deployments app-1 and app-3 with 4 ready replicas")


def test_a_second_run_with_the_same_prefix_tops_up_and_delete_removes_the_namespaces(
        api_cluster, cleanup):
    spec = LoadSpec(deployments=2, replicas=2, pods=1, namespaces=1, prefix=prefix())
    cleanup.append(spec.prefix)
    first = on_cluster(api_cluster, lambda c: Load(c, spec).run(timeout=_WAIT))
    assert (first.errors, first.pods_running) == (0, 5)
    api_cluster.kubectl("delete", "pod", "pod-1", "-n", f"{spec.prefix}-1", "--wait=true",
                        timeout=120)

    again = on_cluster(api_cluster, lambda c: Load(c, spec).run(timeout=_WAIT))
    assert again.errors == 0 and again.created == first.created  # AlreadyExists counted
    assert again.pods_running == 5 and again.all_running_at is not None
    assert len(get_json(api_cluster, "pods", "-n", f"{spec.prefix}-1")["items"]) == 5

    async def delete(client) -> tuple[int, int]:
        load = Load(client, spec)
        return await load.delete(), await load.wait_deleted(timeout=_WAIT)
    assert on_cluster(api_cluster, delete) == (1, 0)


def test_cli_loads_and_prints_a_summary_then_deletes(api_cluster, cleanup):
    name = prefix()
    cleanup.append(name)
    done = kubemu(api_cluster, "--deployments", "2", "--replicas", "2", "--pods", "1",
                  "--prefix", name, "--rate", "50", "--timeout", str(_WAIT))
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert lines["created"].split()[1:9] == ["1", "Namespace,", "2", "Services,", "2",
                                             "Deployments,", "1", "Pod"]  # in that order
    assert lines["errors"].split()[1] == "0"
    assert lines["Running"].split()[1] == "5/5" and "pods/s" in lines["Running"]
    endpoints = get_json(api_cluster, "endpointslices", "-n", f"{name}-1",
                         "-l", "kubernetes.io/service-name=app-1")["items"]
    assert endpoints and endpoints[0]["ports"][0]["port"] == 8080

    gone = kubemu(api_cluster, "--delete", "--prefix", name, "--timeout", str(_WAIT))
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith(f"deleted 1 namespace labelled {LABEL}={name} (gone in")


def test_cli_wait_that_runs_out_of_time_says_how_many_pods_run_and_exits_1(
        api_cluster, cleanup):
    name = prefix()
    cleanup.append(name)
    done = kubemu(api_cluster, "--deployments", "1", "--replicas", "2", "--no-services",
                  "--cpu", "1000", "--prefix", name, "--timeout", "2")  # unschedulable
    assert done.returncode == 1
    assert done.stderr.strip() == "error: timed out after 2s waiting for pods: 0 of 2 Running"
    gone = kubemu(api_cluster, "--delete", "--no-wait", "--prefix", name)
    assert gone.returncode == 0 and gone.stdout.startswith("deleted 1 namespace")


@pytest.mark.parametrize("args, message", [
    pytest.param(["--rate", "0"], "error: rate must be a positive number", id="zero-rate"),
    pytest.param(["--replicas", "-2"], "error: replicas must be at least 0", id="negative"),
    pytest.param(["--prefix", "Not_A_Label"], "error: prefix 'Not_A_Label' must be a DNS label",
                 id="bad-prefix"),
    pytest.param(["--memory", "lots"], "error: memory 'lots' is not a quantity", id="bad-mem"),
    pytest.param(["--timeout", "-1"], "error: timeout must be", id="negative-timeout"),
])
def test_cli_bad_input_is_one_error_line_and_exit_1(api_cluster, args, message):
    done = kubemu(api_cluster, *args, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1
    assert not done.stdout


def test_cli_on_an_unreachable_cluster_is_one_error_line_and_exit_1(tmp_path):
    config = write_kubeconfig(tmp_path / "kubeconfig", "gone",
                              server=f"https://127.0.0.1:{free_port()}", token="t")
    done = subprocess.run([sys.executable, "-m", "kubemu.actors.cli", "load", "--kubeconfig",
                           str(config)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: The connection to the server 127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
