"""Scheduler benchmark. `--algorithm`: the scheduling algorithm alone, no API, no asyncio.

`--algorithm` builds nodes (4 cpu, 16Gi, 110 pods, spread over 3 zones) and pods (100m-500m
cpu, 64Mi-512Mi memory, from a seeded rng) in memory and drives the real SchedulerCache,
SchedulingQueue and Framework (default profile) the way the Scheduler component does: pop,
snapshot, schedule, reserve, assume; the "binding" is immediate (the pod is confirmed in the
cache as the informer would, and the Pod/Add cluster event goes to the queue). Per-pod latency
is one scheduling cycle, pop to assumed. The main run is 5,000 pods on 1,000 nodes (adaptive
percentageOfNodesToScore: 42% of the nodes are filtered per pod); the reference run in the
same process is the same workload shape on 100 nodes (500 pods; every node is filtered).
Target: >= 300 pods/s on 1,000 nodes.

`--variant` picks the workload (default `all`: one row pair each). `basic` is the above.
`topology-spread` is upstream scheduler_perf's TopologySpreading shape: every node first gets
one plain pod (scheduled before the clock starts), then the measured pods (label color=blue,
100m / 500Mi) each carry one DoNotSchedule constraint, maxSkew 5 over
topology.kubernetes.io/zone, selecting color=blue. `inter-pod-affinity`: the same plain pods
first, then measured pods in 50 groups, each with a required anti-affinity to its own group on
kubernetes.io/hostname (at most one per node) and a preferred affinity (weight 100) to its own
group on the zone. `deployments` is the scale benchmark's shape: pods of `DEPLOYMENTS` ReplicaSets
in `NAMESPACES` namespaces (labels app and pod-template-hash, no constraints of their own), spread
by the cluster defaults over hostname and zone with the ReplicaSet's selector as upstream's
DefaultSelector gives it; `EXISTING_PER_NODE` such pods per node are placed before the clock
starts, then the measured pods come from ReplicaSets drawn at random. Upstream's CI floor for
TopologySpreading is 85 pods/s at 5,000 nodes; ours runs at 1,000 nodes (`--nodes`), so the
comparison is indicative only.

`--e2e` (bench/scheduler_e2e.py) runs the whole control plane: pods created through the API
until Running and ready, on a Ray cluster of `--e2e-nodes` (100) nodes and, as the reference,
the same components in this process without Ray or HTTP. Targets: >= 100 pods/s
create-to-Running on 100 nodes; pod startup latency p99 <= 1 s at 30 pods/s.
Results are printed as tables and, unless --no-record, appended to bench/RESULTS.md with the
machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubemu.cluster.api.selectors import LabelSelector, selector_from_dict
from kubemu.cluster.scheduler.cache import SchedulerCache
from kubemu.cluster.scheduler.events import ADD, POD, ClusterEvent
from kubemu.cluster.scheduler.framework import Framework, default_profile
from kubemu.cluster.scheduler.queue import SchedulingQueue
from rich.console import Console
from rich.table import Table

from bench import cpu_seconds, describe_machine, percentile, results_heading
from bench.scheduler_e2e import CPU_GROUPS, IN_PROCESS, RAY, E2ePhase, run_systems

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TARGET_PODS_PER_SECOND = 300.0
UPSTREAM_TOPOLOGY_SPREAD_FLOOR = 85.0   # scheduler_perf CI floor, TopologySpreading 5,000 nodes
VARIANTS = ("basic", "topology-spread", "inter-pod-affinity", "deployments")
AFFINITY_GROUPS = 50
DEPLOYMENTS = 1000
NAMESPACES = 100
EXISTING_PER_NODE = 40
TARGET_E2E_PODS_PER_SECOND = 100.0
TARGET_E2E_P99 = 1.0
ZONES = ("zone-a", "zone-b", "zone-c")
console = Console(width=None if sys.stdout.isatty() else 200)


@dataclass
class Run:
    name: str
    nodes: int
    pods: int
    scheduled: int = 0
    unschedulable: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)   # nodes filtered per cycle
    cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.scheduled / self.seconds if self.seconds else 0.0


def make_node(i: int) -> dict:
    name = f"node-{i:05d}"
    zone = ZONES[i % len(ZONES)]
    resources = {"cpu": "4", "memory": "16Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"node-uid-{i}",
                         "labels": {"kubernetes.io/hostname": name,
                                    "topology.kubernetes.io/zone": zone}},
            "spec": {}, "status": {"allocatable": resources, "capacity": resources}}


def make_pod(i: int, rng: random.Random, variant: str = "basic") -> dict:
    """A measured pod of `variant` (basic pods are also the other variants' initial pods)."""
    cpu = f"{rng.randrange(100, 501, 50)}m"
    memory = f"{rng.choice((64, 128, 256, 512))}Mi"
    labels: dict[str, str] = {}
    spec: dict = {}
    if variant == "topology-spread":
        cpu, memory = "100m", "500Mi"
        labels = {"color": "blue"}
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"color": "blue"}}}]
    elif variant == "inter-pod-affinity":
        group = {"group": f"g-{i % AFFINITY_GROUPS}"}
        labels = dict(group)
        spec["affinity"] = {
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": group},
                 "topologyKey": "kubernetes.io/hostname"}]},
            "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": group},
                    "topologyKey": "topology.kubernetes.io/zone"}}]}}
    namespace = "bench"
    if variant == "deployments":
        cpu, memory = "10m", "16Mi"
        d = rng.randrange(DEPLOYMENTS)
        namespace, labels = _deployment(d)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{variant}-{i:05d}", "namespace": namespace,
                         "uid": f"pod-uid-{variant}-{i}", "labels": labels},
            "spec": {"schedulerName": "default-scheduler", "priority": 0, **spec, "containers": [
                {"name": "app", "image": "registry.k8s.io/pause:3.9",
                 "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
            "status": {"phase": "Pending"}}


def _deployment(d: int) -> tuple[str, dict[str, str]]:
    """The namespace and pod labels of the `deployments` variant's ReplicaSet d."""
    return f"ns-{d % NAMESPACES}", {"app": f"app-{d}", "pod-template-hash": f"h{d:05x}"}


def _replica_set_selector(pod: dict) -> LabelSelector:
    """What upstream's DefaultSelector gives a `deployments` pod: its ReplicaSet's selector."""
    labels = pod["metadata"]["labels"]
    return selector_from_dict({"matchLabels": {k: labels[k] for k in ("app",
                                                                      "pod-template-hash")}})


def run_algorithm(name: str, *, nodes: int, pods: int, seed: int,
                  variant: str = "basic") -> Run:
    """Schedule `pods` pods onto `nodes` nodes through cache, queue and framework (after one
    unmeasured plain pod per node for the non-basic variants)."""
    rng = random.Random(seed)
    framework = Framework(default_profile(), rng=random.Random(seed))
    queue = SchedulingQueue(events_by_plugin=framework.events_by_plugin)
    cache = SchedulerCache()
    for i in range(nodes):
        cache.add_node(make_node(i))
    if variant == "deployments":
        framework.plugins["PodTopologySpread"].selectors_for = _replica_set_selector
        for i in range(nodes * EXISTING_PER_NODE):
            placed = make_pod(pods + nodes + i, rng, variant)
            cache.add_pod(cache.assume(placed, f"node-{i % nodes:05d}"))
    elif variant != "basic":
        for i in range(nodes):
            initial = make_pod(pods + i, rng)
            chosen = framework.schedule(initial, cache.snapshot()).node_name
            if chosen is not None:
                cache.add_pod(cache.assume(initial, chosen))
    workload = [make_pod(i, rng, variant) for i in range(pods)]
    clock = time.perf_counter
    for p in workload:
        queue.add(p, clock())
    result = Run(name, nodes, pods)
    pod_added = ClusterEvent(POD, ADD)
    cpu_before = cpu_seconds([os.getpid()])
    start = clock()
    while (info := queue.pop(clock())) is not None:
        began = clock()
        scheduled = framework.schedule(info.pod, cache.snapshot())
        result.evaluated.append(scheduled.evaluated)
        node = scheduled.node_name
        if node is None or not framework.reserve(scheduled.state, info.pod, node).ok:
            queue.add_unschedulable(info, scheduled.rejector_plugins, clock())
            queue.done(info.uid)
            result.unschedulable += 1
            continue
        assumed = cache.assume(info.pod, node)
        result.latencies.append(clock() - began)
        cache.finish_binding(assumed, clock())     # the Binding "succeeds" at once ...
        cache.add_pod(assumed)                     # ... and the informer confirms it
        queue.move_all_on_event(pod_added, clock())
        queue.done(info.uid)
        result.scheduled += 1
    result.seconds = clock() - start
    result.cpu = cpu_seconds([os.getpid()]) - cpu_before
    return result


def run_e2e(args: argparse.Namespace) -> list[E2ePhase]:
    """Throughput and latency phases on the Ray cluster, then on the in-process reference."""
    systems = [RAY, IN_PROCESS] if args.e2e_only is None else [args.e2e_only]
    return run_systems(systems, args, console.print)


def render_e2e(phases: list[E2ePhase]) -> tuple[Table, str]:
    """The end-to-end table (rich and markdown); ratio = Ray cluster / in-process."""
    cols = ("phase", "system", "pods", "pods/s", "p50 ms", "p99 ms", "max ms",
            "ray/in-process pods/s, p50, p99", "never-running",
            "writes/pod pod, Events", "CPU ms/pod", "CPU s " + "/".join(CPU_GROUPS))
    table = Table(title=f"End to end, create -> Running (targets: >= "
                        f"{TARGET_E2E_PODS_PER_SECOND:.0f} pods/s on 100 nodes; p99 <= "
                        f"{TARGET_E2E_P99 * 1e3:.0f} ms at 30 pods/s)")
    left = ("phase", "system")
    for col in cols:
        table.add_column(col, justify="left" if col in left else "right")
    md = ["| " + " | ".join(cols) + " |",
          "|" + "|".join("---" if c in left else "---:" for c in cols) + "|"]
    reference = {p.name: p for p in phases if p.system == IN_PROCESS}
    for p in phases:
        ref = reference.get(p.name)
        ratio = "-"
        if p.system == RAY and ref is not None and ref.latencies:
            ratio = ", ".join(f"{_ratio(a, b):.1f}x" for a, b in (
                (p.per_second, ref.per_second),
                (percentile(p.latencies, 50), percentile(ref.latencies, 50)),
                (percentile(p.latencies, 99), percentile(ref.latencies, 99))))
        events = sum(p.events.values()) + p.event_bumps
        ours = sum(v for g, v in p.cpu.items() if g != "others")
        row = [p.name, p.system, f"{p.pods:,}", f"{p.per_second:,.1f}",
               f"{percentile(p.latencies, 50) * 1e3:.0f}",
               f"{percentile(p.latencies, 99) * 1e3:.0f}",
               f"{max(p.latencies, default=0) * 1e3:.0f}", ratio,
               f"{p.never_running:,}", f"{p.pod_writes:.1f}, {events / max(1, p.pods):.1f}",
               f"{ours / p.running * 1e3:.0f}" if p.running else "-",
               "/".join(f"{p.cpu.get(g, 0):.1f}" for g in CPU_GROUPS)]
        if not p.pods:  # the idle row: only its CPU means something
            row[2:-1] = ["-"] * (len(row) - 3)
        table.add_row(*row, style="red" if p.never_running or p.errors else None)
        md.append("| " + " | ".join(row) + " |")
    md.append("")
    for p in (p for p in phases if p.pods):
        reasons = ", ".join(f"{r} {n / max(1, p.pods):.2f}" for r, n in p.events.most_common())
        md.append(f"- {p.system} {p.name}: {p.seconds:.1f} s first create to last Running, "
                  f"CPU over {p.wall:.1f} s; create errors {len(p.errors)}"
                  + (f" (first: {p.errors[0]})" if p.errors else "")
                  + (f"; worst create lag behind the pace {p.create_lag * 1e3:.0f} ms"
                     if p.name.startswith("latency") else "")
                  + f"; Events per pod by reason: {reasons or 'none'}; "
                    f"Event count bumps {p.event_bumps}")
    return table, "\n".join(md)


def verdict_e2e(phases: list[E2ePhase], nodes: int) -> str:
    tp = next((p for p in phases if p.system == RAY and p.name == "throughput"), None)
    lat = next((p for p in phases if p.system == RAY and p.name.startswith("latency")), None)
    if tp is None or lat is None:
        return "e2e targets not measured (needs the Ray cluster run)"
    tp_ok = tp.per_second >= TARGET_E2E_PODS_PER_SECOND and not tp.never_running
    p99 = percentile(lat.latencies, 99)
    lat_ok = p99 <= TARGET_E2E_P99 and not lat.never_running
    return (f"e2e create-to-Running >= {TARGET_E2E_PODS_PER_SECOND:.0f} pods/s on "
            f"{nodes} nodes: {'PASS' if tp_ok else 'FAIL'} ({tp.per_second:.1f} "
            f"pods/s, {tp.never_running} never Running); pod startup p99 <= "
            f"{TARGET_E2E_P99 * 1e3:.0f} ms at {lat.name.split()[1]}: "
            f"{'PASS' if lat_ok else 'FAIL'} (p50 {percentile(lat.latencies, 50) * 1e3:.0f} ms,"
            f" p99 {p99 * 1e3:.0f} ms, {lat.never_running} never Running)")


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def render(runs: list[Run]) -> tuple[Table, str]:
    cols = ("run", "nodes", "pods", "scheduled", "unschedulable", "seconds", "pods/s",
            "p50 ms", "p99 ms", "max ms", "nodes filtered/pod", "CPU s")
    table = Table(title=f"Scheduler benchmark (target: >= {TARGET_PODS_PER_SECOND:.0f} pods/s "
                        "on 1,000 nodes)")
    for col in cols:
        table.add_column(col, justify="left" if col == "run" else "right")
    md = ["| " + " | ".join(cols) + " |",
          "|" + "|".join("---" if c == "run" else "---:" for c in cols) + "|"]
    for r in runs:
        row = [r.name, f"{r.nodes:,}", f"{r.pods:,}", f"{r.scheduled:,}", f"{r.unschedulable:,}",
               f"{r.seconds:.2f}", f"{r.per_second:,.0f}",
               f"{percentile(r.latencies, 50) * 1e3:.2f}",
               f"{percentile(r.latencies, 99) * 1e3:.2f}",
               f"{max(r.latencies, default=0) * 1e3:.2f}",
               f"{statistics.fmean(r.evaluated) if r.evaluated else 0:.0f}", f"{r.cpu:.1f}"]
        table.add_row(*row, style="red" if r.unschedulable else None)
        md.append("| " + " | ".join(row) + " |")
    return table, "\n".join(md)


def verdict(runs: list[Run]) -> str:
    main = next((r for r in runs if r.name == "algorithm" and r.nodes == 1000), None)
    if main is None:
        return "target not measured (needs the 1,000-node algorithm run)"
    ok = main.per_second >= TARGET_PODS_PER_SECOND and not main.unschedulable
    return (f"target >= {TARGET_PODS_PER_SECOND:.0f} pods/s on 1,000 nodes (algorithm only): "
            f"{'PASS' if ok else 'FAIL'} ({main.per_second:,.0f} pods/s, p99 "
            f"{percentile(main.latencies, 99) * 1e3:.2f} ms per cycle)")


def verdict_variants(runs: list[Run]) -> str:
    """Topology spread against upstream's CI floor; inter-pod affinity reported alongside."""
    parts = []
    for name in ("topology-spread", "inter-pod-affinity"):
        run = next((r for r in runs if r.name == name and r.nodes == max(
            x.nodes for x in runs)), None)
        if run is None:
            continue
        text = (f"{name} {run.per_second:,.0f} pods/s on {run.nodes:,} nodes, p99 "
                f"{percentile(run.latencies, 99) * 1e3:.2f} ms, {run.unschedulable} "
                "unschedulable")
        if name == "topology-spread":
            ok = run.per_second >= UPSTREAM_TOPOLOGY_SPREAD_FLOOR and not run.unschedulable
            text = (f"{'PASS' if ok else 'FAIL'} vs upstream's TopologySpreading floor "
                    f"{UPSTREAM_TOPOLOGY_SPREAD_FLOOR:.0f} pods/s (at 5,000 nodes): {text}")
        parts.append(text)
    return "; ".join(parts)


def _run_name(variant: str) -> str:
    return "algorithm" if variant == "basic" else variant


def record(markdown: str, args: argparse.Namespace, line: str) -> None:
    heading = results_heading("bench/scheduler.py")
    section = [heading, describe_machine(Path(tempfile.gettempdir())),
               "", markdown, "", f"Verdict: {line}", ""]
    if args.note:
        section += [f"Notes: {args.note}", ""]
    with RESULTS.open("a") as fh:
        fh.write("\n".join(section))
    console.print(f"appended to {RESULTS}")


def main(args: argparse.Namespace) -> int:
    sections: list[str] = []
    lines: list[str] = []
    if args.algorithm:
        runs: list[Run] = []
        variants = VARIANTS if args.variant == "all" else (args.variant,)
        for variant in variants:
            for nodes, pods in ((args.nodes, args.pods),
                                (args.reference_nodes, args.pods * args.reference_nodes
                                 // max(1, args.nodes))):
                console.print(f"{variant}: {pods:,} pods on {nodes:,} nodes")
                runs.append(run_algorithm(_run_name(variant), nodes=nodes, pods=pods,
                                          seed=args.seed, variant=variant))
        table, markdown = render(runs)
        console.print(table)
        sections.append(markdown)
        lines.append(verdict(runs))
        if "topology-spread" in variants:
            lines.append(verdict_variants(runs))
    if args.e2e:
        phases = run_e2e(args)
        table, markdown = render_e2e(phases)
        console.print(table)
        shape = (f"- e2e: {args.e2e_nodes} nodes in 3 zones, node-pool actors of "
                 f"{args.nodes_per_actor}, {args.e2e_apiservers} API servers, 3 store "
                 f"replicas, time scale 1; throughput {args.e2e_pods:,} pods with "
                 f"{args.e2e_concurrency} creates in flight; latency {args.e2e_rate:g} pods/s"
                 f" for {args.e2e_seconds:g} s; CPU s over each phase by process group")
        sections.append(shape + "\n\n" + markdown)
        lines.append(verdict_e2e(phases, args.e2e_nodes))
    for line in lines:
        console.print(line)
    if not args.no_record:
        record("\n\n".join(sections), args, "\n\nVerdict: ".join(lines))
    return 1 if any("FAIL" in line for line in lines) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algorithm", action="store_true",
                   help="cache + queue + framework only, in memory (the default)")
    p.add_argument("--e2e", action="store_true", help="end to end through the API server")
    p.add_argument("--variant", choices=(*VARIANTS, "all"), default="all",
                   help="algorithm workload: basic pods, topology spread or inter-pod "
                        "affinity (default: all, one row pair each)")
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=5000)
    p.add_argument("--reference-nodes", type=int, default=100,
                   help="the reference run: the same pods per node on this many nodes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--e2e-nodes", type=int, default=100)
    p.add_argument("--nodes-per-actor", type=int, default=25,
                   help="e2e: emulated nodes per node-pool actor on Ray")
    p.add_argument("--e2e-apiservers", type=int, default=2)
    p.add_argument("--e2e-pods", type=int, default=1000, help="e2e throughput phase pods")
    p.add_argument("--e2e-concurrency", type=int, default=64,
                   help="e2e throughput phase: creates in flight")
    p.add_argument("--e2e-rate", type=float, default=30.0, help="e2e latency phase pods/s")
    p.add_argument("--e2e-seconds", type=float, default=20.0,
                   help="e2e latency phase duration")
    p.add_argument("--e2e-deadline", type=float, default=60.0,
                   help="e2e: seconds after the last create before a pod counts as never "
                        "Running")
    p.add_argument("--e2e-idle-seconds", type=float, default=10.0,
                   help="e2e: CPU of the idle cluster measured this long first (0: skip)")
    p.add_argument("--e2e-only", choices=(RAY, IN_PROCESS), default=None,
                   help="e2e: run one system only (default: both)")
    p.add_argument("--ray-worker-niceness", type=int, default=0,
                   help="nice level of Ray workers (Ray's default is 15)")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    p.add_argument("--note", default="", help="free text appended to the RESULTS.md section")
    args = p.parse_args(argv)
    if not (args.algorithm or args.e2e):
        args.algorithm = True
    return args


if __name__ == "__main__":
    sys.exit(main(parse_args()))
