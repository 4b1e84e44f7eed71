"""`kubemu load`: create Deployments, Services and pods in bulk, and watch their pods run.

The command reaches the cluster as `kubemu get` does (`--name`, or `--kubeconfig`; the API
client from cli.py), needs no Ray, and drives `load.Load`. On a terminal it draws two rich
bars, "created" (objects answered) and "Running" (pods Running and ready), with counts and
rates; elsewhere (a log, a test) it prints one line as each finishes. Then a summary: objects
created by kind, errors, seconds from the first create to all Running, pods/s. `--delete`
deletes the namespaces labelled `kubemu.io/load=<prefix>` (and, with --wait, waits for them
to be gone). Exit codes: 0 done; 1 on bad input, an unreachable cluster, a create that failed
for good, or --wait running out of time. Every failure is one `error: ...` line (tracebacks
only with --debug). The option defaults are LoadSpec's (the module is imported only when the
command runs, to keep `kubemu --help` fast).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, NoReturn, Self

import click
from kubemu.actors.cli_net import _cluster_options
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

__all__ = ["LoadProgress", "load", "summary_lines"]


@click.command()
@click.option("--deployments", type=int, default=10, show_default=True,
              help="Deployments to create (each with --replicas pods).")
@click.option("--replicas", type=int, default=10, show_default=True,
              help="Replicas of each Deployment.")
@click.option("--services/--no-services", default=True, show_default=True,
              help="One ClusterIP Service per Deployment (port 80 -> 8080).")
@click.option("--pods", type=int, default=0, show_default=True,
              help="Bare pods besides the Deployments.")
@click.option("--namespaces", type=int, default=1, show_default=True,
              help="Deal objects round-robin over PREFIX-1 .. PREFIX-N.")
@click.option("--prefix", default="load", show_default=True,
              help="Namespace prefix and value of the label kubemu.io/load.")
@click.option("--image", default="nginx", show_default=True, help="Container image.")
@click.option("--cpu", default="10m", show_default=True, help="CPU request per container.")
@click.option("--memory", default="16Mi", show_default=True,
              help="Memory request per container.")
@click.option("--concurrency", type=int, default=32, show_default=True,
              help="Creates in flight at once.")
@click.option("--rate", type=float, default=None,
              help="Creates per second, paced (default: as fast as --concurrency allows).")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until every pod is Running and ready (with --delete: until the "
                   "namespaces are gone).")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait after the last create (or the deletes).")
@click.option("--delete", "delete_", is_flag=True,
              help="Delete the namespaces labelled kubemu.io/load=PREFIX instead.")
@_cluster_options
def load(deployments: int, replicas: int, services: bool, pods: int, namespaces: int,
         prefix: str, image: str, cpu: str, memory: str, concurrency: int,
         rate: float | None, wait: bool, timeout: float, delete_: bool, name: str,
         kubeconfig_file: str | None) -> None:
    """Create Deployments (with Services) and pods in bulk and wait for their pods to run."""
    from kubemu.actors.load import LoadSpec

    try:
        spec = LoadSpec(deployments=deployments, replicas=replicas, services=services,
                        pods=pods, namespaces=namespaces, prefix=prefix, image=image, cpu=cpu,
                        memory=memory, concurrency=concurrency, rate=rate)
    except ValueError as exc:
        _fail(str(exc))
    if not timeout >= 0:
        _fail(f"timeout must be a number of seconds, at least 0, not {timeout}")
    body = _delete(spec, wait=wait, timeout=timeout) if delete_ else \
        _create(spec, wait=wait, timeout=timeout)
    _on_cluster(name, kubeconfig_file, body)


class LoadProgress:
    """The `progress(step, done, total)` callback of `Load.run`, drawn for people."""

    _LABELS: ClassVar[dict[str, tuple[str, str]]] = {"created": ("created", "objects"),
                                                      "running": ("Running", "pods")}

    def __init__(self, console: Any) -> None:
        self.console = console
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._finished: set[str] = set()

    def __enter__(self) -> Self:
        if self.console.is_terminal:
            self._progress = Progress(TextColumn("{task.description:<8}"), BarColumn(),
                                      MofNCompleteColumn(), _RateColumn(),
                                      TimeElapsedColumn(), console=self.console)
            self._progress.__enter__()
            for step, (label, unit) in self._LABELS.items():  # created above Running
                self._tasks[step] = self._progress.add_task(label, total=None, unit=unit)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        label, unit = self._LABELS.get(step, (step, ""))
        if self._progress is not None:
            if step not in self._tasks:
                self._tasks[step] = self._progress.add_task(label, total=total, unit=unit)
            self._progress.update(self._tasks[step], completed=done, total=total)
        elif done >= total and step not in self._finished:
            self._finished.add(step)
            self.console.print(f"  {label} {done}/{total} {unit}", highlight=False)


def summary_lines(report: Any) -> list[str]:
    """What a finished run did, as aligned lines."""
    order = {kind: i for i, kind in enumerate(("Namespace", "Service", "Deployment", "Pod"))}
    kinds = sorted(report.created, key=lambda kind: (order.get(kind, len(order)), kind))
    created = ", ".join(f"{report.created[kind]} {kind}{'' if report.created[kind] == 1 else 's'}"
                        for kind in kinds) or "nothing"
    took = max(0.0, report.created_at - report.started)
    lines = [f"{'created':<10}{created} in {took:.1f}s",
             f"{'errors':<10}{report.errors}"
             + (f" ({report.retries} retried)" if report.retries else "")]
    lines += [f"{'':<10}{message}" for message in report.error_messages]
    running = f"{report.pods_running}/{report.pods_wanted} pods"
    if report.seconds_to_running is not None:
        running += f", all Running {report.seconds_to_running:.1f}s after the first create"
    if report.pods_per_second is not None:
        running += f" ({report.pods_per_second:.1f} pods/s)"
    lines.append(f"{'Running':<10}{running}")
    return lines


# ---- helpers --------------------------------------------------------------------------------

def _create(spec: Any, *, wait: bool, timeout: float) -> Callable[[Any], Awaitable[int]]:
    async def body(client: Any) -> int:
        from kubemu.actors.cli import console
        from kubemu.actors.load import Load

        with LoadProgress(console) as progress:
            report = await Load(client, spec).run(timeout=timeout if wait else 0.0,
                                                  progress=progress)
        for line in summary_lines(report):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        code = 0
        if report.errors:
            click.echo(f"error: {report.errors} of {spec.objects} creates failed", err=True)
            code = 1
        if wait and report.pods_running < report.pods_wanted:
            click.echo(f"error: timed out after {timeout:g}s waiting for pods: "
                       f"{report.pods_running} of {report.pods_wanted} Running", err=True)
            code = 1
        return code
    return body


def _delete(spec: Any, *, wait: bool, timeout: float) -> Callable[[Any], Awaitable[int]]:
    async def body(client: Any) -> int:
        from kubemu.actors.load import LABEL, Load

        loop = asyncio.get_running_loop()
        started = loop.time()
        work = Load(client, spec)
        deleted = await work.delete()
        what = f"namespace{'' if deleted == 1 else 's'} labelled {LABEL}={spec.prefix}"
        if not wait or not deleted:
            click.echo(f"deleted {deleted} {what}")
            return 0
        left = await work.wait_deleted(timeout=timeout)
        if left:
            click.echo(f"error: timed out after {timeout:g}s: {left} of {deleted} {what} "
                       f"still terminating", err=True)
            return 1
        click.echo(f"deleted {deleted} {what} (gone in {loop.time() - started:.1f}s)")
        return 0
    return body


def _on_cluster(name: str, kubeconfig_file: str | None,
                body: Callable[[Any], Awaitable[int]]) -> NoReturn:
    """Exit with `body(client)`'s code; any failure is one `error: ...` line and exit 1."""
    import aiohttp
    from kubemu.actors.cli import _debug, _open_client
    from kubemu.actors.cli_objects import CliError, error_line
    from kubemu.cluster.api.errors import ApiError

    async def go() -> int:
        async with _open_client(name, kubeconfig_file) as client:
            return await body(client)
    try:
        code = asyncio.run(go())
    except (CliError, ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        if _debug():
            raise
        line = error_line(exc).strip().splitlines()[0]
        click.echo(line if line.startswith("error:") else f"error: {line}", err=True)
        code = 1
    sys.exit(code)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


class _RateColumn(ProgressColumn):
    """Average rate since the bar started: "123.4 pods/s"."""

    def render(self, task: Any) -> Text:
        elapsed = (task.finished_time if task.finished else task.elapsed) or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.1f} {task.fields.get('unit', '')}/s", style="cyan")
