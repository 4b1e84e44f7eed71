"""The `kubemu` command line: click commands, rich output, one-line errors.

Every command maps failures to a one-line message and a non-zero exit code; `--debug` shows
the traceback instead. `up` runs a cluster in the foreground until SIGINT or SIGTERM (which is
how `down`, from another shell, stops it: the pid is in the cluster's `cluster.json`);
`apply`, `get` and `delete` find the cluster through its kubeconfig (by `--name` under
`$KUBEMU_HOME`, or `--kubeconfig`) and print as kubectl does, their bodies living in
cli_objects.py. Nothing here holds cluster logic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

console = Console()


class _Group(click.Group):
    """Turns any uncaught exception into one line (tracebacks only with --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the edge where errors become one line
            if ctx.obj and ctx.obj.get("debug"):
                raise
            console.print(f"[red]error:[/red] {type(exc).__name__}: {exc}")
            sys.exit(1)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """kubemu: a Kubernetes cluster emulator on Ray."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING)


@main.command()
@click.option("--replicas", type=click.IntRange(1, 7), default=3, show_default=True,
              help="Store replicas (Raft members).")
@click.option("--writes", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Writes to make before and after the leader is killed.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where replicas keep their WAL and snapshots (default: a temp dir).")
def demo(replicas: int, writes: int, data_dir: str | None) -> None:
    """Start a local cluster, create objects through the API, kill the store leader, verify."""
    from kubemu.actors.demo import run_store_demo

    with tempfile.TemporaryDirectory(prefix="kubemu-demo-") as tmp:
        ok = asyncio.run(run_store_demo(console, replicas=replicas, writes=writes,
                                        data_dir=data_dir or tmp))
    sys.exit(0 if ok else 1)


# ---- cluster lifecycle ----------------------------------------------------------------------

_NAME_HELP = "Cluster name (its files live in $KUBEMU_HOME/<name>, default ~/.kubemu)."


@main.command()
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
              help="Emulated nodes (one actor each).")
@click.option("--zones", type=click.IntRange(1, 26), default=3, show_default=True,
              help="Zones the nodes are spread over (zone-a, zone-b, ...).")
@click.option("--node-cpu", default="4", show_default=True, help="CPU capacity of each node.")
@click.option("--node-memory", default="8Gi", show_default=True,
              help="Memory capacity of each node.")
@click.option("--max-pods", type=click.IntRange(1, 10_000), default=110, show_default=True,
              help="Pod capacity of each node.")
@click.option("--nodes-per-actor", type=click.IntRange(1, 1000), default=1,
              show_default=True, help="Emulated nodes hosted by one actor (node pools).")
@click.option("--schedulers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Scheduler replicas (leader-elected: one schedules, the others stand by).")
@click.option("--controller-managers", type=click.IntRange(1, 16), default=1,
              show_default=True,
              help="Controller-manager replicas (leader-elected, like the schedulers).")
@click.option("--time-scale", type=click.FloatRange(min=0.001), default=1.0,
              show_default=True,
              help="Run Kubernetes durations (leases, backoffs, grace periods) this many "
                   "times faster.")
def up(name: str, store_replicas: str, apiservers: int, api_port: int, dns_port: int,
       bind: str, address: str | None, nodes: int, zones: int, node_cpu: str, node_memory: str,
       max_pods: int, nodes_per_actor: int, schedulers: int, controller_managers: int,
       time_scale: float) -> None:
    """Start a cluster and serve it in the foreground until Ctrl-C or `kubemu down`."""
    from kubemu.actors.bootstrap import BootstrapError
    from kubemu.cluster.api.quantity import parse_quantity

    for flag, value in (("--node-cpu", node_cpu), ("--node-memory", node_memory)):
        try:
            parse_quantity(value)
        except (ValueError, ArithmeticError):
            _fail(f"{flag}: {value!r} is not a quantity (e.g. 4, 500m, 8Gi)")
    try:
        asyncio.run(_serve(name=name, store_replicas=int(store_replicas),
                           apiservers=apiservers, host=bind, api_port=api_port,
                           dns_port=dns_port,
                           ray_address=address, nodes=nodes, zones=zones, node_cpu=node_cpu,
                           node_memory=node_memory, max_pods=max_pods,
                           nodes_per_actor=nodes_per_actor, schedulers=schedulers,
                           controller_managers=controller_managers, time_scale=time_scale))
    except BootstrapError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a component failed to start: say which, briefly
        if _debug():
            raise
        cause = getattr(exc, "cause", None) or exc  # a Ray task error wraps the actor's
        text = str(cause).strip().splitlines()
        _fail(f"the cluster did not start: {type(cause).__name__}: {text[0] if text else ''}")


@main.command()
@click.option("--name", default="kubemu", show_default=True, help=_NAME_HELP)
@click.option("--timeout", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Seconds to wait for the cluster's process to exit.")
def down(name: str, timeout: float) -> None:
    """Stop the cluster `kubemu up` serves (in another shell)."""
    from kubemu.actors.kubeconfig import pid_alive, read_cluster_record, remove_cluster_files

    record = read_cluster_record(name)
    if record is None:
        _fail(f'no cluster named "{name}" is running')
    pid = int(record.get("pid") or 0)
    if not pid_alive(pid):
        remove_cluster_files(name)
        _fail(f'no cluster named "{name}" is running (removed the files its process {pid} '
              f"left behind)")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        _fail(f'cluster "{name}" (pid {pid}) did not stop within {timeout:g}s')
    console.print(f'cluster "{name}" stopped')


@main.command()
@click.option("--name", default="kubemu", show_default=True, help=_NAME_HELP)
def kubeconfig(name: str) -> None:
    """Print the path of a running cluster's kubeconfig."""
    from kubemu.actors.kubeconfig import kubeconfig_path

    path = kubeconfig_path(name)
    if not path.is_file():
        _fail(f'no cluster named "{name}" is up (no {path})')
    click.echo(str(path))


async def _serve(**options: Any) -> None:
    from kubemu.actors import bootstrap

    info = await bootstrap.up(**options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # after Ray's init, which sets its own
        loop.add_signal_handler(sig, stop.set)
    try:
        _print_up(info)
        await stop.wait()
        console.print("stopping ...")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await bootstrap.down(info)
    console.print(f'cluster "{info.name}" stopped')


def _print_up(info: Any) -> None:
    """The summary: plain aligned lines, never wrapped or cut (paths must stay copyable)."""
    stop = "kubemu down" + ("" if info.name == "kubemu" else f" --name {info.name}")
    console.print(f'[green]cluster "{info.name}" is up[/green] (pid {info.pid})')
    nodes = f"{info.nodes}" + (f" (time scale {info.time_scale:g}x)"
                                if info.time_scale != 1 else "")
    dns_host, _, dns_port = info.dns.rpartition(":")
    dns = f"{info.dns}   (dig @{dns_host.strip('[]')} -p {dns_port} " \
          f"kubernetes.default.svc.cluster.local)"
    for label, value in (("API server", info.server), ("DNS", dns),
                         ("DNS metrics", info.dns_metrics), ("nodes", nodes),
                         ("kubeconfig", str(info.kubeconfig)),
                         ("use it", f"export KUBECONFIG={info.kubeconfig}"),
                         ("stop it", f"{stop}   (or Ctrl-C here)")):
        console.print(f"  [bold]{label:<12}[/bold]", end="")
        console.print(value, markup=False, highlight=False, soft_wrap=True)
    console.file.flush()


# ---- objects ----------------------------------------------------------------------------------

def _cluster_options(fn: Callable) -> Callable:
    fn = click.option("--kubeconfig", "kubeconfig_file", type=click.Path(dir_okay=False),
                      default=None, help="Use this kubeconfig instead of the cluster's.")(fn)
    return click.option("--name", default="kubemu", show_default=True,
                        help="Cluster whose kubeconfig to use.")(fn)


_NAMESPACE = click.option("-n", "--namespace", default=None,
                          help="Namespace (default: default).")
_FILES_HELP = "Manifest: YAML (several documents) or JSON, a directory, or - for stdin."


@main.command()
@click.option("-f", "--filename", "files", multiple=True, required=True, help=_FILES_HELP)
@_NAMESPACE
@_cluster_options
def apply(files: tuple[str, ...], namespace: str | None, name: str,
          kubeconfig_file: str | None) -> None:
    """Create or update the objects of manifests (kubectl apply -f)."""
    from kubemu.actors import cli_objects

    objects = _manifests(files)
    _run_objects(name, kubeconfig_file, lambda client: cli_objects.apply(
        client, objects, namespace=namespace, echo=click.echo))


@main.command()
@click.argument("kind")
@click.argument("names", nargs=-1)
@_NAMESPACE
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-l", "--selector", default=None, help="Label selector, e.g. app=web,tier!=db.")
@click.option("--field-selector", default=None, help="Field selector, e.g. status.phase=Running.")
@click.option("-o", "--output", type=click.Choice(["json", "yaml", "wide", "name"]),
              default=None, help="Output format (default: a table).")
@_cluster_options
def get(kind: str, names: tuple[str, ...], namespace: str | None,
        all_namespaces: bool, selector: str | None, field_selector: str | None,
        output: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Show objects of KIND (plural, singular, short name or kind.group), as kubectl get."""
    from kubemu.actors import cli_objects

    _run_objects(name, kubeconfig_file, lambda client: cli_objects.get(
        client, kind, names, namespace=namespace, all_namespaces=all_namespaces,
        selector=selector, field_selector=field_selector, output=output, echo=click.echo))


@main.command()
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", "files", multiple=True, help=_FILES_HELP)
@_NAMESPACE
@_cluster_options
def delete(args: tuple[str, ...], files: tuple[str, ...],
           namespace: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Delete KIND NAME..., KIND/NAME..., or the objects of manifests (-f)."""
    from kubemu.actors import cli_objects

    if not args and not files:
        _fail("you must provide one or more resources by argument or filename "
              "(kubemu delete KIND NAME... or -f FILE)")
    objects = _manifests(files) if files else []
    _run_objects(name, kubeconfig_file, lambda client: cli_objects.delete(
        client, args, objects=objects, namespace=namespace, echo=click.echo))


def _run_objects(name: str, kubeconfig_file: str | None,
                 body: Callable[[Any], Awaitable[int]]) -> None:
    """Run `body` with an API client of the cluster; every failure is one line, exit 1."""
    import aiohttp

    from kubemu.actors.cli_objects import CliError, error_line
    from kubemu.cluster.api.errors import ApiError

    async def go() -> int:
        async with _open_client(name, kubeconfig_file) as client:
            return await body(client)
    try:
        code = asyncio.run(go())
    except (CliError, ApiError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
        if _debug():
            raise
        click.echo(error_line(exc), err=True)
        code = 1
    sys.exit(code)


def _open_client(name: str, kubeconfig_file: str | None) -> Any:
    import yaml

    from kubemu.actors.cli_objects import CliError
    from kubemu.actors.http_transport import HttpTransport, load_kubeconfig
    from kubemu.actors.kubeconfig import kubeconfig_ca, kubeconfig_path
    from kubemu.cluster.client.client import ApiClient

    path = Path(kubeconfig_file) if kubeconfig_file else kubeconfig_path(name)
    if not path.is_file():
        if kubeconfig_file:
            raise CliError(f"stat {path}: no such file or directory")
        raise CliError(f'no cluster named "{name}" is up (no {path}): run `kubemu up`')
    try:
        server, token = load_kubeconfig(path)
        ca_pem = kubeconfig_ca(path)
    except (ValueError, KeyError, AttributeError, OSError, yaml.YAMLError) as exc:
        raise CliError(f"invalid kubeconfig {path}: {exc}") from exc
    if ca_pem is None:
        return ApiClient(HttpTransport(server, token=token), user_agent="kubemu-cli")
    with tempfile.NamedTemporaryFile(prefix="kubemu-ca-", suffix=".pem") as ca_file:
        ca_file.write(ca_pem)  # the transport reads it once, into its SSL context
        ca_file.flush()
        transport = HttpTransport(server, token=token, ca=ca_file.name)
    return ApiClient(transport, user_agent="kubemu-cli")


def _manifests(sources: tuple[str, ...]) -> list[dict]:
    """The objects of YAML (several documents) or JSON files, directories or `-` (stdin); the
    items of a `*List` document count as objects of their own. Bad input ends the command."""
    import orjson
    import yaml

    objects: list[dict] = []
    for source in sources:
        for label, text in _read_source(source):
            try:
                docs = ([orjson.loads(text)] if text.lstrip().startswith(("{", "["))
                        else list(yaml.safe_load_all(text)))
            except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
                _fail(f"error parsing {label}: {str(exc).strip().splitlines()[0]}")
            for doc in docs:
                objects.extend(_objects_of(doc, label))
    return objects


def _read_source(source: str) -> list[tuple[str, str]]:
    if source == "-":
        return [("STDIN", sys.stdin.read())]
    path = Path(source)
    if path.is_dir():
        return [(str(p), p.read_text()) for p in sorted(path.iterdir())
                if p.suffix in (".yaml", ".yml", ".json") and p.is_file()]
    if not path.is_file():
        _fail(f'the path "{source}" does not exist')
    return [(source, path.read_text())]


def _objects_of(doc: Any, label: str) -> list[dict]:
    if doc is None:
        return []
    if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
        _fail(f"error validating {label}: every object needs apiVersion and kind")
    if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
        return [obj for item in doc["items"] for obj in _objects_of(item, label)]
    return [doc]


def _debug() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().obj and ctx.find_root().obj.get("debug"))


def _fail(message: str) -> None:
    """Print `error: <message>` on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


from kubemu.actors.cli_net import net  # the `net` group lives in its module
main.add_command(net)
from kubemu.actors.cli_chaos import chaos  # the `chaos` group lives in its module
main.add_command(chaos)

if __name__ == "__main__":
    main()
