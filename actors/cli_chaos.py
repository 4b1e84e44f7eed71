"""`kubemu chaos`: kill components, nodes and hosts, fault links, and run scenarios.

The commands find the cluster as `kubemu net` does (`--name` or `--kubeconfig`), join its Ray
and drive `chaos.Chaos`. Each verb prints one line saying what it did; `run FILE` prints a
rich table (step, action, invariant, result, time to recover) and exits 1 when an invariant
failed or an action could not run. Errors are one line (exit 1; `--debug` shows tracebacks),
bad option values click usage errors (2).
"""

from __future__ import annotations

from typing import Any

import click
from kubemu.actors.cli_net import Duration, Fraction, _cluster_options, _pair

__all__ = ["chaos"]


@click.group()
def chaos() -> None:
    """Kill the cluster's actors and hosts, partition or slow its links, run scenarios."""


@chaos.command()
@click.argument("component")
@click.argument("node_name", required=False, metavar="[NAME]")
@click.option("--leader", is_flag=True, help="Kill the current leader (store, scheduler, "
                                             "controller-manager).")
@click.option("--no-restart", is_flag=True, help="Kill for good (Ray does not restart it).")
@_cluster_options
def kill(component: str, node_name: str | None, leader: bool, no_restart: bool, name: str,
         kubeconfig_file: str | None) -> None:
    """Kill COMPONENT (store, apiserver, scheduler, controller-manager, dns, or an actor
    name such as store-2), or `node NAME` (that node's actor, for good)."""
    if component == "node":
        if not node_name:
            raise click.UsageError("kill node NAME: name the node")
        if leader:
            raise click.UsageError("a node has no leader")

        async def body(c: Any) -> str:
            killed = await c.kill_node(node_name, restart=False)
            return f"killed node {node_name}'s actor {killed.actor} for good"
    else:
        if node_name:
            raise click.UsageError(f"unexpected argument {node_name!r}")

        async def body(c: Any) -> str:
            k = await c.kill(component, leader=leader, restart=not no_restart)
            how = f"SIGKILL pid {k.pid}: Ray restarts it" if k.restart else "for good"
            return f"killed {'leader ' if k.leader else ''}{k.actor} ({how})"
    _run(name, kubeconfig_file, body)


@chaos.command("kill-host")
@click.argument("ray_node")
@_cluster_options
def kill_host(ray_node: str, name: str, kubeconfig_file: str | None) -> None:
    """Kill RAY_NODE's raylet (an id or unique prefix): every actor on that host dies."""
    async def body(c: Any) -> str:
        return f"killed the raylet of Ray node {(await c.kill_host(ray_node))[:16]}"
    _run(name, kubeconfig_file, body)


@chaos.command()
@click.option("--zones", default=None, help="Two zones, e.g. zone-a,zone-b "
                                            "(control-plane is a zone too).")
@click.option("--nodes", default=None, help="Two nodes, e.g. node-1,node-2.")
@_cluster_options
def partition(zones: str | None, nodes: str | None, name: str,
              kubeconfig_file: str | None) -> None:
    """Cut the links between two zones or two nodes until `kubemu chaos heal`."""
    where = _where(zones=zones, nodes=nodes)

    async def body(c: Any) -> str:
        await c.partition(**where)
        return f"partitioned {_scope(where)}"
    _run(name, kubeconfig_file, body)


@chaos.command()
@click.option("--zone", default=None, help="The zone to cut off (control plane included).")
@click.option("--node", default=None, help="Or one node.")
@_cluster_options
def isolate(zone: str | None, node: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Cut a zone (or node) from every other zone and from the control plane."""
    if (zone is None) == (node is None):
        raise click.UsageError("give --zone or --node")

    async def body(c: Any) -> str:
        await c.isolate(zone, node=node)
        return f"isolated {'zone ' + zone if zone else 'node ' + str(node)}"
    _run(name, kubeconfig_file, body)


@chaos.command()
@click.argument("delay", type=Duration())
@click.option("--zone", default=None, help="This zone's links to everything.")
@click.option("--zones", default=None, help="The links between two zones.")
@click.option("--node", default=None, help="This node's links to everything.")
@click.option("--nodes", default=None, help="The links between two nodes.")
@_cluster_options
def latency(delay: float, zone: str | None, zones: str | None, node: str | None,
            nodes: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Add DELAY (50ms, 0.2s) one way on the chosen links."""
    where = _where(zone=zone, zones=zones, node=node, nodes=nodes)

    async def body(c: Any) -> str:
        await c.latency(delay, **where)
        return f"latency {delay * 1000:g}ms on {_scope(where)}"
    _run(name, kubeconfig_file, body)


@chaos.command()
@click.argument("fraction", type=Fraction())
@click.option("--zone", default=None, help="This zone's links to everything.")
@click.option("--zones", default=None, help="The links between two zones.")
@click.option("--node", default=None, help="This node's links to everything.")
@click.option("--nodes", default=None, help="The links between two nodes.")
@_cluster_options
def loss(fraction: float, zone: str | None, zones: str | None, node: str | None,
         nodes: str | None, name: str, kubeconfig_file: str | None) -> None:
    """Drop FRACTION (5% or 0.05) of what crosses the chosen links."""
    where = _where(zone=zone, zones=zones, node=node, nodes=nodes)

    async def body(c: Any) -> str:
        await c.loss(fraction, **where)
        return f"loss {fraction:.0%} on {_scope(where)}"
    _run(name, kubeconfig_file, body)


@chaos.command()
@_cluster_options
def heal(name: str, kubeconfig_file: str | None) -> None:
    """Remove every partition, latency and loss."""
    async def body(c: Any) -> str:
        await c.heal()
        return "healed every link"
    _run(name, kubeconfig_file, body)


@chaos.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_cluster_options
def run_scenario(file: str, name: str, kubeconfig_file: str | None) -> None:
    """Run the scenario in FILE; a table of its steps' invariants; exit 1 if one failed."""
    from kubemu.actors.chaos_scenario import Scenario, ScenarioError, run
    from rich.console import Console

    try:
        scenario = Scenario.load(file)
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    console = Console(stderr=True)

    def progress(result: Any) -> None:
        mark = "[green]ok[/]" if result.ok else "[red]FAIL[/]"
        console.print(f"step {result.step} {result.action}: "
                      f"{result.invariant or result.error or 'done'} {mark}")

    async def body(c: Any) -> str | int:
        results = await run(scenario, c, report=progress)
        _table(scenario.name, results)
        return 0 if all(r.ok for r in results) else 1
    _run(name, kubeconfig_file, body)


# ---- helpers --------------------------------------------------------------------------------

def _where(**given: str | None) -> dict:
    where = {k: (_pair(v, f"--{k}") if k in ("zones", "nodes") else v)
             for k, v in given.items() if v}
    if len(where) != 1:
        raise click.UsageError("give exactly one of " + ", ".join(f"--{k}" for k in given))
    return where


def _scope(where: dict) -> str:
    return " ".join(f"{k} {'|'.join(v) if isinstance(v, tuple) else v}"
                    for k, v in where.items())


def _table(title: str, results: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"chaos scenario: {title}")
    for column in ("STEP", "ACTION", "INVARIANT", "RESULT", "RECOVERED", "DETAIL"):
        table.add_column(column, justify="right" if column in ("STEP", "RECOVERED") else
                         "left")
    for r in results:
        result = "[green]pass[/]" if r.ok else "[red]FAIL[/]"
        table.add_row(str(r.step), r.action, r.invariant or "-",
                      result if not r.error else "[red]ERROR[/]",
                      "" if r.recovered is None else f"{r.recovered:.1f}s",
                      r.error or r.detail)
    Console(width=max(140, Console().width)).print(table)


def _run(name: str, kubeconfig_file: str | None, body: Any) -> None:
    """Run `body(chaos)` on the cluster (a returned string is printed)."""
    from kubemu.actors.chaos import Chaos, ChaosError
    from kubemu.actors.cli_cluster import run_on_cluster

    run_on_cluster(name, kubeconfig_file, Chaos, body, error=ChaosError)
