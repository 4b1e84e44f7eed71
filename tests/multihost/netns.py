"""Hosts as Linux namespaces: N emulated machines on one bridge, each running Ray as
ray-cluster.yaml starts it.

A `Host` is a network namespace (its own interfaces, addresses, ports and routes: 10.77.S.2,
.3, ... on a veth pair to the bridge `kmh<pid>` at 10.77.S.1, which is also its default
route) plus a PID, mount and UTS namespace (hostname host-<i>) whose init (PID 1) reaps
orphans. So on each host `ray
stop` sees only that host's processes (never another engineer's Ray on this machine),
/tmp/ray is the host's own directory (bind-mounted from the harness's work dir, so the logs
outlive the host), and killing the init SIGKILLs every process of the host at once, as when a
machine loses power. `$HOME` is per host too (`~/ray_bootstrap_config.yaml`). Every command
runs in a session of its own, so each host's daemons get their own CPU share (the kernel's
autogroup), not a slice of the test process's: a real host has its own CPUs.

`Hosts.start_ray()` plays `ray up`'s part: it reads head_start_ray_commands and
worker_start_ray_commands from ray-cluster.yaml and runs them verbatim (bash, $RAY_HEAD_IP
set) on the head and on each worker. The setup commands (pip install) are skipped: every
host shares this machine's Python, where kubemu is installed already. The head's autoscaler
gets the file prepared as `ray up` would, with no worker IPs: here the harness, not the
autoscaler's SSH updater, starts the workers.

Teardown (`close`, also on any failure in `__enter__`) runs `ray stop` on each live host,
kills each init, deletes the namespaces, veths and bridge. Namespaces a crashed run left
behind (their owner pid is dead) are deleted on the next start.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import yaml

__all__ = ["PREFIX", "ROOT", "Host", "Hosts", "unavailable"]

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "kubemu-mh-"  # namespace names: kubemu-mh-<owner pid>-<index>
RAY_PORT = 6379
START_ATTEMPTS = 3  # a raylet waits ~15 s for its agents: on a loaded machine, try again

# PID 1 of a host: bind its /tmp/ray, say "ready", then reap orphans until killed.
_INIT = """
import os, signal, socket, subprocess, sys
subprocess.run(["mount", "--bind", sys.argv[1], "/tmp/ray"], check=True)
socket.sethostname(sys.argv[2])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
while True:
    signal.sigwait({signal.SIGCHLD})
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""


def unavailable() -> str | None:
    """Why hosts cannot be emulated here (not root, no `ip netns`, no unshare), or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, unshare)"
    for tool in ("ip", "unshare", "nsenter", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                          check=False)
    if made.returncode != 0:
        return f"ip netns add fails: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


@dataclass
class Host:
    name: str  # the network namespace
    ip: str
    home: Path  # its $HOME; its /tmp/ray is home/ray
    init: subprocess.Popen  # unshare, whose child is the host's PID 1
    init_pid: int  # that child's pid as this machine sees it

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment commands on this host get."""
        env = {**os.environ, "HOME": str(self.home), "RAY_USAGE_STATS_ENABLED": "0",
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               "KUBEMU_HOME": str(self.home / "kubemu"), "PYTHONPATH": str(ROOT),
               # a raylet waits this long for its agents, which take many seconds to
               # start on a loaded 2-core machine running several hosts
               "RAY_agent_register_timeout_ms": "180000",
               # each host has its own $HOME, so no shared ~/.ray/auth_token: the emulated
               # hosts run Ray without token authentication, as a private network would
               "RAY_AUTH_MODE": "disabled"}
        for key in ("RAY_ADDRESS", "RAY_TMPDIR"):
            env.pop(key, None)
        return {**env, **(extra or {})}

    def argv(self, argv: list[str]) -> list[str]:
        """`argv` run inside this host's network, PID and mount namespaces."""
        return ["nsenter", f"--target={self.init_pid}", "--net", "--pid", "--mount", "--uts",
                f"--wd={ROOT}", "--", *argv]

    def sh(self, command: str, *, env: dict[str, str] | None = None,
           timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """Run one shell command line on this host (as the cluster launcher does: bash)."""
        proc = subprocess.run(self.argv(["bash", "-c", command]), env=self.env(env),
                              capture_output=True, text=True, timeout=timeout,
                              start_new_session=True, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.name}: `{command}` exited {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        return proc

    def popen(self, argv: list[str], *, env: dict[str, str] | None = None,
              **options) -> subprocess.Popen:
        """Start `argv` on this host (not waited for)."""
        return subprocess.Popen(self.argv(argv), env=self.env(env), start_new_session=True,
                                **options)

    def pids(self) -> list[int]:
        """Every process in this host's network namespace (`ip netns pids`)."""
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                             text=True, check=False).stdout
        return [int(p) for p in out.split()]

    def alive(self) -> bool:
        return self.init.poll() is None

    def kill(self) -> None:
        """Power off: SIGKILL the host's PID 1, so the kernel kills every process in it."""
        if self.alive():
            os.kill(self.init_pid, signal.SIGKILL)
            self.init.wait(timeout=30)
        _kill_netns(self.name)  # anything that entered the netns without the PID namespace


class Hosts:
    """`with Hosts(3, workdir) as hosts:` N hosts on one bridge; hosts[0] is the head."""

    def __init__(self, count: int, workdir: Path) -> None:
        self.count = count
        self.workdir = Path(workdir)
        self.owner = os.getpid()
        self.bridge = f"kmh{self.owner}"
        self.hosts: list[Host] = []
        self.subnet = ""
        self._netns: list[str] = []  # created, whether or not their host started

    def __enter__(self) -> Self:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, index: int) -> Host:
        return self.hosts[index]

    @property
    def head(self) -> Host:
        return self.hosts[0]

    @property
    def workers(self) -> list[Host]:
        return self.hosts[1:]

    def open(self) -> None:
        _delete_stale()
        self.subnet = _free_subnet()
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(self.count):
            self.hosts.append(self._host(i))

    def start_ray(self, config: Path = ROOT / "ray-cluster.yaml", *,
                  timeout: float = 120) -> None:
        """Start Ray on every host with the config's own start commands; wait until the head
        sees every node alive."""
        spec = yaml.safe_load(config.read_text())
        self._write_bootstrap_config(spec)
        head_env = {"RAY_HEAD_IP": self.head.ip}
        _start(self.head, spec["head_start_ray_commands"], env=head_env, timeout=timeout)
        for worker in self.workers:
            _start(worker, spec["worker_start_ray_commands"], env=head_env, timeout=timeout)
        self.wait_ray_nodes(self.count, timeout=timeout)

    def wait_ray_nodes(self, count: int, *, timeout: float = 120) -> dict[str, str]:
        """Until the head's Ray lists exactly `count` live nodes; {node id: ip}."""
        deadline = time.monotonic() + timeout
        last: dict[str, str] = {}
        while time.monotonic() < deadline:
            last = self.ray_nodes()
            if len(last) == count:
                return last
            time.sleep(0.5)  # polling Ray's node table from outside: it has no event for us
        raise TimeoutError(f"{count} live Ray nodes not reached within {timeout:g}s "
                           f"(last: {last})")

    def ray_nodes(self) -> dict[str, str]:
        """{node id: ip} of the live Ray nodes, as the head's GCS lists them."""
        script = ("import json, logging, ray; ray.init(address={!r}, logging_level=logging.ERROR,"
                  " log_to_driver=False, configure_logging=False); print(json.dumps("
                  "{{n['NodeID']: n['NodeManagerAddress'] for n in ray.nodes() if n['Alive']}}))".format(f"{self.head.ip}:{RAY_PORT}"))
        proc = self.head.sh(f"python -c {shlex.quote(script)}", check=False, timeout=60)
        if proc.returncode != 0:
            return {}
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        for host in self.hosts:
            if host.alive():
                try:
                    host.sh("ray stop --force", timeout=60, check=False)
                except subprocess.TimeoutExpired:
                    pass
            host.kill()
        for name in self._netns:
            _kill_netns(name)
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self.hosts, self._netns = [], []
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)

    def _host(self, index: int) -> Host:
        name = f"{PREFIX}{self.owner}-{index}"
        outside, inside = f"kmh{self.owner}v{index}", f"kmh{self.owner}p{index}"
        ip = f"{self.subnet}.{index + 2}"
        _ip("netns", "add", name)
        self._netns.append(name)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", name)
        _ip("link", "set", outside, "master", self.bridge, "up")
        for args in (("link", "set", "lo", "up"), ("link", "set", inside, "name", "eth0"),
                     ("addr", "add", f"{ip}/24", "dev", "eth0"), ("link", "set", "eth0", "up"),
                     ("route", "add", "default", "via", f"{self.subnet}.1")):
            _ip("-n", name, *args)
        home = self.workdir / f"host-{index}"
        (home / "ray").mkdir(parents=True, exist_ok=True)
        init = subprocess.Popen(
            ["ip", "netns", "exec", name, "unshare", "--pid", "--uts", "--fork", "--mount-proc",
             sys.executable, "-c", _INIT, str(home / "ray"), f"host-{index}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # a session of its own: its own CPU autogroup
        line = init.stdout.readline().strip()
        if line != "ready":
            init.kill()
            raise RuntimeError(f"host {name} did not start: {line} {init.stderr.read()}")
        children = Path(f"/proc/{init.pid}/task/{init.pid}/children").read_text().split()
        return Host(name=name, ip=ip, home=home, init=init, init_pid=int(children[0]))

    def _write_bootstrap_config(self, spec: dict) -> None:
        from ray.autoscaler._private.util import prepare_config

        filled = {**spec, "provider": {**spec["provider"], "head_ip": self.head.ip,
                                       "worker_ips": []},
                  "min_workers": 0, "max_workers": 0}
        prepared = prepare_config(filled)
        (self.head.home / "ray_bootstrap_config.yaml").write_text(yaml.safe_dump(prepared))


def _start(host: Host, commands: list[str], *, env: dict[str, str], timeout: float) -> None:
    """Run a host's start commands in order; the whole list again (it begins with `ray
    stop`) when one fails, up to START_ATTEMPTS times."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            for command in commands:
                host.sh(command, env=env, timeout=timeout)
            return
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            if attempt == START_ATTEMPTS:
                raise
            print(f"{host.name}: attempt {attempt} failed, retrying: "
                  f"{str(exc).splitlines()[-1][:200]}", file=sys.stderr)


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _free_subnet() -> str:
    """10.77.S with S the first not assigned on this machine (10.77.0 normally)."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                          check=False).stdout
    for s in range(256):
        if f" 10.77.{s}." not in used:
            return f"10.77.{s}"
    raise RuntimeError("no free 10.77.S.0/24 subnet")


def _delete_stale() -> None:
    """Remove the namespaces and bridges of harnesses whose process is gone."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          check=False).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name[len(PREFIX):].split("-")
        if not name.startswith(PREFIX) or not parts[0].isdigit():
            continue
        if _pid_alive(int(parts[0])):
            continue
        _kill_netns(name)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", f"kmh{parts[0]}"], capture_output=True, check=False)


def _kill_netns(name: str) -> None:
    """SIGKILL every process in network namespace `name`."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                          text=True, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
