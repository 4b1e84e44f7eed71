"""`kubemu load` without a cluster: LoadSpec validation, names and manifests, the running-pod
bookkeeping, the retry policy, the summary; then `Load` and its pod watch against the real
in-process API server in virtual time (a small task plays the kubelet, writing pod status)."""

from __future__ import annotations

import asyncio
import random

import pytest
from kubemu.actors.cli_load import load as load_command
from kubemu.actors.cli_load import summary_lines
from kubemu.actors.load import (
    LABEL,
    Load,
    LoadReport,
    LoadSpec,
    namespace_name,
    namespace_objects,
    workload_objects,
)
from kubemu.actors.load_watch import PodWatch, RunningPods, retrying, transient
from kubemu.cluster.api import errors
from kubemu.cluster.api.selectors import parse_label_selector, selector_from_dict

from tests import vtime
from tests.kube import api, eventually

# ---- LoadSpec -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    pytest.param({"deployments": -1}, "deployments must be at least 0", id="negative-deployments"),
    pytest.param({"replicas": -3}, "replicas must be at least 0", id="negative-replicas"),
    pytest.param({"pods": -1}, "pods must be at least 0", id="negative-pods"),
    pytest.param({"namespaces": 0}, "namespaces must be at least 1", id="no-namespace"),
    pytest.param({"concurrency": 0}, "concurrency must be at least 1", id="no-concurrency"),
    pytest.param({"replicas": 2.5}, "replicas must be a whole number", id="fractional"),
    pytest.param({"pods": True}, "pods must be a whole number", id="bool-count"),
    pytest.param({"rate": 0}, "rate must be a positive number", id="zero-rate"),
    pytest.param({"rate": -5.0}, "rate must be a positive number", id="negative-rate"),
    pytest.param({"rate": float("inf")}, "rate must be a positive number", id="infinite-rate"),
    pytest.param({"prefix": "Load"}, "must be a DNS label", id="upper-case-prefix"),
    pytest.param({"prefix": "a_b"}, "must be a DNS label", id="underscore-prefix"),
    pytest.param({"prefix": ""}, "must be a DNS label", id="empty-prefix"),
    pytest.param({"prefix": "x" * 62}, "is too long", id="namespace-name-too-long"),
    pytest.param({"image": ""}, "image must be an image name", id="empty-image"),
    pytest.param({"image": "nginx latest"}, "image must be an image name", id="spaced-image"),
    pytest.param({"cpu": "lots"}, "cpu 'lots' is not a quantity", id="bad-cpu"),
    pytest.param({"memory": "-1Mi"}, "memory must not be negative", id="negative-memory"),
    pytest.param({"services": "yes"}, "services must be true or false", id="services-not-bool"),
])
def test_nonsense_specs_are_refused_with_one_line(fields: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        LoadSpec(**fields)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("fields", [
    pytest.param({}, id="defaults"),
    pytest.param({"deployments": 0, "pods": 0}, id="nothing-but-namespaces"),
    pytest.param({"replicas": 0, "rate": 0.5, "cpu": "0", "memory": "1Gi"}, id="zero-replicas"),
    pytest.param({"prefix": "x" * 60, "namespaces": 9}, id="longest-prefix"),
    pytest.param({"image": "registry.example.com:5000/team/app:1.2"}, id="registry-image"),
])
def test_sensible_specs_are_accepted(fields: dict) -> None:
    LoadSpec(**fields)


def test_the_command_defaults_are_the_spec_defaults() -> None:
    defaults = {p.name: p.default for p in load_command.params}
    spec = LoadSpec()
    for name in ("deployments", "replicas", "services", "pods", "namespaces", "prefix",
                 "image", "cpu", "memory", "concurrency", "rate"):
        assert defaults[name] == getattr(spec, name), name


# ---- names and manifests ----------------------------------------------------------------------

def test_objects_come_namespaces_first_then_services_and_deployments_interleaved_then_pods():
    spec = LoadSpec(deployments=3, replicas=2, pods=2, namespaces=2, prefix="bulk")
    first = [o["metadata"]["name"] for o in namespace_objects(spec)]
    rest = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
            for o in workload_objects(spec)]
    assert first == ["bulk-1", "bulk-2"]
    assert rest == [("Service", "bulk-1", "app-1"), ("Deployment", "bulk-1", "app-1"),
                    ("Service", "bulk-2", "app-2"), ("Deployment", "bulk-2", "app-2"),
                    ("Service", "bulk-1", "app-3"), ("Deployment", "bulk-1", "app-3"),
                    ("Pod", "bulk-1", "pod-1"), ("Pod", "bulk-2", "pod-2")]
    assert len(first) + len(rest) == spec.objects == 10
    assert spec.pods_wanted == 8


def test_no_services_means_deployments_only() -> None:
    spec = LoadSpec(deployments=2, services=False)
    assert [o["kind"] for o in workload_objects(spec)] == ["Deployment", "Deployment"]
    assert spec.objects == 3


@pytest.mark.parametrize("index, namespaces, expected", [
    pytest.param(1, 1, "p-1", id="one-namespace"),
    pytest.param(7, 1, "p-1", id="one-namespace-later"),
    pytest.param(3, 3, "p-3", id="third-of-three"),
    pytest.param(4, 3, "p-1", id="wraps-round"),
])
def test_objects_are_dealt_round_robin(index: int, namespaces: int, expected: str) -> None:
    assert namespace_name(LoadSpec(prefix="p", namespaces=namespaces), index) == expected


def test_every_object_and_pod_template_carries_the_load_label_and_selectors_agree() -> None:
    spec = LoadSpec(deployments=2, pods=1, prefix="lbl", cpu="5m", memory="8Mi", image="redis")
    objects = [*namespace_objects(spec), *workload_objects(spec)]
    assert all(o["metadata"]["labels"][LABEL] == "lbl" for o in objects)
    mine = parse_label_selector(spec.selector)
    for deploy in (o for o in objects if o["kind"] == "Deployment"):
        pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert mine.matches(pod_labels)
        assert selector_from_dict(deploy["spec"]["selector"]).matches(pod_labels)
        service = next(o for o in objects if o["kind"] == "Service"
                       and o["metadata"]["name"] == deploy["metadata"]["name"])
        assert all(pod_labels[k] == v for k, v in service["spec"]["selector"].items())
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "redis"
        assert container["resources"]["requests"] == {"cpu": "5m", "memory": "8Mi"}
        assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    pod = next(o for o in objects if o["kind"] == "Pod")
    assert mine.matches(pod["metadata"]["labels"])


# ---- running pods ---------------------------------------------------------------------------

def _pod(name: str, *, phase: str = "Running", ready: bool = True, ns: str = "l-1") -> dict:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "app"}, {"name": "side"}]},
            "status": {"phase": phase, "containerStatuses": [
                {"name": "app", "ready": ready}, {"name": "side", "ready": True}]}}


@pytest.mark.parametrize("events, expected", [
    pytest.param([("ADDED", _pod("a", phase="Pending"))], {}, id="pending-is-not-running"),
    pytest.param([("MODIFIED", _pod("a", ready=False))], {}, id="running-not-ready"),
    pytest.param([("ADDED", _pod("a"))], {"l-1/a": 1.0}, id="running-and-ready"),
    pytest.param([("ADDED", _pod("a")), ("MODIFIED", _pod("a"))], {"l-1/a": 1.0},
                 id="first-time-kept"),
    pytest.param([("ADDED", _pod("a")), ("DELETED", _pod("a"))], {}, id="deleted-leaves"),
    pytest.param([("ADDED", _pod("a")), ("BOOKMARK", {"metadata": {}})], {"l-1/a": 1.0},
                 id="bookmarks-ignored"),
    pytest.param([("ADDED", _pod("a")), ("ADDED", _pod("a", ns="l-2"))],
                 {"l-1/a": 1.0, "l-2/a": 2.0}, id="same-name-other-namespace"),
])
def test_running_pods_count_first_running_and_ready(events: list, expected: dict) -> None:
    pods = RunningPods(5)
    for now, (kind, pod) in enumerate(events, start=1):
        pods.observe(kind, pod, float(now))
    assert pods.first_running == expected


def test_reaching_the_wanted_count_is_timed_and_cleared_when_it_drops() -> None:
    seen: list[int] = []
    pods = RunningPods(2, on_change=seen.append)
    pods.observe("ADDED", _pod("a"), 1.0)
    assert pods.reached_at is None
    pods.observe("MODIFIED", _pod("b"), 2.0)
    assert pods.reached_at == 2.0
    pods.observe("DELETED", _pod("a"), 3.0)
    assert pods.reached_at is None
    pods.observe("ADDED", _pod("c"), 4.0)
    assert (pods.reached_at, pods.times(), seen) == (4.0, [2.0, 4.0], [1, 2, 1, 2])


def test_a_relist_adds_pods_running_meanwhile_and_drops_pods_deleted_meanwhile() -> None:
    pods = RunningPods(3)
    pods.observe("ADDED", _pod("a"), 1.0)
    pods.observe("ADDED", _pod("gone"), 1.5)
    pods.relisted({"l-1/a", "l-1/b", "l-1/c"}, ["l-1/a", "l-1/b"], 5.0)
    assert pods.first_running == {"l-1/a": 1.0, "l-1/b": 5.0}


# ---- retries and the report ------------------------------------------------------------------

@pytest.mark.parametrize("exc, expected", [
    pytest.param(errors.ServiceUnavailable("down"), True, id="503"),
    pytest.param(errors.InternalError("oops"), True, id="500"),
    pytest.param(errors.Timeout("slow"), True, id="504"),
    pytest.param(errors.TooManyRequests("later"), True, id="429"),
    pytest.param(ConnectionRefusedError(), True, id="refused"),
    pytest.param(TimeoutError(), True, id="timed-out"),
    pytest.param(errors.Forbidden("terminating"), False, id="403"),
    pytest.param(errors.Invalid("bad"), False, id="422"),
    pytest.param(errors.NotFound("no namespace"), False, id="404"),
    pytest.param(ValueError("bug"), False, id="not-an-api-failure"),
])
def test_transient_failures_are_the_ones_worth_retrying(exc: Exception, expected: bool) -> None:
    assert transient(exc) is expected


@pytest.mark.parametrize("failures, raises, calls", [
    pytest.param([errors.ServiceUnavailable("x")] * 2, None, 3, id="retried-then-ok"),
    pytest.param([errors.TooManyRequests("x")] * 6, errors.TooManyRequests, 6,
                 id="gives-up-after-six"),
    pytest.param([errors.Forbidden("x")], errors.Forbidden, 1, id="lasting-raised-at-once"),
])
def test_retrying_backs_off_on_transient_failures_only(failures: list, raises, calls) -> None:
    made, retried = [], []

    async def call() -> str:
        made.append(1)
        if len(made) <= len(failures):
            raise failures[len(made) - 1]
        return "ok"

    async def main() -> str:
        return await retrying(call, rng=random.Random(1), on_retry=lambda: retried.append(1))

    if raises is None:
        assert vtime.run(main) == "ok"
    else:
        with pytest.raises(raises):
            vtime.run(main)
    assert (len(made), len(retried)) == (calls, calls - 1)


def _report(**fields) -> LoadReport:
    base = {"spec": LoadSpec(deployments=1, replicas=2), "created": {"Namespace": 1},
            "errors": 0, "pods_wanted": 2, "pods_running": 2, "started": 10.0,
            "created_at": 11.0, "all_running_at": 14.0, "running_times": [12.0, 14.0]}
    return LoadReport(**{**base, **fields})


def test_report_rates_are_measured_from_the_first_create() -> None:
    report = _report()
    assert (report.seconds_to_running, report.pods_per_second) == (4.0, 0.5)
    idle = _report(pods_running=0, running_times=[], all_running_at=None)
    assert (idle.seconds_to_running, idle.pods_per_second) == (None, None)


def test_the_summary_names_kinds_errors_and_rates() -> None:
    lines = summary_lines(_report(created={"Deployment": 1, "Namespace": 1, "Service": 2},
                                  errors=1, error_messages=["Forbidden: no"], retries=3))
    assert lines[0].split() == ["created", "1", "Namespace,", "2", "Services,", "1",
                                "Deployment", "in", "1.0s"]
    assert lines[1].split() == ["errors", "1", "(3", "retried)"]
    assert lines[2].strip() == "Forbidden: no"
    assert lines[3].split()[:2] == ["Running", "2/2"]
    assert "4.0s after the first create (0.5 pods/s)" in lines[3]


# ---- against the in-process API server ------------------------------------------------------

async def _kubelet(client, selector: str, *, skip: set[str] = frozenset()) -> None:
    """Marks every matching pod Running with its containers ready (not those in `skip`)."""
    done: set[str] = set()
    while True:
        for pod in (await client.list("v1", "Pod", label_selector=selector))["items"]:
            meta = pod["metadata"]
            if meta["name"] in done or meta["name"] in skip:
                continue
            await _run_pod(client, meta["namespace"], meta["name"])
            done.add(meta["name"])
        await asyncio.sleep(0.5)


async def _run_pod(client, ns: str, name: str) -> None:
    status = {"phase": "Running", "containerStatuses": [
        {"name": "app", "ready": True, "restartCount": 0, "image": "nginx", "imageID": "",
         "state": {"running": {"startedAt": "2027-01-01T00:00:00Z"}}}]}
    await client.patch("v1", "Pod", name, {"status": status}, namespace=ns,
                       subresource="status")


def test_load_creates_everything_and_times_every_pod_until_running() -> None:
    spec = LoadSpec(deployments=2, replicas=0, pods=5, namespaces=2, prefix="inproc",
                    concurrency=3, rate=20.0)
    steps: list[tuple[str, int, int]] = []

    async def main() -> tuple[LoadReport, LoadReport, dict]:
        async with api() as kube:
            kubelet = asyncio.create_task(_kubelet(kube.new_client(), spec.selector))
            loop = asyncio.get_running_loop()
            report = await Load(kube.client, spec).run(
                timeout=60, progress=lambda *step: steps.append(step))
            again = await Load(kube.client, spec).run(timeout=60)  # everything exists
            deployment = await kube.client.get("apps/v1", "Deployment", "app-2",
                                               namespace="inproc-2")
            kubelet.cancel()
            assert loop.time() < 60
            return report, again, deployment

    report, again, deployment = vtime.run(main)
    assert report.created == {"Namespace": 2, "Service": 2, "Deployment": 2, "Pod": 5}
    assert (report.errors, report.pods_wanted, report.pods_running) == (0, 5, 5)
    assert report.started <= report.created_at <= report.all_running_at
    assert report.running_times == sorted(report.running_times)
    assert len(report.running_times) == 5 and report.running_times[0] >= report.started
    # 11 creates paced at 20/s: the last one goes out no sooner than 0.25 s (pods phase)
    assert report.created_at - report.started >= 0.2
    assert ("running", 5, 5) in steps
    assert ("created", 11, 11) in steps
    assert again.created == report.created and again.errors == 0
    assert (again.pods_running, again.seconds_to_running) == (5, 0.0)
    assert deployment["spec"]["template"]["metadata"]["labels"][LABEL] == "inproc"


def test_creates_that_fail_for_good_are_counted_and_the_wait_times_out() -> None:
    spec = LoadSpec(deployments=0, pods=3, prefix="broken", image="nginx")

    async def main() -> LoadReport:
        async with api() as kube:
            # a previous run's namespace, held Terminating by an object's finalizer
            await kube.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "broken-1"}})
            await kube.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": "held", "namespace": "broken-1", "finalizers": ["example.com/hold"]}})
            await kube.client.delete("v1", "Namespace", "broken-1")
            return await Load(kube.client, spec).run(timeout=5)

    report = vtime.run(main)
    assert report.errors == 3
    assert report.created == {"Namespace": 1}  # it exists, terminating: AlreadyExists
    assert report.error_messages[0].startswith("Forbidden: unable to create new content")
    assert report.all_running_at is None
    assert report.pods_running == 0


def test_the_pod_watch_relists_after_410_and_resumes_after_the_server_ends_it() -> None:
    selector = f"{LABEL}=w"

    async def main() -> tuple[dict, PodWatch]:
        async with api() as kube:
            pods = RunningPods(3)
            watch = PodWatch(kube.client, selector, pods, timeout_seconds=2)
            await watch.list()
            for name in ("a", "b", "c", "gone"):
                await kube.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
                    "name": name, "namespace": "default", "labels": {LABEL: "w"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
            for name in ("a", "b", "gone"):
                await _run_pod(kube.client, "default", name)
            await kube.client.delete("v1", "Pod", "gone", namespace="default",
                                     grace_period_seconds=0)
            await kube.store.compact(kube.store.revision)  # the watch's start is gone: 410
            task = asyncio.create_task(watch.run())
            await eventually(lambda: pods.count == 2, timeout=30, what="relisted a and b")
            await asyncio.sleep(10)  # the server ends 2 s watches: several resumes
            await _run_pod(kube.client, "default", "c")
            await eventually(lambda: pods.count == 3, timeout=30, what="c seen Running")
            task.cancel()
            return dict(pods.first_running), watch

    running, watch = vtime.run(main)
    assert set(running) == {"default/a", "default/b", "default/c"}
    assert watch.relists == 1 and watch.resumes >= 2
