"""`kubemu up`, `status`, `down` and `kubeconfig`: a cluster's lifecycle on the command line.

`up` takes flags, or a cluster file (`-f`, actors/cluster_file.py) whose settings the flags
given on the command line override: a scalar flag replaces the file's value, `--nodes N`
replaces its node groups with N uniform nodes, `--node-cpu/--node-memory/--max-pods` replace
every group's value. It draws each start step as it happens (cli_progress.py) and ends with a
summary. In the foreground it serves until SIGINT or SIGTERM (`down` from another shell sends
the latter) and then stops everything; with `--detach` it returns once the cluster is up and
leaves it running on Ray (bootstrap.py, ray_head.py). `status` and `down` find either kind
through `cluster.json` (actors/cluster_ctl.py); `down --purge` also deletes the cluster's
directory, store data included. Errors are one line, exit 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import click
from click.core import ParameterSource

__all__ = ["up", "down", "status", "kubeconfig"]

_NAME_HELP = "Cluster name (its files live in $KUBEMU_HOME/<name>, default ~/.kubemu)."
# cluster-file setting -> `up` parameter (both python names)
_FILE_SETTINGS = ("name", "store_replicas", "apiservers", "schedulers", "controller_managers",
                  "time_scale", "api_port", "dns_port", "zones", "nodes_per_actor",
                  "zone_per_host")


@click.command()
@click.option("-f", "--file", "cluster_file", type=click.Path(dir_okay=False), default=None,
              help="Cluster file (docs/cluster-file.md); flags given here override it.")
@click.option("--name", default="kubemu", show_default=True, help=_NAME_HELP)
@click.option("--store-replicas", type=click.Choice(["3", "5"]), default="3",
              show_default=True, help="Store replicas (Raft members).")
@click.option("--apiservers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="API-server replicas sharing the port.")
@click.option("--api-port", type=click.IntRange(1, 65535), default=6443, show_default=True,
              help="Port of the Kubernetes API.")
@click.option("--dns-port", type=click.IntRange(0, 65535), default=10053, show_default=True,
              help="Host port of the cluster DNS, UDP and TCP (0: any free port).")
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address the API server and the cluster DNS listen on.")
@click.option("--address", default=None,
              help="Ray cluster to join (e.g. auto); default: start a local Ray.")
@click.option("--nodes", type=click.IntRange(0, 1000), default=3, show_default=True,
              help="Emulated nodes (replaces a cluster file's nodeGroups).")
@click.option("--zones", type=click.IntRange(1, 26), default=3, show_default=True,
              help="Zones the nodes are spread over (zone-a, zone-b, ...).")
@click.option("--zone-per-host", is_flag=True, default=False,
              help="Place zone i on Ray node i (mod hosts): a zone is a real host.")
@click.option("--node-cpu", default="4", show_default=True, help="CPU capacity of each node.")
@click.option("--node-memory", default="8Gi", show_default=True,
              help="Memory capacity of each node.")
@click.option("--max-pods", type=click.IntRange(1, 10_000), default=110, show_default=True,
              help="Pod capacity of each node.")
@click.option("--nodes-per-actor", type=click.IntRange(1, 1000), default=None,
              help="Emulated nodes hosted by one actor (node pools). Default: one actor per "
                   "node up to 20 nodes, then pools of at most 100, at least two per host.")
@click.option("--schedulers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Scheduler replicas (leader-elected: one schedules, the others stand by).")
@click.option("--controller-managers", type=click.IntRange(1, 16), default=1,
              show_default=True,
              help="Controller-manager replicas (leader-elected, like the schedulers).")
@click.option("--time-scale", type=click.FloatRange(min=0.001), default=1.0,
              show_default=True,
              help="Run Kubernetes durations (leases, backoffs, grace periods) this many "
                   "times faster.")
@click.option("--detach", is_flag=True, default=False,
              help="Return once the cluster is up and leave it running (stop it with "
                   "`kubemu down`).")
@click.pass_context
def up(ctx: click.Context, cluster_file: str | None, **flags: Any) -> None:
    """Start a cluster; serve it in the foreground until Ctrl-C or `kubemu down`, or with
    --detach leave it running."""
    from kubemu.actors.bootstrap import BootstrapError
    from kubemu.actors.cli import _debug, _fail

    options = _options(ctx, cluster_file, flags)
    try:
        asyncio.run(_up(options))
    except BootstrapError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a component failed to start: say which, briefly
        if _debug():
            raise
        cause = getattr(exc, "cause", None) or exc  # a Ray task error wraps the actor's
        text = str(cause).strip().splitlines()
        _fail(f"the cluster did not start: {type(cause).__name__}: {text[0] if text else ''}")


@click.command()
@click.option("--name", default="kubemu", show_default=True, help=_NAME_HELP)
@click.option("-o", "--output", type=click.Choice(["json"]), default=None,
              help="Print the status as JSON.")
def status(name: str, output: str | None) -> None:
    """Show a running cluster: API, DNS, nodes Ready, and each actor's state."""
    from kubemu.actors.cli import _debug, _fail
    from kubemu.actors.cli_progress import print_status
    from kubemu.actors.kubeconfig import running_cluster

    record = running_cluster(name)
    if record is None:
        _fail(f'no cluster named "{name}" is running')
    try:
        report = _status(name, record)
    except Exception as exc:  # noqa: BLE001 - the edge: one line
        if _debug():
            raise
        _fail(f'cannot read the status of cluster "{name}": '
              f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0]}")
    if output == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        print_status(report)


@click.command()
@click.option("--name", default="kubemu", show_default=True, help=_NAME_HELP)
@click.option("--purge", is_flag=True, help="Also delete the cluster's files and store data.")
@click.option("--timeout", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds to wait for the cluster to stop.")
def down(name: str, purge: bool, timeout: float) -> None:
    """Stop the cluster `kubemu up` started (in the foreground elsewhere, or detached)."""
    from kubemu.actors.cli import _fail, console
    from kubemu.actors.cluster_ctl import purge as purge_dir
    from kubemu.actors.kubeconfig import (
        pid_alive,
        read_cluster_record,
        remove_cluster_files,
    )

    record = read_cluster_record(name)
    pid = int((record or {}).get("pid") or 0)
    if record is None or not pid_alive(pid):
        if record is not None:
            remove_cluster_files(name)
        removed = purge_dir(name) if purge else None
        if removed is not None:
            console.print(f'cluster "{name}" was not running; removed {removed}')
            return
        if record is None:
            _fail(f'no cluster named "{name}" is running')
        _fail(f'no cluster named "{name}" is running (removed the files its process {pid} '
              f"left behind)")
    if record.get("detached"):
        _stop_detached(name, record)
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            _fail(f'cluster "{name}" (pid {pid}) did not stop within {timeout:g}s')
    removed = purge_dir(name) if purge else None
    console.print(f'cluster "{name}" stopped' + (f"; removed {removed}" if removed else ""))


@click.command()
@click.option("--name", default="kubemu", show_default=True, help=_NAME_HELP)
def kubeconfig(name: str) -> None:
    """Print the path of a running cluster's kubeconfig."""
    from kubemu.actors.cli import _fail
    from kubemu.actors.kubeconfig import kubeconfig_path

    path = kubeconfig_path(name)
    if not path.is_file():
        _fail(f'no cluster named "{name}" is up (no {path})')
    click.echo(str(path))


# ---- helpers -----------------------------------------------------------------------------

def _options(ctx: click.Context, cluster_file: str | None, flags: dict) -> dict:
    """bootstrap.up's keyword arguments: defaults, then the file, then the command line."""
    from kubemu.actors.cli import _fail
    from kubemu.actors.cluster_file import (
        ClusterFileError,
        group_node_configs,
        load_cluster_file,
    )
    from kubemu.cluster.api.quantity import parse_quantity

    given = {k for k in flags if ctx.get_parameter_source(k) in (
        ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    for flag, key in (("--node-cpu", "node_cpu"), ("--node-memory", "node_memory")):
        try:
            parse_quantity(flags[key])
        except (ValueError, ArithmeticError):
            _fail(f"{flag}: {flags[key]!r} is not a quantity (e.g. 4, 500m, 8Gi)")
    options = dict(flags)
    options["store_replicas"] = int(options["store_replicas"])
    node_list = None
    if cluster_file is not None:
        try:
            spec = load_cluster_file(cluster_file)
        except ClusterFileError as exc:
            _fail(f"{cluster_file}: {exc}" if not str(exc).startswith(cluster_file)
                  else str(exc))
        options.update({k: v for k, v in spec.settings().items() if k not in given})
        if spec.node_groups is not None and "nodes" not in given:
            node_list = group_node_configs(spec.node_groups, zones=options["zones"],
                                           cpu=options["node_cpu"],
                                           memory=options["node_memory"],
                                           max_pods=options["max_pods"])
            for key, field in (("node_cpu", "cpu"), ("node_memory", "memory"),
                               ("max_pods", "max_pods")):
                if key in given:
                    node_list = [{**n, field: options[key]} for n in node_list]
    options["host"] = options.pop("bind")
    options["ray_address"] = options.pop("address")
    options["node_list"] = node_list
    options["wait_nodes_ready"] = True
    return options


async def _up(options: dict) -> None:
    from kubemu.actors import bootstrap
    from kubemu.actors.cli import console
    from kubemu.actors.cli_progress import StartProgress, print_summary

    with StartProgress(console, detach=options["detach"]) as progress:
        info = await bootstrap.up(progress=progress, **options)
    print_summary(info)
    if info.detached:
        bootstrap.disconnect(info)
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # after Ray's init, which sets its own
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        console.print("stopping ...")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await bootstrap.down(info)
    console.print(f'cluster "{info.name}" stopped')


def _status(name: str, record: dict) -> dict:
    """The status report of a running cluster: its record's addresses, the API's readiness
    and Nodes, and each actor's state from Ray."""
    import ray
    from kubemu.actors.cluster_ctl import actor_states, join

    api = asyncio.run(_api_status(name))
    joined = join(record)
    try:
        actors = actor_states(name, record.get("actors") or [])
        hosts = sum(1 for n in ray.nodes() if n.get("Alive"))
    finally:
        if joined:
            ray.shutdown()
    return {"name": name, "pid": record.get("pid"), "detached": bool(record.get("detached")),
            "server": record.get("server"), "kubeconfig": record.get("kubeconfig"),
            "dns": record.get("dns"), "rayAddress": record.get("rayAddress"),
            "hosts": hosts, "started": record.get("started"), **api, "actors": actors}


async def _api_status(name: str) -> dict:
    from kubemu.actors.bootstrap_nodes import node_ready
    from kubemu.actors.cli import _open_client

    try:
        async with _open_client(name, None) as client:
            items = (await asyncio.wait_for(client.list("v1", "Node"), 10)).get("items") or []
    except Exception as exc:  # noqa: BLE001 - an unreachable API is part of the status
        return {"apiReady": False, "apiError": (str(exc).strip().splitlines()
                                                or [type(exc).__name__])[0],
                "nodes": 0, "nodesReady": 0}
    return {"apiReady": True, "nodes": len(items), "nodesReady": sum(map(node_ready, items))}


def _stop_detached(name: str, record: dict) -> None:
    from kubemu.actors.cli import _fail
    from kubemu.actors.cluster_ctl import join, stop_detached

    try:
        join(record)
    except Exception as exc:  # noqa: BLE001 - the edge: one line
        _fail(f'cannot join the Ray of cluster "{name}": '
              f"{(str(exc).strip().splitlines() or [type(exc).__name__])[0]}")
    asyncio.run(stop_detached(record))
