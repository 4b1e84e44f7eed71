"""The official `kubernetes` Python client, unchanged, against the API servers on Ray."""

from __future__ import annotations

import asyncio
import ssl
import urllib.error
import urllib.request
import uuid

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kubemu.actors.store_client import StoreClient


@pytest.fixture(scope="module")
def core(api_cluster) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=api_cluster.kubeconfig))


@pytest.fixture(scope="module")
def namespace(core) -> str:
    name = f"py-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"t": "py"}),
                              data=data or {"k": "v"})


def test_create_list_patch_delete(core, namespace):
    created = core.create_namespaced_config_map(namespace, _cm("one"))
    assert created.metadata.uid and created.metadata.resource_version
    listed = core.list_namespaced_config_map(namespace, label_selector="t=py")
    assert "one" in [c.metadata.name for c in listed.items]
    patched = core.patch_namespaced_config_map("one", namespace, {"data": {"k": "patched"}})
    assert patched.data == {"k": "patched"}
    core.delete_namespaced_config_map("one", namespace)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("one", namespace)
    assert err.value.status == 404


def test_watch_resumes_from_a_resource_version(core, namespace):
    cm = core.create_namespaced_config_map(namespace, _cm("watched"))
    mark = cm.metadata.resource_version
    for i in range(2):
        core.patch_namespaced_config_map("watched", namespace, {"data": {"k": str(i)}})
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, namespace, resource_version=mark,
                          field_selector="metadata.name=watched", timeout_seconds=10):
        seen.append((event["type"], event["object"].data["k"]))
        if len(seen) == 2:
            w.stop()
    assert seen == [("MODIFIED", "0"), ("MODIFIED", "1")]


def test_watch_from_before_a_compaction_is_410(core, namespace, api_cluster):
    cm = core.create_namespaced_config_map(namespace, _cm("old"))
    mark = cm.metadata.resource_version
    for value in ("newer", "newest"):  # the revision right after `mark` must be compacted
        core.patch_namespaced_config_map("old", namespace, {"data": {"k": value}})

    async def compact() -> None:
        store = await StoreClient.connect(cluster=api_cluster.name, replicas=3)
        try:
            now = (await store.request({"op": "range", "key": "/", "count_only": True}))
            await store.compact(now["revision"])
        finally:
            await store.close()

    asyncio.run(compact())
    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                      resource_version=mark, timeout_seconds=10):
            pass
    assert err.value.status == 410


def test_two_writers_from_one_resource_version_one_gets_409(core, namespace):
    cm = core.create_namespaced_config_map(namespace, _cm("contended"))
    first, second = _cm("contended", k="first"), _cm("contended", k="second")
    for c in (first, second):
        c.metadata.resource_version = cm.metadata.resource_version
    core.replace_namespaced_config_map("contended", namespace, first)
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("contended", namespace, second)
    assert err.value.status == 409
    assert core.read_namespaced_config_map("contended", namespace).data == {"k": "first"}


@pytest.mark.parametrize("headers,body,code", [
    pytest.param({}, b"{}", 401, id="no-token"),
    pytest.param({"auth": True}, b"{oops", 400, id="malformed-json"),
    pytest.param({"auth": True}, b"{" + b" " * (3 * 1024 * 1024) + b"}", 413, id="too-large"),
])
def test_bad_http_requests_get_a_status(api_cluster, namespace, headers, body, code):
    req = urllib.request.Request(
        f"{api_cluster.server}/api/v1/namespaces/{namespace}/configmaps", data=body,
        method="POST", headers={"Content-Type": "application/json"})
    if headers.get("auth"):
        req.add_header("Authorization", f"Bearer {api_cluster.token}")
    context = ssl.create_default_context(cafile=api_cluster.ca_file)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30, context=context)
    assert err.value.code == code
    import json
    status = json.loads(err.value.read())
    assert (status["kind"], status["code"]) == ("Status", code)


def test_two_api_servers_share_the_port_and_both_answer(api_cluster):
    context = ssl.create_default_context(cafile=api_cluster.ca_file)
    answered = set()
    for _ in range(40):  # a new connection each time: the kernel spreads them (SO_REUSEPORT)
        req = urllib.request.Request(f"{api_cluster.server}/api/v1/namespaces/default",
                                     headers={"Authorization": f"Bearer {api_cluster.token}"})
        with urllib.request.urlopen(req, timeout=30, context=context) as resp:
            answered.add(resp.headers["X-Kubemu-Apiserver"])
        if len(answered) == 2:
            break
    assert answered == {"apiserver-1", "apiserver-2"}
