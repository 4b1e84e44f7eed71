"""The storage transformer: objects are stored compressed against a fixed dictionary, read back
byte for byte, and values stored as plain JSON (by an older kubemu) still serve."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from kubemu.cluster.api import transformer
from kubemu.cluster.api.objects import encode
from kubemu.cluster.api.transformer_samples import dictionary

def running_pod(i: int) -> dict:
    """A pod as a Deployment and a kubelet leave it, with its own names, uids and IPs."""
    name = f"shop-7f9c{i:02d}b5d4-q{i:04d}"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": "team-a", "labels": {"app": "shop", "pod-template-hash":
                                                        f"7f9c{i:02d}b5d4"},
                     "generateName": name[:-5], "ownerReferences": [{
                         "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name[:-6],
                         "uid": f"0c1d2e3f-{i:04d}-4a5b-8c7d-9e0f1a2b3c4d",
                         "controller": True, "blockOwnerDeletion": True}],
                     "name": name, "uid": f"9a8b7c6d-{i:04d}-4e5f-a0b1-c2d3e4f5a6b7",
                     "creationTimestamp": "2027-01-02T03:04:05Z"},
        "spec": {"containers": [{"name": "shop", "image": "nginx", "ports": [
            {"containerPort": 8080, "name": "http", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "serviceAccount": "default", "nodeName": f"node-{i}", "securityContext": {},
            "schedulerName": "default-scheduler", "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority"},
        "status": {"phase": "Running", "conditions": [
            {"type": kind, "status": "True", "lastProbeTime": None,
             "lastTransitionTime": "2027-01-02T03:04:09Z"}
            for kind in ("PodReadyToStartContainers", "Initialized", "Ready",
                         "ContainersReady", "PodScheduled")],
            "hostIP": f"127.1.0.{i}", "podIP": f"10.244.{i}.7",
            "podIPs": [{"ip": f"10.244.{i}.7"}], "startTime": "2027-01-02T03:04:06Z",
            "qosClass": "Burstable"},
    }


def test_a_pod_is_stored_several_times_smaller_and_reads_back_byte_for_byte() -> None:
    for i in range(1, 6):
        data = orjson.dumps(running_pod(i))
        stored = transformer.write(data)
        assert stored.startswith(transformer.PREFIX)
        assert len(stored) * 4 < len(data), (len(stored), len(data))
        assert transformer.read(stored) == data


def test_values_stored_as_plain_json_read_as_they_are() -> None:
    old = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}'
    assert transformer.read(old) == old
    assert transformer.loads(old)["metadata"]["name"] == "a"
    tiny = b"{}"
    assert transformer.write(tiny) == tiny  # would not shrink: stays plain


def test_a_damaged_value_is_a_clear_error() -> None:
    stored = transformer.write(orjson.dumps(running_pod(1)))
    with pytest.raises(ValueError, match="does not decompress"):
        transformer.read(stored[:len(transformer.PREFIX) + 5])


def test_the_dictionary_is_pinned_by_its_digest() -> None:
    """Stored values need this exact dictionary to read back: changing it means a new PREFIX
    (and keeping the old dictionary for what was written with it)."""
    assert hashlib.sha256(dictionary()).hexdigest() == (
        "4079ab08c5a8a6e2db564ff330211d5f4645558ec7d0f35b0ca9d25d9e1ef208")
    assert transformer.PREFIX == b"\x00kz1"


@pytest.mark.asyncio
async def test_the_api_stores_objects_transformed_and_serves_plain_json_written_before(
        api) -> None:
    created = await api.json("POST", "/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, expect=201)
    key = "/registry/core/pods/default/web"
    [kv] = (await api.store.request({"op": "range", "key": key}))["kvs"]
    assert kv["value"].startswith(transformer.PREFIX)
    got = await api.json("GET", "/api/v1/namespaces/default/pods/web")
    assert got == created
    plain = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "old", "namespace": "default", "uid": "u-1",
                          "creationTimestamp": "2027-01-02T03:04:05Z"},
             "data": {"k": "v"}}
    await api.store.request({"op": "put", "key": "/registry/core/configmaps/default/old",
                             "value": orjson.dumps(plain)})
    served = await api.json("GET", "/api/v1/namespaces/default/configmaps/old")
    assert served["data"] == {"k": "v"} and served["metadata"]["uid"] == "u-1"
    listed = await api.json("GET", "/api/v1/namespaces/default/configmaps")
    assert [cm["metadata"]["name"] for cm in listed["items"]] == ["old"]
    assert encode(served).startswith(transformer.PREFIX)  # rewritten transformed
