"""Bootstrap: start and stop one local cluster (the store and its API servers) on Ray.

`up` checks everything it can before starting anything (the API and DNS ports are free,
no live process already runs a cluster of that name), then starts Ray if this process is not
connected, the store replicas (data under `<home>/<name>/store` unless `data_dir`), and the
API servers over HTTPS (a fresh CA and serving certificate per start, from certs.py: kubectl
sends its token only over TLS) with a fresh random bearer token. Once `GET /readyz` answers
200 it starts the cluster DNS actor (actors/dns.py: UDP and TCP on `dns_port`, default 10053,
0 for an ephemeral port; its informers have synced when it answers), then the control plane
and the nodes. Only then does it write the kubeconfig (token and CA inline) and
`cluster.json` (pid of the process running the cluster, server URL, token, start time, DNS
address), so a client that finds the kubeconfig may use the API at once. A failure part way
stops what was started and removes the files. `down` stops the nodes, the DNS, the API
servers and the store, removes both files (a stale kubeconfig only confuses), and shuts Ray
down if `up` started it.

Invariants: `cluster.json` exists exactly while a process serves the cluster (a crash may leave
it behind: its pid is then dead, which `running_cluster` checks); the store's data survives
`down`, so the next `up` of the same name finds its objects again.
"""

from __future__ import annotations

import asyncio
import datetime
import errno
import json
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import ray

from kubemu.actors.access import ApiAccess
from kubemu.actors.addons import ensure_addons
from kubemu.actors.apiserver import start_apiservers, stop_apiservers
from kubemu.actors.certs import client_ssl_context, make_serving_certs
from kubemu.actors.kubeconfig import cluster_dir, cluster_record_path, kubeconfig_path, \
    running_cluster, write_kubeconfig, write_private
from kubemu.actors.runtime import init_local, namespace
from kubemu.actors.components import node_actor_name, start_component, stop_components
from kubemu.actors.dns import DEFAULT_DNS_PORT, start_dns, stop_dns
from kubemu.actors.store_replica import start_store, stop_store

__all__ = ["ClusterInfo", "BootstrapError", "up", "down", "wait_ready", "port_in_use",
           "server_url", "node_configs", "zone_name"]

READY_TIMEOUT = 90.0
_WILDCARD = ("0.0.0.0", "", "::")  # bind addresses that mean "every interface"


class BootstrapError(RuntimeError):
    """A reason not to start (or stop) a cluster, worded as the one line a user sees."""


@dataclass
class ClusterInfo:
    name: str
    server: str  # the URL clients use, e.g. http://127.0.0.1:6443
    token: str
    ca_pem: bytes  # the cluster's CA, which signed the API server's certificate
    kubeconfig: Path
    directory: Path  # <home>/<name>
    pid: int  # the process serving the cluster (this one)
    started: str  # RFC 3339, UTC
    store_replicas: int = 3
    owns_ray: bool = False  # up() started Ray, so down() shuts it down
    nodes: int = 0
    time_scale: float = 1.0
    dns: str = ""  # the cluster DNS for clients on this host, "127.0.0.1:10053"
    dns_metrics: str = ""  # its Prometheus endpoint, http://127.0.0.1:<port>/metrics
    dns_handle: Any = field(default=None, repr=False, compare=False)
    apiserver_handles: list = field(default_factory=list, repr=False, compare=False)
    component_handles: list = field(default_factory=list, repr=False, compare=False)

    def record(self) -> dict:
        """What `cluster.json` holds."""
        return {"name": self.name, "pid": self.pid, "server": self.server,
                "token": self.token, "kubeconfig": str(self.kubeconfig),
                "started": self.started, "storeReplicas": self.store_replicas,
                "nodes": self.nodes, "timeScale": self.time_scale, "dns": self.dns,
                "dnsMetrics": self.dns_metrics}

    @property
    def access(self) -> ApiAccess:
        return ApiAccess(server=self.server, token=self.token, ca_pem=self.ca_pem)


async def up(*, name: str = "kubemu", store_replicas: int = 3, apiservers: int = 1,
             host: str = "127.0.0.1", api_port: int = 6443,
             data_dir: str | os.PathLike | None = None, home: str | os.PathLike | None = None,
             ray_address: str | None = None, ready_timeout: float = READY_TIMEOUT,
             nodes: int = 3, zones: int = 3, node_cpu: str = "4", node_memory: str = "8Gi",
             max_pods: int = 110, time_scale: float = 1.0, control_plane: bool = True,
             nodes_per_actor: int = 1, schedulers: int = 1,
             controller_managers: int = 1, dns_port: int = DEFAULT_DNS_PORT) -> ClusterInfo:
    """Start cluster `name` -- store, API servers, the cluster DNS (on `dns_port`, 0: an
    ephemeral port), `controller_managers` controller managers
    and `schedulers` schedulers (leader-elected: one leads, the others stand by) and `nodes`
    emulated nodes over `zones` zones -- and return once the API answers /readyz and every
    node has registered. `control_plane=False` starts only the store and API servers."""
    if store_replicas < 1 or apiservers < 1:
        raise BootstrapError("a cluster needs at least one store replica and one API server")
    if schedulers < 1 or controller_managers < 1:
        raise BootstrapError("--schedulers and --controller-managers must be >= 1")
    if nodes < 0 or zones < 1 or time_scale <= 0 or nodes_per_actor < 1:
        raise BootstrapError("--nodes must be >= 0, --zones and --nodes-per-actor >= 1 "
                             "and --time-scale > 0")
    if nodes and not control_plane:
        raise BootstrapError("nodes need the control plane (scheduler, controllers)")
    if (live := running_cluster(name, home=home)) is not None:
        raise BootstrapError(f"cluster {name!r} is already running (pid {live['pid']}): "
                             f"run `kubemu down --name {name}` first")
    if port_in_use(host, api_port):
        raise BootstrapError(f"port {api_port} is in use: pass --api-port")
    if not 0 <= dns_port < 65536:
        raise BootstrapError("--dns-port must be between 0 and 65535")
    if dns_port and (port_in_use(host, dns_port) or _udp_port_in_use(host, dns_port)):
        raise BootstrapError(f"port {dns_port} is in use: pass --dns-port (0: any free port)")
    directory = cluster_dir(name, home=home)
    directory.mkdir(parents=True, exist_ok=True)
    store_dir = Path(data_dir) if data_dir is not None else directory / "store"
    store_dir.mkdir(parents=True, exist_ok=True)
    certs = make_serving_certs(cluster=name, hosts=[] if host in _WILDCARD else [host])
    owns_ray = not ray.is_initialized()
    if owns_ray:
        init_local(namespace=namespace(name),
                   **({"address": ray_address} if ray_address else {}))
    info = ClusterInfo(name=name, server=server_url(host, api_port),
                       token=secrets.token_urlsafe(32), ca_pem=certs.ca_pem,
                       kubeconfig=kubeconfig_path(name, home=home), directory=directory,
                       pid=os.getpid(), started=_now(), store_replicas=store_replicas,
                       owns_ray=owns_ray, nodes=nodes, time_scale=time_scale)
    try:
        await start_store(cluster=name, replicas=store_replicas, data_dir=str(store_dir))
        info.apiserver_handles = await start_apiservers(
            cluster=name, store_replicas=store_replicas, count=apiservers, host=host,
            port=api_port, token=info.token, certs=certs, finalize_namespaces=not control_plane)
        await wait_ready(info.server, ca_pem=info.ca_pem, timeout=ready_timeout)
        info.dns_handle, served = await start_dns(cluster=name, access=info.access, host=host,
                                                  port=dns_port, time_scale=time_scale)
        info.dns, info.dns_metrics = served["address"], served["metrics"]
        if control_plane:
            await _start_control_plane(info, nodes=node_configs(
                nodes, zones=zones, cpu=node_cpu, memory=node_memory, max_pods=max_pods),
                nodes_per_actor=nodes_per_actor, schedulers=schedulers,
                controller_managers=controller_managers)
        write_kubeconfig(info.kubeconfig, name, server=info.server, token=info.token,
                         ca_pem=info.ca_pem)
        write_private(cluster_record_path(name, home=home),
                      json.dumps(info.record(), indent=2) + "\n")
    except BaseException:
        await down(info)
        raise
    return info


async def down(info: ClusterInfo) -> None:
    """Stop the components, the DNS, the API servers and the store of `info`, remove its
    files; keep the data."""
    try:
        await stop_components(info.component_handles)
        await stop_dns(info.dns_handle)
        await stop_apiservers(info.apiserver_handles)
        stop_store(cluster=info.name, replicas=info.store_replicas)
    finally:
        info.apiserver_handles = []
        info.component_handles = []
        info.dns_handle = None
        _remove_files(info)
        if info.owns_ray and ray.is_initialized():
            ray.shutdown()


async def wait_ready(server: str, *, ca_pem: bytes | None = None,
                     timeout: float = READY_TIMEOUT) -> None:
    """Poll `<server>/readyz` (verified against `ca_pem` over https) until it answers 200;
    TimeoutError after `timeout` seconds."""
    ssl_option = {"ssl": client_ssl_context(ca_pem)} if ca_pem else {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer"
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            try:
                async with session.get(f"{server}/readyz", **ssl_option,
                                       timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    if resp.status == 200:
                        return
                    last = f"{resp.status} {(await resp.text()).strip()}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the API server at {server} was not ready within {timeout:.0f}s "
                       f"(last answer: {last})")


def zone_name(index: int) -> str:
    """zone-a, zone-b, ... zone-z, zone-aa, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"zone-{letters}"


def node_configs(count: int, *, zones: int = 1, cpu: str = "4", memory: str = "8Gi",
                 max_pods: int = 110) -> list[dict]:
    """`count` NodeConfig dicts: node-1..node-N round-robin over `zones` zones, each with
    its own loopback InternalIP 127.1.x.y."""
    out = []
    for i in range(1, count + 1):
        high, low = divmod(i - 1, 254)
        out.append({"name": f"node-{i}", "zone": zone_name((i - 1) % zones),
                    "region": "region-1", "cpu": cpu, "memory": memory, "max_pods": max_pods,
                    "address": f"127.1.{high}.{low + 1}"})
    return out


async def _start_control_plane(info: ClusterInfo, *, nodes: list[dict],
                               nodes_per_actor: int = 1, schedulers: int = 1,
                               controller_managers: int = 1) -> None:
    """The addons (the kube-dns Service), the controller managers, the schedulers (controller-manager-1..N, scheduler-1..N,
    each leader-elected under its actor name), then the nodes (one actor each, or pools of
    `nodes_per_actor`); wait until every node registered."""
    access, scale = info.access, info.time_scale
    client = access.client(user_agent="kubemu-bootstrap")
    try:
        await ensure_addons(client)
    finally:
        await client.close()
    starts = [start_component(cluster=info.name, kind=kind, name=f"{kind}-{i}",
                              access=access, time_scale=scale,
                              options={"identity": f"{kind}-{i}"}, seed=1000 * i + offset)
              for kind, count, offset in (("controller-manager", controller_managers, 1),
                                          ("scheduler", schedulers, 2))
              for i in range(1, count + 1)]
    if nodes_per_actor == 1:
        starts += [start_component(cluster=info.name, kind="node",
                                   name=node_actor_name(cfg["name"]), access=access,
                                   time_scale=scale, options={"node": cfg}, seed=i)
                   for i, cfg in enumerate(nodes)]
    else:
        pools = [nodes[i:i + nodes_per_actor] for i in range(0, len(nodes), nodes_per_actor)]
        starts += [start_component(cluster=info.name, kind="node-pool",
                                   name=f"node-pool-{i + 1}", access=access,
                                   time_scale=scale, options={"nodes": pool}, seed=i)
                   for i, pool in enumerate(pools)]
    results = await asyncio.gather(*starts, return_exceptions=True)
    info.component_handles = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        raise BootstrapError(f"a cluster component failed to start: {failed[0]}")
    if nodes:
        await _wait_nodes_registered(access, len(nodes))


async def _wait_nodes_registered(access: ApiAccess, count: int,
                                 timeout: float = READY_TIMEOUT) -> None:
    client = access.client(user_agent="kubemu-bootstrap")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            listed = await client.list("v1", "Node")
            if len(listed.get("items") or ()) >= count:
                return
            if loop.time() > deadline:
                raise BootstrapError(f"only {len(listed.get('items') or ())} of {count} "
                                     f"nodes registered within {timeout:.0f}s")
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether binding host:port fails because something listens there already."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise BootstrapError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return False


def _udp_port_in_use(host: str, port: int) -> bool:
    """Whether a UDP socket is bound to host:port already."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise BootstrapError(f"cannot listen on {host}:{port}/udp: {exc.strerror}") from exc
    return False


def server_url(host: str, port: int) -> str:
    """The https URL a client on this machine uses for an API server bound to host:port."""
    if host in _WILDCARD:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port}"


def _remove_files(info: ClusterInfo) -> None:
    record = cluster_record_path(info.name, home=info.directory.parent)
    for path in (record, info.kubeconfig):
        if path == record and _record_pid(path) not in (None, info.pid):
            continue  # another process's cluster.json: not ours to remove
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _record_pid(path: Path) -> Any:
    try:
        return json.loads(path.read_text()).get("pid")
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
