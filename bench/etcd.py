"""A real 3-member etcd on loopback: the reference the kubemu store is benchmarked against.

`EtcdCluster` starts `etcd` (3.4, Debian `etcd-server`) processes on 127.0.0.1 with distinct
client and peer ports and one data dir each under a base dir, with etcd's defaults for fsync,
snapshot count and election timeout. `EtcdClient` drives it through etcd's JSON gateway
(`POST /v3/kv/put`, `/v3/maintenance/status`) with one shared aiohttp session, sending writes to
the leader's client URL and, when a request fails, finding the leader again (any live member
while there is none) and retrying, as an etcd client does on failover.

A member can be killed with SIGKILL and restarted on the same data dir (it rejoins as itself).
`stop()` kills every process this module started; nothing outlives the benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ETCD_BINARY = "etcd"


def ensure_etcd() -> str:
    """Path of the etcd binary, installing Debian's `etcd-server` when it is missing."""
    path = shutil.which(ETCD_BINARY)
    if path is None:
        subprocess.run(["apt-get", "install", "-y", "etcd-server"], check=True)
        path = shutil.which(ETCD_BINARY)
    if path is None:
        raise RuntimeError("etcd is missing and `apt-get install etcd-server` did not provide it")
    return path


@dataclass(slots=True)
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass(slots=True)
class EtcdCluster:
    """`size` etcd processes on loopback; members are addressed by index 0..size-1."""

    base_dir: Path
    size: int = 3
    members: list[EtcdMember] = field(default_factory=list)
    binary: str = ""

    def start(self) -> None:
        self.binary = ensure_etcd()
        ports = _free_ports(2 * self.size)
        self.members = [
            EtcdMember(name=f"m{i + 1}", client_port=ports[2 * i], peer_port=ports[2 * i + 1],
                       data_dir=Path(self.base_dir) / f"m{i + 1}")
            for i in range(self.size)
        ]
        for index in range(self.size):
            self.start_member(index)

    def start_member(self, index: int) -> None:
        member = self.members[index]
        if member.alive:
            return
        member.data_dir.mkdir(parents=True, exist_ok=True)
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        log = open(member.data_dir.parent / f"{member.name}.log", "ab")
        member.process = subprocess.Popen(
            [self.binary, "--name", member.name, "--data-dir", str(member.data_dir),
             "--listen-client-urls", member.client_url,
             "--advertise-client-urls", member.client_url,
             "--listen-peer-urls", member.peer_url,
             "--initial-advertise-peer-urls", member.peer_url,
             "--initial-cluster", initial, "--initial-cluster-token", "kubemu-bench",
             "--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", "stderr",
             "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()

    def kill_member(self, index: int) -> None:
        """SIGKILL, as a crash: no graceful shutdown, no final fsync."""
        member = self.members[index]
        if member.process is not None:
            member.process.kill()
            member.process.wait()
            member.process = None

    def stop(self) -> None:
        for index in range(len(self.members)):
            self.kill_member(index)

    @property
    def client_urls(self) -> list[str]:
        return [m.client_url for m in self.members]


class EtcdClient:
    """Writes and status through etcd's JSON gateway, following the leader."""

    def __init__(self, cluster: EtcdCluster, *, pool: int = 64, attempt_timeout: float = 5.0
                 ) -> None:
        """`pool` connections at most (0: unbounded); a put attempt that gets no answer within
        `attempt_timeout` (a proposal forwarded to a dead leader is never answered) is retried."""
        self._cluster = cluster
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool, limit_per_host=pool),
            timeout=aiohttp.ClientTimeout(total=attempt_timeout),
        )
        self._target = cluster.client_urls[0]
        self._finding: asyncio.Task | None = None

    async def close(self) -> None:
        await self._session.close()

    async def status(self, url: str, *, timeout: float = 1.0) -> dict | None:
        try:
            async with self._session.post(f"{url}/v3/maintenance/status", json={},
                                          timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                if resp.status != 200:
                    return None
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return None

    async def statuses(self) -> list[dict | None]:
        return list(await asyncio.gather(*(self.status(u) for u in self._cluster.client_urls)))

    async def leader_index(self) -> int | None:
        """Index of a live member that reports itself the leader, or None."""
        for index, st in enumerate(await self.statuses()):
            if st and st.get("leader") and st["leader"] == st.get("header", {}).get("member_id"):
                return index
        return None

    async def put(self, key: str, value: bytes, *, deadline: float = 30.0) -> int:
        """Durable put; retries across leader changes; returns the write's revision."""
        body = {"key": _b64(key.encode()), "value": _b64(value)}
        give_up = time.monotonic() + deadline
        while True:
            target = self._target
            try:
                async with self._session.post(f"{target}/v3/kv/put", json=body) as resp:
                    payload = await resp.json(content_type=None)
                    if resp.status == 200 and "error" not in payload:
                        return int(payload["header"]["revision"])
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
                pass
            if time.monotonic() > give_up:
                raise TimeoutError(f"etcd put {key!r} did not succeed within {deadline}s")
            await self._find_leader(failed=target)

    async def _find_leader(self, *, failed: str) -> None:
        """One leader search at a time; concurrent failures share it."""
        if self._target != failed:
            return
        if self._finding is None or self._finding.done():
            self._finding = asyncio.ensure_future(self._search(failed))
        await asyncio.shield(self._finding)

    async def _search(self, failed: str) -> None:
        index = await self.leader_index()
        if index is not None:
            self._target = self._cluster.client_urls[index]
            return
        await asyncio.sleep(0.005)
        urls = self._cluster.client_urls  # no leader yet: try the next member; it forwards
        self._target = urls[(urls.index(failed) + 1) % len(urls)]

    async def wait_stable(self, *, timeout: float = 60.0) -> int:
        """Wait until every member answers, agrees on one leader and has caught up."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            sts = await self.statuses()
            if all(sts):
                leaders = {st.get("leader") for st in sts}
                indexes = [int(st.get("raftIndex", 0)) for st in sts]
                if len(leaders) == 1 and None not in leaders and max(indexes) - min(indexes) <= 2:
                    index = await self.leader_index()
                    if index is not None:
                        self._target = self._cluster.client_urls[index]
                        return index
            await asyncio.sleep(0.05)
        raise TimeoutError(f"etcd cluster not stable within {timeout}s")


class EtcdSystem:
    """The benchmark's view of etcd: a cluster, a write client (pool of `pool` connections) and
    a failover prober (unbounded pool, 1 s attempts: a request lost with the leader is retried)."""

    name = "etcd 3.4"

    def __init__(self, base_dir: Path, *, pool: int) -> None:
        self.cluster = EtcdCluster(base_dir)
        self._pool = pool
        self._killed: int | None = None
        self.client: EtcdClient | None = None
        self.prober: EtcdClient | None = None

    async def start(self) -> None:
        self.cluster.start()
        self.client = EtcdClient(self.cluster, pool=self._pool)
        self.prober = EtcdClient(self.cluster, pool=0, attempt_timeout=1.0)
        await self.client.wait_stable()

    async def put(self, key: str, value: bytes) -> None:
        await self.client.put(key, value)

    async def probe(self, key: str, value: bytes) -> None:
        await self.prober.put(key, value)

    async def wait_stable(self) -> None:
        await self.client.wait_stable()
        await self.prober.wait_stable()

    async def kill_leader(self) -> float:
        index = await self.client.leader_index()
        if index is None:
            raise RuntimeError("etcd has no leader to kill")
        self._killed = index
        killed_at = time.monotonic()
        self.cluster.kill_member(index)
        return killed_at

    async def recover(self) -> None:
        if self._killed is not None:
            self.cluster.start_member(self._killed)
            self._killed = None

    async def stop(self) -> None:
        for client in (self.client, self.prober):
            if client is not None:
                await client.close()
        self.cluster.stop()

    def server_pids(self) -> list[int]:
        return [m.process.pid for m in self.cluster.members if m.alive]

    def helper_pids(self) -> list[int]:
        return []


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
