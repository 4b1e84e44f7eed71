"""Store benchmark: kubemu's Raft store on Ray against a real 3-member etcd, same client shape.

Throughput: `--writers` asyncio tasks each put `--value-bytes` values to their own keys
(`/bench/w{n}/{i}`) in a loop for `--seconds`; every acknowledged write is durable (fsync'd by a
quorum) and its latency is recorded. Failover: under a light load (a fresh write issued every
10 ms) the leader is killed (`ray.kill(no_restart=False)` / SIGKILL); the failover time is from
the kill to the first acknowledgement of a write issued after the kill. Between trials the
benchmark waits until all three members answer, agree on the leader and have caught up.

Both systems run in this one process, one after the other (never together), so they share the
machine, the disk and the driver's event loop (uvloop). Run `python bench/store.py --help`.
Results are printed as tables and appended, dated, with the machine, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import (  # noqa: E402
    cpu_seconds, describe_machine, descendants, machine_busy_seconds, percentile, results_heading,
)
from bench.etcd import EtcdSystem  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PROBE_INTERVAL = 0.01  # failover light load: one new write every 10 ms
_CPU_GROUPS = ("servers", "driver", "helpers", "others")
console = Console(width=None if sys.stdout.isatty() else 120)


class System(Protocol):
    name: str

    async def start(self) -> None: ...
    async def put(self, key: str, value: bytes) -> None: ...
    async def probe(self, key: str, value: bytes) -> None: ...  # a failover light-load write
    async def wait_stable(self) -> None: ...
    async def kill_leader(self) -> float: ...   # returns the monotonic time of the kill
    async def recover(self) -> None: ...        # bring the killed member back (if not automatic)
    async def stop(self) -> None: ...
    def server_pids(self) -> list[int]: ...
    def helper_pids(self) -> list[int]: ...     # daemons the servers need (Ray's), if any


@dataclass(slots=True)
class WriteStats:
    system: str
    writes: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # process group -> CPU seconds used

    @property
    def per_second(self) -> float:
        return self.writes / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class FailoverStats:
    system: str
    times: list[float]
    failed: int = 0


async def run_writers(system: System, *, writers: int, seconds: float, value_bytes: int
                      ) -> WriteStats:
    values = [os.urandom(value_bytes) for _ in range(writers)]
    await asyncio.gather(*(system.put(f"/bench/w{n}/warmup", values[n]) for n in range(writers)))
    latencies: list[float] = []
    start = time.monotonic()
    deadline = start + seconds
    last_ack = start

    async def writer(n: int) -> None:
        nonlocal last_ack
        i = 0
        while (t0 := time.monotonic()) < deadline:
            await system.put(f"/bench/w{n}/{i}", values[n])
            last_ack = time.monotonic()
            latencies.append(last_ack - t0)
            i += 1

    pids = {"servers": system.server_pids(), "driver": [os.getpid()],
            "helpers": system.helper_pids()}
    cpu_before = {group: cpu_seconds(p) for group, p in pids.items()}
    busy_before = machine_busy_seconds()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    cpu = {group: cpu_seconds(p) - cpu_before[group] for group, p in pids.items()}
    cpu["others"] = max(0.0, machine_busy_seconds() - busy_before - sum(cpu.values()))
    return WriteStats(system.name, len(latencies), last_ack - start, latencies, cpu)


async def failover_trial(system: System, *, timeout: float = 30.0) -> float | None:
    """Seconds from killing the leader to the first ack of a write issued after the kill."""
    await system.wait_stable()
    killed_at: float | None = None
    first_ack: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    probes: set[asyncio.Task] = set()
    value = os.urandom(512)

    async def probe(n: int) -> None:
        issued = time.monotonic()
        try:
            await asyncio.wait_for(system.probe(f"/bench/failover/{n}", value), timeout)
        except Exception:  # noqa: BLE001 - a lost probe just does not count
            return
        if killed_at is not None and issued >= killed_at and not first_ack.done():
            first_ack.set_result(time.monotonic())

    n = 0
    start = time.monotonic()
    try:
        while not first_ack.done() and time.monotonic() - start < timeout:
            if killed_at is None and time.monotonic() - start >= 0.5:
                killed_at = await system.kill_leader()
            task = asyncio.create_task(probe(n))
            probes.add(task)
            task.add_done_callback(probes.discard)
            n += 1
            await asyncio.sleep(PROBE_INTERVAL)
        result = first_ack.result() - killed_at if first_ack.done() else None
    finally:
        await asyncio.gather(*list(probes), return_exceptions=True)
        await system.recover()
    return result


async def run_failovers(system: System, trials: int) -> FailoverStats:
    stats = FailoverStats(system.name, [])
    for trial in range(trials):
        took = await failover_trial(system)
        if took is None:
            stats.failed += 1
            console.print(f"  {system.name} failover {trial + 1}/{trials}: no write acknowledged")
        else:
            stats.times.append(took)
            console.print(f"  {system.name} failover {trial + 1}/{trials}: {took * 1000:.0f} ms")
    await system.wait_stable()
    return stats


class KubemuSystem:
    name = "kubemu"

    def __init__(self, data_dir: Path, *, cluster: str, tick_seconds: float,
                 election_tick: int, worker_niceness: int) -> None:
        self._data_dir = data_dir
        self._cluster = cluster
        self._namespace = f"kubemu-{cluster}"
        self._tick_seconds = tick_seconds
        self._election_tick = election_tick
        self._worker_niceness = worker_niceness
        self.client = None
        self._handles: list = []

    async def start(self) -> None:
        import ray
        from kubemu.actors.store_client import StoreClient
        from kubemu.actors.store_replica import start_store

        if not ray.is_initialized():  # a harness may have connected already
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # Ray renices its workers to 15 by default; etcd runs at 0 (see --ray-worker-niceness)
            os.environ["RAY_worker_niceness"] = str(self._worker_niceness)
            ray.init(namespace=self._namespace, include_dashboard=False, log_to_driver=False)
        # keep the handles: a non-detached actor dies when its last handle goes away
        self._handles = await start_store(
            cluster=self._cluster, replicas=3, data_dir=str(self._data_dir),
            tick_seconds=self._tick_seconds, election_tick=self._election_tick)
        self.client = await StoreClient.connect(cluster=self._cluster, replicas=3)
        await self.wait_stable()

    async def put(self, key: str, value: bytes) -> None:
        await self.client.put(key, value)

    probe = put

    def _replica(self, member: int):
        import ray
        return ray.get_actor(f"store-{member}", namespace=self._namespace)

    async def _status(self, member: int) -> dict | None:
        try:
            return await asyncio.wait_for(self._replica(member).status.remote(), 1.0)
        except Exception:  # noqa: BLE001 - dead, restarting or slow: not healthy yet
            return None

    async def wait_stable(self, *, timeout: float = 60.0) -> int:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            sts = await asyncio.gather(*(self._status(m) for m in (1, 2, 3)))
            if all(sts):
                leaders = {st["leader"] for st in sts}
                commit = max(st["commit"] for st in sts)
                leader = leaders.pop() if len(leaders) == 1 else 0
                if leader and all(st["applied"] >= commit - 2 for st in sts):
                    return leader
            await asyncio.sleep(0.05)
        raise TimeoutError(f"kubemu store not stable within {timeout}s")

    async def kill_leader(self) -> float:
        # SIGKILL, like a crash: the process is gone when os.kill returns. (ray.kill only asks
        # Ray to kill it, and a leader still alive for those milliseconds acknowledges the
        # probes sent meanwhile, which would time the kill request, not the failover.)
        leader = await self.wait_stable()
        status = await self._status(leader)
        if status is None:
            raise RuntimeError(f"leader store-{leader} did not answer its status")
        killed_at = time.monotonic()
        os.kill(status["pid"], signal.SIGKILL)
        return killed_at  # Ray restarts the actor (max_restarts=-1); it recovers from its WAL

    async def recover(self) -> None:
        return None  # Ray restarts the actor (max_restarts=-1); it recovers from its WAL

    async def stop(self) -> None:
        import ray
        try:
            if self.client is not None:
                await self.client.close()
        finally:
            ray.shutdown()

    def server_pids(self) -> list[int]:
        return descendants("StoreReplica")

    def helper_pids(self) -> list[int]:
        servers = set(self.server_pids())
        return [pid for pid in descendants() if pid not in servers]


async def bench_system(system: System, args: argparse.Namespace
                       ) -> tuple[WriteStats, FailoverStats | None]:
    console.print(f"[bold]{system.name}[/]: starting")
    await system.start()
    profilers: list[subprocess.Popen] = []
    try:
        if args.profile:
            profilers = start_profilers(system, Path(args.profile), seconds=args.seconds)
        console.print(f"  {args.writers} writers x {args.value_bytes} B for {args.seconds:g} s")
        writes = await run_writers(system, writers=args.writers, seconds=args.seconds,
                                   value_bytes=args.value_bytes)
        for proc in profilers:
            proc.wait()
        console.print(f"  {writes.per_second:,.0f} writes/s")
        failovers = await run_failovers(system, args.failovers) if args.failovers else None
        return writes, failovers
    finally:
        for proc in profilers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await system.stop()


def start_profilers(system: System, out: Path, *, seconds: float) -> list[subprocess.Popen]:
    """py-spy (raw collapsed stacks) on every server process and on this driver."""
    out.mkdir(parents=True, exist_ok=True)
    targets = {f"{system.name.split()[0]}-server-{pid}": pid for pid in system.server_pids()}
    targets[f"{system.name.split()[0]}-driver"] = os.getpid()
    return [subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration",
                              str(max(1, int(seconds))), "--rate", "200", "--format", "raw",
                              "--threads", "--nonblocking", "--output",
                              str(out / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in targets.items()]


def render(writes: list[WriteStats], failovers: list[FailoverStats]) -> tuple[list[Table], str]:
    """Rich tables for the terminal and the same figures as markdown for RESULTS.md."""
    base = next((w.per_second for w in writes if w.system.startswith("etcd")), 0.0)
    t1 = Table(title="durable writes")
    cpu_col = "CPU s servers/driver/helpers/others"
    md = ["### durable writes", "",
          f"| system | writes/s | p50 ms | p99 ms | kubemu/etcd | {cpu_col} |",
          "|---|---:|---:|---:|---:|---:|"]
    for col in ("system", "writes/s", "p50 ms", "p99 ms", "kubemu/etcd", cpu_col):
        t1.add_column(col, justify="left" if col == "system" else "right")
    for w in writes:
        ratio = f"{w.per_second / base:.2f}x" if base and not w.system.startswith("etcd") else "-"
        row = [w.system, f"{w.per_second:,.0f}", f"{percentile(w.latencies, 50) * 1000:.1f}",
               f"{percentile(w.latencies, 99) * 1000:.1f}", ratio,
               "/".join(f"{w.cpu.get(g, 0):.1f}" for g in _CPU_GROUPS)]
        t1.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    t2 = Table(title="leader failover (kill -> next acknowledged write; target <= 1000 ms)")
    md += ["", "### leader failover (kill -> next acknowledged write)", "",
           "| system | trials | median ms | p99 ms | max ms | failed |",
           "|---|---:|---:|---:|---:|---:|"]
    for col in ("system", "trials", "median ms", "p99 ms", "max ms", "failed"):
        t2.add_column(col, justify="left" if col == "system" else "right")
    for f in failovers:
        med = statistics.median(f.times) * 1000 if f.times else 0.0
        row = [f.system, str(len(f.times) + f.failed), f"{med:.0f}",
               f"{percentile(f.times, 99) * 1000:.0f}",
               f"{max(f.times, default=0) * 1000:.0f}", str(f.failed)]
        t2.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    return [t1, t2], "\n".join(md)


def record(markdown: str, args: argparse.Namespace, data_dir: Path) -> None:
    heading = results_heading("bench/store.py")
    section = [heading, describe_machine(data_dir), "", markdown, ""]
    if args.note:
        section += [f"Notes: {args.note}", ""]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section))
    console.print(f"appended to {RESULTS}")


async def main(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="kubemu-bench-", dir=args.data_dir))
    writes: list[WriteStats] = []
    failovers: list[FailoverStats] = []
    try:
        systems: list[Callable[[], System]] = []
        if args.only in ("etcd", "both"):
            systems.append(lambda: EtcdSystem(data_dir / "etcd", pool=args.writers))
        if args.only in ("kubemu", "both"):
            systems.append(lambda: KubemuSystem(data_dir / "kubemu", cluster=args.cluster,
                                                tick_seconds=args.tick_seconds,
                                                election_tick=args.election_tick,
                                                worker_niceness=args.ray_worker_niceness))
        for make in systems:
            w, f = await bench_system(make(), args)
            writes.append(w)
            if f is not None:
                failovers.append(f)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    tables, markdown = render(writes, failovers)
    for table in tables:
        console.print(table)
    if not (args.no_record or args.profile or args.quick):
        record(markdown, args, Path(args.data_dir or tempfile.gettempdir()))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=None, help="write phase length per system")
    p.add_argument("--writers", type=int, default=64, help="concurrent writer tasks")
    p.add_argument("--value-bytes", type=int, default=512)
    p.add_argument("--failovers", type=int, default=None, help="leader kills per system (0: none)")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: 2 s per system, 3 failovers (not recorded)")
    p.add_argument("--only", choices=("etcd", "kubemu", "both"), default="both")
    p.add_argument("--data-dir", default=None, help="parent of the temp data dirs (default: /tmp)")
    p.add_argument("--cluster", default="bench", help="kubemu cluster name (Ray namespace)")
    p.add_argument("--tick-seconds", type=float, default=0.05)
    p.add_argument("--election-tick", type=int, default=10)
    p.add_argument("--ray-worker-niceness", type=int, default=0,
                   help="nice level of Ray workers (Ray's default is 15; 0 = same as etcd)")
    p.add_argument("--profile", default=None, metavar="DIR",
                   help="py-spy the servers and the driver during the write phase (not recorded)")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    p.add_argument("--note", default="", help="free text appended to the RESULTS.md section")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 10.0
    if args.failovers is None:
        args.failovers = 3 if args.quick else 10
    return args


if __name__ == "__main__":
    _args = parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sys.exit(runner.run(main(_args)))
