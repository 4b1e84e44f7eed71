"""What `kubemu up` and `kubemu status` draw: start progress, the summary, the status table.

`StartProgress` is the `progress(step, done, total)` callback bootstrap.up reports to (Ray,
store, API servers, DNS, control plane, nodes registered n/N, nodes Ready n/N). On a terminal
it is a rich Live view, a spinner on the step under way and a check mark on each one done; on
anything else (a log file, a test) it prints one line per finished step, so logs stay
readable. The summary is plain aligned lines, never wrapped or cut (paths must stay
copyable).
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

__all__ = ["StartProgress", "print_summary", "print_status"]


class StartProgress:
    def __init__(self, console: Console, *, detach: bool = False) -> None:
        self.console = console
        self.steps: dict[str, list] = {}  # step -> [done, total, started, finished]
        self._live: Live | None = None
        self._detach = detach

    def __enter__(self) -> StartProgress:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=8,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render(final=True))
            self._live.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        entry = self.steps.setdefault(step, [0, total, now, None])
        was_done = entry[3] is not None
        entry[0], entry[1] = done, total
        if done >= total and not was_done:
            entry[3] = now
            if self._live is None:
                self.console.print(f"  [green]✓[/green] {self._line(step, entry)}",
                                   highlight=False)
        if self._live is not None:
            self._live.update(self._render())

    def _line(self, step: str, entry: list) -> str:
        done, total, started, finished = entry
        count = f" {done}/{total}" if total > 1 or step.startswith("nodes") else ""
        took = f" ({(finished or time.monotonic()) - started:.1f}s)"
        return f"{step}{count}{took}"

    def _render(self, final: bool = False) -> Any:
        rows = []
        for step, entry in self.steps.items():
            if entry[3] is not None:
                rows.append(Text.assemble(("  ✓ ", "green"), self._line(step, entry)))
            elif final:
                rows.append(Text.assemble(("  ✗ ", "yellow"), self._line(step, entry)))
            else:
                rows.append(Spinner("dots", text=Text(self._line(step, entry)),
                                    style="cyan"))
        return Group(Text("starting the cluster ..."), *rows)


def print_summary(info: Any, console: Console | None = None) -> None:
    """The summary `kubemu up` prints once the cluster is up."""
    console = console or _console()
    suffix = "" if info.name == "kubemu" else f" --name {info.name}"
    how = "detached, " if info.detached else ""
    console.print(f'[green]cluster "{info.name}" is up[/green] ({how}pid {info.pid})')
    ready = f"{info.nodes_ready}/{info.nodes} Ready" if info.nodes else "none"
    if info.time_scale != 1:
        ready += f" (time scale {info.time_scale:g}x)"
    dns_host, _, dns_port = info.dns.rpartition(":")
    dns = f"{info.dns}   (dig @{dns_host.strip('[]')} -p {dns_port} " \
          f"kubernetes.default.svc.cluster.local)"
    ray = f"{info.ray_address}   ({info.hosts} host{'s' if info.hosts != 1 else ''})"
    stop = f"kubemu down{suffix}" + ("" if info.detached else "   (or Ctrl-C here)")
    lines = [("API server", info.server), ("DNS", dns), ("DNS metrics", info.dns_metrics),
             ("nodes", ready), ("Ray", ray), ("kubeconfig", str(info.kubeconfig)),
             ("use it", f"export KUBECONFIG={info.kubeconfig}"),
             ("status", f"kubemu status{suffix}"), ("stop it", stop)]
    for label, value in lines:
        console.print(f"  [bold]{label:<12}[/bold]", end="")
        console.print(value, markup=False, highlight=False, soft_wrap=True)
    if info.nodes and info.nodes_ready < info.nodes:
        console.print(f"  [yellow]{info.nodes - info.nodes_ready} node(s) not Ready yet: "
                      f"kubectl get nodes[/yellow]")
    console.file.flush()


def print_status(report: dict, console: Console | None = None) -> None:
    """`kubemu status`: the cluster's addresses and health, then one row per actor."""
    console = console or _console()
    how = "detached" if report["detached"] else "foreground"
    console.print(f'cluster "{report["name"]}" ({how}, pid {report["pid"]}, started '
                  f'{report["started"]})', highlight=False)
    api = "ready" if report["apiReady"] else f"not answering: {report.get('apiError', '')}"
    lines = [("API server", f"{report['server']}   ({api})"), ("DNS", report["dns"]),
             ("nodes", f"{report['nodesReady']}/{report['nodes']} Ready"),
             ("Ray", f"{report['rayAddress']}   ({report['hosts']} "
                     f"host{'s' if report['hosts'] != 1 else ''})"),
             ("kubeconfig", report["kubeconfig"])]
    for label, value in lines:
        console.print(f"  [bold]{label:<12}[/bold]", end="")
        console.print(str(value), markup=False, highlight=False, soft_wrap=True)
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("ACTOR", "KIND", "STATE", "RESTARTS", "RAY NODE", "HOST"):
        table.add_column(column, justify="right" if column == "RESTARTS" else "left")
    for actor in report["actors"]:
        state = actor["state"]
        style = {"ALIVE": "green", "DEAD": "red"}.get(state, "yellow")
        table.add_row(actor["name"], actor["kind"], f"[{style}]{state}[/{style}]",
                      str(actor["restarts"]), actor["node"], actor["address"])
    Console(width=max(120, console.width), file=console.file).print(table)
    alive = sum(a["state"] == "ALIVE" for a in report["actors"])
    console.print(f"{alive}/{len(report['actors'])} actors alive", highlight=False)


def _console() -> Console:
    from kubemu.actors.cli import console

    return console
