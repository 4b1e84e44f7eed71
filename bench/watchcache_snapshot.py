"""Watch cache snapshots: what a paginated list's first page costs the API server at 100,000 pods.

A list whose first page continues keeps a snapshot of the cache for its later pages. The
reference, run in the same process, is a full copy of the cache (its sorted keys and its
key -> entry dict: what a snapshot was before it became copy-on-write). Figures:
- `take`: one snapshot of a cache of `--pods` pods (each one after a write, so none is reused);
- `page`: a later page of 500 pods read from a snapshot taken `--writes` writes earlier (the
  writes land between, spread over the keys), as `watchcache_lists.page` serves it;
- `write`: one pod update applied with `--snapshots` snapshots kept (the price of
  copy-on-write; the copy costs nothing there).
The pods are a Running pod of the scale load (~2.3 KiB of JSON, stored zstd-compressed).
Run `python bench/watchcache_snapshot.py [--record]`.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from rich.console import Console
from rich.table import Table

from bench import describe_machine, percentile, results_heading
from kubemu.cluster.api import transformer
from kubemu.cluster.api.lists import ListQuery, encode_continue, plan_list
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.watchcache import View, WatchCache
from kubemu.cluster.api.watchcache_feed import Change
from kubemu.cluster.api.watchcache_lists import page

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PODS = builtin_registry().lookup("", "v1", "pods")
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"labels": {"kubemu.io/load": "scale", "app": "app-1",
                               "pod-template-hash": "665d7d7c84"},
                    "uid": "949a5539-45b9-4c97-8582-f8802507d17c",
                    "creationTimestamp": "2026-11-25T06:51:53Z"},
       "spec": {"containers": [{"name": "app", "image": "nginx", "resources": {
           "requests": {"cpu": "10m", "memory": "16Mi"}}}], "nodeName": "node-378",
           "schedulerName": "default-scheduler", "restartPolicy": "Always"},
       "status": {"phase": "Running", "podIP": "10.241.121.2", "hostIP": "127.1.0.17",
                  "conditions": [{"type": t, "status": "True",
                                  "lastTransitionTime": "2026-11-25T06:51:59Z"}
                                 for t in ("Initialized", "Ready", "ContainersReady",
                                           "PodScheduled")],
                  "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0,
                                         "state": {"running": {
                                             "startedAt": "2026-11-25T06:51:59Z"}}}]}}


def _change(i: int, revision: int) -> Change:
    pod = copy.deepcopy(POD)
    ns, name = f"scale-{i % 100 + 1}", f"app-{i // 100}-665d7d7c84-{i:06d}"
    pod["metadata"].update(name=name, namespace=ns)
    kv = {"key": f"/registry/core/pods/{ns}/{name}", "mod_revision": revision,
          "value": transformer.write(orjson.dumps(pod))}
    return Change({"type": "PUT", "kv": kv})


def _copy(cache: WatchCache) -> View:
    """The reference: the snapshot as a full copy."""
    return View(cache.revision, list(cache.view().keys), dict(cache.objects))


def run(args: argparse.Namespace) -> list[tuple[str, list[float], list[float]]]:
    rng = random.Random(1)
    cache = WatchCache(kind="Pod", trigger_field="spec.nodeName")
    cache.begin(1)
    cache.finish()
    revision = 1
    for i in range(args.pods):
        revision += 1
        cache.apply(_change(i, revision))
    cache.advance(revision)

    def write() -> None:
        nonlocal revision
        revision += 1
        cache.apply(_change(rng.randrange(args.pods), revision))
        cache.advance(revision)

    take_new, take_old = [], []
    for _ in range(args.trials):
        write()
        t0 = time.perf_counter()
        cache.snapshot(now=0.0)
        t1 = time.perf_counter()
        _copy(cache)
        take_old.append(time.perf_counter() - t1)
        take_new.append(t1 - t0)
        cache.close()  # no snapshot kept: every trial takes a fresh one
        cache.alive = cache.ready = True

    page_new, page_old = [], []
    for trial in range(args.trials):
        snapshot, reference = cache.snapshot(now=0.0), _copy(cache)
        for _ in range(args.writes):
            write()
        start = rng.randrange(args.pods - 1000)
        token = encode_continue(snapshot.revision, sorted(cache.objects)[start][len(
            PODS.prefix()):])
        plan = plan_list(PODS, "", ListQuery(limit=500, continue_=token))
        pair = [(snapshot, page_new), (reference, page_old)]
        for view, out in pair if trial % 2 else pair[::-1]:  # the first reads cold entries
            t0 = time.perf_counter()
            answer, _ = page(PODS, plan, view)
            out.append(time.perf_counter() - t0)
            assert len(answer["items"]) == 500
        cache.close()
        cache.alive = cache.ready = True

    write_new, write_old = [], []
    for kept, out in ((args.snapshots, write_new), (0, write_old)):
        for _ in range(kept):
            write()
            cache.snapshot(now=0.0)
        for _ in range(args.trials * 20):
            t0 = time.perf_counter()
            write()
            out.append(time.perf_counter() - t0)
        cache.close()
        cache.alive = cache.ready = True
    return [("take", take_new, take_old), ("page", page_new, page_old),
            (f"write ({args.snapshots} kept)", write_new, write_old)]


def render(rows: list[tuple[str, list[float], list[float]]], args: argparse.Namespace
           ) -> Table:
    table = Table(title=f"watch cache snapshots, {args.pods:,} pods, {args.writes:,} writes "
                        f"between a snapshot and its page, {args.trials} trials")
    for column in ("op", "copy-on-write p50 ms", "p99 ms", "full copy p50 ms", "p99 ms",
                   "ratio p50 (copy / cow)"):
        table.add_column(column)
    for name, new, old in rows:
        p50n, p50o = percentile(new, 50), percentile(old, 50)
        table.add_row(name, f"{p50n * 1000:.3f}", f"{percentile(new, 99) * 1000:.3f}",
                      f"{p50o * 1000:.3f}", f"{percentile(old, 99) * 1000:.3f}",
                      f"{p50o / p50n:.2f}" if p50n else "-")
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pods", type=int, default=100_000)
    p.add_argument("--writes", type=int, default=2_000)
    p.add_argument("--snapshots", type=int, default=8)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = p.parse_args(argv)
    console = Console(width=140, record=True)
    console.print(render(run(args), args))
    if args.record:
        text = console.export_text()
        with RESULTS.open("a") as fh:
            fh.write(results_heading("bench/watchcache_snapshot.py") + "\n```\n" + text +
                     "```\n" + describe_machine(Path("/tmp")) + "\n")
        console.print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
