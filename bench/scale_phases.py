"""What bench/scale.py runs once the load is in: churn, kubectl over every pod, DNS lookups.

Churn measures pod startup latency while the cluster holds its load. Bare pods (nginx,
requests cpu 10m memory 16Mi) are created in namespace `scale-churn` at `rate` per second for
`seconds`, open loop: create i is sent at start + i / rate by the loop clock, each in its own
task, so a slow answer never delays the next one (the worst lag behind that pace is
reported). A pod watch of the namespace, opened from a list before the first create, records
when each pod is first seen Running with every container ready; startup latency is that time
minus the time its create was sent. Each pod is deleted DELETE_AFTER s after it ran, so the
cluster stays at the size the load reached; pods that never ran are deleted after `deadline`,
and the phase ends once the namespace holds no pod, so kubectl then sees a settled cluster.

Churn runs twice: right after the last load pod runs, while the cluster still writes what the
load queued (Events, status, EndpointSlices: shown, no target), and again once it has settled
(`until_settled`: the store's revision rate, read from a one-item list every second, back
within 1.5 times, or 20/s above, the idle rate measured before the load). The target applies
to the settled run: the issue's "background churn" is churn on a cluster of that size at rest.

`kubectl get pods -A --chunk-size=500` runs as a user runs it (its own process, the
cluster's kubeconfig); its wall time counts, and its lines (header left out) must match the
pods the API counts just before (a list of 1 and its remainingItemCount, not 100,000 pods
decoded here). It runs with `-v=6`, whose log gives each page's round trip as kubectl saw it
and the time kubectl waited on its own client-side rate limit (client-go's default of 5
requests/s with a burst of 10, which kubectl 1.32 keeps for everything but discovery): a list
of P pages cannot take less than (P - 10) / 5 s whatever the server does. DNS: a few of the load's Service names are asked over UDP (dnslib) of the
cluster DNS; the answer must hold the Service's ClusterIP read from the API.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from dnslib import QTYPE, DNSRecord
from kubemu.actors.load import LoadSpec, deployment_name, namespace_name
from kubemu.actors.load_watch import running_and_ready
from kubemu.cluster.api.errors import AlreadyExists, NotFound
from kubemu.cluster.client import ApiClient

from bench.scale_report import ScaleResults
from bench.scale_watch import Follow

__all__ = ["CHURN_NS", "DELETE_AFTER", "churn", "churn_pod", "count_pods", "kubectl_get_pods",
           "resolve_services", "revision", "until_no_pods", "until_settled"]

CHURN_NS = "scale-churn"
DELETE_AFTER = 10.0   # a churn pod is deleted this long after it was seen Running, s
KUBECTL_TIMEOUT = 600.0


async def revision(client: ApiClient) -> int:
    """The store's current revision: the resourceVersion of a one-item list."""
    listed = await client.list("coordination.k8s.io/v1", "Lease", namespace="kube-node-lease",
                               limit=1)
    return int(listed["metadata"]["resourceVersion"])


async def until_settled(client: ApiClient, idle_rate: float, *, timeout: float,
                        window: float = 10.0) -> float | None:
    """Seconds until the revision rate over `window` s is back near `idle_rate` (writes/s);
    None after `timeout`."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    seen: list[tuple[float, int]] = []
    while loop.time() - began < timeout:
        now = loop.time()
        seen.append((now, await revision(client)))
        seen = [(t, rev) for t, rev in seen if now - t <= window]
        (t0, r0), (t1, r1) = seen[0], seen[-1]
        if t1 - t0 >= window * 0.9:
            rate = (r1 - r0) / (t1 - t0)
            if rate <= max(1.5 * idle_rate, idle_rate + 20.0):
                return loop.time() - began
        await asyncio.sleep(1.0)
    return None


async def churn(client: ApiClient, watch_client: ApiClient, r: ScaleResults, *, rate: float,
                seconds: float, deadline: float, log=print, prefix: str = "churn") -> None:
    """Run the churn phase into `r` (churn_* fields); pods are named `<prefix>-<i>`."""
    loop = asyncio.get_running_loop()
    r.churn_rate, r.churn_seconds = rate, seconds
    count = int(rate * seconds)
    if count <= 0:
        return
    try:
        await client.create({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": CHURN_NS}})
    except AlreadyExists:  # the second churn of a run
        pass
    sent: dict[str, float] = {}
    running: dict[str, float] = {}
    deletes: list[asyncio.Task] = []
    changed = asyncio.Event()

    async def delete_later(name: str) -> None:
        await asyncio.sleep(DELETE_AFTER)
        try:
            await client.delete("v1", "Pod", name, namespace=CHURN_NS)
        except NotFound:
            pass

    def on_pod(type_: str, pod: dict, now: float) -> None:
        name = pod["metadata"]["name"]
        if (type_ != "DELETED" and name in sent and name not in running
                and running_and_ready(pod)):
            running[name] = now
            deletes.append(asyncio.create_task(delete_later(name)))
            changed.set()

    async def create(name: str) -> None:
        try:
            await client.create(churn_pod(name), namespace=CHURN_NS)
        except Exception:  # noqa: BLE001 - counted; the run goes on
            sent.pop(name, None)
            r.churn_errors += 1

    watch = Follow(watch_client, "v1", "Pod", on_pod, namespace=CHURN_NS)
    await watch.start()
    log(f"churn: {count:,} pods at {rate:g}/s")
    creates: list[asyncio.Task] = []
    start = loop.time() + 0.05
    try:
        for i in range(count):
            due = start + i / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            name = f"{prefix}-{i:06d}"
            sent[name] = now = loop.time()
            r.churn_lag = max(r.churn_lag, now - due)
            creates.append(asyncio.create_task(create(name)))
        await asyncio.gather(*creates)
        r.churn_window = (start, loop.time())
        end = loop.time() + deadline
        while not set(sent) <= running.keys() and loop.time() < end:
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), 1.0)
            except TimeoutError:
                pass
        await asyncio.gather(*deletes, return_exceptions=True)
        await asyncio.gather(*(client.delete("v1", "Pod", name, namespace=CHURN_NS)
                               for name in set(sent) - running.keys()),
                             return_exceptions=True)
        if not await until_no_pods(client, CHURN_NS, timeout=120.0):
            log(f"churn: pods still in {CHURN_NS} after 120 s")
    finally:
        for task in deletes:
            task.cancel()
        await watch.stop()
    r.churn_sent = len(sent)
    r.churn_latencies = [running[n] - sent[n] for n in sent if n in running]
    log(f"churn: {len(r.churn_latencies):,}/{len(sent):,} ran, {r.churn_errors} errors")


def churn_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": CHURN_NS, "labels": {"app": "churn"}},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "10m",
                                                                "memory": "16Mi"}}}]}}


async def until_no_pods(client: ApiClient, namespace: str, *, timeout: float) -> bool:
    """Wait until `namespace` holds no pod (True) or `timeout` passes (False)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (await client.list("v1", "Pod", namespace=namespace, limit=1)).get("items"):
        if loop.time() > end:
            return False
        await asyncio.sleep(0.5)
    return True


async def kubectl_get_pods(kubeconfig: Path, client: ApiClient, r: ScaleResults, *,
                           log=print) -> None:
    """Time `kubectl get pods -A --chunk-size=500` into `r` (kubectl_* fields)."""
    r.kubectl_pods = await count_pods(client)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "get", "pods", "-A", "--chunk-size=500", "--kubeconfig", str(kubeconfig),
        "-v=6", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), KUBECTL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        r.kubectl_error = f"killed after {KUBECTL_TIMEOUT:.0f} s"
        return
    r.kubectl_seconds = loop.time() - t0
    r.kubectl_lines = sum(1 for line in out.decode().splitlines()
                          if line.strip() and not line.startswith("NAMESPACE "))
    log_lines = err.decode(errors="replace").splitlines()
    r.kubectl_pages, r.kubectl_throttled = kubectl_log(log_lines)
    if proc.returncode:
        errors = [line for line in log_lines if not _KLOG.match(line)]
        r.kubectl_error = f"exit {proc.returncode}: {' '.join(errors).strip()[:200]}"
    log(f"kubectl get pods -A --chunk-size=500: {r.kubectl_seconds:.2f} s, "
        f"{r.kubectl_lines:,} pods listed, {r.kubectl_pods:,} in the API, "
        f"{len(r.kubectl_pages)} pages, {r.kubectl_throttled:.2f} s waited on its rate limit")


_KLOG = re.compile(r"^[IWE]\d{4} ")  # a klog line: kubectl's -v log, not an error message
_PAGE = re.compile(r"GET \S+/api/v1/pods\?\S* (\d{3}) .* in (\d+) milliseconds")
_WAITED = re.compile(r"Waited for ([\d.]+)(ms|s|µs) due to client-side throttling")
_UNIT = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}


def kubectl_log(lines: list[str]) -> tuple[list[float], float]:
    """From kubectl's -v=6 log: each pod page's round trip (s) as kubectl saw it, and the
    total time it waited on its own client-side rate limit (s)."""
    pages, waited = [], 0.0
    for line in lines:
        if (m := _PAGE.search(line)) is not None:
            pages.append(int(m.group(2)) / 1000)
        elif (m := _WAITED.search(line)) is not None:
            waited += float(m.group(1)) * _UNIT[m.group(2)]
    return pages, waited


async def count_pods(client: ApiClient) -> int:
    """Pods in every namespace: one page of 1 and its remainingItemCount, as upstream gives
    it for a list without selectors (a full count where the server does not say)."""
    page = await client.list("v1", "Pod", limit=1)
    meta = page.get("metadata") or {}
    remaining = meta.get("remainingItemCount")
    if remaining is not None or not meta.get("continue"):
        return len(page.get("items") or ()) + int(remaining or 0)
    return sum([1 async for _pod in client.list_all("v1", "Pod", limit=500)])


async def resolve_services(dns: str, client: ApiClient, spec: LoadSpec, r: ScaleResults, *,
                           log=print) -> None:
    """Ask the cluster DNS at `dns` ("host:port") for up to 5 of the load's Services."""
    host, _, port = dns.rpartition(":")
    d = spec.deployments
    for i in sorted({1, max(1, d // 4), max(1, d // 2), max(1, 3 * d // 4), d}):
        name, ns = deployment_name(i), namespace_name(spec, i)
        service = await client.get("v1", "Service", name, namespace=ns)
        fqdn = f"{name}.{ns}.svc.cluster.local"
        answers, seconds = await asyncio.to_thread(_resolve, fqdn, host, int(port))
        r.dns.append((fqdn, service["spec"].get("clusterIP", ""), answers, seconds))
    log(f"DNS: {r.dns_ok}/{len(r.dns)} Service names answered with their ClusterIP")


def _resolve(fqdn: str, host: str, port: int) -> tuple[list[str], float]:
    """A records of `fqdn` from the DNS at host:port (3 tries), and the answer's time."""
    for _ in range(3):
        began = time.perf_counter()
        try:
            reply = DNSRecord.parse(DNSRecord.question(fqdn, "A").send(host, port, timeout=2))
        except OSError:
            continue
        return ([str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A],
                time.perf_counter() - began)
    return [], 0.0
