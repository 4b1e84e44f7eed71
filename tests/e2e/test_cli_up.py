"""`kubemu up -f`, `up --detach`, `status` and `down --purge` as a user runs them.

Each test runs the `kubemu` command as a subprocess with KUBEMU_HOME in its own temp dir, a
free API port and `--dns-port 0`, and checks with real kubectl. The foreground cluster runs
from a cluster file with two node groups; the detached one outlives the `up` command on a Ray
head of its own, is found again by `status`, used with kubectl, and removed by `down --purge`
(its files, its Ray processes, its port).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubemu.actors.kubeconfig import pid_alive

UP_DEADLINE = 300.0  # a loaded 2-core machine may need minutes to start Ray
CLUSTER_FILE = """\
apiVersion: kubemu.io/v1alpha1
kind: Cluster
name: groups
storeReplicas: 3
timeScale: 20
apiPort: 6443
zones: 2
nodeGroups:
- count: 2
- name: big
  count: 1
  zone: zone-x
  labels: {tier: compute}
  taints: ["dedicated=compute:NoSchedule"]
  cpu: "32"
  memory: 128Gi
  maxPods: 50
"""


def test_up_from_a_file_registers_both_node_groups(tmp_path):
    home, port = tmp_path / "home", _free_port()
    spec = tmp_path / "cluster.yaml"
    spec.write_text(CLUSTER_FILE)
    log = tmp_path / "up.log"
    with log.open("w") as out:  # --api-port on the command line overrides the file's 6443
        proc = subprocess.Popen([*_kubemu(), "up", "-f", str(spec), "--api-port", str(port),
                                 "--dns-port", "0"], stdout=out, stderr=subprocess.STDOUT,
                                env=_env(home))
    try:
        kubeconfig = home / "groups" / "kubeconfig"
        _wait_for(lambda: (home / "groups" / "cluster.json").exists(), proc, log)
        nodes = _kubectl(kubeconfig, "get", "nodes", "-o", "json")["items"]
        by_name = {n["metadata"]["name"]: n for n in nodes}
        assert sorted(by_name) == ["big-1", "node-1", "node-2"]
        big = by_name["big-1"]
        assert big["metadata"]["labels"]["tier"] == "compute"
        assert big["metadata"]["labels"]["kubemu.io/node-group"] == "big"
        assert big["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-x"
        assert big["spec"]["taints"] == [{"key": "dedicated", "value": "compute",
                                          "effect": "NoSchedule"}]
        assert (big["status"]["capacity"]["cpu"], big["status"]["capacity"]["memory"],
                big["status"]["capacity"]["pods"]) == ("32", "128Gi", "50")
        assert [by_name[f"node-{i}"]["metadata"]["labels"]["topology.kubernetes.io/zone"]
                for i in (1, 2)] == ["zone-a", "zone-b"]
        text = log.read_text()
        assert "nodes Ready 3/3" in text and "3/3 Ready (time scale 20x)" in text, text
        status = subprocess.run([*_kubemu(), "status", "--name", "groups", "-o", "json"],
                                capture_output=True, text=True, timeout=120, env=_env(home))
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert (report["detached"], report["pid"], report["nodesReady"]) == (False, proc.pid, 3)
        assert "kubelet-big-1" in {a["name"] for a in report["actors"] if a["state"] == "ALIVE"}
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C stops everything cleanly
        assert proc.wait(120) == 0, log.read_text()[-3000:]
    assert not (home / "groups" / "cluster.json").exists()


def test_detached_cluster_outlives_up_and_down_purge_removes_it(tmp_path):
    home, port = tmp_path / "home", _free_port()
    run = lambda *args, timeout=120: subprocess.run(  # noqa: E731
        [*_kubemu(), *args], capture_output=True, text=True, timeout=timeout, env=_env(home))
    up = run("up", "--detach", "--name", "bg", "--nodes", "2", "--api-port", str(port),
             "--dns-port", "0", "--time-scale", "20", timeout=UP_DEADLINE)
    assert up.returncode == 0, up.stdout + up.stderr
    record = json.loads((home / "bg" / "cluster.json").read_text())
    try:
        assert record["detached"] and pid_alive(record["pid"])
        assert "kubemu down --name bg" in up.stdout and "2/2 Ready" in up.stdout

        status = run("status", "--name", "bg", "-o", "json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert (report["apiReady"], report["nodes"], report["nodesReady"]) == (True, 2, 2)
        assert {a["name"] for a in report["actors"]} >= {
            "store-1", "store-2", "store-3", "apiserver-1", "dns", "scheduler-1",
            "controller-manager-1", "kubelet-node-1", "kubelet-node-2"}
        assert {a["state"] for a in report["actors"]} == {"ALIVE"}
        table = run("status", "--name", "bg")
        assert "kubelet-node-2" in table.stdout and "2/2 Ready" in table.stdout

        names = _kubectl(home / "bg" / "kubeconfig", "get", "nodes", "-o", "json")["items"]
        assert sorted(n["metadata"]["name"] for n in names) == ["node-1", "node-2"]
    finally:
        down = run("down", "--name", "bg", "--purge")
    assert down.returncode == 0, down.stderr
    assert not (home / "bg").exists()
    assert not pid_alive(record["pid"])
    assert not Path(record["rayTempDir"]).exists()
    with socket.socket() as probe:  # the API server's port is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    gone = run("status", "--name", "bg")
    assert (gone.returncode, gone.stderr) == (1, 'error: no cluster named "bg" is running\n')


@pytest.mark.parametrize("text, line", [
    pytest.param("nodeGroups: [{count: 1, taints: [{key: a, effect: Never}]}]\n",
                 "nodeGroups[0].taints[0].effect: must be one of NoSchedule, "
                 "PreferNoSchedule, NoExecute, not 'Never'", id="bad-taint-effect"),
    pytest.param("storeReplicas: 2\n", "storeReplicas: must be 3 or 5 (got 2)",
                 id="even-store"),
])
def test_a_bad_cluster_file_is_one_line_naming_the_field(tmp_path, text, line):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    done = subprocess.run([*_kubemu(), "up", "-f", str(spec), "--api-port", str(_free_port()),
                           "--dns-port", "0"], capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path / "home"))
    assert (done.returncode, done.stderr) == (1, f"error: {spec}: {line}\n")
    assert not (tmp_path / "home").exists()  # nothing started


# ---- helpers ------------------------------------------------------------------------------

def _kubemu() -> list[str]:
    return [sys.executable, "-m", "kubemu.actors.cli"]


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "KUBEMU_HOME": str(home)}
    env.pop("RAY_ADDRESS", None)
    return env


def _kubectl(kubeconfig: Path, *args: str) -> dict:
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _wait_for(ready, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + UP_DEADLINE
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"kubemu up exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"kubemu up not up within {UP_DEADLINE:.0f}s:\n"
                        f"{log.read_text()[-3000:]}")
        time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
