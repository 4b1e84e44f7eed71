"""A kubemu cluster across netns hosts, started as a user on the head host starts it:
`kubemu up --address <head>:6379 --bind <head ip> --zone-per-host ...` in the head's shell,
stopped by `kubemu down` there.

The test process stays outside every host, on the bridge (10.77.S.1), as a machine on the
hosts' network: it reads the kubeconfig and cluster.json `kubemu up` wrote under the head's
$KUBEMU_HOME and talks to the API server at the head's address over HTTPS. What needs Ray
(where actors run, `kubemu net curl`) runs as a command on the head host.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubemu.actors.access import ApiAccess
from kubemu.actors.kubeconfig import cluster_record_path, kubeconfig_path

from tests.multihost.netns import RAY_PORT, Hosts

__all__ = ["NetnsCluster", "start_cluster", "until"]

UP_TIMEOUT = 300.0


@dataclass
class NetnsCluster:
    hosts: Hosts
    name: str
    access: ApiAccess
    process: subprocess.Popen  # `kubemu up` on the head (through nsenter)
    log: Path

    @property
    def ray_address(self) -> str:
        return f"{self.hosts.head.ip}:{RAY_PORT}"

    def client(self):
        """An ApiClient from outside the hosts (use it inside one asyncio.run)."""
        return self.access.client(user_agent="multihost-test")

    def ray_facts(self) -> dict:
        """tests.multihost.facts.ray_facts, asked from a process on the head."""
        proc = self.hosts.head.sh(
            f"python -m tests.multihost.facts {self.ray_address} {self.name}", timeout=120)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def kubemu(self, *args: str, timeout: float = 180,
               check: bool = True) -> subprocess.CompletedProcess:
        """`kubemu ARGS --name NAME` in the head's shell (joined to its Ray)."""
        command = " ".join(shlex.quote(a) for a in
                           ("python", "-m", "kubemu.actors.cli", *args, "--name", self.name))
        return self.hosts.head.sh(command, env={"RAY_ADDRESS": self.ray_address},
                                  timeout=timeout, check=check)

    def stop(self) -> None:
        """`kubemu down` on the head; the up process is killed if it does not end."""
        if self.process.poll() is None:
            self.kubemu("down", "--timeout", "60", timeout=120, check=False)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def start_cluster(hosts: Hosts, *, name: str, nodes: int, zones: int, time_scale: float,
                  extra: tuple[str, ...] = ()) -> NetnsCluster:
    """Run `kubemu up` on the head host; return once it wrote cluster.json (every node has
    registered by then). RuntimeError with the end of its output when it exits first."""
    head = hosts.head
    home = head.home / "kubemu"
    log = head.home / f"kubemu-up-{name}.log"
    argv = [sys.executable, "-m", "kubemu.actors.cli", "up", "--name", name,
            "--address", f"{head.ip}:{RAY_PORT}", "--bind", head.ip, "--dns-port", "0",
            "--nodes", str(nodes), "--zones", str(zones), "--time-scale", str(time_scale),
            *extra]
    with log.open("w") as out:
        process = head.popen(argv, stdout=out, stderr=subprocess.STDOUT)
    record = cluster_record_path(name, home=home)
    deadline = time.monotonic() + UP_TIMEOUT
    while not record.is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            raise RuntimeError(f"kubemu up did not start the cluster: "
                               f"{log.read_text()[-3000:]}")
        time.sleep(0.5)  # waiting for another process's file: nothing to wait on instead
    info = json.loads(record.read_text())
    config = yaml.safe_load(kubeconfig_path(name, home=home).read_text())
    ca_pem = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    access = ApiAccess(server=info["server"], token=info["token"], ca_pem=ca_pem)
    return NetnsCluster(hosts=hosts, name=name, access=access, process=process, log=log)


async def until(check, *, timeout: float = 60.0, what: str = "condition"):
    """Poll the async `check` until it answers something true; AssertionError after
    `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        try:
            last = await check()
        except Exception as exc:  # noqa: BLE001 - an API hiccup while a host dies: retry
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} not reached within {timeout:g}s (last: {last!r})")
