"""API server benchmark: kubemu's Kubernetes REST (HTTPS, bearer token) on Ray under 64 clients.

One process drives one cluster: 3 store replicas and `--apiservers` API-server actors sharing
one port (SO_REUSEPORT spreads the connections). Each client is an aiohttp session holding one
keep-alive TLS connection, opened before any phase is timed.

- Paced writes (open loop): `rate` ConfigMap creates/s (~200 B bodies) spread round-robin over
  the clients. A write's latency runs from the moment it was due, not from when it left, so a
  server that falls behind is charged for the queue too (no coordinated omission). 200/s is the
  target (mutating p99 <= 50 ms), then 400/s, then closed loop (every client back to back)
  for the ceiling.
- Reads, closed loop: GET of one of 100 ConfigMaps; LIST of that namespace (`limit=500`;
  every answer must hold the 100 items).
- Watch fan-out: `--watchers` HTTP watches of one namespace (allowWatchBookmarks) from a
  listed resourceVersion, then 200 creates at 100/s. Every watcher must receive every ADDED
  event: missing or duplicated ones are counted and fail the run. Delivery latency = receive
  time - the writer's ack time (same process, one monotonic clock; an event may beat its own
  HTTP answer, so it can be negative).
- References, in the same process, each run right before the API phase of the same load
  shape: `StoreClient.put` straight to the store (values the size of a stored ConfigMap), the
  store work of one API create (namespace read + create txn) at the first rate, and (when
  `etcd` is on PATH, unless --no-etcd) puts to a 3-member etcd 3.4 (bench/etcd.py) at the
  paced rates once Ray has stopped. The ratio column divides the API's p50, p99 and ops/s by
  the store's for the same load. CPU seconds per phase are split into API servers, store
  (replicas or etcd), driver, Ray's daemons and others (unrelated processes).
Run `python bench/api.py --help`; results are printed and appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
import ray  # noqa: E402
import uvloop  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench import (  # noqa: E402
    cpu_seconds, describe_machine, descendants, machine_busy_seconds, percentile, results_heading,
)
from kubemu.actors.apiserver import start_apiservers, stop_apiservers  # noqa: E402
from kubemu.actors.certs import client_ssl_context, make_serving_certs  # noqa: E402
from kubemu.actors.runtime import namespace  # noqa: E402
from kubemu.actors.store_client import StoreClient  # noqa: E402
from kubemu.actors.store_replica import start_store, stop_store  # noqa: E402
from kubemu.cluster.api.registry import builtin_registry  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BODY_BYTES = 200
TARGET_P99 = 0.050
_CPU_GROUPS = ("api", "store", "driver", "ray", "others")
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
console = Console(width=None if sys.stdout.isatty() else 140)

Op = Callable[[int, int], Awaitable[None]]  # (client index, sequence number) -> one request
Run = tuple[list[float], list[str], float]  # latencies, errors, seconds


@dataclass(slots=True)
class Phase:
    name: str                # load shape, e.g. "create 200/s"; rows of one shape are compared
    system: str              # "api", "store", "store read+txn", "etcd 3.4"
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def drive(op: Op, *, clients: int, rate: float | None = None, count: int = 0,
                seconds: float = 0.0, acks: dict[int, float] | None = None) -> Run:
    """Paced (open loop, `rate` given): request i of `count` is due at start + i/rate and sent
    by client i % clients; its latency runs from when it was due. Closed loop (no rate): each
    client sends its next request once the last is answered, for `seconds`. Returns
    (latencies, errors, seconds from the start to the last answer)."""
    latencies: list[float] = []
    errors: list[str] = []
    start = last = time.monotonic() + 0.02

    async def client(n: int) -> None:
        nonlocal last
        i = n
        while i < count if rate else time.monotonic() < start + seconds:
            due = start + i / rate if rate else time.monotonic()
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            try:
                await op(n, i)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                last = max(last, now := time.monotonic())
                latencies.append(now - due)
                if acks is not None:
                    acks[i] = now
            i += clients

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors, last - start


class CpuMeter:
    """CPU seconds per process group over one phase (see bench/__init__.py)."""

    def __init__(self, servers: dict[str, list[int]]) -> None:
        self.pids = {**servers, "driver": [os.getpid()]}
        self.pids["ray"] = [p for p in descendants()
                            if not any(p in ps for ps in self.pids.values())]
        self.before = {g: cpu_seconds(p) for g, p in self.pids.items()}
        self.busy = machine_busy_seconds()

    def stop(self) -> dict[str, float]:
        cpu = {g: cpu_seconds(p) - self.before[g] for g, p in self.pids.items()}
        cpu["others"] = max(0.0, machine_busy_seconds() - self.busy - sum(cpu.values()))
        return cpu


class Cluster:
    """Ray, 3 store replicas, the API servers, a driver-side StoreClient and the HTTP clients."""

    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args, self.data_dir = args, data_dir
        self.token = secrets.token_urlsafe(24)
        self.replicas: list = []  # keep the handles: an actor dies with its last handle
        self.apiservers: list = []
        self.store: StoreClient | None = None
        self.sessions: list[aiohttp.ClientSession] = []
        self.url = ""

    async def start(self) -> None:
        a = self.args
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ["RAY_worker_niceness"] = str(a.ray_worker_niceness)
        ray.init(namespace=namespace(a.cluster), include_dashboard=False, log_to_driver=False)
        port = _free_port()
        certs = make_serving_certs(cluster=a.cluster, hosts=["127.0.0.1"])
        self.replicas = await start_store(cluster=a.cluster, replicas=3,
                                          data_dir=str(self.data_dir / "store"))
        self.apiservers = await start_apiservers(cluster=a.cluster, store_replicas=3,
                                               count=a.apiservers, port=port,
                                               token=self.token, certs=certs)
        self.store = await StoreClient.connect(cluster=a.cluster, replicas=3)
        self.url = f"https://127.0.0.1:{port}"
        self.ssl = client_ssl_context(certs.ca_pem)
        self.sessions = [self.session(limit=1) for _ in range(a.clients)]
        await asyncio.gather(*(self._expect(s.get("/version"), 200) for s in self.sessions))

    def session(self, *, limit: int) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            base_url=self.url, connector=aiohttp.TCPConnector(limit=limit, ssl=self.ssl),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=30))

    def server_pids(self) -> dict[str, list[int]]:
        return {"api": descendants("ApiServerActor"), "store": descendants("StoreReplica")}

    async def create(self, n: int, ns: str, name: str) -> dict:
        return await self._expect(self.sessions[n].post(
            f"/api/v1/namespaces/{ns}/configmaps", data=configmap(ns, name), headers=_JSON), 201)

    async def get(self, n: int, path: str, **params: str) -> dict:
        return await self._expect(self.sessions[n].get(path, params=params or None,
                                                       headers=_JSON), 200)

    async def namespace(self, ns: str) -> None:
        await self._expect(self.sessions[0].post("/api/v1/namespaces", headers=_JSON, data=(
            orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))),
            201)

    async def stop(self) -> None:
        for s in self.sessions:
            await s.close()
        if self.store is not None:
            await self.store.close()
        await stop_apiservers(self.apiservers)
        if self.replicas:
            stop_store(cluster=self.args.cluster, replicas=3)
        ray.shutdown()

    @staticmethod
    async def _expect(request: aiohttp.client._RequestContextManager, status: int) -> dict:
        async with request as resp:
            body = await resp.read()
            if resp.status != status:
                raise RuntimeError(f"HTTP {resp.status}: {body[:200].decode(errors='replace')}")
            return orjson.loads(body)


def configmap(ns: str, name: str) -> bytes:
    """A ConfigMap body padded to about BODY_BYTES."""
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench"}},
           "data": {"payload": ""}}
    obj["data"]["payload"] = "x" * max(0, BODY_BYTES - len(orjson.dumps(obj)))
    return orjson.dumps(obj)


async def measure(phase: Phase, run: Awaitable[Run],
                  servers: dict[str, list[int]]) -> Phase:
    meter = CpuMeter(servers)
    phase.latencies, phase.errors, phase.seconds = await run
    phase.cpu = meter.stop()
    p = phase
    console.print(f"  {p.system:<15} {p.name:<18} {p.per_second:8,.0f}/s  "
                  f"p50 {percentile(p.latencies, 50) * 1e3:7.1f} ms  "
                  f"p99 {percentile(p.latencies, 99) * 1e3:7.1f} ms  errors {len(p.errors)}")
    if p.errors:
        console.print(f"  [red]first error: {p.errors[0]}[/]")
    return phase


async def write_phases(c: Cluster, a: argparse.Namespace, value: bytes) -> list[Phase]:
    """Store reference then API, for each load shape: each paced rate, then closed loop."""
    ns_key = builtin_registry().lookup("", "v1", "namespaces").key("", "bench")
    phases: list[Phase] = []
    for rate in (*a.rates, None):
        shape = f"create {rate:g}/s" if rate else "create closed loop"
        tag = f"r{rate:g}" if rate else "closed"

        async def put(n: int, i: int, tag: str = tag) -> None:
            await c.store.put(f"/bench/ref/{tag}/{i}", value)

        async def read_txn(n: int, i: int, tag: str = tag) -> None:
            await c.store.get(ns_key)  # what an API create does: namespace read, create txn
            key = f"/bench/reftxn/{tag}/{i}"
            r = await c.store.txn([{"key": key, "target": "create", "result": "=", "value": 0}],
                                  [{"op": "put", "key": key, "value": value}], [])
            if not r["succeeded"]:
                raise RuntimeError(f"{key} exists")

        async def create(n: int, i: int, tag: str = tag) -> None:
            await c.create(n, "bench", f"{tag}-{i:07d}")

        ops = [("store", put), ("store read+txn", read_txn), ("api", create)]
        for system, op in (ops if rate == a.rates[0] else [ops[0], ops[2]]):
            run = drive(op, clients=a.clients, rate=rate, count=int((rate or 0) * a.seconds),
                        seconds=a.seconds)
            phases.append(await measure(Phase(shape, system), run, c.server_pids()))
    return phases


async def read_phases(c: Cluster, a: argparse.Namespace) -> list[Phase]:
    names = [f"item-{i:03d}" for i in range(100)]
    await c.namespace("bench-read")
    await asyncio.gather(*(c.create(i % a.clients, "bench-read", n) for i, n in enumerate(names)))

    async def get(n: int, i: int) -> None:
        await c.get(n, f"/api/v1/namespaces/bench-read/configmaps/{names[i * 7919 % 100]}")

    async def lst(n: int, i: int) -> None:
        items = (await c.get(n, "/api/v1/namespaces/bench-read/configmaps", limit="500"))["items"]
        if len(items) != 100:
            raise RuntimeError(f"list returned {len(items)} items, not 100")

    return [await measure(Phase("get (100 objects)", "api"),
                          drive(get, clients=a.clients, seconds=a.read_seconds), c.server_pids()),
            await measure(Phase("list 100 (limit=500)", "api"),
                          drive(lst, clients=a.clients, seconds=a.read_seconds), c.server_pids())]


async def watch_phase(c: Cluster, a: argparse.Namespace) -> Phase:
    """`a.watchers` watches from a listed resourceVersion, then `a.watch_writes` creates at
    `a.watch_rate`/s; waits (30 s at most) until every watcher has every event."""
    ns, path = "bench-watch", "/api/v1/namespaces/bench-watch/configmaps"
    await c.namespace(ns)
    rv = (await c.get(0, path, limit="1"))["metadata"]["resourceVersion"]
    params = {"watch": "1", "allowWatchBookmarks": "true", "resourceVersion": rv,
              "timeoutSeconds": "600"}
    got: list[dict[str, float]] = [{} for _ in range(a.watchers)]  # name -> receive time
    stats = dict.fromkeys(("opened", "duplicates", "bookmarks", "error events", "ended"), 0)
    session = c.session(limit=0)

    async def watcher(w: int) -> None:
        async with session.get(path, params=params,
                               timeout=aiohttp.ClientTimeout(total=None)) as resp:
            if resp.status != 200:
                raise RuntimeError(f"watch HTTP {resp.status}: {(await resp.read())[:200]!r}")
            stats["opened"] += 1
            pending = b""
            while chunk := await resp.content.readany():
                now = time.monotonic()
                *lines, pending = (pending + chunk).split(b"\n")
                for event in (orjson.loads(line) for line in lines if line.strip()):
                    if event["type"] == "ADDED":
                        name = event["object"]["metadata"]["name"]
                        stats["duplicates"] += name in got[w]
                        got[w][name] = now
                    else:
                        stats["bookmarks" if event["type"] == "BOOKMARK" else "error events"] += 1
            stats["ended"] += 1

    tasks = [asyncio.create_task(watcher(w)) for w in range(a.watchers)]
    give_up = time.monotonic() + 20
    while stats["opened"] < a.watchers and time.monotonic() < give_up and \
            not any(t.done() for t in tasks):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # let the servers register the last watchers with their feeds
    acks: dict[int, float] = {}

    async def create(n: int, i: int) -> None:
        await c.create(n, ns, f"w-{i:05d}")

    meter = CpuMeter(c.server_pids())
    _, errors, _ = await drive(create, clients=a.clients, rate=a.watch_rate,
                               count=a.watch_writes, acks=acks)
    give_up = time.monotonic() + 30
    while sum(map(len, got)) < a.watchers * len(acks) and time.monotonic() < give_up:
        await asyncio.sleep(0.05)
    cpu = meter.stop()
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    errors += [f"watcher: {r!r}"[:300] for r in results
               if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError)]
    latencies = [when - acks[i] for seen in got for name, when in seen.items()
                 if (i := int(name[2:])) in acks]
    missing = a.watchers * len(acks) - len(latencies)
    errors += [f"{missing} events missing"] * bool(missing)
    errors += [f"{stats['duplicates']} duplicate events"] * bool(stats["duplicates"])
    note = (f"{len(acks)} writes acked x {a.watchers} watchers: {len(latencies):,} events "
            f"delivered, missing {missing}; " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    last = max((max(seen.values(), default=0.0) for seen in got), default=0.0)
    console.print(f"  watch fan-out: {note}")
    return Phase(f"watch {a.watchers}x{a.watch_writes}", "api", latencies=latencies,
                 seconds=max(1e-9, last - min(acks.values(), default=last)), errors=errors,
                 cpu=cpu, note=note)


async def etcd_phases(a: argparse.Namespace, data_dir: Path, value: bytes) -> list[Phase]:
    from bench.etcd import EtcdSystem
    etcd = EtcdSystem(data_dir / "etcd", pool=a.clients)
    await etcd.start()
    try:
        servers = {"store": etcd.server_pids()}

        async def put(n: int, i: int) -> None:
            await etcd.put(f"/bench/etcd/{i}", value)

        return [await measure(Phase(f"create {rate:g}/s", etcd.name),
                              drive(put, clients=a.clients, rate=rate,
                                    count=int(rate * a.seconds)), servers) for rate in a.rates]
    finally:
        await etcd.stop()


def render(phases: list[Phase]) -> tuple[Table, str]:
    """The rich table and the same rows as markdown."""
    cols = ("load", "system", "ops", "ops/s", "p50 ms", "p99 ms", "max ms",
            "api/store p50, p99, ops/s", "errors", "CPU s " + "/".join(_CPU_GROUPS))
    table = Table(title=f"API server benchmark (target: create p99 <= {TARGET_P99 * 1e3:.0f} ms "
                        "at 200/s)")
    for col in cols:
        table.add_column(col, justify="left" if col in ("load", "system") else "right")
    md = ["| " + " | ".join(cols) + " |", "|" + "|".join(
        "---" if col in ("load", "system") else "---:" for col in cols) + "|"]
    store = {p.name: p for p in phases if p.system == "store"}
    for p in phases:
        ref = store.get(p.name)
        ratio = "-"
        if p.system == "api" and ref is not None and ref.latencies:
            ratio = ", ".join(f"{x:.1f}x" for x in (
                _ratio(percentile(p.latencies, 50), percentile(ref.latencies, 50)),
                _ratio(percentile(p.latencies, 99), percentile(ref.latencies, 99)),
                _ratio(p.per_second, ref.per_second)))
        row = [p.name, p.system, f"{len(p.latencies):,}", f"{p.per_second:,.0f}",
               f"{percentile(p.latencies, 50) * 1e3:.1f}",
               f"{percentile(p.latencies, 99) * 1e3:.1f}",
               f"{max(p.latencies, default=0) * 1e3:.1f}", ratio, str(len(p.errors)),
               "/".join(f"{p.cpu.get(g, 0):.1f}" for g in _CPU_GROUPS)]
        table.add_row(*row, style="red" if p.errors else None)
        md.append("| " + " | ".join(row) + " |")
    md += [""] + [f"- {p.name}: {p.note}" for p in phases if p.note]
    return table, "\n".join(md)


def verdict(phases: list[Phase]) -> str:
    p = next((p for p in phases if p.system == "api" and p.name == "create 200/s"), None)
    if p is None:
        return "target not measured (needs --rates 200)"
    p99 = percentile(p.latencies, 99)
    ok = p99 <= TARGET_P99 and not p.errors and p.per_second >= 0.95 * 200
    return (f"target create p99 <= {TARGET_P99 * 1e3:.0f} ms at 200/s: "
            f"{'PASS' if ok else 'FAIL'} (p99 {p99 * 1e3:.1f} ms, {p.per_second:.0f}/s achieved, "
            f"{len(p.errors)} errors)")


def record(markdown: str, args: argparse.Namespace, data_dir: Path, line: str) -> None:
    heading = results_heading("bench/api.py")
    shape = (f"- API servers: {args.apiservers}, store replicas: 3, clients: {args.clients}, "
             f"{args.seconds:g} s per write phase, {args.read_seconds:g} s per read phase")
    section = [heading, describe_machine(data_dir), shape, "",
               markdown, "", f"Verdict: {line}", ""]
    if args.note:
        section += [f"Notes: {args.note}", ""]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section))
    console.print(f"appended to {RESULTS}")


async def main(args: argparse.Namespace) -> int:
    parent = Path(args.data_dir or tempfile.gettempdir())
    data_dir = Path(tempfile.mkdtemp(prefix="kubemu-apibench-", dir=parent))
    phases: list[Phase] = []
    cluster = Cluster(args, data_dir)
    try:
        console.print(f"[bold]kubemu[/]: 3 store replicas, {args.apiservers} API servers, "
                      f"{args.clients} clients")
        await cluster.start()
        await cluster.namespace("bench")
        await cluster.create(0, "bench", "size-probe")
        stored = await cluster.store.get(
            builtin_registry().lookup("", "v1", "configmaps").key("bench", "size-probe"))
        value = os.urandom(len(stored["value"]))
        console.print(f"  ConfigMap body {len(configmap('bench', 'x'))} B, stored "
                      f"{len(value)} B (the store reference writes values of that size)")
        phases += await write_phases(cluster, args, value)
        phases += await read_phases(cluster, args)
        phases.append(await watch_phase(cluster, args))
        await cluster.stop()
        cluster = None
        if args.etcd and shutil.which("etcd"):
            console.print("[bold]etcd 3.4[/] reference (Ray stopped)")
            phases += await etcd_phases(args, data_dir, value)
    finally:
        if cluster is not None:
            await cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    table, markdown = render(phases)
    console.print(table)
    line = verdict(phases)
    console.print(line)
    watch = next(p for p in phases if p.name.startswith("watch"))
    if watch.errors:
        console.print(f"[bold red]watch fan-out FAILED: {watch.errors}[/]")
    if not (args.no_record or args.quick):
        record(markdown, args, parent, line)
    return 1 if watch.errors else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke check: 5 s phases, not recorded")
    p.add_argument("--seconds", type=float, default=None, help="per write phase (default 20)")
    p.add_argument("--read-seconds", type=float, default=None,
                   help="per read phase (default 10)")
    p.add_argument("--rates", type=float, nargs="+", default=[200.0, 400.0],
                   help="paced write rates; the first also gets the read+txn reference")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--apiservers", type=int, default=2)
    p.add_argument("--watchers", type=int, default=100)
    p.add_argument("--watch-writes", type=int, default=200)
    p.add_argument("--watch-rate", type=float, default=100.0)
    p.add_argument("--no-etcd", dest="etcd", action="store_false",
                   help="skip the etcd reference (it runs only when `etcd` is on PATH)")
    p.add_argument("--cluster", default="apibench", help="kubemu cluster name (Ray namespace)")
    p.add_argument("--data-dir", default=None, help="parent of the temp data dir (default /tmp)")
    p.add_argument("--ray-worker-niceness", type=int, default=0,
                   help="nice level of Ray workers (Ray's default is 15)")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    p.add_argument("--note", default="", help="free text appended to the RESULTS.md section")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 20.0
    if args.read_seconds is None:
        args.read_seconds = 3.0 if args.quick else 10.0
    return args


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    _args = parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sys.exit(runner.run(main(_args)))
