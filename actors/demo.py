"""The short demo behind `kubemu demo`: a replicated store surviving the loss of its leader.

It starts Ray locally, starts the Raft-replicated store, writes keys while a watch follows
them, kills the leader actor (Ray restarts it from its WAL), keeps writing, and checks that
every acknowledged write is present and the watch saw every change exactly once, in order.
"""

from __future__ import annotations

import asyncio
import time

import ray
from rich.console import Console
from rich.table import Table

from kubemu.actors.store_client import StoreClient
from kubemu.actors.store_replica import start_store

_CLUSTER = "demo"


async def run_store_demo(console: Console, *, replicas: int, writes: int, data_dir: str) -> bool:
    ray.init(namespace=f"kubemu-{_CLUSTER}", include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        return await _demo(console, replicas=replicas, writes=writes, data_dir=data_dir)
    finally:
        ray.shutdown()


async def _demo(console: Console, *, replicas: int, writes: int, data_dir: str) -> bool:
    console.print(f"starting a {replicas}-replica store on local Ray (data in {data_dir})")
    handles = await start_store(cluster=_CLUSTER, replicas=replicas, data_dir=data_dir)
    client = await StoreClient.connect(cluster=_CLUSTER, replicas=replicas)
    try:
        leader = await client.leader()
        console.print(f"leader elected: store-{leader}")
        start = (await client.range("/", "\0", limit=1))["revision"] + 1
        seen: list[dict] = []
        watcher = asyncio.create_task(_follow(client, start, seen))

        acked: dict[str, bytes] = {}
        await _write(client, acked, 0, writes)
        console.print(f"wrote {writes} keys; killing the leader store-{leader}")
        killed_at = time.monotonic()
        ray.kill(handles[leader - 1], no_restart=False)
        await _write(client, acked, writes, writes + 1)
        failover = time.monotonic() - killed_at
        await _write(client, acked, writes + 1, 2 * writes)
        new_leader = await client.leader()

        missing = [k for k, v in acked.items() if (kv := await client.get(k)) is None
                   or kv["value"] != v]
        await _wait_for(lambda: len(seen) >= len(acked), seconds=30)
        watcher.cancel()
        revisions = [e["kv"]["mod_revision"] for e in seen]
        in_order = revisions == sorted(set(revisions)) and len(seen) == len(acked)

        table = Table(title="kubemu store demo")
        table.add_column("check")
        table.add_column("result")
        table.add_row("acknowledged writes", str(len(acked)))
        table.add_row("missing or wrong after failover", str(len(missing)))
        table.add_row("new leader", f"store-{new_leader}")
        table.add_row("leader kill -> next committed write", f"{failover * 1000:.0f} ms")
        table.add_row("watch events (in order, no gaps)", f"{len(seen)} ({'yes' if in_order else 'NO'})")
        console.print(table)
        ok = not missing and in_order
        console.print("[green]ok[/green]" if ok else "[red]FAILED[/red]")
        return ok
    finally:
        await client.close()


async def _write(client: StoreClient, acked: dict[str, bytes], lo: int, hi: int) -> None:
    async def one(i: int) -> None:
        key, value = f"/demo/key-{i:05d}", f"value {i}".encode()
        await client.put(key, value)
        acked[key] = value

    for base in range(lo, hi, 32):
        await asyncio.gather(*(one(i) for i in range(base, min(base + 32, hi))))


async def _follow(client: StoreClient, start: int, seen: list[dict]) -> None:
    async for event in client.watch("/demo/", "/demo0", start_revision=start):
        seen.append(event)


async def _wait_for(predicate, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)
