"""`kubemu up/apply/get/delete/down` as a user runs them, against one real cluster.

One cluster serves the whole module: `kubemu up` runs as a subprocess (its own Ray) with
KUBEMU_HOME in a temp dir and a free port; the tests drive it with the `kubemu` command and
real kubectl, in file order (apply, then get, then delete), and the last one stops it with
`kubemu down`. Pure helpers of the CLI (kind resolution, table layout, apply's patch) are
tested first, without the cluster.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kubemu.actors import cli_objects
from kubemu.actors.certs import make_serving_certs
from kubemu.actors.kubeconfig import kubeconfig_ca, write_kubeconfig
from kubemu.cluster.api.registry import builtin_registry

UP_DEADLINE = 90.0
NS = "clitest"
MANIFEST = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {NS}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {NS}
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {NS}
  labels: {{app: web}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
"""


# ---- pure helpers (no cluster) ------------------------------------------------------------

@pytest.mark.parametrize("arg, plural", [
    pytest.param("deploy", "deployments", id="short-name"),
    pytest.param("deployments", "deployments", id="plural"),
    pytest.param("deployment", "deployments", id="singular"),
    pytest.param("Deployment", "deployments", id="kind"),
    pytest.param("deployments.apps", "deployments", id="plural-dot-group"),
    pytest.param("deployment.v1.apps", "deployments", id="singular-dot-version-dot-group"),
    pytest.param("cm", "configmaps", id="core-short-name"),
    pytest.param("pods.v1", "pods", id="core-plural-dot-version"),
    pytest.param("deploy.batch", None, id="wrong-group-matches-nothing"),
    pytest.param("gizmos", None, id="unknown-matches-nothing"),
])
def test_kind_argument_resolves_like_kubectl(arg, plural):
    found = cli_objects._match(builtin_registry().resources(), arg.lower())
    assert (found.plural if found else None) == plural


_TABLE = {
    "columnDefinitions": [
        {"name": "Name", "format": "name", "priority": 0},
        {"name": "Ready", "priority": 0}, {"name": "Images", "priority": 1},
        {"name": "Age", "priority": 0}],
    "rows": [{"cells": ["web", "1/2", "nginx", "5s"],
              "object": {"metadata": {"namespace": "shop"}}},
             {"cells": ["api-long-name", None, "app", "3m"],
              "object": {"metadata": {"namespace": "x"}}}],
}


@pytest.mark.parametrize("options, lines", [
    pytest.param({}, ["NAME            READY   AGE",
                      "web             1/2     5s",
                      "api-long-name           3m"], id="priority-0-columns"),
    pytest.param({"wide": True}, ["NAME            READY   IMAGES   AGE",
                                  "web             1/2     nginx    5s",
                                  "api-long-name           app      3m"], id="wide"),
    pytest.param({"with_namespace": True}, ["NAMESPACE   NAME            READY   AGE",
                                            "shop        web             1/2     5s",
                                            "x           api-long-name           3m"],
                 id="namespace-first"),
    pytest.param({"name_prefix": "deployment.apps/"},
                 ["NAME                            READY   AGE",
                  "deployment.apps/web             1/2     5s",
                  "deployment.apps/api-long-name           3m"], id="several-kinds-prefix-names"),
])
def test_table_prints_like_kubectl_tabwriter(options, lines):
    assert cli_objects.render_table([_TABLE], **options) == lines


@pytest.mark.parametrize("desired, last, patch", [
    pytest.param({"data": {"a": "1"}}, None, {"data": {"a": "1"}}, id="first-apply"),
    pytest.param({"data": {"a": "1"}}, {"data": {"a": "1", "b": "2"}},
                 {"data": {"a": "1", "b": None}}, id="dropped-key-becomes-null"),
    pytest.param({"data": {"a": "1"}}, {"data": {"a": "1"}, "binaryData": {"x": "eA=="}},
                 {"data": {"a": "1"}, "binaryData": None}, id="dropped-field-becomes-null"),
    pytest.param({"spec": {"ports": [1]}}, {"spec": {"ports": [1, 2]}},
                 {"spec": {"ports": [1]}}, id="lists-replace-whole"),
])
def test_apply_patch_removes_what_the_last_apply_set(desired, last, patch):
    assert cli_objects._merge_patch(desired, last) == patch


def test_kubeconfig_is_private_and_carries_token_and_ca(tmp_path):
    path = write_kubeconfig(tmp_path / "k" / "kubeconfig", "dev", server="https://127.0.0.1:1",
                            token="t0k", ca_pem=b"-----BEGIN CERTIFICATE-----\n")
    config = yaml.safe_load(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config["current-context"] == "kubemu-dev"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert config["users"] == [{"name": "kubemu-dev", "user": {"token": "t0k"}}]
    assert kubeconfig_ca(path) == b"-----BEGIN CERTIFICATE-----\n"


# ---- one live cluster ---------------------------------------------------------------------

@dataclass
class Cluster:
    home: Path
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubemu" / "kubeconfig"

    def kubemu(self, *args: str, stdin: str | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kubemu.actors.cli", *args],
                              input=stdin, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "KUBEMU_HOME": str(self.home)})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    home = tmp_path_factory.mktemp("kubemu-home")
    port = _free_port()
    log = home / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubemu.actors.cli", "up", "--api-port", str(port),
             "--dns-port", "0", "--nodes", "2", "--time-scale", "60"],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "KUBEMU_HOME": str(home)})
    c = Cluster(home=home, port=port, proc=proc, log=log)
    try:
        _wait_until_up(c)
        yield c
    finally:
        if proc.poll() is None:  # test_down did not run or failed: stop it anyway
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_up_writes_a_private_kubeconfig_and_cluster_record(cluster):
    record = json.loads((cluster.home / "kubemu" / "cluster.json").read_text())
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    assert record["pid"] == cluster.proc.pid
    assert record["server"] == f"https://127.0.0.1:{cluster.port}"
    assert config["users"][0]["user"]["token"] == record["token"]
    assert stat.S_IMODE(cluster.kubeconfig.stat().st_mode) == 0o600
    assert "export KUBECONFIG=" in cluster.log.read_text()


@pytest.mark.parametrize("args, message", [
    pytest.param(["--api-port", "0"], "Invalid value for '--api-port'", id="port-zero"),
    pytest.param(["--store-replicas", "4"], "Invalid value for '--store-replicas'",
                 id="even-store-replicas"),
])
def test_up_rejects_bad_options(cluster, args, message):
    done = cluster.kubemu("up", *args, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr


def test_up_refuses_a_name_that_is_already_running(cluster):
    done = cluster.kubemu("up", "--api-port", str(_free_port()), timeout=60)
    assert (done.returncode, done.stderr.count("\n")) == (1, 1), done.stderr
    assert "already running" in done.stderr


def test_up_refuses_a_port_in_use_before_starting_anything(cluster):
    done = cluster.kubemu("up", "--name", "other", "--api-port", str(cluster.port), timeout=60)
    assert done.returncode == 1
    assert done.stderr == f"error: port {cluster.port} is in use: pass --api-port\n"
    assert not (cluster.home / "other" / "store").exists()


def test_kubectl_lists_the_system_namespaces(cluster):
    done = subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "get", "ns",
                           "-o", "name"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public",
            "namespace/kube-node-lease"} <= set(done.stdout.split())


def test_apply_creates_then_is_unchanged_then_configures(cluster, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    first = cluster.kubemu("apply", "-f", str(manifest))
    again = cluster.kubemu("apply", "-f", "-", stdin=MANIFEST)
    manifest.write_text(MANIFEST.replace("mode: fast", "mode: safe"))
    changed = cluster.kubemu("apply", "-f", str(manifest))
    assert [first.returncode, again.returncode, changed.returncode] == [0, 0, 0], \
        first.stderr + again.stderr + changed.stderr
    assert first.stdout.splitlines() == [
        f"namespace/{NS} created", "configmap/settings created", "deployment.apps/web created"]
    assert again.stdout.splitlines() == [
        f"namespace/{NS} unchanged", "configmap/settings unchanged",
        "deployment.apps/web unchanged"]
    assert "configmap/settings configured" in changed.stdout.splitlines()


def test_apply_accepts_json_and_list_kinds(cluster, tmp_path):
    items = [{"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": f"listed-{i}"}, "data": {"i": str(i)}} for i in (1, 2)]
    manifest = tmp_path / "list.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    done = cluster.kubemu("apply", "-f", str(manifest), "-n", NS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["configmap/listed-1 created",
                                        "configmap/listed-2 created"]


@pytest.mark.parametrize("args, header", [
    pytest.param(["get", "deploy", "-n", NS], "NAME   READY   UP-TO-DATE   AVAILABLE   AGE",
                 id="table"),
    pytest.param(["get", "deployments.apps", "-n", NS, "-o", "wide"],
                 "NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES       "
                 "SELECTOR", id="wide"),
    pytest.param(["get", "deploy", "-A"], "NAMESPACE   NAME   READY   UP-TO-DATE   AVAILABLE",
                 id="all-namespaces"),
])
def test_get_prints_the_servers_table_columns(cluster, args, header):
    done = cluster.kubemu(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(header), lines
    assert any(line.split()[:1] == ["web"] or line.split()[:2] == [NS, "web"]
               for line in lines[1:]), lines


@pytest.mark.parametrize("kind", ["deploy", "deployment", "Deployment", "deployments.v1.apps"])
def test_get_name_output_accepts_every_kind_spelling(cluster, kind):
    done = cluster.kubemu("get", kind, "-n", NS, "-o", "name")
    assert (done.returncode, done.stdout) == (0, "deployment.apps/web\n"), done.stderr


def test_get_one_object_as_yaml_and_json(cluster):
    as_yaml = cluster.kubemu("get", "cm", "settings", "-n", NS, "-o", "yaml")
    as_json = cluster.kubemu("get", "configmap", "settings", "-n", NS, "-o", "json")
    obj = yaml.safe_load(as_yaml.stdout)
    assert (obj["apiVersion"], obj["kind"], obj["data"]) == ("v1", "ConfigMap", {"mode": "safe"})
    assert json.loads(as_json.stdout)["metadata"]["uid"] == obj["metadata"]["uid"]


def test_get_a_list_as_json_is_a_list_of_typed_items(cluster):
    done = cluster.kubemu("get", "cm", "-n", NS, "-o", "json")
    listing = json.loads(done.stdout)
    assert listing["kind"] == "List"
    assert {"listed-1", "listed-2", "settings"} <= {i["metadata"]["name"]
                                                   for i in listing["items"]}
    assert {(i["apiVersion"], i["kind"]) for i in listing["items"]} == {("v1", "ConfigMap")}


def test_get_of_nothing_says_so_on_stderr(cluster):
    done = cluster.kubemu("get", "pods", "-n", NS, "-l", "app=nothing")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == f"No resources found in {NS} namespace.\n"


def test_kubemu_reads_its_kubeconfig_by_path_too(cluster):
    done = cluster.kubemu("get", "ns", "default", "--kubeconfig", str(cluster.kubeconfig),
                          "--name", "no-such-cluster")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:4] == ["NAME", "STATUS", "AGE", "default"]


@pytest.mark.parametrize("args, line", [
    pytest.param(["get", "cm", "missing", "-n", NS],
                 'Error from server (NotFound): configmaps "missing" not found', id="get-404"),
    pytest.param(["delete", "deploy", "missing", "-n", NS],
                 'Error from server (NotFound): deployments.apps "missing" not found',
                 id="delete-404"),
    pytest.param(["get", "gizmos"], 'error: the server doesn\'t have a resource type "gizmos"',
                 id="unknown-kind"),
    pytest.param(["apply", "-f", "/no/such.yaml"], 'error: the path "/no/such.yaml" does not '
                 'exist', id="missing-file"),
    pytest.param(["get", "ns", "--name", "nocluster"], 'error: no cluster named "nocluster" '
                 "is up", id="unknown-cluster"),
    pytest.param(["apply", "-f", "-", "-n", "elsewhere"], 'error: the namespace from the '
                 f'provided object "{NS}" does not match the namespace "elsewhere"',
                 id="namespace-mismatch"),
])
def test_errors_are_one_line_and_exit_1(cluster, args, line):
    done = cluster.kubemu(*args, stdin=MANIFEST.split("---")[1])
    assert done.returncode == 1
    assert done.stderr.startswith(line) and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("case, line", [
    pytest.param("bad-token", "error: You must be logged in to the server (Unauthorized)",
                 id="bad-token"),
    pytest.param("other-ca", "Unable to connect to the server: ", id="unknown-ca"),
    pytest.param("nothing-listening", "The connection to the server 127.0.0.1:{port} was "
                 "refused - did you specify the right host or port?", id="nothing-listening"),
])
def test_connection_and_auth_failures_are_one_line(cluster, tmp_path, case, line):
    record = json.loads((cluster.home / "kubemu" / "cluster.json").read_text())
    port = _free_port() if case == "nothing-listening" else cluster.port
    ca_pem = (make_serving_certs(cluster="other", hosts=[]).ca_pem if case == "other-ca"
              else kubeconfig_ca(cluster.kubeconfig))
    config = write_kubeconfig(tmp_path / "kubeconfig", "x", server=f"https://127.0.0.1:{port}",
                              token="wrong" if case == "bad-token" else record["token"],
                              ca_pem=ca_pem)
    done = cluster.kubemu("get", "ns", "--kubeconfig", str(config))
    assert done.returncode == 1
    assert done.stderr.startswith(line.format(port=port)), done.stderr
    assert done.stderr.count("\n") == 1


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


def test_custom_kinds_resolve_through_discovery(cluster):
    crd = cluster.kubemu("apply", "-f", "-", stdin=CRD)
    widget = cluster.kubemu("apply", "-n", NS, "-f", "-", stdin=(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"))
    assert (crd.stdout, widget.stdout) == (
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n",
        "widget.example.com/w1 created\n"), crd.stderr + widget.stderr
    for kind in ("widgets", "wd", "widget.example.com", "widgets.v1.example.com"):
        done = cluster.kubemu("get", kind, "-n", NS, "-o", "name")
        assert (done.returncode, done.stdout) == (0, "widget.example.com/w1\n"), done.stderr
    table = cluster.kubemu("get", "widgets", "-n", NS)
    assert table.stdout.split()[:3] == ["NAME", "AGE", "w1"], table.stderr


def test_delete_by_name_and_by_manifest(cluster, tmp_path):
    by_name = cluster.kubemu("delete", "cm", "listed-1", "listed-2", "-n", NS)
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(MANIFEST.split("---")[2])
    by_file = cluster.kubemu("delete", "-f", str(manifest))
    gone = cluster.kubemu("get", "deploy", "web", "-n", NS)
    assert by_name.stdout.splitlines() == ['configmap "listed-1" deleted',
                                           'configmap "listed-2" deleted'], by_name.stderr
    assert by_file.stdout == 'deployment.apps "web" deleted\n', by_file.stderr
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_a_minutely_cronjob_runs_about_every_second_at_time_scale_60(cluster):
    """`kubemu up --time-scale 60`: a minute of Kubernetes time is a second, so a CronJob
    scheduled every minute makes a Job about every second and keeps its history limit."""
    manifest = """apiVersion: batch/v1
kind: CronJob
metadata: {name: tick, namespace: default}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: [sh, -c, 'echo tick']}]
"""
    kubectl = ["kubectl", "--kubeconfig", str(cluster.kubeconfig)]
    subprocess.run([*kubectl, "apply", "-f", "-"], input=manifest, text=True, check=True,
                   capture_output=True, timeout=60)
    seen: set[str] = set()
    started = time.monotonic()
    deadline = started + 60
    while len(seen) < 5 and time.monotonic() < deadline:
        jobs = json.loads(subprocess.run([*kubectl, "get", "jobs", "-o", "json"], text=True,
                                         check=True, capture_output=True,
                                         timeout=60).stdout)["items"]
        seen.update(j["metadata"]["name"] for j in jobs if j["metadata"]["name"].startswith(
            "tick-"))
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    assert len(seen) >= 5, f"only {sorted(seen)} in {elapsed:.0f}s"
    print(f"{len(seen)} Jobs in {elapsed:.1f} s")

    def complete(j: dict) -> bool:
        return any(c["type"] == "Complete" for c in (j.get("status") or {}).get(
            "conditions") or ())

    deadline = time.monotonic() + 30
    while True:
        jobs = json.loads(subprocess.run([*kubectl, "get", "jobs", "-o", "json"], text=True,
                                         check=True, capture_output=True,
                                         timeout=60).stdout)["items"]
        if sum(complete(j) for j in jobs) <= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum(complete(j) for j in jobs) <= 2, [j["metadata"]["name"] for j in jobs]
    subprocess.run([*kubectl, "delete", "cronjob", "tick"], check=False, capture_output=True,
                   timeout=60)


def test_down_stops_the_cluster_and_up_exits_0(cluster):
    done = cluster.kubemu("down", timeout=60)
    assert done.returncode == 0, done.stderr
    assert cluster.proc.wait(30) == 0, cluster.log.read_text()[-3000:]
    assert not (cluster.home / "kubemu" / "cluster.json").exists()
    assert not cluster.kubeconfig.exists()
    again = cluster.kubemu("down", timeout=60)
    assert (again.returncode, again.stderr) == (1, 'error: no cluster named "kubemu" is '
                                                   'running\n')


# ---- helpers ------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(c: Cluster) -> None:
    deadline = time.monotonic() + UP_DEADLINE
    while time.monotonic() < deadline:
        if c.proc.poll() is not None:
            pytest.fail(f"kubemu up exited with {c.proc.returncode}:\n"
                        f"{c.log.read_text()[-3000:]}")
        if c.kubeconfig.exists() and _ready(c.port, kubeconfig_ca(c.kubeconfig)):
            return
        time.sleep(0.2)
    pytest.fail(f"kubemu up not ready within {UP_DEADLINE:.0f}s:\n{c.log.read_text()[-3000:]}")


def _ready(port: int, ca_pem: bytes | None) -> bool:
    context = ssl.create_default_context(cadata=(ca_pem or b"").decode() or None)
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", timeout=2,
                                    context=context) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False
