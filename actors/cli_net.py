"""`kubemu net`: send traffic over the overlay (curl) and fault its links, from the shell.

The commands find the cluster as `kubemu get` does (`--name`, or `--kubeconfig`: the cluster
is the one whose `cluster.json` sits next to the kubeconfig, else the one its context names,
`kubemu-<name>`), join the cluster's Ray (`net.join_ray`) and drive `net.Overlay`. `curl`
prints the reply JSON, as curl prints a body (with `--count`, a table of who served);
failures are one line with curl's exit codes: 6 could not resolve host, 7 refused, 28 timed
out; anything else that stops a command (bad URL, unknown pod, no cluster) exits 1, and bad
option values are click usage errors (2).
"""

from __future__ import annotations

import collections
import json
import re
from typing import Any

import click

__all__ = ["Duration", "Fraction", "net"]

EXIT_RESOLVE, EXIT_REFUSED, EXIT_TIMEOUT = 6, 7, 28
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


class Duration(click.ParamType):
    """"50ms", "0.2s", "1m" (or "0") as seconds."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m)?\s*", str(value))
        if match and (match[2] or float(match[1]) == 0):
            return float(match[1]) * _UNITS[match[2] or "s"]
        self.fail(f"{value!r} is not a duration (e.g. 50ms, 0.2s)", param, ctx)


class Fraction(click.ParamType):
    """"5%" or "0.05" as a fraction in [0, 1]."""

    name = "fraction"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        text = str(value).strip()
        try:
            number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            number = -1.0
        if 0 <= number <= 1:
            return number
        self.fail(f"{value!r} is not a fraction (e.g. 5% or 0.05)", param, ctx)


def _cluster_options(fn: Any) -> Any:
    fn = click.option("--kubeconfig", "kubeconfig_file", type=click.Path(dir_okay=False),
                      default=None, help="Use this kubeconfig instead of the cluster's.")(fn)
    return click.option("--name", default="kubemu", show_default=True,
                        help="Cluster whose kubeconfig to use.")(fn)


def _pair(text: str | None, param: str) -> tuple[str, str] | None:
    if text is None:
        return None
    parts = tuple(p.strip() for p in text.split(","))
    if len(parts) != 2 or not all(parts):
        raise click.BadParameter(f"two names separated by a comma, not {text!r}",
                                 param_hint=param)
    return parts  # type: ignore[return-value]


@click.group()
def net() -> None:
    """Send traffic over the cluster's overlay network; partition, slow or drop its links."""


@net.command()
@click.argument("url")
@click.option("--from", "from_pod", default=None, help="Send from this pod (its node and IP).")
@click.option("-n", "--namespace", default="default", show_default=True,
              help="Namespace of --from and of Service names in URL.")
@click.option("--node", default=None, help="Send from this node (host traffic; default: "
                                           "the first Ready node).")
@click.option("--count", type=click.IntRange(1, 100_000), default=None,
              help="Send N requests and print who served them.")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Requests in flight at once with --count.")
@click.option("-d", "--data", default=None, help="Payload to send (tcp:// echoes it).")
@click.option("-m", "--max-time", type=click.FloatRange(min=0.001), default=10.0,
              show_default=True, help="Seconds before a request counts as timed out.")
@_cluster_options
def curl(url: str, from_pod: str | None, namespace: str, node: str | None,
         count: int | None, concurrency: int, data: str | None, max_time: float,
         name: str, kubeconfig_file: str | None) -> None:
    """Send a request to URL (http://HOST[:PORT]/ or tcp://HOST:PORT) over the overlay."""
    if from_pod and node:
        raise click.UsageError("give --from or --node, not both")

    async def body(overlay: Any) -> int:
        replies = await overlay.send(url, count=count or 1, concurrency=concurrency,
                                     from_pod=from_pod, namespace=namespace, node=node,
                                     payload=data, timeout=max_time)
        if count is None:
            reply = replies[0]
            if not reply["ok"]:
                return _failure(reply)
            click.echo(json.dumps(reply))
            return 0
        return _table(replies)

    _run(name, kubeconfig_file, body)


@net.command()
@click.option("--zones", default=None, help="Two zones, e.g. zone-a,zone-b.")
@click.option("--nodes", default=None, help="Two nodes, e.g. node-1,node-2.")
@click.option("--zone", default=None, help="One zone, cut from every other.")
@click.option("--node", default=None, help="One node, cut from every other.")
@_cluster_options
def partition(zones: str | None, nodes: str | None, zone: str | None, node: str | None,
              name: str, kubeconfig_file: str | None) -> None:
    """Cut the links between two zones or two nodes (both ways) until `kubemu net heal`."""
    where = _where(zones, nodes, zone, node)
    _run(name, kubeconfig_file, lambda o: _done(o.partition(**where), "partitioned", where))


@net.command()
@click.argument("delay", type=Duration())
@click.option("--zone", default=None, help="Delay this zone's links to every zone.")
@click.option("--zones", default=None, help="Delay the links between two zones.")
@click.option("--nodes", default=None, help="Delay the links between two nodes.")
@click.option("--node", default=None, help="Delay this node's links to every node.")
@_cluster_options
def latency(delay: float, zone: str | None, zones: str | None, nodes: str | None,
            node: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Add DELAY (50ms, 0.2s) one way to every connection crossing the chosen links."""
    where = _where(zones, nodes, zone, node)
    _run(name, kubeconfig_file,
         lambda o: _done(o.latency(delay, **where), f"latency {delay * 1000:g}ms on", where))


@net.command()
@click.argument("fraction", type=Fraction())
@click.option("--zone", default=None, help="Drop on this zone's links to every zone.")
@click.option("--zones", default=None, help="Drop on the links between two zones.")
@click.option("--nodes", default=None, help="Drop on the links between two nodes.")
@click.option("--node", default=None, help="Drop on this node's links to every node.")
@_cluster_options
def loss(fraction: float, zone: str | None, zones: str | None, nodes: str | None,
         node: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Drop FRACTION (5% or 0.05) of the connections crossing the chosen links."""
    where = _where(zones, nodes, zone, node)
    _run(name, kubeconfig_file,
         lambda o: _done(o.loss(fraction, **where), f"loss {fraction:.0%} on", where))


@net.command()
@_cluster_options
def heal(name: str, kubeconfig_file: str | None) -> None:
    """Remove every partition, latency and loss from the overlay's links."""
    _run(name, kubeconfig_file, lambda o: _done(o.heal(), "healed every link", {}))


# ---- helpers --------------------------------------------------------------------------------

def _where(zones: str | None, nodes: str | None, zone: str | None,
           node: str | None) -> dict:
    where = {k: v for k, v in (("zones", _pair(zones, "--zones")),
                               ("nodes", _pair(nodes, "--nodes")),
                               ("zone", zone), ("node", node)) if v}
    if len(where) != 1:
        raise click.UsageError("give exactly one of --zone, --zones, --node or --nodes")
    return where


async def _done(action: Any, what: str, where: dict) -> int:
    await action
    scope = " ".join(f"{k} {'|'.join(v) if isinstance(v, tuple) else v}"
                     for k, v in where.items())
    click.echo(f"{what} {scope}".strip())
    return 0


def _failure(reply: dict) -> int:
    kind = reply.get("error")
    text = "connection refused" if kind == "refused" else "connection timed out"
    click.echo(f"error: {text}: {reply.get('message', '')}", err=True)
    return EXIT_REFUSED if kind == "refused" else EXIT_TIMEOUT


def _table(replies: list[dict]) -> int:
    """Who served the requests; exit 0 when all succeeded, else the code of the most
    frequent failure."""
    from rich.console import Console
    from rich.table import Table

    served = collections.Counter((r["pod"], r["node"], r["zone"]) for r in replies if r["ok"])
    failed = collections.Counter(r["error"] for r in replies if not r["ok"])
    table = Table(title=f"{len(replies)} requests: {sum(served.values())} ok, "
                        f"{sum(failed.values())} failed")
    for column in ("POD", "NODE", "ZONE"):
        table.add_column(column)
    table.add_column("COUNT", justify="right")
    for (pod, node, zone), n in sorted(served.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(pod, node, zone, str(n))
    for kind, n in failed.most_common():
        table.add_row(f"({kind})", "", "", str(n), style="red")
    Console(width=max(100, Console().width)).print(table)
    if not failed:
        return 0
    return EXIT_REFUSED if failed.most_common(1)[0][0] == "refused" else EXIT_TIMEOUT


def _run(name: str, kubeconfig_file: str | None, body: Any) -> None:
    """Run `body(overlay)` on the cluster; an unresolvable host exits as curl's 6."""
    from kubemu.actors.cli_cluster import run_on_cluster
    from kubemu.actors.net import NetError, Overlay, ResolveError

    run_on_cluster(name, kubeconfig_file, Overlay, body, error=NetError,
                   exit_codes={ResolveError: EXIT_RESOLVE})
