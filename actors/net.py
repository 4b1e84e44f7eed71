"""Overlay: send traffic over the cluster's overlay network from a driver, and fault its links.

`Overlay(cluster, client)` works from any process connected to the cluster's Ray (`join_ray`
connects one). A connection starts on a node actor, as traffic from a pod would: with
`from_pod` the pod's node (spec.nodeName) sends from the pod's IP; without it the connection
leaves a node as host traffic from the node's InternalIP (the node given, else the first Ready
one). Node actors are found through each Node's `kubemu.io/actor` annotation, so a restarted
node's new actor is used. The reply is the node hop's dict: `{"ok": True, "pod", "node",
"zone", ...}` (+ `"echo"` when a payload was sent) or `{"ok": False, "error":
"refused"|"timeout", "message"}`; a call that outlives `timeout` is a timeout, as for curl.

URLs are `http://HOST[:PORT]/...` (port 80) or `tcp://HOST:PORT` (the payload is echoed).
Host names are resolved as the sending pod's resolver would: the pod's resolv.conf
(`dns.resolvconf.pod_resolv_conf_for`: search `<ns>.svc.cluster.local svc.cluster.local
cluster.local`, ndots 5; from a node, that of a pod in `namespace`) walked by
`dns.stub.StubResolver` against the cluster DNS (the `dns` actor's host address: the pod's
nameserver, 10.96.0.10, is a ClusterIP the driver cannot reach). So headless Services give an
endpoint IP (the first answered) and ExternalName its CNAME target's address. Only a cluster
without a DNS actor falls back to the API: the same search list, each `<svc>.<ns>.svc`
candidate looked up as a Service, its clusterIP (headless and ExternalName refused).

Link faults are per node actor (each keeps its own `LinkFaults`), so `partition`, `latency`,
`loss` and `heal` go to every node actor the Nodes name (pools host several nodes in one
actor: each actor once). `zone=Z` faults Z's links to every zone ("*"); zones may be given
short ("a" for "zone-a").
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.parse
from dataclasses import dataclass
from typing import Any

import ray
from kubemu.actors.net_names import (
    NetError,
    ResolveError,
    cluster_dns_address,
    resolve_host,
    search_names,
)
from kubemu.actors.runtime import namespace as ray_namespace
from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.node.node_status import ACTOR_ANNOTATION
from kubemu.dns.resolvconf import pod_resolv_conf, pod_resolv_conf_for

__all__ = [
    "NetError",
    "Overlay",
    "ResolveError",
    "Target",
    "join_ray",
    "parse_url",
    "ray_address_of",
    "search_names",
]

ZONE_LABEL = "topology.kubernetes.io/zone"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    scheme: str  # "http" | "tcp"
    host: str
    port: int
    path: str = "/"


class Overlay:
    def __init__(self, cluster: str, client: Any, *, dns: str | None = None) -> None:
        """`dns`: the cluster DNS "host:port" (default: asked of the cluster's `dns` actor;
        "" forces the API fallback)."""
        self.cluster = cluster
        self.client = client
        self.namespace = ray_namespace(cluster)
        self._actors: dict[str, Any] = {}
        self._dns = dns

    async def curl(self, url: str, *, from_pod: str | None = None, namespace: str = "default",
                   node: str | None = None, payload: str | None = None,
                   timeout: float = 10.0) -> dict:
        """One connection to `url`; the reply of the pod that served it, or the failure."""
        return (await self.send(url, count=1, from_pod=from_pod, namespace=namespace,
                                node=node, payload=payload, timeout=timeout))[0]

    async def send(self, url: str, *, count: int, concurrency: int = 50,
                   from_pod: str | None = None, namespace: str = "default",
                   node: str | None = None, payload: str | None = None,
                   timeout: float = 10.0) -> list[dict]:
        """`count` connections to `url`, `concurrency` at a time, from one source."""
        if count < 1 or concurrency < 1:
            raise ValueError("count and concurrency must be at least 1")
        target = parse_url(url)
        pod = await self._pod(from_pod, namespace) if from_pod else None
        dst_ip = await self.resolve(target.host, namespace=namespace, pod=pod)
        actor, src_ip, src_node = await self._source(pod, namespace, node)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> dict:
            async with gate:
                return await self._connect(actor, src_ip, dst_ip, target.port, src_node,
                                           payload, timeout)

        return list(await asyncio.gather(*(one() for _ in range(count))))

    async def resolve(self, host: str, *, namespace: str = "default",
                      pod: dict | None = None) -> str:
        """An IP as is; a name through the cluster DNS with `pod`'s resolv.conf (without
        a pod, that of a pod in `namespace`): its first address."""
        conf = pod_resolv_conf_for(pod) if pod is not None else pod_resolv_conf(namespace)
        return await resolve_host(host, conf, dns=await self.dns_address(), client=self.client)

    async def dns_address(self) -> str:
        """The cluster DNS "host:port" ("" when the cluster runs none)."""
        if self._dns is None:
            self._dns = await cluster_dns_address(self.namespace)
        return self._dns

    async def partition(self, *, zones: tuple[str, str] | None = None,
                        nodes: tuple[str, str] | None = None, zone: str | None = None,
                        node: str | None = None) -> None:
        """Cut the links between two zones or nodes (or one's links to all others)."""
        await self._fault("partition", 0.0, zone=zone, zones=zones, node=node, nodes=nodes)

    async def latency(self, seconds: float, *, zone: str | None = None,
                      zones: tuple[str, str] | None = None, node: str | None = None,
                      nodes: tuple[str, str] | None = None) -> None:
        """Add `seconds` of one-way delay on the chosen links."""
        if seconds < 0:
            raise ValueError("latency must not be negative")
        await self._fault("latency", seconds, zone=zone, zones=zones, node=node, nodes=nodes)

    async def loss(self, fraction: float, *, zone: str | None = None,
                   zones: tuple[str, str] | None = None, node: str | None = None,
                   nodes: tuple[str, str] | None = None) -> None:
        """Drop `fraction` (0..1) of the connections crossing the chosen links."""
        if not 0 <= fraction <= 1:
            raise ValueError("loss is a fraction between 0 and 1")
        await self._fault("loss", fraction, zone=zone, zones=zones, node=node, nodes=nodes)

    async def heal(self) -> None:
        """Clear every link fault on every node actor."""
        await self._broadcast("heal", "", "", 0.0, "zone", await self._nodes())

    # ---- sources and node actors ----------------------------------------------------------

    async def _pod(self, name: str, namespace: str) -> dict:
        try:
            return await self.client.get("v1", "Pod", name, namespace=namespace)
        except NotFound:
            raise NetError(f'pods "{name}" not found in namespace "{namespace}"') from None

    async def _source(self, pod: dict | None, namespace: str,
                      node: str | None) -> tuple[Any, str, str]:
        """(node actor, source IP, source node) of a connection."""
        if pod is not None:
            if node:
                raise NetError("give a source pod or a source node, not both")
            from_pod = pod["metadata"]["name"]
            status, node_name = pod.get("status") or {}, (pod.get("spec") or {}).get(
                "nodeName")
            if status.get("phase") != "Running" or not status.get("podIP") or not node_name:
                raise NetError(f"pod {namespace}/{from_pod} is {status.get('phase', 'Pending')}"
                               f"{'' if status.get('podIP') else ' without an IP'}: it "
                               f"cannot send traffic")
            return await self._node_actor(node_name), status["podIP"], node_name
        nodes = await self._nodes()
        if node:
            chosen = next((n for n in nodes if n["metadata"]["name"] == node), None)
            if chosen is None:
                raise NetError(f'nodes "{node}" not found')
        else:
            chosen = next((n for n in nodes if _ready(n)), None)
            if chosen is None:
                raise NetError("no node is Ready to send from")
        name = chosen["metadata"]["name"]
        address = next((a["address"] for a in (chosen.get("status") or {}).get(
            "addresses") or () if a.get("type") == "InternalIP"), None)
        if not address:
            raise NetError(f"node {name} has no InternalIP")
        return await self._node_actor(name, chosen), address, name

    async def _node_actor(self, node: str, obj: dict | None = None) -> Any:
        if obj is None:
            try:
                obj = await self.client.get("v1", "Node", node)
            except NotFound:
                raise NetError(f'nodes "{node}" not found') from None
        actor = ((obj.get("metadata") or {}).get("annotations") or {}).get(ACTOR_ANNOTATION)
        if not actor:
            raise NetError(f"node {node} names no actor (annotation {ACTOR_ANNOTATION})")
        return self._actor(actor, node)

    def _actor(self, name: str, node: str) -> Any:
        if name not in self._actors:
            try:
                self._actors[name] = ray.get_actor(name, namespace=self.namespace)
            except ValueError:
                raise NetError(f"node {node}'s actor {name} is not running in Ray namespace "
                               f"{self.namespace} (is this the cluster's Ray?)") from None
        return self._actors[name]

    async def _nodes(self) -> list[dict]:
        items = (await self.client.list("v1", "Node")).get("items") or []
        return sorted(items, key=lambda n: n["metadata"]["name"])

    async def _connect(self, actor: Any, src_ip: str, dst_ip: str, port: int, node: str,
                       payload: str | None, timeout: float) -> dict:
        options = {"node": node} | ({"payload": payload} if payload is not None else {})
        ref = actor.connect.remote(src_ip, dst_ip, port, **options)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(ref.future()), timeout)
        except TimeoutError:
            return {"ok": False, "error": "timeout",
                    "message": f"connect {dst_ip}:{port}: timed out after {timeout:g} s"}
        except ray.exceptions.RayActorError as exc:
            return {"ok": False, "error": "timeout",
                    "message": f"node {node}'s actor is gone: {str(exc).splitlines()[0]}"}

    # ---- link faults -----------------------------------------------------------------------

    async def _fault(self, op: str, value: float, *, zone: str | None,
                     zones: tuple[str, str] | None, node: str | None,
                     nodes: tuple[str, str] | None) -> None:
        given = [(k, v) for k, v in (("zone", zone), ("zones", zones), ("node", node),
                                     ("nodes", nodes)) if v]
        if len(given) != 1:
            raise ValueError("name exactly one of zone, zones, node or nodes")
        kind, pair = given[0]
        pair = (pair, "*") if isinstance(pair, str) else tuple(pair)
        if len(pair) != 2:
            raise ValueError(f"{kind}: two names, not {len(pair)}")
        items = await self._nodes()
        scope = "zone" if kind.startswith("zone") else "node"
        if scope == "zone":
            known = {(n["metadata"].get("labels") or {}).get(ZONE_LABEL, "") for n in items}
            a, b = (_known(z, known, "zone", prefix="zone-") for z in pair)
        else:
            known = {n["metadata"]["name"] for n in items}
            a, b = (_known(n, known, "node") for n in pair)
        await self._broadcast(op, a, b, value, scope, items)

    async def _broadcast(self, op: str, a: str, b: str, value: float, scope: str,
                         items: list[dict]) -> None:
        """`links(...)` on every node actor once; a dead actor carries no traffic: skipped."""
        names = {}
        for n in items:
            actor = (n["metadata"].get("annotations") or {}).get(ACTOR_ANNOTATION)
            if actor:
                names.setdefault(actor, n["metadata"]["name"])
        handles = []
        for actor, node in names.items():
            try:
                handles.append(self._actor(actor, node))
            except NetError as exc:
                log.warning("link faults: %s", exc)
        results = await asyncio.gather(*(h.links.remote(op, a, b, value, scope)
                                         for h in handles), return_exceptions=True)
        for result in results:
            if isinstance(result, ray.exceptions.RayActorError):
                log.warning("link faults: a node actor is gone: %s", result)
            elif isinstance(result, BaseException):
                raise result


def parse_url(url: str) -> Target:
    """`http://HOST[:PORT]/path` (port 80; no scheme means http) or `tcp://HOST:PORT`."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "tcp"):
        raise NetError(f"unsupported protocol {scheme!r} in {url!r}: use http:// or tcp://")
    try:
        port = parts.port
    except ValueError:
        raise NetError(f"bad port in URL {url!r}") from None
    if not parts.hostname:
        raise NetError(f"no host in URL {url!r}")
    if port is None:
        if scheme == "tcp":
            raise NetError(f"tcp:// needs a port: tcp://HOST:PORT, not {url!r}")
        port = 80
    if not 0 < port < 65536:
        raise NetError(f"bad port in URL {url!r}")
    return Target(scheme, parts.hostname.lower(), port, parts.path or "/")


def join_ray(cluster: str, *, pid: int | None = None) -> bool:
    """Connect this process to the Ray instance serving `cluster` (in its namespace) unless
    it is connected; True when this call connected (the caller then shuts Ray down).
    The address: $RAY_ADDRESS, else the Ray that the cluster's process (`pid`, from
    cluster.json) started, else "auto" (the Ray started on this machine)."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS") or None
    if address is None and pid:
        found = ray_address_of(pid)
        if found is not None:
            address, auth_mode = found
            if auth_mode and not os.environ.get("RAY_AUTH_MODE"):
                # an explicit address only sends a token in token mode; Ray read its auth
                # mode when it was imported, so it must read its config again
                from ray._raylet import Config

                os.environ["RAY_AUTH_MODE"] = auth_mode
                Config.initialize("")
    ray.init(address=address or "auto", namespace=ray_namespace(cluster),
             logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
    return True


def ray_address_of(pid: int) -> tuple[str, str] | None:
    """(GCS address, RAY_AUTH_MODE) of the Ray instance process `pid` started: its raylet
    child names it; None when it started none (it joined an existing Ray)."""
    import psutil  # Ray ships psutil and puts it on sys.path

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return None
    for child in children:
        try:
            cmdline = child.cmdline()
            if not cmdline or os.path.basename(cmdline[0]) != "raylet":
                continue
            address = next((arg.split("=", 1)[1] for arg in cmdline
                            if arg.startswith("--gcs-address=")), None)
            if address:
                return address, child.environ().get("RAY_AUTH_MODE", "")
        except psutil.Error:
            continue
    return None


def _ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def _known(name: str, known: set[str], what: str, *, prefix: str = "") -> str:
    if name == "*" or name in known:
        return name
    if prefix and f"{prefix}{name}" in known:
        return f"{prefix}{name}"
    raise NetError(f"no {what} named {name!r} (known: {', '.join(sorted(known)) or 'none'})")
