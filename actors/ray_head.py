"""Ray head: the Ray instance a detached cluster runs on when kubemu starts Ray itself.

`ray.init()` without an address starts Ray as children of the driver, which kill them when it
exits, so a cluster that outlives `kubemu up --detach` needs Ray started apart from it. kubemu
runs `ray start --head --block` as its own process group (a new session, output to
`<cluster dir>/ray.log`), which is what `ray start --head` does for a terminal, plus one process
that owns the rest: `--block` keeps the command alive while its raylet, GCS and agents run,
kills them all when it gets SIGTERM, and Ray's fate sharing (the reaper / PR_SET_PDEATHSIG)
kills them if it dies any other way. So the head's pid is the cluster's pid in cluster.json:
alive exactly while its Ray is, and the parent of the raylet, which is how `net.join_ray`
finds the GCS address from the pid alone.

Each head gets its own `--temp-dir` (short, under the system temp dir: Unix socket paths are
limited to 107 bytes), so it never writes the machine-wide /tmp/ray/ray_current_cluster that
every other `ray.init()` on the machine would then join; every port is chosen free (GCS, Ray
client server) or left to Ray (0). The head is this machine's alone: it listens on 127.0.0.1
(`--node-ip-address`), so it runs without Ray's token auth, whose mode a driver process fixes
when it imports Ray (a detached cluster over several hosts runs on the user's `ray up`
cluster instead: `--address auto`). The raylet is given minutes to register
(`RAY_raylet_start_wait_time_s`, `RAY_agent_register_timeout_ms`: a loaded 2-core machine
needs more than the defaults); its wait for the agents' port files is fixed (about 15 s) and
too short there, so a `ray start` that exits is tried again. SIGTERM skips Ray's 30 s
drain (kubemu has stopped its actors by then).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RayHead", "Joined", "HeadError", "connect", "start_head", "stop_head",
           "head_temp_dir"]

START_TIMEOUT = 240.0
_HEAD_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
             "RAY_raylet_start_wait_time_s": "180",
             "RAY_agent_register_timeout_ms": "180000",
             "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


class HeadError(RuntimeError):
    """Ray would not start (or stop), in one line."""


@dataclass(frozen=True)
class RayHead:
    pid: int  # `ray start --block`: the process whose life is the head's
    address: str  # the GCS address, host:port
    temp_dir: str
    log: str


@dataclass(frozen=True)
class Joined:
    """How `connect` reached Ray."""
    address: str  # GCS address
    pid: int  # the local process whose life bounds a detached cluster's (module docstring)
    head_pid: int = 0  # the head started for it, 0 when none
    temp_dir: str = ""


async def connect(cluster: str, *, address: str | None, detached: bool, directory: Path,
                  progress: Callable[[str, int, int], None]) -> Joined:
    """Connect this process to Ray in the namespace of `cluster`. Detached: the job's actors
    default to the detached lifetime, and without `address` on a head started here (its pid
    is the cluster's); else on an existing Ray (its local raylet's pid is the cluster's).
    Not detached: `address`, or a local Ray that lives as long as this process."""
    import ray
    from kubemu.actors.runtime import init_local, namespace

    options: dict[str, Any] = {}
    head: RayHead | None = None
    if detached:
        from ray.job_config import JobConfig

        options["job_config"] = JobConfig(default_actor_lifetime="detached")
        options.update(logging_level=logging.ERROR, log_to_driver=False)  # a short-lived driver
    progress("Ray", 0, 1)
    if detached and address is None:
        head = await asyncio.to_thread(start_head, directory)
        address = head.address
    try:
        init_local(namespace=namespace(cluster), **({"address": address} if address else {}),
                   **options)
    except BaseException:
        if head is not None:
            await asyncio.to_thread(stop_head, head.pid, temp_dir=head.temp_dir)
        raise
    progress("Ray", 1, 1)
    gcs = ray.get_runtime_context().gcs_address
    if head is not None:
        return Joined(address=gcs, pid=head.pid, head_pid=head.pid, temp_dir=head.temp_dir)
    return Joined(address=gcs, pid=(_raylet_pid(gcs) or 0) if detached else os.getpid())


def head_temp_dir(directory: Path) -> str:
    """The Ray temp dir of the cluster whose files live in `directory`."""
    digest = hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:10]
    return os.path.join(tempfile.gettempdir(), f"kubemu-ray-{digest}")


def start_head(directory: Path, *, timeout: float = START_TIMEOUT,
               attempts: int = 3) -> RayHead:
    """Start a Ray head for the cluster whose files live in `directory`; return once its GCS
    address is published (blocking: call it in a thread from async code). A raylet that
    gives up waiting for its agents (Ray's fixed wait, too short on a loaded machine) makes
    `ray start` exit: it is tried again, `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return _start_head(directory, timeout=timeout)
        except _Exited as exc:
            if attempt == attempts:
                raise HeadError(f"ray start exited with {exc.code} ({attempts} tries): see "
                                f"{directory / 'ray.log'}") from None
    raise AssertionError("unreachable")


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _start_head(directory: Path, *, timeout: float) -> RayHead:
    temp_dir = head_temp_dir(directory)
    shutil.rmtree(temp_dir, ignore_errors=True)  # a dead head's leftovers
    log = directory / "ray.log"
    argv = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
            f"--port={_free_port()}", *_client_server_port(),
            f"--temp-dir={temp_dir}", "--node-ip-address=127.0.0.1",
            "--include-dashboard=false", "--disable-usage-stats"]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **_HEAD_ENV})
    published = Path(temp_dir) / "ray_current_cluster"
    deadline = time.monotonic() + timeout
    while not published.is_file() or not published.read_text().strip():
        if proc.poll() is not None:
            raise _Exited(proc.returncode)
        if time.monotonic() > deadline:
            stop_head(proc.pid, temp_dir=temp_dir)
            raise HeadError(f"Ray did not start within {timeout:.0f}s: see {log}")
        time.sleep(0.2)
    return RayHead(pid=proc.pid, address=published.read_text().strip(), temp_dir=temp_dir,
                   log=str(log))


def stop_head(pid: int, *, temp_dir: str | None = None, timeout: float = 60.0) -> bool:
    """SIGTERM the head `pid` (it stops its Ray processes), SIGKILL its process group after
    `timeout`; remove its temp dir. True when it had been running."""
    from kubemu.actors.kubeconfig import pid_alive

    running = pid_alive(pid)
    if running:
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(pid):
            _signal(-pid, signal.SIGKILL)  # its session: it was started as a group leader
    if temp_dir:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return running


def _raylet_pid(gcs_address: str) -> int | None:
    """The pid of this machine's raylet of the Ray at `gcs_address`."""
    import psutil  # Ray ships psutil

    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "raylet" and f"--gcs-address={gcs_address}" in cmdline:
            return proc.pid
    return None


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig) if pid > 0 else os.killpg(-pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _client_server_port() -> list[str]:
    """A free port for Ray Client's server (10001 by default, which a second head on this
    machine would collide on) -- only when `ray[client]` is installed: without it `ray start`
    refuses the option."""
    import importlib.util

    return [f"--ray-client-server-port={_free_port()}"] if importlib.util.find_spec(
        "grpc") else []
