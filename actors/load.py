"""Load: bulk Deployments, Services and bare pods, and how fast their pods come to run.

`kubemu load` and the scale benchmark create load through this API, as KWOK's users generate
objects in bulk. A `LoadSpec` says what to create; `Load.run` creates it through the API like
any client and watches the pods until they run:
- every object carries the label `kubemu.io/load=<prefix>` (pod templates too), and lives in
  one of the namespaces `<prefix>-1 .. <prefix>-N`, dealt round-robin; Deployment `app-<i>`
  (pods `app=app-<i>`, one container listening on 8080 named http) has a ClusterIP Service
  `app-<i>` (port 80 -> http); bare pods are `pod-<i>`; numbers count from 1 over all
  namespaces, so names are unique;
- the pod watch (load_watch.py) is opened from a list BEFORE the first create, so no pod is
  missed, and times are `loop.time()` of the caller's loop;
- namespaces are created first (objects cannot be created in a namespace that does not exist
  yet), then Services and Deployments interleaved, then bare pods: `concurrency` workers take
  the next object from one shared iterator (memory stays flat at 100,000 pods), each sent at
  phase start + index / `rate` when paced (open loop: a slow answer delays the next create
  only when every worker waits);
- transient failures (5xx, 429, connection errors) are retried with backoff (load_watch.py), a
  few times; AlreadyExists counts as created (a re-run with the same prefix tops up); every
  other failure counts in `errors`, the first few messages kept;
- `delete` deletes the labelled namespaces; the namespace controller removes their contents.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kubemu.actors.load_watch import PodWatch, RunningPods, retrying
from kubemu.cluster.api.errors import AlreadyExists, NotFound
from kubemu.cluster.api.quantity import QuantityError, parse_quantity
from kubemu.cluster.api.validation.names import is_dns1123_label
from kubemu.cluster.client.client import ApiClient

__all__ = ["LABEL", "Load", "LoadReport", "LoadSpec", "deployment_name", "namespace_name",
           "namespace_objects", "pod_name", "workload_objects"]

LABEL = "kubemu.io/load"
CONTAINER_PORT, SERVICE_PORT = 8080, 80
Progress = Callable[[str, int, int], None]
_KEEP_MESSAGES = 5


@dataclass(frozen=True)
class LoadSpec:
    deployments: int = 10
    replicas: int = 10
    services: bool = True        # one ClusterIP Service per Deployment (port 80 -> 8080)
    pods: int = 0                # bare pods besides the Deployments
    namespaces: int = 1          # objects dealt round-robin over <prefix>-1 .. <prefix>-N
    prefix: str = "load"         # namespaces and objects carry label kubemu.io/load=<prefix>
    image: str = "nginx"
    cpu: str = "10m"             # requests per container
    memory: str = "16Mi"
    concurrency: int = 32        # creates in flight
    rate: float | None = None    # creates per second, paced open loop; None: unpaced

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(problem)

    @property
    def selector(self) -> str:
        return f"{LABEL}={self.prefix}"

    @property
    def pods_wanted(self) -> int:
        return self.deployments * self.replicas + self.pods

    @property
    def objects(self) -> int:
        """How many creates a run sends."""
        return (self.namespaces + self.deployments * (2 if self.services else 1)
                + self.pods)


@dataclass
class LoadReport:
    spec: LoadSpec
    created: dict[str, int]          # kind -> objects created ("Namespace", "Deployment", ...)
    errors: int                      # creates that failed for good
    pods_wanted: int                 # deployments*replicas + pods
    pods_running: int                # seen Running with every container ready
    started: float                   # loop.time() when the first create was sent
    created_at: float                # loop.time() when the last create was answered
    all_running_at: float | None     # loop.time() when pods_running reached pods_wanted
    running_times: list[float]       # loop.time() each pod was first seen Running+ready, sorted
    error_messages: list[str] = field(default_factory=list)  # the first few failures
    retries: int = 0                 # transient failures retried
    watch_relists: int = 0           # pod lists after the first (410 on resume)

    @property
    def seconds_to_running(self) -> float | None:
        return None if self.all_running_at is None else self.all_running_at - self.started

    @property
    def pods_per_second(self) -> float | None:
        """pods_running / (last pod Running - first create sent)."""
        if not self.running_times or self.running_times[-1] <= self.started:
            return None
        return self.pods_running / (self.running_times[-1] - self.started)


class Load:
    """One `LoadSpec` against one cluster: `run` creates and times it, `delete` removes it."""

    def __init__(self, client: ApiClient, spec: LoadSpec, *,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.spec = spec
        self._rng = rng or random.Random()

    async def run(self, *, timeout: float = 600.0,
                  progress: Progress | None = None) -> LoadReport:
        """Open a pod watch (label selector kubemu.io/load=<prefix>, all namespaces, from a
        list's resourceVersion) BEFORE the first create, create everything (namespaces first,
        then Services and Deployments interleaved, then bare pods; at most `concurrency` in
        flight, paced by `rate`), then wait until every wanted pod is Running and ready or
        `timeout` passes (counted from the last create's answer; 0 does not wait).
        progress(step, done, total) for steps "created" and "running"."""
        spec, loop = self.spec, asyncio.get_running_loop()
        report = LoadReport(spec=spec, created={}, errors=0, pods_wanted=spec.pods_wanted,
                            pods_running=0, started=0.0, created_at=0.0, all_running_at=None,
                            running_times=[])
        changed = asyncio.Event()

        def on_running(count: int) -> None:
            changed.set()
            if progress is not None:
                progress("running", count, spec.pods_wanted)

        pods = RunningPods(spec.pods_wanted, on_change=on_running)
        watch = PodWatch(self.client, spec.selector, pods)
        await watch.list()  # an unreachable API fails here, before anything is created
        on_running(pods.count)
        task = asyncio.create_task(watch.run(), name="kubemu-load-pod-watch")
        try:
            sent = _Sent(report, progress, spec.objects)
            await self._create_all(namespace_objects(spec), sent)
            await self._create_all(workload_objects(spec), sent)
            report.created_at = loop.time()
            deadline = report.created_at + timeout
            while pods.count < spec.pods_wanted and loop.time() < deadline:
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), deadline - loop.time())
                except TimeoutError:
                    break
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        report.pods_running = pods.count
        report.running_times = pods.times()
        report.watch_relists = watch.relists
        if pods.count >= spec.pods_wanted:
            reached = pods.reached_at if pods.reached_at is not None else report.started
            report.all_running_at = max(reached, report.started)
        return report

    async def delete(self) -> int:
        """Delete every namespace labelled kubemu.io/load=<prefix>; how many."""
        names = [ns["metadata"]["name"] async for ns in self.client.list_all(
            "v1", "Namespace", label_selector=self.spec.selector)]
        slots = asyncio.Semaphore(self.spec.concurrency)

        async def one(name: str) -> int:
            async with slots:
                try:
                    await retrying(lambda: self.client.delete("v1", "Namespace", name),
                                   rng=self._rng)
                except NotFound:
                    return 0
                return 1
        return sum(await asyncio.gather(*(one(n) for n in names)))

    async def namespaces_left(self) -> int:
        """How many labelled namespaces exist (terminating ones included)."""
        page = await self.client.list("v1", "Namespace", label_selector=self.spec.selector)
        return len(page.get("items") or ())

    async def wait_deleted(self, *, timeout: float = 600.0, poll: float = 0.5) -> int:
        """Wait until no labelled namespace is left or `timeout` passes; how many are left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := await self.namespaces_left()) and loop.time() < deadline:
            await asyncio.sleep(min(poll, max(0.0, deadline - loop.time())))
        return left

    # -- creating ------------------------------------------------------------------------------

    async def _create_all(self, objects: Iterator[dict], sent: _Sent) -> None:
        loop, rate = asyncio.get_running_loop(), self.spec.rate
        queue = enumerate(objects)  # shared: each worker takes the next object
        start = loop.time()

        async def worker() -> None:
            for index, obj in queue:
                if rate is not None and (wait := start + index / rate - loop.time()) > 0:
                    await asyncio.sleep(wait)
                sent.sending(loop.time())
                await self._create(obj, sent)
                sent.answered()

        await asyncio.gather(*(worker() for _ in range(self.spec.concurrency)))

    async def _create(self, obj: dict, sent: _Sent) -> None:
        kind = obj["kind"]
        namespace = obj["metadata"].get("namespace")
        try:
            await retrying(lambda: self.client.create(obj, namespace=namespace),
                           rng=self._rng, on_retry=sent.retried)
        except AlreadyExists:
            pass  # a previous run's object: counted, so a re-run tops up
        except Exception as exc:  # noqa: BLE001 - counted and reported; the run goes on
            sent.failed(exc)
            return
        sent.report.created[kind] = sent.report.created.get(kind, 0) + 1


# ---- names and manifests ------------------------------------------------------------------------

def namespace_name(spec: LoadSpec, index: int) -> str:
    """The namespace of object number `index` (from 1), dealt round-robin."""
    return f"{spec.prefix}-{(index - 1) % spec.namespaces + 1}"


def deployment_name(index: int) -> str:
    """Deployment (and Service) number `index`, from 1."""
    return f"app-{index}"


def pod_name(index: int) -> str:
    return f"pod-{index}"


def namespace_objects(spec: LoadSpec) -> Iterator[dict]:
    for n in range(1, spec.namespaces + 1):
        yield {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": f"{spec.prefix}-{n}", "labels": {LABEL: spec.prefix}}}


def workload_objects(spec: LoadSpec) -> Iterator[dict]:
    """Service i then Deployment i for every i, then the bare pods."""
    for i in range(1, spec.deployments + 1):
        if spec.services:
            yield _service(spec, i)
        yield _deployment(spec, i)
    for j in range(1, spec.pods + 1):
        labels = {LABEL: spec.prefix, "app": "pod"}
        yield {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": pod_name(j), "namespace": namespace_name(spec, j),
                            "labels": labels},
               "spec": _pod_spec(spec)}


def _deployment(spec: LoadSpec, i: int) -> dict:
    name = deployment_name(i)
    labels = {LABEL: spec.prefix, "app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace_name(spec, i),
                         "labels": dict(labels)},
            "spec": {"replicas": spec.replicas,
                     "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": _pod_spec(spec)}}}


def _service(spec: LoadSpec, i: int) -> dict:
    name = deployment_name(i)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace_name(spec, i),
                         "labels": {LABEL: spec.prefix, "app": name}},
            "spec": {"type": "ClusterIP", "selector": {LABEL: spec.prefix, "app": name},
                     "ports": [{"name": "http", "protocol": "TCP", "port": SERVICE_PORT,
                                "targetPort": "http"}]}}


def _pod_spec(spec: LoadSpec) -> dict:
    return {"containers": [{
        "name": "app", "image": spec.image,
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": spec.cpu, "memory": spec.memory}}}]}


class _Sent:
    """Counts of one run's creates, feeding the report and the "created" progress."""

    def __init__(self, report: LoadReport, progress: Progress | None, total: int) -> None:
        self.report, self.progress, self.total = report, progress, total
        self.done = 0
        self.first = True

    def sending(self, now: float) -> None:
        if self.first:
            self.report.started, self.first = now, False

    def answered(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress("created", self.done, self.total)

    def retried(self) -> None:
        self.report.retries += 1

    def failed(self, exc: BaseException) -> None:
        self.report.errors += 1
        if len(self.report.error_messages) < _KEEP_MESSAGES:
            text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self.report.error_messages.append(f"{type(exc).__name__}: {text}"[:300])


def _problem(spec: LoadSpec) -> str | None:
    """The first thing wrong with `spec`, as one line; None when it makes sense."""
    for name in ("deployments", "replicas", "pods", "namespaces", "concurrency"):
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool):
            return f"{name} must be a whole number, not {value!r}"
        low = 1 if name in ("namespaces", "concurrency") else 0
        if value < low:
            return f"{name} must be at least {low}, not {value}"
    if not isinstance(spec.services, bool):
        return f"services must be true or false, not {spec.services!r}"
    if spec.rate is not None and (isinstance(spec.rate, bool)
                                  or not isinstance(spec.rate, (int, float))
                                  or not math.isfinite(spec.rate) or spec.rate <= 0):
        return f"rate must be a positive number of creates per second, not {spec.rate!r}"
    if not isinstance(spec.prefix, str) or is_dns1123_label(spec.prefix):
        return (f"prefix {spec.prefix!r} must be a DNS label: lower case letters, digits "
                f"and '-', starting and ending with a letter or digit")
    last = f"{spec.prefix}-{spec.namespaces}"
    if len(last) > 63:
        return f"prefix {spec.prefix!r} is too long: namespace {last!r} exceeds 63 characters"
    if not isinstance(spec.image, str) or not spec.image.strip() or any(
            c.isspace() for c in spec.image):
        return f"image must be an image name, not {spec.image!r}"
    for name in ("cpu", "memory"):
        value = getattr(spec, name)
        try:
            if parse_quantity(value) < 0:
                return f"{name} must not be negative, not {value!r}"
        except QuantityError:
            return f"{name} {value!r} is not a quantity (e.g. 10m, 0.5, 16Mi, 1Gi)"
    return None
