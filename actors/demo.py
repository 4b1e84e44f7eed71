"""`kubemu demo`: a whole cluster's life in under a minute, narrated with rich.

It starts its own Ray, then a cluster as `kubemu up --nodes 6 --zones 3` would (a 3-replica
store, an API server over HTTPS on a free port, the cluster DNS on a free port, the
scheduler, the controller manager and 6 emulated nodes), with every Kubernetes timer running
`time_scale` times faster and every file (kubeconfig, cluster.json, the store's WAL) under a
private directory; the CLI also gives Ray a private temp dir, so no other process on the
machine joins this Ray by "auto" and its session files go with the demo. It then runs the steps of demo_steps.py in order -- nodes Ready in 3
zones, a web Deployment and Service spread over the zones, the Service resolved through the
cluster DNS, traffic answered by several pods, a node killed for good and its pods moving,
traffic again -- each a heading, a table or line, and a checked line. The first step whose
check does not hold ends the run (the rest would only report its consequences); a cluster
that does not start fails "step 0", a teardown that fails the step after the last. Whatever
happened, the cluster is torn down and Ray shut down. `run_demo` answers whether every step
held; the CLI turns that into the exit code.

The store-leader kill of earlier demos is not a step: it is `kubemu chaos kill store --leader`
(and tests/chaos), and it would cost the demo its minute.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import ray
from kubemu.actors.bootstrap import ClusterInfo, down, up
from kubemu.actors.chaos import Chaos
from kubemu.actors.demo_steps import STEPS, Demo, StepFailed
from kubemu.actors.net import Overlay
from kubemu.actors.runtime import init_local, namespace
from rich.console import Console
from rich.markup import escape

__all__ = ["CLUSTER", "NODES", "ZONES", "DemoError", "run_demo"]

CLUSTER = "demo"
NODES, ZONES = 6, 3


class DemoError(RuntimeError):
    """A reason not to start the demo, worded as the one line a user sees."""


async def run_demo(console: Console, *, time_scale: float, home: str,
                   ray_dir: str | None = None) -> bool:
    """Run every step on a fresh cluster whose files live under `home` (Ray's session files
    under `ray_dir`, default Ray's /tmp/ray); True when every check held."""
    store = Path(home) / CLUSTER / "store"
    if store.is_dir() and any(store.iterdir()):
        raise DemoError(f"{store} holds an earlier demo's data: pass an empty --data-dir")
    began = time.monotonic()
    console.rule("[bold]kubemu demo")
    console.print(f"starting a cluster on local Ray: {NODES} nodes in {ZONES} zones, a "
                  f"3-replica store, an API server, the scheduler, the controller manager "
                  f"and the cluster DNS; Kubernetes time runs {time_scale:g}x faster (files "
                  f"in {home})")
    try:
        try:
            with console.status("starting the cluster"):
                init_local(namespace=namespace(CLUSTER), log_to_driver=False,
                           configure_logging=False,
                           **({"_temp_dir": ray_dir} if ray_dir else {}))
                info = await up(name=CLUSTER, home=home, api_port=_free_port(), dns_port=0,
                                nodes=NODES, zones=ZONES, time_scale=time_scale)
        except Exception as exc:  # noqa: BLE001 - Ray or a component did not start
            failed = _failure(console, 0, "start the cluster", exc)
        else:
            console.print(f"cluster up after {time.monotonic() - began:.1f} s "
                          f"(kubeconfig: {info.kubeconfig})")
            failed = await _run_and_tear_down(console, info)
    finally:
        ray.shutdown()
    took = time.monotonic() - began
    if failed:
        console.print(f"[red bold]demo FAILED[/] at step {escape(failed)} ({took:.0f} s)")
        return False
    console.print(f"[green bold]demo passed[/]: every check held ({took:.0f} s wall time)")
    return True


async def _run_and_tear_down(console: Console, info: ClusterInfo) -> str:
    """The steps, then `down`; "" when every check held, else the failed step and why."""
    client = info.access.client(user_agent="kubemu-demo")
    demo = Demo(console=console, info=info, client=client,
                overlay=Overlay(CLUSTER, client, dns=info.dns), chaos=Chaos(CLUSTER, client))
    try:
        failed = await _run_steps(demo)
    finally:
        await client.close()
    try:
        with console.status("tearing down"):
            await down(info)
    except Exception as exc:  # noqa: BLE001 - named like a step's failure
        return failed or _failure(console, len(STEPS) + 1, "tear down", exc)
    console.print("cluster torn down")
    return failed


async def _run_steps(demo: Demo) -> str:
    """Run the steps in order; "" when every check held, else the failed step and why."""
    for number, (title, step) in enumerate(STEPS, start=1):
        demo.console.rule(f"[bold]{number}. {title}", align="left")
        started = time.monotonic()
        try:
            line = await step(demo)
        except Exception as exc:  # noqa: BLE001 - an API or network error fails the step too
            return _failure(demo.console, number, title, exc)
        took = time.monotonic() - started
        demo.console.print(f"[green]✓[/] {escape(line)} [dim]({took:.1f} s)", highlight=False)
    return ""


def _failure(console: Console, number: int, title: str, exc: Exception) -> str:
    reason = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
    console.print(f"[red]✗[/] {escape(reason)}", highlight=False)
    return f"{number} ({title}): {reason}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
