"""Real kubectl (v1.32) against two API servers on Ray: the commands a user types, unchanged."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest

MANIFEST = """
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
  labels: {{tier: web}}
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: app
        image: {image}
        ports:
        - containerPort: 80
        env:
        - name: MODE
          value: demo
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 80
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
    additionalPrinterColumns:
    - {{name: Size, type: integer, jsonPath: .spec.size}}
"""


@pytest.fixture(scope="module")
def ns(api_cluster) -> str:
    name = f"k-{uuid.uuid4().hex[:6]}"
    out = api_cluster.kubectl("apply", "-f", "-",
                              input=MANIFEST.format(ns=name, image="nginx:1.25")).stdout
    assert f"namespace/{name} created" in out
    assert "deployment.apps/web created" in out and "service/web created" in out
    return name


def _configmap(api_cluster, ns: str, name: str, **labels: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns, "labels": labels}}
    api_cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


def _json(api_cluster, *args: str) -> dict:
    return json.loads(api_cluster.kubectl(*args, "-o", "json").stdout)


def test_apply_again_with_a_changed_image_patches_only_that(api_cluster, ns):
    out = api_cluster.kubectl("apply", "-f", "-",
                              input=MANIFEST.format(ns=ns, image="nginx:1.26")).stdout
    assert "deployment.apps/web configured" in out
    assert "configmap/settings unchanged" in out
    d = _json(api_cluster, "get", "deploy", "web", "-n", ns)
    containers = d["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "nginx:1.26"),
                                                              ("sidecar", "busybox:1.36")]
    assert containers[0]["env"] == [{"name": "MODE", "value": "demo"}]
    assert d["metadata"]["generation"] == 2


def test_get_prints_upstream_columns(api_cluster, ns):
    header = api_cluster.kubectl("get", "deploy", "-n", ns).stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    svc = api_cluster.kubectl("get", "svc", "web", "-n", ns).stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1].split()[:2] == ["web", "ClusterIP"] and "80/TCP" in svc[1]
    wide = api_cluster.kubectl("get", "deploy", "-n", ns, "-o", "wide").stdout.splitlines()[0]
    assert "CONTAINERS" in wide and "IMAGES" in wide and "SELECTOR" in wide


def test_patch_with_each_patch_type(api_cluster, ns):
    api_cluster.kubectl("patch", "configmap", "settings", "-n", ns, "--type=strategic",
                        "-p", '{"data":{"a":"1"}}')
    api_cluster.kubectl("patch", "configmap", "settings", "-n", ns, "--type=merge",
                        "-p", '{"data":{"b":"2"}}')
    api_cluster.kubectl("patch", "configmap", "settings", "-n", ns, "--type=json",
                        "-p", '[{"op":"remove","path":"/data/greeting"}]')
    assert _json(api_cluster, "get", "cm", "settings", "-n", ns)["data"] == {"a": "1", "b": "2"}


def test_scale_sets_replicas(api_cluster, ns):
    out = api_cluster.kubectl("scale", "deploy/web", "-n", ns, "--replicas=5").stdout
    assert "deployment.apps/web scaled" in out
    assert _json(api_cluster, "get", "deploy", "web", "-n", ns)["spec"]["replicas"] == 5


def test_label_and_field_selectors(api_cluster, ns):
    for name, tier in [("s1", "web"), ("s2", "db")]:
        _configmap(api_cluster, ns, name)
        api_cluster.kubectl("label", "configmap", name, "-n", ns, f"tier={tier}")
    names = api_cluster.kubectl("get", "cm", "-n", ns, "-l", "tier=web", "-o", "name").stdout
    assert names.split() == ["configmap/s1", "configmap/settings"]
    one = api_cluster.kubectl("get", "cm", "-n", ns, "--field-selector", "metadata.name=s2",
                              "-o", "name").stdout
    assert one.split() == ["configmap/s2"]


def test_get_watch_streams_changes(api_cluster, ns):
    proc = subprocess.Popen(["kubectl", "--kubeconfig", api_cluster.kubeconfig, "get", "cm",
                             "-n", ns, "-w", "--output-watch-events"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not any("settings" in line for line in lines):  # the initial list arrived
            assert time.monotonic() < deadline, f"no initial list from get -w: {lines}"
            time.sleep(0.05)
        _configmap(api_cluster, ns, "watched")
        api_cluster.kubectl("delete", "configmap", "watched", "-n", ns)
        while not any("DELETED" in line and "watched" in line for line in lines):
            assert time.monotonic() < deadline, f"get -w did not stream the change: {lines}"
            time.sleep(0.05)
        assert any("ADDED" in line and "watched" in line for line in lines)
    finally:
        proc.kill()
        proc.wait()


def test_delete_removes_the_object(api_cluster, ns):
    _configmap(api_cluster, ns, "doomed")
    out = api_cluster.kubectl("delete", "configmap", "doomed", "-n", ns).stdout
    assert 'configmap "doomed" deleted' in out
    missing = api_cluster.kubectl("get", "configmap", "doomed", "-n", ns, check=False)
    assert missing.returncode == 1
    assert 'configmaps "doomed" not found' in missing.stderr


def test_api_resources_lists_every_group(api_cluster):
    out = api_cluster.kubectl("api-resources").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert rows["pods"][1:] == ["po", "v1", "true", "Pod"]
    for name in ("cronjobs", "endpointslices", "leases", "networkpolicies",
                 "poddisruptionbudgets", "priorityclasses", "clusterroles",
                 "customresourcedefinitions"):
        assert name in rows


def test_explain_pod_spec(api_cluster):
    out = api_cluster.kubectl("explain", "pod.spec").stdout
    assert "KIND:" in out and "Pod" in out
    assert "containers" in out and "restartPolicy" in out
    deep = api_cluster.kubectl("explain", "deployment.spec.strategy.rollingUpdate").stdout
    assert "maxSurge" in deep


def test_a_crd_and_its_custom_object_round_trip(api_cluster, ns):
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    api_cluster.kubectl("apply", "-f", "-", input=CRD.format(group=group))
    gadget = (f"apiVersion: {group}/v1\nkind: Gadget\nmetadata:\n  name: g1\n"
              f"  namespace: {ns}\nspec:\n  size: 3\n")
    deadline = time.monotonic() + 30
    while True:  # kubectl re-reads discovery; the kind appears within moments
        proc = api_cluster.kubectl("apply", "-f", "-", input=gadget, check=False)
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert proc.returncode == 0, proc.stderr
    rows = api_cluster.kubectl("get", f"gadgets.{group}", "-n", ns).stdout.splitlines()
    assert rows[0].split() == ["NAME", "SIZE"]  # printer columns replace Age, as upstream and rows[1].split()[:2] == ["g1", "3"]
    api_cluster.kubectl("apply", "-f", "-", input=gadget.replace("size: 3", "size: 4"))
    got = _json(api_cluster, "get", f"gadgets.{group}", "g1", "-n", ns)
    assert got["spec"]["size"] == 4 and got["kind"] == "Gadget"
    api_cluster.kubectl("delete", f"gadgets.{group}", "g1", "-n", ns)
    api_cluster.kubectl("delete", "crd", f"gadgets.{group}")


def test_create_generators_send_protobuf_and_it_is_understood(api_cluster, ns):
    api_cluster.kubectl("create", "configmap", "gen", "-n", ns, "--from-literal=a=b")
    api_cluster.kubectl("create", "secret", "generic", "pw", "-n", ns, "--from-literal=p=q")
    api_cluster.kubectl("create", "deployment", "gen", "-n", ns, "--image=nginx:1.27",
                        "--replicas=3", "--port=80")
    api_cluster.kubectl("create", "service", "clusterip", "gen", "-n", ns, "--tcp=80:8080")
    assert _json(api_cluster, "get", "cm", "gen", "-n", ns)["data"] == {"a": "b"}
    assert _json(api_cluster, "get", "secret", "pw", "-n", ns)["data"] == {"p": "cQ=="}
    d = _json(api_cluster, "get", "deploy", "gen", "-n", ns)
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert (d["spec"]["replicas"], container["image"], container["ports"][0]["containerPort"]) \
        == (3, "nginx:1.27", 80)
    svc = _json(api_cluster, "get", "svc", "gen", "-n", ns)
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
