"""Network benchmark: connections through a ClusterIP, and kube-proxy programming latency.

Three parts (flags run each alone; default all), each a table with median, p99, req/s and
the ratio against a reference run in the same process:
- `--inprocess`: the in-process overlay (`network.fabric.Fabric`): 6 nodes whose ProxyRules
  hold one Service with an EndpointSlice of 6 endpoints (one per node); `--connections`
  connections from a client pod through the ClusterIP, one at a time and `--concurrency` at a
  time. Reference: a raw asyncio TCP echo round trip on 127.0.0.1, a new connection each time
  (connect, 16 bytes there and back, close), in the same event loop.
- `--actors` (bench/network_cluster.py): `bootstrap.up` 3 nodes in 3 zones (time scale 10), a
  Deployment of 6 backends, a ClusterIP Service and a client pod; the client node's actor
  runs the load itself (`load(src_ip, dst_ip, port, count, concurrency, rate=)`) so only the
  hop between node actors is measured, `--actor-connections` connections closed loop at each
  of `--actor-concurrency` (capacity: p99 there is queueing at saturation), then open loop at
  `--rate` (connection i starts at t0 + i/rate, at most `--rate-concurrency` in flight,
  latency from the scheduled start; req/s is the achieved start rate, connections / first
  to last start). Reference: the same load through a second Service on the same pods with
  internalTrafficPolicy Local (kube-proxy picks only the client node's backends: the same
  rules, no hop). Crossed = connections served by another node actor.
- `--programming` (bench/network_cluster.py): `bootstrap.up` 100 nodes in node-pool actors of
  25; `--changes` times a Service is created (selector on one Ready pod, so the
  EndpointSlice controller writes its slice), then a Ready pod is labelled into a second
  Service's selector (its list of Ready pods changes: an EndpointSlice change), and for every
  node the time from the API write's answer until that node's rules route the ClusterIP to a
  backend (`wait_routable` on every pool actor) is one sample: upstream's
  NetworkProgrammingLatency. Reference: the same change seen by one EndpointSlice watch in
  this process (the floor: EndpointSlice controller and watch delivery, no kube-proxy).
Targets (issue 7): >= 5,000 req/s across node actors with p99 <= 5 ms, judged on the paced
run; programming latency p99 <= 1 s. Tables are printed and, unless --no-record, appended to bench/RESULTS.md with
the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop
from kubemu.network.fabric import Fabric, NodeNet, PodEndpoint
from kubemu.network.proxy import ProxyRules
from rich.console import Console
from rich.table import Table

from bench import describe_machine, percentile, results_heading

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TARGET_RPS, TARGET_P99 = 5000.0, 0.005
TARGET_PROGRAMMING_P99 = 1.0
CLUSTER_IP, SERVICE_PORT, POD_PORT = "10.96.0.20", 80, 8080
CLIENT_IP = "10.244.1.9"
console = Console(width=None if sys.stdout.isatty() else 200)


@dataclass
class Row:
    part: str                  # "in-process", "actors" or "programming"
    run: str
    latencies: list[float] = field(default_factory=list)  # seconds, one per sample
    elapsed: float = 0.0       # wall seconds of the whole run (req/s = samples / elapsed)
    concurrency: int = 1
    failed: int = 0
    crossed: int | None = None  # served by another node actor
    reference: Row | None = None
    detail: str = ""
    rate: float | None = None  # open loop: connections scheduled per second

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


# -- in-process ------------------------------------------------------------------------------

def fabric(nodes: int = 6) -> Fabric:
    """`nodes` nodes in 3 zones, each with the Service's rules and one backend pod; the
    client pod on node-1."""
    net = Fabric(rng=random.Random(1))
    names = [f"node-{i + 1}" for i in range(nodes)]
    zones = {name: f"zone-{'abc'[i % 3]}" for i, name in enumerate(names)}
    backends = {f"10.244.{i + 1}.2": name for i, name in enumerate(names)}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP, "ports": [
                   {"name": "http", "port": SERVICE_PORT, "protocol": "TCP",
                    "targetPort": POD_PORT}]}}
    slc = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-1", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4",
           "ports": [{"name": "http", "protocol": "TCP", "port": POD_PORT}],
           "endpoints": [{"addresses": [ip], "conditions": {"ready": True, "serving": True},
                          "nodeName": node, "zone": zones[node],
                          "targetRef": {"kind": "Pod", "name": f"web-{node}",
                                        "namespace": "default"}}
                         for ip, node in backends.items()]}
    for name in names:
        rules = ProxyRules(name, zones[name], rng=random.Random(name))
        rules.update_service(service)
        rules.update_slice(slc)
        net.add_node(NodeNet(name=name, zone=zones[name], rules=rules))
    for ip, node in backends.items():
        net.add_pod(node, PodEndpoint(ip=ip, namespace="default", name=f"web-{node}",
                                      ports=frozenset({POD_PORT})))
    net.add_pod(names[0], PodEndpoint(ip=CLIENT_IP, namespace="default", name="client",
                                      listening=False))
    return net


async def drive(one: Callable[[], Awaitable[object]], count: int, concurrency: int,
                row: Row) -> Row:
    """`count` calls of `one`, `concurrency` at a time; latencies and failures into `row`."""
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            began = time.perf_counter()
            try:
                await one()
            except (ConnectionError, TimeoutError, OSError):
                row.failed += 1
                continue
            row.latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    row.elapsed, row.concurrency = time.perf_counter() - began, concurrency
    return row


async def run_inprocess(args: argparse.Namespace) -> list[Row]:
    net = fabric()
    served: dict[str, int] = {}

    async def through_cluster_ip() -> None:
        reply = await net.connect(src_node="node-1", src_ip=CLIENT_IP, dst_ip=CLUSTER_IP,
                                  port=SERVICE_PORT)
        served[reply.node] = served.get(reply.node, 0) + 1

    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def echo_round_trip() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 16)
        await reader.readexactly(16)
        writer.close()
        await writer.wait_closed()

    rows = []
    try:
        for concurrency in (1, args.concurrency):
            label = "sequential" if concurrency == 1 else "concurrent"
            await drive(echo_round_trip, args.connections // 10, concurrency, Row(
                "in-process", "warm-up"))
            ref = await drive(echo_round_trip, args.connections, concurrency, Row(
                "in-process", f"reference: TCP echo on 127.0.0.1, {label}"))
            served.clear()
            row = await drive(through_cluster_ip, args.connections, concurrency, Row(
                "in-process", f"Fabric ClusterIP, {label}", reference=ref))
            row.crossed = sum(n for node, n in served.items() if node != "node-1")
            rows += [ref, row]
    finally:
        server.close()
    return rows


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(await reader.readexactly(16))
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


# -- tables ------------------------------------------------------------------------------

def render_traffic(rows: list[Row], title: str) -> tuple[Table, str]:
    cols = ("part", "run", "connections", "concurrency", "req/s", "p50 ms", "p99 ms", "max ms",
            "failed", "crossed", "vs reference req/s, p99")
    return _table(title, cols, [[
        r.part, r.run, f"{len(r.latencies) + r.failed:,}",
        str(r.concurrency) if r.rate is None else f"<= {r.concurrency}",
        f"{r.per_second:,.0f}", _ms(percentile(r.latencies, 50)),
        _ms(percentile(r.latencies, 99)), _ms(max(r.latencies, default=0)), str(r.failed),
        "-" if r.crossed is None else f"{r.crossed:,}", _versus(r)] for r in rows])


def render_programming(rows: list[Row], title: str) -> tuple[Table, str]:
    cols = ("part", "change", "samples", "p50 ms", "p99 ms", "max ms", "not routable",
            "vs reference p50, p99")
    return _table(title, cols, [[
        r.part, r.run, f"{len(r.latencies):,}", _ms(percentile(r.latencies, 50)),
        _ms(percentile(r.latencies, 99)), _ms(max(r.latencies, default=0)), str(r.failed),
        "-" if r.reference is None else
        f"{_ratio(percentile(r.latencies, 50), percentile(r.reference.latencies, 50)):.3g}x, "
        f"{_ratio(percentile(r.latencies, 99), percentile(r.reference.latencies, 99)):.3g}x"]
        for r in rows])


def verdicts(rows: list[Row]) -> list[tuple[str, str]]:
    """("Verdict", line) per target, ("Capacity", line) per closed-loop row: those measure
    saturation, so their p99 is queueing and no verdict is drawn from them."""
    lines = []
    across = [r for r in rows if r.part == "actors" and r.reference is not None]
    for r in (r for r in across if r.rate is None):
        text = (f"closed loop at concurrency {r.concurrency}: {r.per_second:,.0f} req/s "
                f"across node actors, p50 {percentile(r.latencies, 50) * 1e3:.2f} ms, p99 "
                f"{percentile(r.latencies, 99) * 1e3:.2f} ms, {r.failed} failed")
        lines.append(("Capacity", text))
    for r in (r for r in across if r.rate is not None):
        p99 = percentile(r.latencies, 99)
        ok = r.per_second >= TARGET_RPS and p99 <= TARGET_P99 and not r.failed
        text = (f"across node actors >= {TARGET_RPS:,.0f} req/s with p99 <= "
                f"{TARGET_P99 * 1e3:.0f} ms: {'PASS' if ok else 'FAIL'} (paced at "
                f"{r.rate:,.0f}/s: achieved {r.per_second:,.1f} req/s, p50 "
                f"{percentile(r.latencies, 50) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms from "
                f"the scheduled start, {r.failed} failed)")
        lines.append(("Verdict", text))
    programmed = [r for r in rows if r.part == "programming" and r.reference is not None]
    if programmed:
        every = [x for r in programmed for x in r.latencies]
        missing = sum(r.failed for r in programmed)
        p99 = percentile(every, 99)
        ok = p99 <= TARGET_PROGRAMMING_P99 and not missing
        text = (f"programming latency p99 <= {TARGET_PROGRAMMING_P99:g} s: "
                f"{'PASS' if ok else 'FAIL'} (p50 {percentile(every, 50) * 1e3:.0f} ms, "
                f"p99 {p99 * 1e3:.0f} ms, max {max(every, default=0) * 1e3:.0f} ms over "
                f"{len(every):,} (node, change) pairs, {missing} never routable)")
        lines.append(("Verdict", text))
    return lines


def _table(title: str, cols: tuple[str, ...], rows: list[list[str]]) -> tuple[Table, str]:
    table = Table(title=title)
    for col in cols:
        table.add_column(col, justify="left" if col in ("part", "run", "change") else "right")
    md = ["| " + " | ".join(cols) + " |",
          "|" + "|".join("---" if c in ("part", "run", "change") else "---:" for c in cols)
          + "|"]
    for row in rows:
        table.add_row(*row)
        md.append("| " + " | ".join(row) + " |")
    return table, "\n".join(md)


def _versus(r: Row) -> str:
    if r.reference is None:
        return "-"
    ref = r.reference
    return (f"{_ratio(r.per_second, ref.per_second):.3g}x, "
            f"{_ratio(percentile(r.latencies, 99), percentile(ref.latencies, 99)):.3g}x")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# -- main -------------------------------------------------------------------------------------

def record(sections: list[str], lines: list[tuple[str, str]], note: str, load: tuple) -> None:
    heading = results_heading("bench/network.py")
    section = [heading, describe_machine(Path(tempfile.gettempdir())),
               f"- load average {' '.join(f'{x:.2f}' for x in load)} at the start of the run",
               "", "\n\n".join(sections), ""]
    section += [f"{kind}: {line}\n" for kind, line in lines]
    if note:
        section += [f"Notes: {note}", ""]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section))
    console.print(f"appended to {RESULTS}")


def main(args: argparse.Namespace) -> int:
    load = os.getloadavg()
    sections: list[str] = []
    rows: list[Row] = []
    parts: list[tuple[str, Callable[[argparse.Namespace], Awaitable[list[Row]]], str]] = []
    if args.inprocess:
        parts.append(("in-process", run_inprocess, "ClusterIP through the in-process Fabric"))
    if args.actors or args.programming:
        from bench import network_cluster
        if args.actors:
            parts.append(("actors", network_cluster.run_actors,
                          "ClusterIP across node actors"))
        if args.programming:
            parts.append(("programming", network_cluster.run_programming,
                          "kube-proxy programming latency"))
    for name, run, title in parts:
        console.print(f"{name}: running")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            got = runner.run(run(args))
        render = render_programming if name == "programming" else render_traffic
        table, markdown = render(got, title)
        console.print(table)
        details = [f"- {r.run}: {r.detail}" for r in got if r.detail]
        sections.append(f"### {title}\n\n" + markdown + ("\n\n" + "\n".join(details)
                                                           if details else ""))
        rows += got
    lines = verdicts(rows)
    for kind, line in lines:
        console.print(f"{kind}: {line}")
    if not args.no_record:
        record(sections, lines, args.note, load)
    return 1 if any(kind == "Verdict" and "FAIL" in line for kind, line in lines) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inprocess", action="store_true", help="the in-process Fabric")
    p.add_argument("--actors", action="store_true", help="across node actors on Ray")
    p.add_argument("--programming", action="store_true",
                   help="kube-proxy programming latency on 100 nodes")
    p.add_argument("--connections", type=int, default=20000, help="in-process connections")
    p.add_argument("--concurrency", type=int, default=64, help="in-process concurrency")
    p.add_argument("--actor-connections", type=int, default=20000)
    p.add_argument("--actor-concurrency", type=int, nargs="+", default=[16, 64])
    p.add_argument("--rate", type=float, default=5000.0,
                   help="actors: the paced (open-loop) run's connections per second")
    p.add_argument("--rate-concurrency", type=int, default=64,
                   help="actors: most connections in flight in the paced run")
    p.add_argument("--actor-time-scale", type=float, default=10.0)
    p.add_argument("--nodes", type=int, default=100, help="programming: nodes")
    p.add_argument("--nodes-per-actor", type=int, default=25)
    p.add_argument("--changes", type=int, default=20, help="programming: Services created")
    p.add_argument("--routable-timeout", type=float, default=30.0)
    p.add_argument("--ray-worker-niceness", type=int, default=0,
                   help="nice level of Ray workers (Ray's default is 15)")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    p.add_argument("--note", default="", help="free text appended to the RESULTS.md section")
    args = p.parse_args(argv)
    if not (args.inprocess or args.actors or args.programming):
        args.inprocess = args.actors = args.programming = True
    return args


if __name__ == "__main__":
    sys.exit(main(parse_args()))
