"""The steps of `kubemu demo`, each a check a user can read: what it did, what it saw.

Every step is an `async def step(demo) -> str` over one `Demo` (the running cluster, an API
client, an `Overlay` for traffic and a `Chaos` for the node kill): it prints a short table or
line with rich, returns the one line that states its check, and raises `StepFailed` (one line)
when the check does not hold. Steps run in order and later ones use what earlier ones found
(the web pods, the sending node, the victim). Waiting is polling the API for a condition with
a generous deadline (the machine may be busy); nothing waits a fixed time.

The workload is what a user deploys for zone resilience: Deployment `web` (6 replicas of an
HTTP server, spread over zones with `topologySpreadConstraints` -- zone: maxSkew 1,
DoNotSchedule; host: ScheduleAnyway) whose pods tolerate `node.kubernetes.io/unreachable`
and `not-ready` for 10 s (instead of the 300 s the admission default gives), so a lost node's
pods are evicted 40 s (node-monitor grace) + 10 s after its last heartbeat, in Kubernetes time,
divided by the demo's time scale.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubemu.actors.bootstrap import ClusterInfo
from kubemu.actors.chaos import Chaos
from kubemu.actors.net import Overlay
from kubemu.dns.resolvconf import pod_resolv_conf
from kubemu.dns.stub import StubResolver
from rich.console import Console
from rich.table import Table

__all__ = ["NS", "REPLICAS", "STEPS", "Demo", "StepFailed"]

NS = "demo"
APP = "web"
REPLICAS = 6
REQUESTS = 60
TOLERATION_SECONDS = 10
ZONE_LABEL = "topology.kubernetes.io/zone"
DEADLINE = 120.0  # wall seconds any one wait may take on a busy machine


class StepFailed(Exception):
    """A step's check did not hold; the message is the one line the user sees."""


@dataclass
class Demo:
    console: Console
    info: ClusterInfo
    client: Any  # ApiClient
    overlay: Overlay
    chaos: Chaos
    zones: dict[str, str] = field(default_factory=dict)  # node -> zone
    sender: str = ""  # the node traffic leaves from
    before: dict[str, str] = field(default_factory=dict)  # web pod -> node, before the kill
    victim: str = ""


async def nodes_ready(demo: Demo) -> str:
    """Every node registered and Ready; a table of nodes and zones."""
    async def ready() -> list[dict] | None:
        items = (await demo.client.list("v1", "Node")).get("items") or []
        return items if len(items) == demo.info.nodes and all(map(_node_ready, items)) else None

    nodes = sorted(await until(ready, what=f"{demo.info.nodes} nodes Ready"),
                   key=lambda n: n["metadata"]["name"])
    table = _table("node", "zone", "InternalIP", "Ready")
    for node in nodes:
        name = node["metadata"]["name"]
        demo.zones[name] = node["metadata"].get("labels", {}).get(ZONE_LABEL, "")
        table.add_row(name, demo.zones[name], _internal_ip(node), "True")
    demo.console.print(table)
    demo.sender = nodes[0]["metadata"]["name"]
    return (f"{len(nodes)} nodes Ready in {len(set(demo.zones.values()))} zones "
            f"(API {demo.info.server}, DNS {demo.info.dns})")


async def deploy(demo: Demo) -> str:
    """Deployment + Service; the pods Ready and spread over every zone."""
    await demo.client.create({"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": NS}})
    await demo.client.create(_deployment(), namespace=NS)
    await demo.client.create(_service(), namespace=NS)
    demo.console.print(f"created Deployment {APP} ({REPLICAS} replicas, spread over zones, "
                       f"tolerating an unreachable node for {TOLERATION_SECONDS} s) and "
                       f"Service {APP} in namespace {NS}")
    pods = await until(lambda: _ready_pods(demo, REPLICAS),
                       what=f"{REPLICAS} Ready pods of Deployment {APP}")
    demo.before = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    table = _table("pod", "node", "zone", "pod IP")
    for pod in pods:
        node = pod["spec"]["nodeName"]
        table.add_row(pod["metadata"]["name"], node, demo.zones.get(node, ""),
                      pod["status"].get("podIP", ""))
    demo.console.print(table)
    per_zone = Counter(demo.zones.get(p["spec"]["nodeName"], "") for p in pods)
    spread = ", ".join(f"{zone} {count}" for zone, count in sorted(per_zone.items()))
    if len(per_zone) < len(set(demo.zones.values())):
        raise StepFailed(f"pods in {len(per_zone)} zones only ({spread})")
    return f"{len(pods)} pods Ready, spread over {len(per_zone)} zones: {spread}"


async def resolve(demo: Demo) -> str:
    """The Service name, as a pod in the namespace resolves it, is the Service's ClusterIP."""
    service = await demo.client.get("v1", "Service", APP, namespace=NS)
    cluster_ip = service["spec"]["clusterIP"]
    answer = await StubResolver(demo.info.dns).lookup(APP, pod_resolv_conf(NS))
    addresses = [rr.data for rr in answer.of_type("A")]
    demo.console.print(f"a pod in {NS} looks up '{APP}': its search path makes it "
                       f"{answer.name.rstrip('.')}, asked of the cluster DNS at "
                       f"{demo.info.dns} (UDP)")
    line = f"DNS answer: {answer.name.rstrip('.')} A {', '.join(addresses)}"
    if addresses != [cluster_ip]:
        raise StepFailed(f"{line}, but the Service's ClusterIP is {cluster_ip}")
    return f"{line} == ClusterIP of Service {APP}"


async def traffic(demo: Demo) -> str:
    """REQUESTS connections to http://web/ from a node: all answered, by several pods."""
    url = f"http://{APP}/"
    await _routed(demo, url)
    replies = await demo.overlay.send(url, count=REQUESTS, namespace=NS, node=demo.sender)
    answered = [r for r in replies if r.get("ok")]
    _print_answers(demo, answered)
    pods = {r["pod"] for r in answered}
    line = (f"{len(answered)}/{REQUESTS} requests sent from {demo.sender} answered by "
            f"{len(pods)} pods in {len({r.get('zone') for r in answered})} zones")
    if len(answered) < REQUESTS or len(pods) < 2:
        failed = next((r for r in replies if not r.get("ok")), {})
        raise StepFailed(line + (f" (first failure: {failed.get('message')})" if failed else ""))
    return line


async def kill_node(demo: Demo) -> str:
    """Kill a node hosting web pods for good; its pods are evicted and replaced elsewhere."""
    hosts = sorted(set(demo.before.values()) - {demo.sender})
    if not hosts:
        raise StepFailed(f"no web pod runs outside {demo.sender}: nothing to move")
    demo.victim = victim = hosts[0]
    lost = sorted(pod for pod, node in demo.before.items() if node == victim)
    scale = demo.info.time_scale
    killed = await demo.chaos.kill_node(victim)
    began = time.monotonic()
    demo.console.print(f"killed {victim}'s actor {killed.actor} for good; it hosted "
                       f"{', '.join(lost)}")
    await until(lambda: _node_condition(demo, victim, "Unknown"), what=f"{victim} Unknown")
    demo.console.print(f"{victim} Ready=Unknown after {time.monotonic() - began:.1f} s "
                       f"(node-monitor grace 40 s / {scale:g} = {40 / scale:g} s "
                       f"after its last heartbeat)")

    async def replaced() -> list[dict] | None:
        pods = await _ready_pods(demo, REPLICAS)
        return pods if pods and all(p["spec"]["nodeName"] != victim for p in pods) else None

    pods = await until(replaced, what=f"{REPLICAS} Ready pods off {victim}")
    moved_after = time.monotonic() - began
    new = sorted((p for p in pods if p["metadata"]["name"] not in demo.before),
                 key=lambda p: p["metadata"]["name"])
    table = _table("evicted pod", "was on", "replacement", "now on")
    for old, pod in zip(lost, new):
        node = pod["spec"]["nodeName"]
        table.add_row(old, f"{victim} ({demo.zones[victim]})", pod["metadata"]["name"],
                      f"{node} ({demo.zones.get(node, '')})")
    demo.console.print(table)
    return (f"pods moved: {len(lost)} pod(s) of {victim} replaced on "
            f"{', '.join(sorted({p['spec']['nodeName'] for p in new}))} and Ready "
            f"{moved_after:.1f} s after the kill ((40 + {TOLERATION_SECONDS}) s / "
            f"{scale:g} = {(40 + TOLERATION_SECONDS) / scale:.1f} s scaled)")


async def traffic_after(demo: Demo) -> str:
    """The Service answers again from the pods that are left and the replacements."""
    url = f"http://{APP}/"
    await _routed(demo, url)
    replies = await demo.overlay.send(url, count=REQUESTS // 2, namespace=NS, node=demo.sender)
    answered = [r for r in replies if r.get("ok")]
    _print_answers(demo, answered)
    line = (f"after the move: {len(answered)}/{len(replies)} requests answered by "
            f"{len({r['pod'] for r in answered})} pods, none on {demo.victim}")
    if len(answered) < len(replies) or any(r.get("node") == demo.victim for r in answered):
        raise StepFailed(line)
    return line


STEPS: list[tuple[str, Callable[[Demo], Awaitable[str]]]] = [
    ("6 nodes in 3 zones", nodes_ready),
    ("a web app with a Service", deploy),
    ("the Service through the cluster DNS", resolve),
    ("traffic to the Service", traffic),
    ("a node dies", kill_node),
    ("traffic after the move", traffic_after),
]


async def until(check: Callable[[], Awaitable[Any]], *, what: str,
                timeout: float = DEADLINE) -> Any:
    """Poll `check` (API reads) until it returns something true; StepFailed at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await check()
        if found:
            return found
        if loop.time() > deadline:
            raise StepFailed(f"{what}: not reached within {timeout:.0f} s")
        await asyncio.sleep(0.2)


# ---- helpers ------------------------------------------------------------------------------

def _deployment() -> dict:
    labels = {"app": APP}
    spread = [{"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": when,
               "labelSelector": {"matchLabels": labels}}
              for key, when in ((ZONE_LABEL, "DoNotSchedule"),
                                ("kubernetes.io/hostname", "ScheduleAnyway"))]
    tolerations = [{"key": f"node.kubernetes.io/{key}", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": TOLERATION_SECONDS}
                   for key in ("unreachable", "not-ready")]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": APP, "labels": labels},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "topologySpreadConstraints": spread, "tolerations": tolerations,
                         "containers": [{"name": APP, "image": "nginx:1.27",
                                         "ports": [{"containerPort": 80}]}]}}}}


def _service() -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP},
            "spec": {"selector": {"app": APP}, "ports": [{"port": 80}]}}


async def _ready_pods(demo: Demo, count: int) -> list[dict] | None:
    """The live (not terminating) web pods, sorted by name, when `count` are all Ready."""
    items = (await demo.client.list("v1", "Pod", namespace=NS,
                                    label_selector=f"app={APP}")).get("items") or []
    live = sorted((p for p in items if not p["metadata"].get("deletionTimestamp")),
                  key=lambda p: p["metadata"]["name"])
    return live if len(live) == count and all(map(_pod_ready, live)) else None


async def _ready_endpoints(demo: Demo) -> set[str]:
    slices = (await demo.client.list("discovery.k8s.io/v1", "EndpointSlice", namespace=NS,
                                     label_selector=f"kubernetes.io/service-name={APP}"))
    return {address for s in slices.get("items") or () for ep in s.get("endpoints") or ()
            if (ep.get("conditions") or {}).get("ready") for address in ep["addresses"]}


async def _routed(demo: Demo, url: str) -> None:
    """Wait until the Service's EndpointSlices list exactly its live Ready pods and a first
    connection from the sending node is answered (its kube-proxy follows both through
    informers, as a real one does)."""
    async def settled() -> bool:
        live = {p["status"]["podIP"] for p in await _ready_pods(demo, REPLICAS) or ()}
        return bool(live) and live == await _ready_endpoints(demo)

    async def answered() -> bool:
        return bool((await demo.overlay.curl(url, namespace=NS, node=demo.sender)).get("ok"))

    await until(settled, what=f"the EndpointSlices of Service {APP} listing its Ready pods")
    await until(answered, what=f"{url} routed from {demo.sender}")


async def _node_condition(demo: Demo, name: str, status: str) -> bool:
    node = await demo.client.get("v1", "Node", name)
    return any(c.get("type") == "Ready" and c.get("status") == status
               for c in (node.get("status") or {}).get("conditions") or ())


def _print_answers(demo: Demo, answered: list[dict]) -> None:
    table = _table("answered by pod", "node", "zone", "requests")
    for (pod, node, zone), count in sorted(Counter(
            (r["pod"], r.get("node", ""), r.get("zone", "")) for r in answered).items()):
        table.add_row(pod, node, zone, str(count))
    demo.console.print(table)


def _table(*columns: str) -> Table:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _node_ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def _pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _internal_ip(node: dict) -> str:
    return next((a["address"] for a in (node.get("status") or {}).get("addresses") or ()
                 if a.get("type") == "InternalIP"), "")
