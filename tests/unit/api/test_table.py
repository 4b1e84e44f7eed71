"""Table responses: columns and cells as kube-apiserver 1.32 prints them for `kubectl get`."""

from __future__ import annotations

import pytest

from kubemu.cluster.api.duration import age, format_time, human_duration, parse_time
from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.registry import BUILTIN, builtin_registry, resource_from_crd
from kubemu.cluster.api.table import printer_for, to_table, watch_table_event

NOW = parse_time("2026-11-24T12:00:00Z")
REG = builtin_registry()


def ago(seconds: int) -> str:
    return format_time(NOW - seconds)


def res(api_version: str, kind: str):
    r = REG.by_kind(api_version, kind)
    assert r is not None
    return r


def row(api_version: str, kind: str, obj: dict) -> dict:
    """The one row's cells keyed by column name."""
    table = to_table(res(api_version, kind), [obj], now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    cells = table["rows"][0]["cells"]
    assert len(names) == len(cells)
    return dict(zip(names, cells))


# --- durations -------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, text", [
    pytest.param(0, "0s", id="zero"),
    pytest.param(59, "59s", id="seconds"),
    pytest.param(119, "119s", id="seconds-up-to-two-minutes"),
    pytest.param(120, "2m", id="whole-minutes"),
    pytest.param(192, "3m12s", id="minutes-and-seconds-below-ten-minutes"),
    pytest.param(900, "15m", id="minutes"),
    pytest.param(179 * 60 + 59, "179m", id="minutes-below-three-hours"),
    pytest.param(5 * 3600, "5h", id="whole-hours"),
    pytest.param(5 * 3600 + 180, "5h3m", id="hours-and-minutes-below-eight-hours"),
    pytest.param(20 * 3600 + 59 * 60, "20h", id="hours-below-two-days"),
    pytest.param(3 * 86400, "3d", id="whole-days"),
    pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days-and-hours-below-eight-days"),
    pytest.param(400 * 86400, "400d", id="days-below-two-years"),
    pytest.param(730 * 86400, "2y", id="whole-years"),
    pytest.param(740 * 86400, "2y10d", id="years-and-days-below-eight-years"),
    pytest.param(9 * 365 * 86400 + 40 * 86400, "9y", id="years"),
    pytest.param(-1.5, "0s", id="small-skew-reads-as-now"),
    pytest.param(-5, "<invalid>", id="future-is-invalid"),
    pytest.param(299.9, "4m59s", id="truncates-not-rounds"),
])
def test_human_duration_matches_upstream(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize("timestamp, text", [
    pytest.param(None, "<unknown>", id="missing"),
    pytest.param("garbage", "<unknown>", id="unparsable"),
    pytest.param("2026-11-24T11:59:00Z", "60s", id="rfc3339"),
    pytest.param("2026-11-24T11:55:00.000000Z", "5m", id="micro-time"),
    pytest.param("2026-11-24T13:00:00+01:00", "0s", id="offset"),
])
def test_age_of_timestamps(timestamp: str | None, text: str) -> None:
    assert age(timestamp, NOW) == text


# --- pods ------------------------------------------------------------------------------------

def pod(*, phase: str = "Running", statuses: list[dict] | None = None,
        init: list[dict] | None = None, init_statuses: list[dict] | None = None,
        containers: int = 1, **extra) -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-1", "namespace": "default",
                        "creationTimestamp": ago(600), "resourceVersion": "7"},
           "spec": {"containers": [{"name": f"c{i}", "image": "nginx"}
                                   for i in range(containers)],
                    "initContainers": init or [], "nodeName": "node-1"},
           "status": {"phase": phase, "podIPs": [{"ip": "10.244.1.5"}],
                      "containerStatuses": statuses or [],
                      "initContainerStatuses": init_statuses or []}}
    for path, value in extra.items():
        section, _, key = path.partition("__")
        obj[section][key] = value
    return obj


RUNNING = {"running": {"startedAt": ago(300)}}


def cs(state: dict, *, ready: bool = False, restarts: int = 0, finished: int | None = None,
       name: str = "c0", started: bool | None = None) -> dict:
    out = {"name": name, "state": state, "ready": ready, "restartCount": restarts}
    if finished is not None:
        out["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(finished)}}
    if started is not None:
        out["started"] = started
    return out


@pytest.mark.parametrize("obj, ready, status, restarts", [
    pytest.param(pod(statuses=[cs(RUNNING, ready=True)]), "1/1", "Running", "0",
                 id="running-ready"),
    pytest.param(pod(statuses=[cs(RUNNING, ready=True, restarts=3, finished=300)]), "1/1",
                 "Running", "3 (5m ago)", id="running-with-restarts-shows-last-restart"),
    pytest.param(pod(statuses=[cs({"waiting": {"reason": "CrashLoopBackOff"}}, restarts=4,
                                  finished=30)]), "0/1", "CrashLoopBackOff", "4 (30s ago)",
                 id="crash-loop-backoff"),
    pytest.param(pod(phase="Pending", statuses=[cs({"waiting": {"reason":
                                                                "ContainerCreating"}})]),
                 "0/1", "ContainerCreating", "0", id="container-creating"),
    pytest.param(pod(phase="Pending", statuses=[]), "0/1", "Pending", "0", id="unscheduled"),
    pytest.param(pod(phase="Succeeded", statuses=[cs({"terminated": {"exitCode": 0,
                                                                     "reason": "Completed"}})]),
                 "0/1", "Completed", "0", id="completed"),
    pytest.param(pod(phase="Failed", statuses=[cs({"terminated": {"exitCode": 1,
                                                                  "reason": "Error"}})]),
                 "0/1", "Error", "0", id="error"),
    pytest.param(pod(phase="Failed", statuses=[cs({"terminated": {"exitCode": 2}})]),
                 "0/1", "ExitCode:2", "0", id="exit-code-without-reason"),
    pytest.param(pod(statuses=[cs({"terminated": {"exitCode": 137, "signal": 9}})]),
                 "0/1", "Signal:9", "0", id="signal-without-reason"),
    pytest.param(pod(phase="Pending", init=[{"name": "i0"}],
                     init_statuses=[cs({"running": {}}, name="i0")],
                     statuses=[cs({"waiting": {"reason": "PodInitializing"}})]),
                 "0/1", "Init:0/1", "0", id="init-running"),
    pytest.param(pod(phase="Pending", init=[{"name": "i0"}, {"name": "i1"}],
                     init_statuses=[cs({"terminated": {"exitCode": 0}}, name="i0"),
                                    cs({"waiting": {"reason": "CrashLoopBackOff"}}, name="i1",
                                       restarts=2)]),
                 "0/1", "Init:CrashLoopBackOff", "2", id="init-crash-loop-counts-init-restarts"),
    pytest.param(pod(phase="Pending", init=[{"name": "i0"}],
                     init_statuses=[cs({"terminated": {"exitCode": 3}}, name="i0")]),
                 "0/1", "Init:ExitCode:3", "0", id="init-failed-without-reason"),
    pytest.param(pod(init=[{"name": "proxy", "restartPolicy": "Always"}],
                     init_statuses=[cs(RUNNING, name="proxy", ready=True, started=True,
                                       restarts=1, finished=60)],
                     statuses=[cs(RUNNING, ready=True)]),
                 "2/2", "Running", "1 (60s ago)", id="running-sidecar-counts-as-container"),
    pytest.param(pod(containers=2, statuses=[
        cs({"terminated": {"exitCode": 0, "reason": "Completed"}}, name="c0"),
        cs(RUNNING, ready=True, name="c1")]),
        "1/2", "NotReady", "0", id="completed-container-beside-running-one-not-ready"),
    pytest.param(pod(containers=2, statuses=[
        cs({"terminated": {"exitCode": 0, "reason": "Completed"}}, name="c0"),
        cs(RUNNING, ready=True, name="c1")], status__conditions=[
            {"type": "Ready", "status": "True"}]),
        "1/2", "Running", "0", id="completed-container-beside-running-one-ready"),
    pytest.param(pod(statuses=[cs(RUNNING, ready=True)],
                     metadata__deletionTimestamp=ago(5)), "1/1", "Terminating", "0",
                 id="terminating"),
    pytest.param(pod(phase="Succeeded", statuses=[cs({"terminated": {"exitCode": 0,
                                                                     "reason": "Completed"}})],
                     metadata__deletionTimestamp=ago(5)), "0/1", "Completed", "0",
                 id="terminal-pod-being-deleted-keeps-its-status"),
    pytest.param(pod(statuses=[cs(RUNNING, ready=True)], status__reason="NodeLost",
                     metadata__deletionTimestamp=ago(5)), "1/1", "Unknown", "0",
                 id="node-lost-reads-unknown"),
    pytest.param(pod(phase="Pending", status__conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
        "0/1", "SchedulingGated", "0", id="scheduling-gated"),
    pytest.param(pod(phase="Failed", status__reason="Evicted"), "0/1", "Evicted", "0",
                 id="status-reason-wins-over-phase"),
])
def test_pod_ready_status_and_restarts(obj: dict, ready: str, status: str,
                                       restarts: str) -> None:
    cells = row("v1", "Pod", obj)
    assert (cells["Ready"], cells["Status"], cells["Restarts"]) == (ready, status, restarts)


def test_pod_columns_and_wide_cells() -> None:
    obj = pod(statuses=[cs(RUNNING, ready=True)])
    obj["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]
    obj["status"]["conditions"] = [{"type": "example.com/lb", "status": "True"}]
    table = to_table(res("v1", "Pod"), [obj], now=NOW)
    columns = [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0),
                       ("Restarts", "string", 0), ("Age", "string", 0), ("IP", "string", 1),
                       ("Node", "string", 1), ("Nominated Node", "string", 1),
                       ("Readiness Gates", "string", 1)]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["rows"][0]["cells"] == ["web-1", "1/1", "Running", "0", "10m", "10.244.1.5",
                                         "node-1", "<none>", "1/1"]


@pytest.mark.parametrize("phase, conditions", [
    pytest.param("Succeeded", [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                "message": "The pod has completed successfully."}],
                 id="succeeded"),
    pytest.param("Failed", [{"type": "Completed", "status": "True", "reason": "Failed",
                             "message": "The pod failed."}], id="failed"),
    pytest.param("Running", None, id="running-has-none"),
])
def test_finished_pods_carry_completed_row_condition(phase: str, conditions) -> None:
    table = to_table(res("v1", "Pod"), [pod(phase=phase)], now=NOW)
    assert table["rows"][0].get("conditions") == conditions


# --- nodes and services ------------------------------------------------------------------------

def node(conditions: list[dict], *, labels: dict | None = None, **spec) -> dict:
    return {"metadata": {"name": "node-1", "creationTimestamp": ago(7200), "labels": labels or {}},
            "spec": spec,
            "status": {"conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": "127.1.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0-kubemu", "osImage": "kubemu"}}}


READY = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]


@pytest.mark.parametrize("obj, status, roles", [
    pytest.param(node(READY), "Ready", "<none>", id="ready"),
    pytest.param(node(READY, unschedulable=True), "Ready,SchedulingDisabled", "<none>",
                 id="cordoned"),
    pytest.param(node([{"type": "Ready", "status": "Unknown"}]), "NotReady", "<none>",
                 id="unknown-ready-condition-is-not-ready"),
    pytest.param(node([]), "Unknown", "<none>", id="no-ready-condition"),
    pytest.param(node(READY, labels={"node-role.kubernetes.io/control-plane": "",
                                     "node-role.kubernetes.io/worker": "",
                                     "kubernetes.io/role": "edge"}),
                 "Ready", "control-plane,edge,worker", id="roles-sorted"),
])
def test_node_status_and_roles(obj: dict, status: str, roles: str) -> None:
    cells = row("v1", "Node", obj)
    assert (cells["Status"], cells["Roles"]) == (status, roles)
    assert (cells["Age"], cells["Version"], cells["Internal-IP"], cells["External-IP"],
            cells["OS-Image"], cells["Kernel-Version"]) == (
        "120m", "v1.32.0-kubemu", "127.1.0.1", "<none>", "kubemu", "<unknown>")


def svc(type_: str | None, *, ports=({"port": 80, "protocol": "TCP"},), lb=None,
        **spec) -> dict:
    sp = {"clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"], "ports": list(ports),
          "selector": {"app": "web", "tier": "fe"}, **spec}
    if type_:
        sp["type"] = type_
    return {"metadata": {"name": "web", "creationTimestamp": ago(30)}, "spec": sp,
            "status": {"loadBalancer": {"ingress": lb}} if lb else {}}


@pytest.mark.parametrize("obj, type_, cluster_ip, external, ports", [
    pytest.param(svc("ClusterIP"), "ClusterIP", "10.96.0.20", "<none>", "80/TCP",
                 id="cluster-ip"),
    pytest.param(svc(None), "ClusterIP", "10.96.0.20", "<none>", "80/TCP",
                 id="missing-type-defaults-to-cluster-ip"),
    pytest.param(svc("ClusterIP", externalIPs=["1.2.3.4", "5.6.7.8"]), "ClusterIP",
                 "10.96.0.20", "1.2.3.4,5.6.7.8", "80/TCP", id="external-ips"),
    pytest.param(svc("NodePort", ports=[{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                        {"port": 53, "nodePort": 30053, "protocol": "UDP"}]),
                 "NodePort", "10.96.0.20", "<none>", "80:30080/TCP,53:30053/UDP",
                 id="node-port"),
    pytest.param(svc("LoadBalancer", ports=[{"port": 80, "nodePort": 30080}]),
                 "LoadBalancer", "10.96.0.20", "<pending>", "80:30080/TCP",
                 id="load-balancer-pending"),
    pytest.param(svc("LoadBalancer", lb=[{"ip": "127.2.0.2"}, {"hostname": "lb.example"},
                                         {"ip": "127.2.0.1"}]),
                 "LoadBalancer", "10.96.0.20", "127.2.0.1,127.2.0.2,lb.example", "80/TCP",
                 id="load-balancer-ingress-sorted-never-clipped"),
    pytest.param(svc("LoadBalancer", lb=[{"ip": "127.2.0.1"}], externalIPs=["9.9.9.9"]),
                 "LoadBalancer", "10.96.0.20", "127.2.0.1,9.9.9.9", "80/TCP",
                 id="load-balancer-ingress-then-external-ips"),
    pytest.param(svc("ExternalName", ports=[], clusterIP="", clusterIPs=[],
                     externalName="db.example.com"),
                 "ExternalName", "<none>", "db.example.com", "<none>", id="external-name"),
    pytest.param(svc("ClusterIP", clusterIP="None", clusterIPs=["None"]), "ClusterIP", "None",
                 "<none>", "80/TCP", id="headless"),
])
def test_service_columns(obj: dict, type_: str, cluster_ip: str, external: str,
                         ports: str) -> None:
    cells = row("v1", "Service", obj)
    assert [cells["Type"], cells["Cluster-IP"], cells["External-IP"], cells["Port(s)"]] == [
        type_, cluster_ip, external, ports]
    assert cells["Selector"] == "app=web,tier=fe"


# --- workloads ---------------------------------------------------------------------------------

TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1"},
                                    {"name": "log", "image": "busybox"}]}}
SELECTOR = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}


@pytest.mark.parametrize("replicas, status, ready, updated, available", [
    pytest.param(3, {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
                 "2/3", 3, 2, id="rolling"),
    pytest.param(0, {}, "0/0", 0, 0, id="scaled-to-zero"),
    pytest.param(None, {"readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
                 "1/1", 1, 1, id="missing-replicas-is-the-default-one"),
])
def test_deployment_ready_counts(replicas, status: dict, ready: str, updated: int,
                                 available: int) -> None:
    sp = {"selector": SELECTOR, "template": TEMPLATE}
    if replicas is not None:
        sp["replicas"] = replicas
    cells = row("apps/v1", "Deployment", {"metadata": {"name": "web",
                                                       "creationTimestamp": ago(86400)},
                                          "spec": sp, "status": status})
    assert (cells["Ready"], cells["Up-to-date"], cells["Available"], cells["Age"]) == (
        ready, updated, available, "24h")
    assert (cells["Containers"], cells["Images"], cells["Selector"]) == (
        "web,log", "nginx:1,busybox", "app=web,!canary,env in (dev,prod)")


def test_replica_set_stateful_set_and_daemon_set_counts() -> None:
    meta = {"name": "x", "creationTimestamp": ago(60)}
    rs = row("apps/v1", "ReplicaSet", {"metadata": meta, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 1}})
    assert [rs["Desired"], rs["Current"], rs["Ready"], rs["Selector"]] == [3, 3, 1, "app=web"]
    sts = row("apps/v1", "StatefulSet", {"metadata": meta, "spec": {"replicas": 2,
                                                                   "template": TEMPLATE},
                                         "status": {"readyReplicas": 2}})
    assert sts["Ready"] == "2/2"
    ds = row("apps/v1", "DaemonSet", {"metadata": meta, "spec": {"template": {"spec": {
        "nodeSelector": {"disk": "ssd"}, "containers": []}}}, "status": {
        "desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3,
        "updatedNumberScheduled": 4, "numberAvailable": 3}})
    assert [ds["Desired"], ds["Current"], ds["Ready"], ds["Up-to-date"], ds["Available"],
            ds["Node Selector"], ds["Selector"]] == [4, 4, 3, 4, 3, "disk=ssd", "<none>"]


@pytest.mark.parametrize("spec, status, deleting, state, completions, duration", [
    pytest.param({"completions": 1}, {"succeeded": 1, "startTime": ago(100),
                                      "completionTime": ago(40),
                                      "conditions": [{"type": "Complete", "status": "True"}]},
                 False, "Complete", "1/1", "60s", id="complete"),
    pytest.param({"completions": 3}, {"startTime": ago(300), "conditions": [
        {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]},
                 False, "Failed", "0/3", "5m", id="failed-beats-failure-target"),
    pytest.param({"parallelism": 4}, {"succeeded": 1, "startTime": ago(30)}, False,
                 "Running", "1/1 of 4", "30s", id="work-queue-running"),
    pytest.param({"completions": 2, "suspend": True}, {"conditions": [
        {"type": "Suspended", "status": "True"}]}, False, "Suspended", "0/2", "",
                 id="suspended-never-started"),
    pytest.param({"completions": 2}, {"startTime": ago(30)}, True, "Terminating", "0/2", "30s",
                 id="terminating"),
])
def test_job_status_completions_and_duration(spec: dict, status: dict, deleting: bool,
                                             state: str, completions: str,
                                             duration: str) -> None:
    meta = {"name": "pi", "creationTimestamp": ago(400)}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    cells = row("batch/v1", "Job", {"metadata": meta, "spec": {**spec, "template": TEMPLATE},
                                    "status": status})
    assert (cells["Status"], cells["Completions"], cells["Duration"]) == (
        state, completions, duration)


def test_cron_job_row() -> None:
    cells = row("batch/v1", "CronJob", {
        "metadata": {"name": "tick", "creationTimestamp": ago(3600)},
        "spec": {"schedule": "*/5 * * * *", "suspend": False,
                 "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"name": "tick-1"}], "lastScheduleTime": ago(120)}})
    assert [cells[c] for c in ("Schedule", "Timezone", "Suspend", "Active", "Last Schedule",
                               "Age")] == ["*/5 * * * *", "<none>", "False", 1, "2m", "60m"]


# --- the rest of the built-ins -------------------------------------------------------------------

def test_event_row_names_the_involved_object() -> None:
    cells = row("v1", "Event", {
        "metadata": {"name": "web-1.abc"}, "type": "Warning", "reason": "BackOff",
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{c}"},
        "message": " Back-off restarting failed container \n", "count": 5,
        "firstTimestamp": ago(600), "lastTimestamp": ago(20),
        "source": {"component": "kubelet", "host": "node-1"}})
    assert cells == {"Last Seen": "20s", "Type": "Warning", "Reason": "BackOff",
                     "Object": "pod/web-1", "Subobject": "spec.containers{c}",
                     "Source": "kubelet, node-1",
                     "Message": "Back-off restarting failed container", "First Seen": "10m",
                     "Count": 5, "Name": "web-1.abc"}


def test_event_with_only_event_time_counts_one() -> None:
    cells = row("v1", "Event", {"metadata": {"name": "e"},
                                "eventTime": "2026-11-24T11:59:30.000000Z",
                                "involvedObject": {"kind": "Node"},
                                "reportingController": "scheduler"})
    assert (cells["Last Seen"], cells["First Seen"], cells["Count"], cells["Object"],
            cells["Source"]) == ("30s", "30s", 1, "node", "scheduler")


@pytest.mark.parametrize("subsets, text", [
    pytest.param([], "<none>", id="none"),
    pytest.param([{"addresses": [{"ip": "10.0.0.1"}]}], "10.0.0.1", id="headless-no-ports"),
    pytest.param([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                   "ports": [{"port": 80}, {"port": 443}]}],
                 "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", id="more"),
])
def test_endpoints_cell(subsets: list, text: str) -> None:
    assert row("v1", "Endpoints", {"metadata": {"name": "web"},
                                   "subsets": subsets})["Endpoints"] == text


def test_endpoint_slice_lists_three_then_more() -> None:
    cells = row("discovery.k8s.io/v1", "EndpointSlice", {
        "metadata": {"name": "web-abc"}, "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "dns"}, {}],
        "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(5)]})
    assert (cells["AddressType"], cells["Ports"], cells["Endpoints"]) == (
        "IPv4", "80,dns,*", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...")
    empty = row("discovery.k8s.io/v1", "EndpointSlice", {"metadata": {"name": "e"}})
    assert (empty["Ports"], empty["Endpoints"]) == ("<unset>", "<unset>")


@pytest.mark.parametrize("api_version, kind, obj, expected", [
    pytest.param("v1", "Namespace", {"metadata": {"name": "dev"},
                                     "status": {"phase": "Active"}},
                 {"Status": "Active"}, id="namespace"),
    pytest.param("v1", "ConfigMap", {"metadata": {"name": "c"}, "data": {"a": "1"},
                                     "binaryData": {"b": "AA=="}}, {"Data": 2}, id="configmap"),
    pytest.param("v1", "Secret", {"metadata": {"name": "s"}, "data": {"a": "MQ=="}},
                 {"Type": "Opaque", "Data": 1}, id="secret"),
    pytest.param("v1", "ServiceAccount", {"metadata": {"name": "default"}}, {"Secrets": 0},
                 id="service-account"),
    pytest.param("v1", "PersistentVolume", {"metadata": {"name": "pv1"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
        "claimRef": {"namespace": "default", "name": "data"}}, "status": {"phase": "Bound"}},
                 {"Capacity": "1Gi", "Access Modes": "RWO,RWX", "Claim": "default/data",
                  "Status": "Bound", "StorageClass": "fast",
                  "VolumeAttributesClass": "<unset>"}, id="pv"),
    pytest.param("v1", "PersistentVolumeClaim", {"metadata": {"name": "data"}, "spec": {
        "volumeName": "pv1", "storageClassName": "fast"}, "status": {
        "phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
                 {"Status": "Bound", "Volume": "pv1", "Capacity": "1Gi",
                  "Access Modes": "RWO", "StorageClass": "fast"}, id="pvc"),
    pytest.param("apps/v1", "ControllerRevision", {"metadata": {
        "name": "web-7d9", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}]},
        "revision": 2}, {"Controller": "statefulset.apps/web", "Revision": 2},
        id="controller-revision"),
    pytest.param("coordination.k8s.io/v1", "Lease", {"metadata": {"name": "node-1"},
                                                     "spec": {"holderIdentity": "node-1"}},
                 {"Holder": "node-1"}, id="lease"),
    pytest.param("networking.k8s.io/v1", "NetworkPolicy", {"metadata": {"name": "deny"},
                                                           "spec": {"podSelector": {}}},
                 {"Pod-Selector": "<none>"}, id="network-policy-selects-all"),
    pytest.param("networking.k8s.io/v1", "Ingress", {"metadata": {"name": "ing"}, "spec": {
        "rules": [{"host": f"h{i}.example"} for i in range(5)], "tls": [{}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.3.0.1"}]}}},
        {"Class": "<none>", "Hosts": "h0.example,h1.example,h2.example + 2 more...",
         "Address": "127.3.0.1", "Ports": "80, 443"}, id="ingress"),
    pytest.param("policy/v1", "PodDisruptionBudget", {"metadata": {"name": "pdb"}, "spec": {
        "minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}},
        {"Min Available": "50%", "Max Unavailable": "N/A", "Allowed Disruptions": 1},
        id="pdb"),
    pytest.param("scheduling.k8s.io/v1", "PriorityClass", {"metadata": {"name": "high"},
                                                           "value": 1000},
                 {"Value": 1000, "Global-Default": False, "PreemptionPolicy": ""},
                 id="priority-class"),
    pytest.param("rbac.authorization.k8s.io/v1", "RoleBinding", {
        "metadata": {"name": "rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                     {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
                     {"kind": "User", "name": "bob"}]},
        {"Role": "ClusterRole/view", "Users": "alice, bob", "Groups": "devs",
         "ServiceAccounts": "ci/bot"}, id="role-binding"),
    pytest.param("rbac.authorization.k8s.io/v1", "ClusterRole", {"metadata": {
        "name": "view", "creationTimestamp": "2026-11-24T01:02:03Z"}},
        {"Name": "view", "Created At": "2026-11-24T01:02:03Z"}, id="default-convertor"),
    pytest.param("apiextensions.k8s.io/v1", "CustomResourceDefinition", {"metadata": {
        "name": "widgets.example.com", "creationTimestamp": "2026-11-24T03:02:03+02:00"}},
        {"Created At": "2026-11-24T01:02:03Z"}, id="crd-created-at-in-utc"),
])
def test_builtin_printers(api_version: str, kind: str, obj: dict, expected: dict) -> None:
    cells = row(api_version, kind, obj)
    assert {k: cells[k] for k in expected} == expected


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.kind) for r in BUILTIN])
def test_every_builtin_prints_one_cell_per_column_even_when_empty(resource) -> None:
    table = to_table(resource, [{"metadata": {"name": "x"}}], now=NOW)
    assert len(table["rows"][0]["cells"]) == len(table["columnDefinitions"])
    assert table["columnDefinitions"][0]["name"] in ("Name", "Last Seen")
    assert all(set(c) == {"name", "type", "format", "description", "priority"}
               for c in table["columnDefinitions"])


# --- custom resources ----------------------------------------------------------------------------

def crd(columns: list[dict] | None) -> dict:
    version = {"name": "v1", "served": True, "storage": True,
               "subresources": {"status": {}}}
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    return {"spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"kind": "Widget", "plural": "widgets"}, "versions": [version]}}


WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "w1", "creationTimestamp": ago(90)},
          "spec": {"replicas": 3, "size": 2.5, "enabled": True, "tags": ["a", "b"],
                   "labels": {"app.kubernetes.io/name": "w"}},
          "status": {"conditions": [{"type": "Synced", "status": "False"},
                                    {"type": "Ready", "status": "True"}],
                     "since": ago(7200)}}


@pytest.mark.parametrize("column, cell", [
    pytest.param({"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}, 3,
                 id="integer"),
    pytest.param({"name": "Replicas", "type": "string", "jsonPath": ".spec.replicas"}, "3",
                 id="integer-printed-as-string"),
    pytest.param({"name": "Size", "type": "number", "jsonPath": ".spec.size"}, 2.5,
                 id="number"),
    pytest.param({"name": "On", "type": "boolean", "jsonPath": ".spec.enabled"}, True,
                 id="boolean"),
    pytest.param({"name": "On", "type": "string", "jsonPath": ".spec.enabled"}, "true",
                 id="boolean-printed-as-string"),
    pytest.param({"name": "Ready", "type": "string",
                  "jsonPath": '.status.conditions[?(@.type=="Ready")].status'}, "True",
                 id="filter"),
    pytest.param({"name": "First", "type": "string", "jsonPath": ".spec.tags[0]"}, "a",
                 id="index"),
    pytest.param({"name": "Tags", "type": "string", "jsonPath": ".spec.tags"}, "[a b]",
                 id="list-printed-as-go-does"),
    pytest.param({"name": "App", "type": "string",
                  "jsonPath": ".spec.labels['app.kubernetes.io/name']"}, "w", id="quoted-key"),
    pytest.param({"name": "Since", "type": "date", "jsonPath": ".status.since"}, "120m",
                 id="date"),
    pytest.param({"name": "Missing", "type": "string", "jsonPath": ".spec.nothing"}, None,
                 id="missing-is-empty-cell"),
    pytest.param({"name": "Wrong", "type": "integer", "jsonPath": ".spec.tags"}, None,
                 id="wrong-type-is-empty-cell"),
])
def test_crd_printer_columns(column: dict, cell) -> None:
    [resource] = resource_from_crd(crd([{**column, "priority": 1}]))
    table = to_table(resource, [WIDGET], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", column["name"]]
    assert table["columnDefinitions"][1]["priority"] == 1
    assert table["rows"][0]["cells"] == ["w1", cell]


def test_crd_without_printer_columns_gets_name_and_age() -> None:
    [resource] = resource_from_crd(crd(None))
    table = to_table(resource, [WIDGET], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"), ("Age", "date")]
    assert table["rows"][0]["cells"] == ["w1", "90s"]


def test_crd_column_that_does_not_parse_stops_the_columns() -> None:
    [resource] = resource_from_crd(crd([
        {"name": "A", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "B", "type": "string", "jsonPath": ".spec[?oops"},
        {"name": "C", "type": "string", "jsonPath": ".spec.size"}]))
    assert [c["name"] for c in printer_for(resource).columns] == ["Name", "A"]


# --- the Table envelope --------------------------------------------------------------------------

@pytest.mark.parametrize("include, embedded", [
    pytest.param("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": WIDGET["metadata"]}, id="metadata-is-default"),
    pytest.param("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                      "metadata": WIDGET["metadata"]}, id="empty-means-metadata"),
    pytest.param("Object", WIDGET, id="object"),
    pytest.param("None", None, id="none"),
])
def test_rows_embed_the_object_as_include_object_asks(include: str, embedded) -> None:
    [resource] = resource_from_crd(crd(None))
    table = to_table(resource, [WIDGET], now=NOW, include_object=include)
    assert table["rows"][0].get("object") == embedded


def test_invalid_include_object_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match='includeObject: Unsupported value: "All"'):
        to_table(res("v1", "Pod"), [], now=NOW, include_object="All")


def test_table_envelope_carries_list_metadata() -> None:
    table = to_table(res("v1", "Pod"), [], now=NOW, resource_version="42",
                     continue_token="abc", remaining=7)
    assert table == {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                     "metadata": {"resourceVersion": "42", "continue": "abc",
                                  "remainingItemCount": 7},
                     "columnDefinitions": table["columnDefinitions"], "rows": []}
    assert to_table(res("v1", "Pod"), [], now=NOW)["metadata"] == {}


def test_watch_events_carry_columns_only_on_the_first() -> None:
    obj = pod(statuses=[cs(RUNNING, ready=True)])
    first = watch_table_event("ADDED", res("v1", "Pod"), obj, now=NOW, first=True)
    later = watch_table_event("MODIFIED", res("v1", "Pod"), obj, now=NOW)
    assert first["type"] == "ADDED" and len(first["object"]["columnDefinitions"]) == 9
    assert later["object"]["columnDefinitions"] == []
    assert later["object"]["metadata"] == {"resourceVersion": "7"}
    assert later["object"]["rows"][0]["cells"][:3] == ["web-1", "1/1", "Running"]
    status = {"kind": "Status", "apiVersion": "v1", "code": 410, "reason": "Expired"}
    assert watch_table_event("ERROR", res("v1", "Pod"), status, now=NOW) == {
        "type": "ERROR", "object": status}
