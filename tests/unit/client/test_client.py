"""ApiClient: REST paths and queries per verb, error mapping, discovery of unknown kinds, watch.

A `Recorder` transport answers every request with a canned Response and keeps the requests,
so each case states the exact HTTP exchange the client produces. Discovery and the round trip
run against the real in-process API server (conftest `api`, `client`); a custom kind is
served by creating a real CustomResourceDefinition through the API.
"""

from __future__ import annotations

import orjson
import pytest

from kubemu.cluster.api import errors
from kubemu.cluster.api.request import Request, Response
from kubemu.cluster.client import ApiClient

from .faults import Faults

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "prod"}}
WIDGETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields":
                                                          True}}}]}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "namespace": "prod", "resourceVersion": "7"}}


class Recorder:
    """Transport that records requests and answers from `answers` (default: `{}` 200)."""

    def __init__(self, *answers: Response) -> None:
        self.requests: list[Request] = []
        self.answers = list(answers)
        self.closed = False

    async def request(self, req: Request) -> Response:
        self.requests.append(req)
        return self.answers.pop(0) if self.answers else Response(200, body=b"{}")

    async def close(self) -> None:
        self.closed = True


class Lines:
    """A watch body delivered in arbitrary chunks; records whether it was closed."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.closed = False

    def __aiter__(self) -> Lines:
        return self

    async def __anext__(self) -> bytes:
        if self.closed or not self.chunks:
            raise StopAsyncIteration
        return self.chunks.pop(0)

    async def aclose(self) -> None:
        self.closed = True


def _json(obj: dict, status: int = 200) -> Response:
    return Response(status, body=orjson.dumps(obj))


@pytest.mark.parametrize("call, method, path, query", [
    pytest.param(lambda c: c.get("v1", "Pod", "web", namespace="prod"),
                 "GET", "/api/v1/namespaces/prod/pods/web", {}, id="get-namespaced-core"),
    pytest.param(lambda c: c.get("v1", "Pod", "web"),
                 "GET", "/api/v1/namespaces/default/pods/web", {},
                 id="get-defaults-to-namespace-default"),
    pytest.param(lambda c: c.get("v1", "Node", "n1", namespace="prod"),
                 "GET", "/api/v1/nodes/n1", {}, id="get-cluster-scoped-ignores-namespace"),
    pytest.param(lambda c: c.get("v1", "Namespace", "prod"),
                 "GET", "/api/v1/namespaces/prod", {}, id="get-namespace-object"),
    pytest.param(lambda c: c.get("apps/v1", "Deployment", "web", namespace="prod",
                                 subresource="scale"),
                 "GET", "/apis/apps/v1/namespaces/prod/deployments/web/scale", {},
                 id="get-group-subresource"),
    pytest.param(lambda c: c.list("v1", "Pod"), "GET", "/api/v1/pods", {},
                 id="list-all-namespaces"),
    pytest.param(lambda c: c.list("batch/v1", "Job", namespace="ci", label_selector="a=b",
                                  field_selector="status.successful=1", limit=500,
                                  continue_="tok", resource_version="0",
                                  resource_version_match="NotOlderThan"),
                 "GET", "/apis/batch/v1/namespaces/ci/jobs",
                 {"labelSelector": "a=b", "fieldSelector": "status.successful=1",
                  "limit": "500", "continue": "tok", "resourceVersion": "0",
                  "resourceVersionMatch": "NotOlderThan"}, id="list-with-every-option"),
    pytest.param(lambda c: c.create(POD), "POST", "/api/v1/namespaces/prod/pods", {},
                 id="create-takes-namespace-from-metadata"),
    pytest.param(lambda c: c.create(POD, namespace="other", dry_run=True,
                                    field_manager="kubectl", field_validation="Strict"),
                 "POST", "/api/v1/namespaces/other/pods",
                 {"dryRun": "All", "fieldManager": "kubectl", "fieldValidation": "Strict"},
                 id="create-with-options"),
    pytest.param(lambda c: c.create({"apiVersion": "v1", "kind": "Binding",
                                     "metadata": {"name": "web", "namespace": "prod"},
                                     "target": {"kind": "Node", "name": "n1"}},
                                    subresource="binding"),
                 "POST", "/api/v1/namespaces/prod/pods/web/binding", {},
                 id="create-binding-posts-to-pod-subresource"),
    pytest.param(lambda c: c.create({"apiVersion": "policy/v1", "kind": "Eviction",
                                     "metadata": {"namespace": "prod"}},
                                    subresource="eviction", name="web"),
                 "POST", "/api/v1/namespaces/prod/pods/web/eviction", {},
                 id="create-eviction-names-the-pod"),
    pytest.param(lambda c: c.update(DEPLOY, subresource="status"),
                 "PUT", "/apis/apps/v1/namespaces/prod/deployments/web/status", {},
                 id="update-status"),
    pytest.param(lambda c: c.patch("apps/v1", "Deployment", "web", {"spec": {}},
                                   namespace="prod", patch_type="apply",
                                   field_manager="me", force=True),
                 "PATCH", "/apis/apps/v1/namespaces/prod/deployments/web",
                 {"fieldManager": "me", "force": "true"}, id="patch-apply-forced"),
    pytest.param(lambda c: c.delete("v1", "Pod", "web", namespace="prod"),
                 "DELETE", "/api/v1/namespaces/prod/pods/web", {}, id="delete"),
    pytest.param(lambda c: c.delete_collection("v1", "Pod", namespace="prod",
                                               label_selector="app=web"),
                 "DELETE", "/api/v1/namespaces/prod/pods", {"labelSelector": "app=web"},
                 id="delete-collection"),
    pytest.param(lambda c: c.list("rbac.authorization.k8s.io/v1", "ClusterRole"),
                 "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {},
                 id="list-cluster-scoped-group"),
])
async def test_each_verb_builds_the_upstream_rest_path(call, method, path, query):
    transport = Recorder()
    await call(ApiClient(transport))
    [req] = transport.requests
    assert (req.method, req.path, req.query) == (method, path, query)
    assert req.headers["accept"] == "application/json"


@pytest.mark.parametrize("patch_type, content_type, body", [
    pytest.param("merge", "application/merge-patch+json", {"a": 1}, id="merge"),
    pytest.param("strategic", "application/strategic-merge-patch+json", {"a": 1},
                 id="strategic"),
    pytest.param("json", "application/json-patch+json",
                 [{"op": "replace", "path": "/a", "value": 1}], id="json-patch"),
    pytest.param("apply", "application/apply-patch+yaml", {"a": 1}, id="apply"),
])
async def test_patch_sends_the_content_type_of_its_patch_type(patch_type, content_type, body):
    transport = Recorder()
    await ApiClient(transport).patch("v1", "ConfigMap", "c", body, patch_type=patch_type)
    [req] = transport.requests
    assert req.headers["content-type"] == content_type
    assert orjson.loads(req.body) == body


async def test_unknown_patch_type_is_refused_before_sending():
    transport = Recorder()
    with pytest.raises(ValueError, match="unknown patch type"):
        await ApiClient(transport).patch("v1", "Pod", "p", {}, patch_type="xml")
    assert transport.requests == []


async def test_delete_sends_delete_options_body():
    transport = Recorder()
    await ApiClient(transport).delete("apps/v1", "Deployment", "web", namespace="prod",
                                      propagation_policy="Foreground",
                                      grace_period_seconds=0,
                                      preconditions={"uid": "u1"}, dry_run=True)
    [req] = transport.requests
    assert orjson.loads(req.body) == {
        "kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground",
        "gracePeriodSeconds": 0, "preconditions": {"uid": "u1"}, "dryRun": ["All"]}


@pytest.mark.parametrize("status, body, error, reason", [
    pytest.param(404, errors.NotFound.of("pods", "", "web").body(), errors.NotFound,
                 "NotFound", id="not-found"),
    pytest.param(409, errors.AlreadyExists.of("pods", "", "web").body(),
                 errors.AlreadyExists, "AlreadyExists", id="already-exists"),
    pytest.param(409, errors.Conflict.modified("deployments", "apps", "web").body(),
                 errors.Conflict, "Conflict", id="conflict"),
    pytest.param(422, errors.Invalid.of("Pod", "", "web", [
        errors.FieldError("Required", "spec.containers")]).body(), errors.Invalid,
                 "Invalid", id="invalid"),
    pytest.param(410, errors.Expired("too old").body(), errors.Expired, "Expired",
                 id="expired"),
    pytest.param(503, b"upstream connect error", errors.ServiceUnavailable,
                 "ServiceUnavailable", id="plain-text-body-maps-by-code"),
    pytest.param(500, b"", errors.InternalError, "InternalError", id="empty-body"),
])
async def test_non_2xx_raises_the_api_error_of_its_status(status, body, error, reason):
    client = ApiClient(Recorder(Response(status, body=body)))
    with pytest.raises(error) as caught:
        await client.get("v1", "Pod", "web")
    assert caught.value.code == status
    assert caught.value.reason == reason


async def test_invalid_error_keeps_its_causes():
    body = errors.Invalid.of("Pod", "", "web", [
        errors.FieldError("Required", "spec.containers")]).body()
    client = ApiClient(Recorder(Response(422, body=body)))
    with pytest.raises(errors.Invalid) as caught:
        await client.create(POD)
    assert caught.value.details["causes"][0]["field"] == "spec.containers"


async def namespace(client: ApiClient, name: str) -> None:
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


async def test_unknown_kind_is_found_through_discovery_once(api: Faults, client: ApiClient):
    await client.create(WIDGETS_CRD)
    await namespace(client, "prod")
    before = len(api.requests)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "metadata": {"name": "w1", "namespace": "prod"}}
    await client.create(widget)
    got = await client.get("example.com/v1", "Widget", "w1", namespace="prod")
    assert got["metadata"]["name"] == "w1"
    assert [r.path for r in api.requests[before:]] == [
        "/apis/example.com/v1", "/apis/example.com/v1/namespaces/prod/widgets",
        "/apis/example.com/v1/namespaces/prod/widgets/w1"]


@pytest.mark.parametrize("api_version, kind", [
    pytest.param("example.com/v1", "Gadget", id="kind-missing-from-group-version"),
    pytest.param("nowhere.io/v1", "Thing", id="group-version-not-served"),
])
async def test_kind_nobody_serves_raises_no_matches(client: ApiClient, api_version, kind):
    await client.create(WIDGETS_CRD)
    with pytest.raises(errors.NotFound, match=f'no matches for kind "{kind}"'):
        await client.get(api_version, kind, "x")


async def test_discovery_misses_are_not_cached_so_a_later_crd_resolves(client: ApiClient):
    with pytest.raises(errors.NotFound, match='no matches for kind "Widget"'):
        await client.get("example.com/v1", "Widget", "w1")
    await client.create(WIDGETS_CRD)
    with pytest.raises(errors.NotFound, match='widgets.example.com "w1" not found'):
        await client.get("example.com/v1", "Widget", "w1")  # the server's 404 now


async def test_list_all_follows_continue_tokens():
    pages = [_json({"metadata": {"continue": "p2"}, "items": [{"n": 1}, {"n": 2}]}),
             _json({"metadata": {"continue": "p3"}, "items": [{"n": 3}]}),
             _json({"metadata": {}, "items": [{"n": 4}]})]
    transport = Recorder(*pages)
    items = [i["n"] async for i in ApiClient(transport).list_all("v1", "Pod", limit=2)]
    assert items == [1, 2, 3, 4]
    assert [r.query.get("continue") for r in transport.requests] == [None, "p2", "p3"]


def _event(kind: str, name: str, rv: str) -> bytes:
    return orjson.dumps({"type": kind, "object": {"metadata": {"name": name,
                                                               "resourceVersion": rv}}})


async def test_watch_yields_events_whatever_the_chunking():
    body = _event("ADDED", "a", "1") + b"\n" + _event("MODIFIED", "a", "2") + b"\n"
    stream = Lines(body[:7], body[7:40], body[40:])
    transport = Recorder(Response(200, stream=stream))
    events = [(e["type"], e["object"]["metadata"]["resourceVersion"])
              async for e in ApiClient(transport).watch("v1", "Pod", resource_version="0")]
    assert events == [("ADDED", "1"), ("MODIFIED", "2")]
    [req] = transport.requests
    assert req.query == {"watch": "true", "resourceVersion": "0",
                         "allowWatchBookmarks": "true"}
    assert stream.closed


async def test_watch_error_event_raises_its_status_and_closes_the_stream():
    expired = errors.Expired("too old resource version: 1 (5)").status()
    stream = Lines(_event("ADDED", "a", "1") + b"\n",
                   orjson.dumps({"type": "ERROR", "object": expired}) + b"\n")
    seen = []
    with pytest.raises(errors.Expired):
        async for e in ApiClient(Recorder(Response(200, stream=stream))).watch("v1", "Pod"):
            seen.append(e["type"])
    assert seen == ["ADDED"]
    assert stream.closed


async def test_closing_a_watch_early_closes_the_stream():
    stream = Lines(_event("ADDED", "a", "1") + b"\n", _event("ADDED", "b", "2") + b"\n")
    events = ApiClient(Recorder(Response(200, stream=stream))).watch("v1", "Pod")
    assert (await anext(events))["type"] == "ADDED"
    await events.aclose()
    assert stream.closed


async def test_watch_refused_raises_before_any_event():
    transport = Recorder(Response(403, body=errors.Forbidden("no").body()))
    with pytest.raises(errors.Forbidden):
        async for _ in ApiClient(transport).watch("v1", "Pod", namespace="prod"):
            pass
    assert transport.requests[0].path == "/api/v1/namespaces/prod/pods"


async def test_round_trip_through_the_in_process_api_server(client: ApiClient):
    await namespace(client, "prod")
    created = await client.create({**POD, "metadata": {"generateName": "web-",
                                                      "namespace": "prod"},
                                   "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    name = created["metadata"]["name"]
    assert name.startswith("web-")
    patched = await client.patch("v1", "Pod", name, {"metadata": {"labels": {"a": "b"}}},
                                 namespace="prod")
    assert patched["metadata"]["labels"] == {"a": "b"}
    with pytest.raises(errors.Conflict):
        await client.update({**patched, "metadata": {**patched["metadata"],
                                                     "resourceVersion": "1"}})
    await client.delete("v1", "Pod", name, namespace="prod")
    with pytest.raises(errors.NotFound):
        await client.get("v1", "Pod", name, namespace="prod")
