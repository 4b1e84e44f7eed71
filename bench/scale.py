"""Scale benchmark (issue 10): a thousand nodes and a hundred thousand pods on this machine,
with the overlay network and the cluster DNS on, through `kubemu load`.

One run, on a fresh local Ray that this process starts and always shuts down (also on
Ctrl-C; worker niceness 0 as the other benches):
1. `bootstrap.up` with `--nodes` nodes in 3 zones (node pools sized by bootstrap unless
   `--nodes-per-actor`), timed to every node Ready with a podCIDR.
2. Monitors for the whole run (bench/scale_watch.py): a Node watch counting flaps, a Lease
   watch giving the longest renewal gap per node, an API prober (GET a Node, LIST 50 pods of
   a load namespace, every 0.5 s, tagged by phase), a 1 s sampler of pods Running and memory.
3. The load: `LoadSpec(deployments, replicas, services=True)` through `Load.run`: time to all
   Running, sustained pods/s (pods Running between the 10 % and the 90 % mark over the time
   between them) and overall pods/s (Running / last Running - first create).
4. Churn at the size reached (bench/scale_phases.py, as 5 and 6): bare pods created at
   `--churn-rate`/s (open loop, paced by the loop clock) for `--churn-seconds`, each deleted
   ~10 s after it runs; startup latency = create sent -> first seen Running with every
   container ready, by this run's own pod watch opened before the first create. Once right
   after the load (shown), once the cluster has settled (the target; see scale_phases).
5. `kubectl get pods -A --chunk-size=500` once the cluster has settled again after the churn,
   wall time, its lines checked against the pods an API list counted just before.
6. DNS: a few of the load's Service names resolved (UDP, dnslib) against the cluster DNS;
   each answer must hold the Service's ClusterIP.
7. Memory (Pss, or RSS where smaps_rollup is unreadable) of every process of the Ray session:
   idle after nodes Ready (per node: idle / nodes), after the load (per pod: the growth /
   pods), and the peak.
The table is printed (bench/scale_report.py); `--record` appends it to bench/RESULTS.md and
writes the plot (pods Running over time, memory on a second axis) to `--plot`. Exit status 1
when a target is missed. Develop at small scale: `python bench/scale.py --nodes 30
--deployments 10 --replicas 5 --churn-seconds 10`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray
import uvloop
from kubemu.actors.bootstrap import ClusterInfo, down, up
from kubemu.actors.load import Load, LoadSpec, namespace_name
from kubemu.actors.placement import pool_size
from kubemu.actors.runtime import namespace as ray_namespace
from kubemu.cluster.client import ApiClient
from rich.console import Console

from bench.api import _free_port
from bench.scale_phases import (
    churn, kubectl_get_pods, resolve_services, revision, until_settled,
)
from bench.scale_report import (
    ScaleResults,
    details,
    plot,
    record,
    render,
    sustained,
    verdict,
)
from bench.scale_watch import (
    ApiProber,
    Follow,
    LeaseGaps,
    NodeFlaps,
    Sampler,
    node_ready,
    session_memory,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
DEFAULT_PLOT = Path(__file__).resolve().parent / "scale.png"
PREFIX = "scale"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
console = Console(width=None if sys.stdout.isatty() else 200)


async def run(args: argparse.Namespace, r: ScaleResults) -> None:
    """The whole run into `r`; the cluster and Ray are gone when it returns or raises."""
    name, home = f"scale-{os.getpid()}", Path(tempfile.mkdtemp(prefix="kubemu-scale-"))
    loop, began = asyncio.get_running_loop(), time.monotonic()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["RAY_worker_niceness"] = str(args.ray_worker_niceness)
    info: ClusterInfo | None = None
    follows: list[Follow] = []
    tasks: list[asyncio.Task] = []
    clients: list[ApiClient] = []
    flaps, leases = NodeFlaps(), LeaseGaps()
    prober: ApiProber | None = None
    sampler: Sampler | None = None

    def client(user_agent: str) -> ApiClient:
        assert info is not None
        clients.append(info.access.client(user_agent=user_agent))
        return clients[-1]

    try:
        ray.init(namespace=ray_namespace(name), include_dashboard=False, log_to_driver=False)
        _cancel_on_signals(asyncio.current_task())  # after Ray's init, which sets its own
        t0 = loop.time()
        info = await up(name=name, home=home, api_port=_free_port(), dns_port=0,
                        nodes=args.nodes, zones=3, nodes_per_actor=args.nodes_per_actor,
                        wait_nodes_ready=True, ready_timeout=max(120.0, 0.3 * args.nodes),
                        time_scale=1.0, progress=_Progress("up"))
        r.nodes_per_actor = args.nodes_per_actor or pool_size(args.nodes, info.hosts)
        monitor = client("kubemu-scale-monitor")
        first_node = await _nodes_ready(monitor, args.nodes, timeout=max(120.0, 0.3 * args.nodes))
        r.nodes_seconds, r.nodes_ready = loop.time() - t0, args.nodes
        log(f"{args.nodes} nodes Ready with pod CIDRs in {r.nodes_seconds:.1f} s "
            f"({r.nodes_per_actor} per node-pool actor)")
        known = await _component_pids(info)
        follows = [Follow(monitor, "v1", "Node", flaps),
                   Follow(monitor, "coordination.k8s.io/v1", "Lease", leases,
                          namespace="kube-node-lease")]
        for follow in follows:
            await follow.start()
        spec = LoadSpec(deployments=args.deployments, replicas=args.replicas, services=True,
                        namespaces=min(args.namespaces, args.deployments), prefix=PREFIX,
                        concurrency=args.concurrency)
        prober = ApiProber(client("kubemu-scale-prober"), first_node,
                           namespace_name(spec, 1))
        sampler = Sampler(lambda: known)
        tasks = [asyncio.create_task(prober.run()), asyncio.create_task(sampler.run())]

        rev0, t_rev0 = await revision(monitor), loop.time()
        await asyncio.sleep(args.settle)  # the idle cluster's memory, once start-up settled
        r.idle_writes = (await revision(monitor) - rev0) / (loop.time() - t_rev0)
        idle = await asyncio.to_thread(session_memory, known)
        r.memory_idle, r.memory_how = idle.pss, idle.how
        log(f"idle: {idle.pss / 2**30:.2f} GiB {idle.how} in {idle.processes} processes")

        prober.phase = "load"
        await _load(client("kubemu-scale-load"), spec, args, r, sampler)
        r.memory_loaded = (await asyncio.to_thread(session_memory, known)).pss

        prober.phase = "churn"
        early = ScaleResults(r.nodes, r.nodes_per_actor, r.deployments, r.replicas)
        await churn(client("kubemu-scale-churn"), client("kubemu-scale-churn-watch"), early,
                    rate=args.churn_rate, seconds=args.churn_seconds,
                    deadline=args.churn_deadline, log=log, prefix="early")
        r.churn_early, r.churn_early_sent = early.churn_latencies, early.churn_sent
        r.churn_early_window = early.churn_window
        r.settle_seconds = await until_settled(monitor, r.idle_writes, timeout=args.settle_max)
        log("settled: " + ("not within --settle-max" if r.settle_seconds is None else
                            f"writes back near the idle {r.idle_writes:.0f}/s after "
                            f"{r.settle_seconds:.0f} s"))
        await churn(client("kubemu-scale-churn"), client("kubemu-scale-churn-watch"), r,
                    rate=args.churn_rate, seconds=args.churn_seconds,
                    deadline=args.churn_deadline, log=log)
        prober.phase = "after"
        # kubectl on the cluster at rest (the "at this size"), not on the churn's
        # last deletions
        r.kubectl_settle_seconds = await until_settled(monitor, r.idle_writes,
                                                       timeout=args.settle_max)
        await kubectl_get_pods(info.kubeconfig, monitor, r, log=log)
        await resolve_services(info.dns, monitor, spec, r, log=log)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for follow in follows:
            await follow.stop()
        _collect(r, flaps, leases, prober, sampler, now=loop.time())
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await _teardown(info, home)
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
        r.wall = time.monotonic() - began


async def _load(client: ApiClient, spec: LoadSpec, args: argparse.Namespace,
                r: ScaleResults, sampler: Sampler) -> None:
    progress = _Progress("load", also=sampler.progress)
    log(f"load: {spec.deployments:,} Deployments x {spec.replicas:,} replicas, "
        f"{spec.deployments:,} Services, {spec.namespaces} namespaces")
    report = await Load(client, spec).run(
        timeout=args.timeout, progress=progress)
    r.pods_wanted, r.pods_running = report.pods_wanted, report.pods_running
    r.create_errors, r.error_messages = report.errors, list(report.error_messages)
    r.load_started, r.to_running = report.started, report.seconds_to_running
    r.overall = report.pods_per_second
    r.sustained, _t10, _t90 = sustained(report.running_times, report.pods_wanted)
    log(f"load: {report.pods_running:,}/{report.pods_wanted:,} Running"
        + (f" in {r.to_running:.1f} s" if r.to_running is not None else "")
        + f", {report.errors} create errors, {report.retries} retries")


def _collect(r: ScaleResults, flaps: NodeFlaps, leases: LeaseGaps, prober: ApiProber | None,
             sampler: Sampler | None, *, now: float) -> None:
    """The monitors' findings into `r` (also after a failed run: what they saw until then)."""
    leases.close(now)
    r.flaps, r.flapped = flaps.flaps, sorted(flaps.flapped)
    r.lease_observed, r.lease_written = leases.max_observed(), leases.max_written()
    r.lease_over, r.lease_duration = leases.over_duration(), leases.duration
    if prober is not None:
        r.api = {f"{op}/{phase}": prober.latencies(op, phase)
                 for op in ("get node", "list pods") for phase in ("idle", "load", "churn")}
        r.api_failures = prober.failures()
    if sampler is not None:
        r.samples = list(sampler.samples)
        if sampler.peak is not None:
            r.memory_peak, r.memory_groups = sampler.peak.pss, sampler.peak.groups
    r.memory_peak = max(r.memory_peak, r.memory_loaded, r.memory_idle)
    r.driver_rss = _rss(os.getpid())


async def _nodes_ready(client: ApiClient, count: int, *, timeout: float) -> str:
    """Until `count` Nodes are Ready with a podCIDR; the first node's name."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        items = (await client.list("v1", "Node")).get("items") or []
        ready = [n for n in items if (n.get("spec") or {}).get("podCIDR") and node_ready(n)]
        if len(ready) >= count:
            return min(n["metadata"]["name"] for n in ready)
        if loop.time() > deadline:
            raise RuntimeError(f"only {len(ready)} of {count} nodes Ready within {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def _component_pids(info: ClusterInfo) -> dict[int, str]:
    """pid -> kind (scheduler, controller-manager, node-pool, node) of the component actors."""
    pings = await asyncio.gather(*(h.ping.remote() for h in info.component_handles))
    return {p["pid"]: p["kind"] for p in pings}


def _cancel_on_signals(task: asyncio.Task | None) -> None:
    """Ctrl-C or SIGTERM cancels the run once, so its `finally` tears the cluster down; more
    signals while that runs are ignored (an interrupted teardown would leak the cluster)."""
    loop, seen = asyncio.get_running_loop(), []

    def cancel() -> None:
        if not seen and task is not None:
            log("interrupted: stopping the run and tearing the cluster down")
            task.cancel()
        seen.append(True)
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, cancel)


async def _teardown(info: ClusterInfo | None, home: Path) -> None:
    try:
        if info is not None:
            log("tearing the cluster down")
            async with asyncio.timeout(180):
                await down(info)
    except BaseException as exc:  # noqa: BLE001 - Ray's shutdown below ends what is left
        log(f"down: {exc!r}"[:300])
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(home, ignore_errors=True)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class _Progress:
    """A progress callback that logs each step at most every 5 s, and when it completes."""

    def __init__(self, name: str, *, also=None) -> None:
        self.name, self.also = name, also
        self.last: dict[str, float] = {}
        self.finished: set[str] = set()

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.also is not None:
            self.also(step, done, total)
        now = time.monotonic()
        if step in self.finished or (done < total and now - self.last.get(step, 0.0) < 5.0):
            return
        self.last[step] = now
        if done >= total:
            self.finished.add(step)
        log(f"{self.name}: {step} {done:,}/{total:,}")


_T0 = time.monotonic()


def log(text: str) -> None:
    console.print(f"[{time.monotonic() - _T0:7.1f} s] {text}", highlight=False)


def main(args: argparse.Namespace) -> int:
    load = os.getloadavg()
    r = ScaleResults(nodes=args.nodes, nodes_per_actor=args.nodes_per_actor or 0,
                     deployments=args.deployments, replicas=args.replicas)
    failed: BaseException | None = None
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run(args, r))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; the cluster is down")
        return 130
    except Exception as exc:  # noqa: BLE001 - reported in one line with what was measured
        failed = exc
    table, _md = render(r)
    console.print(table)
    for line in details(r):
        console.print(line, highlight=False)
    if failed is not None:
        log(f"the run failed: {type(failed).__name__}: {failed}"[:500])
        return 2
    log(f"verdict: {verdict(r)}")
    plot_path = args.plot or (DEFAULT_PLOT if args.record else None)
    if plot_path is not None:
        log(plot(r, plot_path))
    if args.record:
        record(r, RESULTS, plot_path=plot_path, note=args.note, load=load)
        log(f"appended to {RESULTS}")
    return 0 if verdict(r) == "PASS" else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--nodes-per-actor", type=int, default=None,
                   help="emulated nodes per node-pool actor (default: bootstrap chooses)")
    p.add_argument("--deployments", type=int, default=1000)
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--namespaces", type=int, default=10, help="load namespaces")
    p.add_argument("--concurrency", type=int, default=32, help="load creates in flight")
    p.add_argument("--churn-rate", type=float, default=30.0, help="churn pods created per s")
    p.add_argument("--churn-seconds", type=float, default=60.0)
    p.add_argument("--churn-deadline", type=float, default=60.0,
                   help="how long after the last churn create a pod may take to run, s")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="how long after the last load create every pod may take to run, s")
    p.add_argument("--settle-max", type=float, default=300.0,
                   help="longest wait for the cluster to settle before the second churn, s")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds between nodes Ready and the idle memory reading")
    p.add_argument("--plot", type=Path, default=None,
                   help=f"PNG of pods Running over time (default with --record: {DEFAULT_PLOT})")
    p.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    p.add_argument("--note", default="", help="free text for the RESULTS.md section")
    p.add_argument("--ray-worker-niceness", type=int, default=0,
                   help="nice level of Ray workers (Ray's default is 15)")
    args = p.parse_args(argv)
    if args.nodes < 1 or args.deployments < 1 or args.replicas < 1:
        p.error("--nodes, --deployments and --replicas must be >= 1")
    if args.nodes_per_actor is not None and args.nodes_per_actor < 1:
        p.error("--nodes-per-actor must be >= 1")
    if args.churn_rate <= 0 or args.churn_seconds < 0:
        p.error("--churn-rate must be > 0 and --churn-seconds >= 0")
    return args


if __name__ == "__main__":
    sys.exit(main(parse_args()))
