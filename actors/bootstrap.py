"""Bootstrap: start and stop one cluster (store, API servers, DNS, control plane, nodes) on Ray.

`up` checks everything it can before starting anything (the API and DNS ports are free,
no live process already runs a cluster of that name), then connects to Ray if this process is
not connected (actors/ray_head.py), places the store replicas on distinct Ray nodes when there
are enough (actors/placement.py; data under `<home>/<name>/store` unless `data_dir`), starts
the API servers over HTTPS (a fresh CA and serving certificate per start, from certs.py:
kubectl sends its token only over TLS) with a fresh random bearer token. Once `GET /readyz`
answers 200 it starts the cluster DNS actor (actors/dns.py: UDP and TCP on `dns_port`, default
10053, 0 for an ephemeral port), then the control plane and the nodes (bootstrap_nodes.py),
each step told to `progress`. Only then does it write the kubeconfig (token and CA inline) and
`cluster.json` (below), so a client that finds the kubeconfig may use the API at once. A
failure part way stops what was started and removes the files. `down` stops the nodes, the
DNS, the API servers and the store, removes both files (a stale kubeconfig only confuses), and
disconnects from Ray if `up` connected (which ends a local Ray `up` started).

Detached (`detach=True`, `kubemu up --detach`): this process connects with the job's actors
defaulting to Ray's detached lifetime, so every actor (and the store's placement group)
outlives it; without a Ray address the cluster gets a Ray head of its own that outlives it too
(ray_head.py). `disconnect` then leaves it running; `kubemu down` (actors/cluster_ctl.py)
finds it again from `cluster.json` and stops it, head included.

`cluster.json`: name, `pid`, server URL, token, start time, DNS address, Ray GCS address and
namespace, whether detached, and the Ray head's pid and temp dir when kubemu started one.
`pid` is the process whose life bounds the cluster's: `kubemu up` itself in the foreground,
the Ray head of a detached cluster (the raylet's parent, so `net.join_ray(pid=...)` finds its
Ray), or this machine's raylet when a detached cluster runs on someone else's Ray.

Invariants: `cluster.json` exists exactly while the cluster runs (a crash may leave it behind:
its pid is then dead, which `running_cluster` checks); the store's data survives `down`, so the
next `up` of the same name finds its objects again.
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
from kubemu.actors import placement
from kubemu.actors.access import ApiAccess
from kubemu.actors.apiserver import start_apiservers, stop_apiservers
from kubemu.actors.bootstrap_nodes import Progress, no_progress, start_control_plane
from kubemu.actors.bootstrap_nodes import wait_nodes_ready as wait_nodes_ready_
from kubemu.actors.certs import client_ssl_context, make_serving_certs
from kubemu.actors.cluster_ctl import cluster_actor_names
from kubemu.actors.cluster_file import NodeGroup, group_node_configs, zone_name
from kubemu.actors.components import stop_components
from kubemu.actors.dns import DEFAULT_DNS_PORT, start_dns, stop_dns
from kubemu.actors.kubeconfig import (
    cluster_dir,
    cluster_record_path,
    kubeconfig_path,
    running_cluster,
    write_kubeconfig,
    write_private,
)
from kubemu.actors.ray_head import HeadError, connect, stop_head
from kubemu.actors.runtime import namespace
from kubemu.actors.store_replica import start_store, stop_store

__all__ = ["ClusterInfo", "BootstrapError", "up", "down", "disconnect", "wait_ready",
           "port_in_use", "server_url", "node_configs", "zone_name", "Progress"]

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
    pid: int  # the process whose life bounds the cluster's (module docstring)
    started: str  # RFC 3339, UTC
    store_replicas: int = 3
    owns_ray: bool = False  # this process connected to Ray, so down() disconnects
    nodes: int = 0
    nodes_ready: int = 0  # Ready when up() returned (counted with wait_nodes_ready)
    hosts: int = 0  # alive Ray nodes the cluster was placed over
    detached: bool = False
    head_pid: int = 0  # the Ray head kubemu started for a detached cluster (ray_head.py)
    ray_temp_dir: str = ""  # that head's temp dir
    ray_address: str = ""  # the GCS address of the cluster's Ray
    actors: list = field(default_factory=list)  # the names of the actors up() started
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
                "dnsMetrics": self.dns_metrics, "detached": self.detached,
                "rayAddress": self.ray_address, "rayNamespace": namespace(self.name),
                "rayHeadPid": self.head_pid, "rayTempDir": self.ray_temp_dir,
                "hosts": self.hosts, "actors": self.actors}

    @property
    def access(self) -> ApiAccess:
        return ApiAccess(server=self.server, token=self.token, ca_pem=self.ca_pem)


async def up(*, name: str = "kubemu", store_replicas: int = 3, apiservers: int = 1,
             host: str = "127.0.0.1", api_port: int = 6443,
             data_dir: str | os.PathLike | None = None, home: str | os.PathLike | None = None,
             ray_address: str | None = None, ready_timeout: float = READY_TIMEOUT,
             nodes: int = 3, zones: int = 3, node_cpu: str = "4", node_memory: str = "8Gi",
             max_pods: int = 110, time_scale: float = 1.0, control_plane: bool = True,
             nodes_per_actor: int | None = None, schedulers: int = 1,
             controller_managers: int = 1, dns_port: int = DEFAULT_DNS_PORT,
             node_list: list[dict] | None = None, zone_per_host: bool = False,
             detach: bool = False, wait_nodes_ready: bool = False,
             progress: Progress = no_progress) -> ClusterInfo:
    """Start cluster `name` -- store, API servers, the cluster DNS (on `dns_port`, 0: an
    ephemeral port), `controller_managers` controller managers
    and `schedulers` schedulers (leader-elected: one leads, the others stand by) and `nodes`
    emulated nodes over `zones` zones (or the NodeConfig dicts of `node_list`, e.g. from a
    cluster file) -- and return once the API answers /readyz and every node has registered
    (and, with `wait_nodes_ready`, posted Ready or `ready_timeout` passed). Placement over
    the Ray nodes: actors/placement.py (`zone_per_host`: zone i on Ray node i). `detach`:
    the actors and the store's placement group outlive this process (Ray's detached
    lifetime; without `ray_address` on a Ray head of its own: actors/ray_head.py); the
    caller then only disconnects (`disconnect`). `control_plane=False` starts only the store
    and API servers. `progress(step, done, total)` hears each step."""
    if node_list is None:
        node_list = node_configs(nodes, zones=zones, cpu=node_cpu, memory=node_memory,
                                 max_pods=max_pods)
    _check(name, home=home, store_replicas=store_replicas, apiservers=apiservers,
           schedulers=schedulers, controller_managers=controller_managers, zones=zones,
           time_scale=time_scale, nodes_per_actor=nodes_per_actor, nodes=node_list,
           control_plane=control_plane, host=host, api_port=api_port, dns_port=dns_port)
    owns_ray = not ray.is_initialized()
    if detach and not owns_ray:
        raise BootstrapError("--detach needs a Ray connection of its own, and this process "
                             "is connected to Ray already")
    directory = cluster_dir(name, home=home)
    directory.mkdir(parents=True, exist_ok=True)
    store_dir = Path(data_dir) if data_dir is not None else directory / "store"
    store_dir.mkdir(parents=True, exist_ok=True)
    certs = make_serving_certs(cluster=name, hosts=[] if host in _WILDCARD else [host])
    info = ClusterInfo(name=name, server=server_url(host, api_port),
                       token=secrets.token_urlsafe(32), ca_pem=certs.ca_pem,
                       kubeconfig=kubeconfig_path(name, home=home), directory=directory,
                       pid=os.getpid(), started=_now(), store_replicas=store_replicas,
                       owns_ray=owns_ray, nodes=len(node_list), time_scale=time_scale,
                       detached=detach)
    try:
        if owns_ray:
            try:
                joined = await connect(info.name, address=ray_address, detached=detach,
                                       directory=directory, progress=progress)
            except HeadError as exc:
                raise BootstrapError(str(exc)) from None
            info.head_pid, info.ray_temp_dir = joined.head_pid, joined.temp_dir
            info.ray_address = joined.address
            if detach:
                info.pid = joined.pid
        else:
            info.ray_address = ray.get_runtime_context().gcs_address
        hosts = placement.alive_hosts()
        info.hosts = len(hosts)
        if nodes_per_actor is None:
            nodes_per_actor = placement.pool_size(len(node_list), len(hosts))
        progress("store", 0, store_replicas)
        where = placement.plan([h.node_id for h in hosts], store_replicas=store_replicas,
                               actor_zones=[])
        await start_store(cluster=name, replicas=store_replicas, data_dir=str(store_dir),
                          placement=await placement.store_group(
                              name, replicas=store_replicas, strategy=where.store,
                              detached=detach))
        progress("store", store_replicas, store_replicas)
        progress("API servers", 0, apiservers)
        # the API servers and the DNS bind `host`, an address of this machine: they run here
        here = {"scheduling_strategy": placement.node_strategy(
            ray.get_runtime_context().get_node_id())}
        info.apiserver_handles = await start_apiservers(
            cluster=name, store_replicas=store_replicas, count=apiservers, host=host,
            port=api_port, token=info.token, certs=certs, finalize_namespaces=not control_plane,
            ray_options=here)
        await wait_ready(info.server, ca_pem=info.ca_pem, timeout=ready_timeout)
        progress("API servers", apiservers, apiservers)
        progress("DNS", 0, 1)
        info.dns_handle, served = await start_dns(cluster=name, access=info.access, host=host,
                                                  port=dns_port, time_scale=time_scale,
                                                  ray_options=here)
        info.dns, info.dns_metrics = served["address"], served["metrics"]
        progress("DNS", 1, 1)
        if control_plane:
            await _start_control_plane(info, node_list, hosts=[h.node_id for h in hosts],
                                       nodes_per_actor=nodes_per_actor, schedulers=schedulers,
                                       controller_managers=controller_managers,
                                       zone_per_host=zone_per_host,
                                       timeout=max(ready_timeout, 0.15 * len(node_list)),
                                       control_host=ray.get_runtime_context().get_node_id(),
                                       progress=progress)
            if wait_nodes_ready and node_list:
                info.nodes_ready = await wait_nodes_ready_(
                    info.access, len(node_list),
                    timeout=max(ready_timeout, 0.15 * len(node_list)), progress=progress)
        info.actors = cluster_actor_names(name)
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
    files; keep the data. Disconnect from Ray if this process connected, and stop the Ray
    head if kubemu started one for the cluster."""
    try:
        if ray.is_initialized():
            await stop_components(info.component_handles)
            await stop_dns(info.dns_handle)
            await stop_apiservers(info.apiserver_handles)
            stop_store(cluster=info.name, replicas=info.store_replicas)
            placement.remove_store_group(info.name)
    finally:
        info.apiserver_handles = []
        info.component_handles = []
        info.dns_handle = None
        _remove_files(info)
        if info.owns_ray and ray.is_initialized():
            ray.shutdown()
        if info.head_pid:
            await asyncio.to_thread(stop_head, info.head_pid, temp_dir=info.ray_temp_dir)


def disconnect(info: ClusterInfo) -> None:
    """Leave a detached cluster running: drop this process's connection to Ray only."""
    info.apiserver_handles, info.component_handles, info.dns_handle = [], [], None
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


def node_configs(count: int, *, zones: int = 1, cpu: str = "4", memory: str = "8Gi",
                 max_pods: int = 110) -> list[dict]:
    """`count` NodeConfig dicts: node-1..node-N round-robin over `zones` zones, each with
    its own loopback InternalIP 127.1.x.y."""
    if count <= 0:
        return []
    return group_node_configs([NodeGroup(count=count)], zones=zones, cpu=cpu, memory=memory,
                              max_pods=max_pods)


async def _start_control_plane(info: ClusterInfo, nodes: list[dict], **options: Any) -> None:
    try:
        info.component_handles = await start_control_plane(
            cluster=info.name, access=info.access, time_scale=info.time_scale, nodes=nodes,
            **options)
    except BaseException as exc:
        info.component_handles = list(getattr(exc, "handles", ()))
        if isinstance(exc, TimeoutError):
            raise BootstrapError(str(exc) or "timed out starting the control plane and "
                                 "nodes") from None
        if isinstance(exc, Exception):
            raise BootstrapError(f"a cluster component failed to start: {exc}") from exc
        raise


def _check(name: str, *, home: Any, store_replicas: int, apiservers: int, schedulers: int,
           controller_managers: int, zones: int, time_scale: float,
           nodes_per_actor: int | None,
           nodes: list[dict], control_plane: bool, host: str, api_port: int,
           dns_port: int) -> None:
    """Everything checkable before anything starts; BootstrapError in one line."""
    if store_replicas < 1 or apiservers < 1:
        raise BootstrapError("a cluster needs at least one store replica and one API server")
    if schedulers < 1 or controller_managers < 1:
        raise BootstrapError("--schedulers and --controller-managers must be >= 1")
    if zones < 1 or time_scale <= 0 or (nodes_per_actor is not None and nodes_per_actor < 1):
        raise BootstrapError("--nodes must be >= 0, --zones and --nodes-per-actor >= 1 "
                             "and --time-scale > 0")
    names = [n["name"] for n in nodes]
    if len(set(names)) != len(names):
        raise BootstrapError(f"two nodes are named {next(n for n in names if names.count(n) > 1)}")
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
