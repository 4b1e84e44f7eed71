"""The store on real Ray: failover without losing acknowledged writes, recovery from disk,
error results, and exactly-once retries. Conditions are awaited with deadlines, never slept on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
import ray

from kubemu.actors.store_client import StoreClient
from kubemu.actors.store_replica import start_replica, start_store, stop_store
from kubemu.cluster.store.errors import (
    BadRequestError, CompactedError, UnknownOpError, ValueTooLargeError,
)
from kubemu.cluster.store.mvcc import MAX_VALUE_BYTES, prefix_end

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str,
                     details: Callable[[], object] = lambda: "") -> float:
    """Seconds until `check()` holds; fails the test naming `what` after `timeout`."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what} {details()}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_store(ray_session, tmp_path_factory) -> AsyncIterator[tuple[str, list]]:
    cluster = f"live-{uuid.uuid4().hex[:8]}"
    handles = await start_store(cluster=cluster, replicas=3,
                                data_dir=str(tmp_path_factory.mktemp("store")))
    yield cluster, handles
    stop_store(cluster=cluster, replicas=3)


async def test_value_over_limit_is_rejected_with_clear_error(shared_store) -> None:
    cluster, _ = shared_store
    client = await StoreClient.connect(cluster=cluster)
    with pytest.raises(ValueTooLargeError, match=str(MAX_VALUE_BYTES)):
        await client.put("/big", b"x" * (MAX_VALUE_BYTES + 1))
    assert await client.get("/big") is None
    await client.put("/big", b"x" * MAX_VALUE_BYTES)  # the limit itself is fine
    assert len((await client.get("/big"))["value"]) == MAX_VALUE_BYTES
    await client.close()


async def test_unknown_op_raises_unknown_op_error_and_replica_keeps_serving(shared_store) -> None:
    cluster, _ = shared_store
    client = await StoreClient.connect(cluster=cluster)
    before = await client.status()
    with pytest.raises(UnknownOpError, match="frobnicate"):
        await client.request({"op": "frobnicate", "key": "/x"})
    await client.put("/after-unknown-op", b"ok")
    after = await client.status()
    assert {i: s["pid"] for i, s in after.items()} == {i: s["pid"] for i, s in before.items()}
    await client.close()


async def test_write_sent_to_a_follower_is_redirected_and_applied_once(shared_store) -> None:
    cluster, handles = shared_store
    client = await StoreClient.connect(cluster=cluster)
    leader = await client.leader()
    follower = next(i for i in (1, 2, 3) if i != leader)
    request_id = uuid.uuid4().hex
    command = {"op": "put", "key": "/once", "value": b"v"}
    [refused] = await handles[follower - 1].submit.remote([(request_id, command)])
    assert refused["error"]["code"] == "not_leader"
    assert refused["error"]["leader"] == leader
    first = await client.request(command, request_id=request_id)
    retried = await client.request(command, request_id=request_id)  # a forced retry
    [direct] = await handles[leader - 1].submit.remote([(request_id, command)])
    assert retried == first == direct
    kv = await client.get("/once")
    assert kv["version"] == 1 and kv["mod_revision"] == first["revision"]
    await client.close()


async def test_concurrent_requests_are_batched_and_all_answered(shared_store) -> None:
    cluster, _ = shared_store
    client = await StoreClient.connect(cluster=cluster)
    await client.leader()
    results = await asyncio.gather(*(client.put(f"/batch/{i}", b"%d" % i) for i in range(200)))
    assert len({r["revision"] for r in results}) == 200
    assert client.stats["submit_calls"] < 10  # one call per event-loop turn, not per request
    listed = await client.range("/batch/", prefix_end("/batch/"))
    assert listed["count"] == 200
    await client.close()


async def test_once_its_links_are_up_a_client_writes_and_watches_over_them(shared_store) -> None:
    """Ray carries the first calls; then submits and watch polls take the replicas' TCP
    links, with every write acknowledged once and every event seen in order."""
    cluster, _ = shared_store
    client = await StoreClient.connect(cluster=cluster)
    await client.leader()
    start = (await client.put("/linked/start", b"0"))["revision"]
    seen: list[str] = []

    async def follow() -> None:
        async for event in client.watch("/linked/", prefix_end("/linked/"),
                                        start_revision=start + 1):
            seen.append(event["kv"]["key"])

    watcher = asyncio.ensure_future(follow())
    written: list[str] = []

    async def write_more() -> bool:
        key = f"/linked/{len(written):04d}"
        await client.put(key, b"x")
        written.append(key)
        return client.stats["link_calls"] >= 20

    try:
        await wait_until(write_more, timeout=30, what="calls over the links",
                         details=lambda: client.stats)
        for _ in range(20):
            assert await write_more()
        await wait_until(lambda: _true(len(seen) >= len(written)), timeout=10,
                         what="every write seen by the watch")
        assert seen == written
        assert client.stats["link_calls"] >= 40
    finally:
        watcher.cancel()
        await client.close()


async def _true(value: bool) -> bool:
    return value


async def test_unencodable_command_fails_alone_and_its_batch_mates_succeed(shared_store) -> None:
    cluster, _ = shared_store
    client = await StoreClient.connect(cluster=cluster)
    await client.leader()
    calls = client.stats["submit_calls"]
    bad, good = await asyncio.gather(  # one event-loop turn: one batch, packed as msgpack
        client.request({"op": "put", "key": "/enc/bad", "value": {1, 2}}),
        client.put("/enc/good", b"ok"), return_exceptions=True)
    assert client.stats["submit_calls"] == calls + 1
    assert isinstance(bad, BadRequestError) and "cannot be encoded" in str(bad)
    assert good["revision"] > 0 and (await client.get("/enc/good"))["value"] == b"ok"
    await client.close()


async def test_watch_below_compaction_raises_and_watch_from_now_sees_new_writes(
        shared_store) -> None:
    cluster, _ = shared_store
    client = await StoreClient.connect(cluster=cluster)
    revision = (await client.put("/compact/a", b"1"))["revision"]
    await client.compact(revision)
    with pytest.raises(CompactedError):
        async for _ in client.watch("/compact/", prefix_end("/compact/"), start_revision=1):
            pytest.fail("a watch below the compacted revision yielded an event")
    events = client.watch("/compact/", prefix_end("/compact/"), start_revision=0)
    first = asyncio.ensure_future(anext(events))

    async def put_until_seen() -> bool:  # the watch may start after a first put: keep writing
        if not first.done():
            await client.put("/compact/b", b"2")
        return first.done()

    await wait_until(put_until_seen, timeout=30, what="the watch from now to see a write")
    assert first.result()["kv"]["key"] == "/compact/b"
    await events.aclose()
    await client.close()


async def test_acknowledged_writes_survive_leader_kill_and_follower_loss(
        ray_session, tmp_path: Path) -> None:
    cluster = f"failover-{uuid.uuid4().hex[:8]}"
    handles = await start_store(cluster=cluster, replicas=3, data_dir=str(tmp_path))
    client = await StoreClient.connect(cluster=cluster)
    tasks: list[asyncio.Future] = []
    try:
        await _failover_scenario(cluster, str(tmp_path), handles, client, tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
        stop_store(cluster=cluster, replicas=3)


async def _failover_scenario(cluster: str, data_dir: str, handles: list, client: StoreClient,
                             tasks: list[asyncio.Future]) -> None:
    acked: dict[str, bytes] = {}
    stop = asyncio.Event()
    watched: list[dict] = []

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            key, value = f"/live/w{n}/{i}", f"{n}-{i}".encode()
            await client.put(key, value)
            acked[key] = value
            i += 1

    async def watcher() -> None:
        async for event in client.watch("/live/", prefix_end("/live/"), start_revision=1):
            watched.append(event)

    async def acked_at_least(n: int) -> bool:
        return len(acked) >= n

    tasks.append(asyncio.ensure_future(watcher()))
    writers = [asyncio.ensure_future(writer(n)) for n in range(4)]
    tasks.extend(writers)
    await wait_until(lambda: acked_at_least(100), timeout=30, what="100 writes")

    # 1. kill the leader: Ray restarts it, it recovers from its WAL and rejoins
    old = (await client.status())[await client.leader()]
    killed_at = time.monotonic()
    # SIGKILL, a crash: gone when os.kill returns (ray.kill is asynchronous, and a leader still
    # alive for those milliseconds could acknowledge the probe itself). Ray restarts it.
    os.kill(old["pid"], signal.SIGKILL)
    probe = await client.put("/live/probe", b"after-leader-kill")
    failover = time.monotonic() - killed_at
    acked["/live/probe"] = b"after-leader-kill"
    new_leader = await client.leader()
    term = (await client.status())[new_leader]["term"]
    print(f"\nleader {old['id']} killed: a new leader ({new_leader}, term {term}) "
          f"committed a write after {failover:.2f}s")
    assert term > old["term"] and probe["revision"] > 0
    assert failover < 15, "failover took far longer than a few election timeouts"

    async def restarted_is_back() -> bool:
        s = (await client.status()).get(old["id"])
        return s is not None and s["pid"] != old["pid"] and s["term"] == term

    await wait_until(restarted_is_back, timeout=30, what="the killed leader to come back")
    mark = len(acked)
    await wait_until(lambda: acked_at_least(mark + 100), timeout=30,
                     what="writes after failover")

    # 2. kill a follower for good: the restarted replica now carries the quorum
    leader = await client.leader()
    gone = next(i for i in (1, 2, 3) if i not in (leader, old["id"]))
    ray.kill(handles[gone - 1], no_restart=True)
    mark = len(acked)
    await wait_until(lambda: acked_at_least(mark + 100), timeout=30,
                     what="writes with 2 of 3 replicas")
    stop.set()
    await asyncio.gather(*writers)

    # 3. every acknowledged write is there, read back linearizably, applied once
    listed = await client.range("/live/", prefix_end("/live/"))
    stored = {kv["key"]: kv["value"] for kv in listed["kvs"]}
    missing = sorted(k for k in acked if stored.get(k) != acked[k])
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    assert all(kv["version"] == 1 for kv in listed["kvs"])
    final = listed["revision"]

    # 4. the replica killed for good comes back from its files; every replica catches up
    start_replica(cluster=cluster, id=gone, replicas=3, data_dir=data_dir)
    last: dict = {}

    async def all_caught_up() -> bool:
        now = last["statuses"] = await client.status()
        leaders = [s for s in now.values() if s["state"] == "leader"]
        return len(now) == 3 and len(leaders) == 1 and all(
            s["applied"] == leaders[0]["applied"] and s["revision"] >= final
            for s in now.values())

    await wait_until(all_caught_up, timeout=30, what="every replica to catch up with the leader",
                     details=lambda: last)

    # 5. the watch saw every write once, in revision order, across the failover
    async def watch_caught_up() -> bool:
        return bool(watched) and watched[-1]["kv"]["mod_revision"] >= final

    await wait_until(watch_caught_up, timeout=30, what="the watch to reach the last write")
    revisions = [e["kv"]["mod_revision"] for e in watched]
    assert revisions == sorted(set(revisions)), "watch events out of order or duplicated"
    seen = {e["kv"]["key"]: e["kv"]["value"] for e in watched if e["type"] == "PUT"}
    assert {k: seen.get(k) for k in acked} == acked


async def test_a_frozen_leader_is_left_for_the_next_within_the_request_deadline(
        ray_session, tmp_path: Path) -> None:
    """A leader that stops answering but is not dead (SIGSTOP: Ray reports nothing) must not
    hold a write past its deadline: the client notices the new leader and retries there."""
    cluster = f"frozen-{uuid.uuid4().hex[:8]}"
    await start_store(cluster=cluster, replicas=3, data_dir=str(tmp_path))
    client = await StoreClient.connect(cluster=cluster, timeout=6.0)  # < one try's 8 s limit
    frozen: int | None = None
    try:
        await client.put("/frozen/before", b"1")
        old = (await client.status())[await client.leader()]
        frozen = old["pid"]
        os.kill(frozen, signal.SIGSTOP)
        written = await client.put("/frozen/after", b"2")
        leader = await client.leader()
        assert leader != old["id"] and written["revision"] > 0
        assert (await client.get("/frozen/after"))["value"] == b"2"
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        await client.close()
        stop_store(cluster=cluster, replicas=3)


async def test_replica_behind_a_compaction_catches_up_by_snapshot_and_recovers_from_it(
        ray_session, tmp_path: Path) -> None:
    cluster = f"snapshot-{uuid.uuid4().hex[:8]}"
    data_dir = str(tmp_path)
    handles = await start_store(cluster=cluster, replicas=3, data_dir=data_dir,
                                snapshot_every=50)
    client = await StoreClient.connect(cluster=cluster)
    try:
        leader = await client.leader()
        lagger = next(i for i in (1, 2, 3) if i != leader)
        ray.kill(handles[lagger - 1], no_restart=True)
        for _ in range(2):  # a store snapshots once per as many entries as it has keys
            await asyncio.gather(*(client.put(f"/snap/{i:03d}", b"%d" % i)
                                   for i in range(300)))

        async def leader_compacted() -> bool:  # the log the lagger would need is gone
            return (await client.status())[leader]["snapshot_index"] > 100

        await wait_until(leader_compacted, timeout=30, what="the leader to compact its log")

        handles[lagger - 1] = start_replica(cluster=cluster, id=lagger, replicas=3,
                                            data_dir=data_dir, snapshot_every=50)

        last: dict = {}

        async def lagger_has(revision: int, *, not_pid: int = 0) -> bool:
            all_ = last["statuses"] = await client.status()
            s = all_.get(lagger)
            return (s is not None and s["revision"] >= revision and s["snapshot_index"] > 0
                    and s["pid"] != not_pid)

        final = (await client.range("/snap/", prefix_end("/snap/")))["revision"]
        await wait_until(lambda: lagger_has(final), timeout=30,
                         what="the lagging replica to install the leader's snapshot",
                         details=lambda: last)
        pid = (await client.status())[lagger]["pid"]
        ray.kill(handles[lagger - 1], no_restart=False)  # restart: recover from that snapshot
        await wait_until(lambda: lagger_has(final, not_pid=pid), timeout=30,
                         what="the replica to recover from its snapshot and WAL",
                         details=lambda: last)
        read = {"op": "range", "key": "/snap/", "range_end": prefix_end("/snap/")}
        answer: dict = {}

        async def lagger_serves_read() -> bool:  # a follower answers reads via ReadIndex
            [answer["local"]] = await handles[lagger - 1].submit.remote([(uuid.uuid4().hex, read)])
            return "error" not in answer["local"]  # not_leader until it hears the leader

        await wait_until(lagger_serves_read, timeout=30, what="a read served by the replica",
                         details=lambda: answer)
        local = answer["local"]
        assert local["count"] == 300
        assert [kv["value"] for kv in local["kvs"]] == [b"%d" % i for i in range(300)]
    finally:
        await client.close()
        stop_store(cluster=cluster, replicas=3)
