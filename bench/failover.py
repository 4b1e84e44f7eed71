"""Failover benchmark (issue 9): recovery time after a crash, median of 5 trials per scenario.

Scenarios (flags run one alone; default all, on one cluster: bench/failover_cluster.py):
- `--store`: a writer issues one write every 10 ms (each its own task, not waiting for the
  previous one) as a ConfigMap create through the API server; the store leader is SIGKILLed
  (`Chaos.kill("store", leader=True)`; Ray restarts it); the figure is from the kill to the
  first acknowledgement of a write issued after the kill (bench/store.py's `failover_trial`).
  The same with puts through the store client (no API server), and a reference in the same
  run: a 3-member etcd 3.4 (bench/etcd.py, its default 1 s election timeout), same prober,
  run before the cluster starts. Target: median <= 1 s.
- `--scheduler`: 2 schedulers at time scale 10 (leaseDuration 15 s -> 1.5 s); the leader
  (the Lease's holder) is SIGKILLed and a pod created right after; figures: the Lease taken by
  another holder, and the pod bound. Target: bound, median <= 2 s. The killed scheduler comes
  back (Ray) as a new candidate.
- `--node`: a node hosting a pod of a 3-replica Deployment (default 300 s tolerations) is
  killed for good (`ray.kill(no_restart=True)`); figures: its Ready condition Unknown, and the
  Deployment back to 3 ready replicas all on live nodes. Target: median <= (node-monitor grace
  40 s + toleration 300 s) / time scale + 2 s.
Every trial starts from a settled cluster (that wait is not timed). Tables are printed and,
unless --no-record, appended to bench/RESULTS.md with the machine and the load averages (other
engineers' test runs share the 2 cores). Run `python bench/failover.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop
from rich.console import Console
from rich.table import Table

from bench import describe_machine, results_heading
from bench.failover_cluster import (
    Cluster,
    Figure,
    node_loss,
    scheduler_takeover,
    store_failover,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
COLUMNS = ("scenario", "run", "trials", "median s", "min s", "max s", "failed", "target s",
           "verdict")
console = Console(width=None if sys.stdout.isatty() else 200)


async def run_cluster(args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    async with Cluster(args) as c:
        for wanted, name, run in (
                (args.store, "store failover",
                 lambda: store_failover(c, args.trials, direct=not args.no_direct)),
                (args.scheduler, "scheduler takeover", lambda: scheduler_takeover(c, args.trials)),
                (args.node, "node loss", lambda: node_loss(c, args.trials,
                                                           replicas=args.replicas))):
            if wanted:
                began = time.monotonic()
                console.print(f"{name}: {args.trials} trials")
                figures += await run()
                console.print(f"{name}: {time.monotonic() - began:.0f} s")
    return figures


async def run_etcd(args: argparse.Namespace) -> Figure:
    """The reference: bench/store.py's failover trials against a 3-member etcd."""
    from bench.etcd import EtcdSystem
    from bench.store import run_failovers

    base = Path(tempfile.mkdtemp(prefix="kubemu-failover-etcd-"))
    system = EtcdSystem(base, pool=4)
    try:
        await system.start()
        stats = await run_failovers(system, args.trials)
    finally:
        await system.stop()
        shutil.rmtree(base, ignore_errors=True)
    return Figure("store failover", "reference: etcd 3.4, put through its JSON gateway",
                  times=stats.times, failed=stats.failed, target=1.0,
                  detail="a 3-member etcd on loopback, default election timeout (1 s) and "
                         "heartbeat (100 ms); the leader SIGKILLed and restarted on its data")


def render(figures: list[Figure]) -> tuple[Table, str]:
    table = Table(title="recovery after a crash (kill -> recovered), seconds")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("scenario", "run", "verdict")
                         else "right")
    md = ["| " + " | ".join(COLUMNS) + " |",
          "|---|---|" + "---:|" * (len(COLUMNS) - 3) + "---|"]
    for f in figures:
        row = [f.scenario, f.run, str(len(f.times) + f.failed), _s(_median(f)),
               _s(min(f.times, default=None)), _s(max(f.times, default=None)), str(f.failed),
               "-" if f.target is None else f"<= {f.target:.2f}", verdict(f)]
        table.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    details = [f"- {f.run}: {f.detail}" for f in figures if f.detail]
    return table, "\n".join(md + ([""] + details if details else []))


def verdict(f: Figure) -> str:
    if f.target is None or f.run.startswith("reference"):
        return "-"
    med = _median(f)
    return "PASS" if med is not None and med <= f.target and not f.failed else "FAIL"


def record(markdown: str, note: str, load: tuple[float, ...]) -> None:
    heading = results_heading("bench/failover.py")
    section = [heading, describe_machine(Path(tempfile.gettempdir())),
               f"- load average {' '.join(f'{x:.2f}' for x in load)} at the start of the run",
               "", markdown, ""]
    if note:
        section += [f"Notes: {note}", ""]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section))
    console.print(f"appended to {RESULTS}")


def main(args: argparse.Namespace) -> int:
    load, began = os.getloadavg(), time.monotonic()
    figures: list[Figure] = []
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        if args.store and not args.no_etcd:
            console.print(f"etcd reference: {args.trials} trials")
            figures.append(runner.run(run_etcd(args)))
        figures += runner.run(run_cluster(args))
    table, markdown = render(figures)
    console.print(table)
    console.print(f"wall time {time.monotonic() - began:.0f} s")
    if not args.no_record:
        record(markdown, args.note, load)
    return 1 if any(verdict(f) == "FAIL" for f in figures) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", action="store_true", help="store failover only")
    p.add_argument("--scheduler", action="store_true", help="scheduler takeover only")
    p.add_argument("--node", action="store_true", help="node loss only")
    p.add_argument("--trials", type=int, default=5, help="trials per scenario")
    p.add_argument("--time-scale", type=float, default=10.0)
    p.add_argument("--nodes", type=int, default=7,
                   help="cluster nodes (node loss kills one per trial)")
    p.add_argument("--replicas", type=int, default=3, help="node loss: Deployment replicas")
    p.add_argument("--no-etcd", action="store_true", help="skip the etcd reference")
    p.add_argument("--no-direct", action="store_true",
                   help="skip the store-client (no API server) store failover row")
    p.add_argument("--ray-worker-niceness", type=int, default=0,
                   help="nice level of Ray workers (Ray's default is 15)")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    p.add_argument("--note", default="", help="free text appended to the RESULTS.md section")
    args = p.parse_args(argv)
    if not (args.store or args.scheduler or args.node):
        args.store = args.scheduler = args.node = True
    if args.node and args.nodes - args.trials < 2:
        p.error(f"--nodes {args.nodes} leaves fewer than 2 live nodes after {args.trials} "
                "node kills")
    return args


def _median(f: Figure) -> float | None:
    return statistics.median(f.times) if f.times else None


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main(parse_args()))
