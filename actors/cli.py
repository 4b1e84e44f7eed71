"""The `kubemu` command line: click commands, rich output, one-line errors.

Every command maps failures to a one-line message and a non-zero exit code; `--debug` shows
the traceback instead. `up`, `status`, `down` and `kubeconfig` live in cli_up.py (a cluster
in the foreground until SIGINT or SIGTERM, or detached); `apply`, `get` and `delete` find the
cluster through its kubeconfig (by `--name` under `$KUBEMU_HOME`, or `--kubeconfig`) and
print as kubectl does, their bodies living in cli_objects.py. Nothing here holds cluster logic.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
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
@click.option("--time-scale", type=click.FloatRange(min=1.0), default=20.0, show_default=True,
              help="How much faster Kubernetes time runs (node grace, eviction, leases).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Where the cluster's files live: kubeconfig, store WAL (default: a temp "
                   "dir, removed at the end).")
def demo(time_scale: float, data_dir: str | None) -> None:
    """Bring up 6 nodes in 3 zones on local Ray, deploy a web app and its Service, resolve it
    with the cluster DNS, send it traffic, kill a node and watch its pods move, tear down.

    Exits 0 when every step's check held, else 1 naming the step that failed."""
    from kubemu.actors.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="kubemu-demo-", ignore_cleanup_errors=True) as tmp:
        ok = asyncio.run(run_demo(console, time_scale=time_scale, home=data_dir or tmp,
                                  ray_dir=str(Path(tmp) / "ray")))
    sys.exit(0 if ok else 1)


# ---- cluster lifecycle: up, status, down, kubeconfig live in cli_up.py ---------------------

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
    from kubemu.actors.http_transport import HttpTransport
    from kubemu.actors.kubeconfig import kubeconfig_path
    from kubemu.cluster.client.client import ApiClient

    path = Path(kubeconfig_file) if kubeconfig_file else kubeconfig_path(name)
    if not path.is_file():
        if kubeconfig_file:
            raise CliError(f"stat {path}: no such file or directory")
        raise CliError(f'no cluster named "{name}" is up (no {path}): run `kubemu up`')
    try:
        transport = HttpTransport.from_kubeconfig(path)
    except (ValueError, KeyError, AttributeError, OSError, yaml.YAMLError) as exc:
        raise CliError(f"invalid kubeconfig {path}: {exc}") from exc
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


from kubemu.actors.cli_up import down, kubeconfig, status, up  # the lifecycle commands
for _command in (up, status, down, kubeconfig):
    main.add_command(_command)
from kubemu.actors.cli_net import net  # the `net` group lives in its module
main.add_command(net)
from kubemu.actors.cli_chaos import chaos  # the `chaos` group lives in its module
main.add_command(chaos)
from kubemu.actors.cli_load import load  # `kubemu load` lives in its module
main.add_command(load)

if __name__ == "__main__":
    main()
