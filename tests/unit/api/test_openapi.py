"""OpenAPI documents: the v3 index and group-version documents, the v2 document, the cache."""

from __future__ import annotations

import orjson
import pytest

from kubemu.cluster.api.openapi import (
    OpenAPICache, crd_definition_name, v2_document, v3_document, v3_index)
from kubemu.cluster.api.registry import builtin_registry, resource_from_crd

_WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}, "scale": {
                               "specReplicasPath": ".spec.replicas",
                               "statusReplicasPath": ".status.replicas"}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "replicas": {"type": "integer"},
                                   "size": {"anyOf": [{"type": "integer"},
                                                      {"type": "string"}],
                                            "x-kubernetes-int-or-string": True}}},
                               "status": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}
_GVS = ["api/v1", "apis/apps/v1", "apis/batch/v1", "apis/discovery.k8s.io/v1",
        "apis/coordination.k8s.io/v1", "apis/networking.k8s.io/v1", "apis/policy/v1",
        "apis/scheduling.k8s.io/v1", "apis/rbac.authorization.k8s.io/v1",
        "apis/apiextensions.k8s.io/v1"]


@pytest.fixture(scope="module")
def cache() -> OpenAPICache:
    registry = builtin_registry()
    registry.add_custom(resource_from_crd(_WIDGET_CRD))
    return OpenAPICache(registry)


def _refs(value: object) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for item in value.values() for r in _refs(item)]
    if isinstance(value, list):
        return [r for item in value for r in _refs(item)]
    return []


def _operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


@pytest.mark.parametrize("gv", [*_GVS, "apis/example.com/v1"])
def test_every_ref_of_a_v3_document_resolves_inside_it(cache, gv):
    doc = cache.v3(gv)
    schemas = doc["components"]["schemas"]
    refs = _refs(doc)
    assert refs
    assert all(r.startswith("#/components/schemas/") for r in refs)
    assert {r.removeprefix("#/components/schemas/") for r in refs} <= set(schemas)


def test_every_ref_of_the_v2_document_resolves_and_none_is_allof_wrapped(cache):
    doc = cache.v2()
    refs = _refs(doc)
    assert refs and all(r.startswith("#/definitions/") for r in refs)
    assert {r.removeprefix("#/definitions/") for r in refs} <= set(doc["definitions"])
    assert b"allOf" not in cache.v2_bytes()
    assert b"#/components/" not in cache.v2_bytes()


def test_v2_publishes_quantity_and_int_or_string_as_strings(cache):
    definitions = cache.v2()["definitions"]
    assert definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    assert "oneOf" not in definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    size = definitions["com.example.v1.Widget"]["properties"]["spec"]["properties"]["size"]
    assert size["type"] == "string" and "anyOf" not in size
    ports = definitions["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert ports["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.ContainerPort"}
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"


def test_pod_document_has_upstream_paths_and_operations(cache):
    paths = cache.v3("api/v1")["paths"]
    item = paths["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert set(item) == {"parameters", "get", "put", "patch", "delete"}
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    patch = item["patch"]
    assert patch["operationId"] == "patchCoreV1NamespacedPod"
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1",
                                                         "kind": "Pod"}
    assert {"fieldValidation", "fieldManager", "dryRun", "force"} <= {
        p["name"] for p in patch["parameters"] if p["in"] == "query"}
    assert set(patch["requestBody"]["content"]) == {
        "application/json-patch+json", "application/merge-patch+json",
        "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
    create = paths["/api/v1/namespaces/{namespace}/pods"]["post"]
    assert "fieldValidation" in {p["name"] for p in create["parameters"]}
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"}
    listing = paths["/api/v1/pods"]["get"]
    assert listing["operationId"] == "listCoreV1PodForAllNamespaces"
    assert {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
            "resourceVersionMatch", "timeoutSeconds", "watch", "allowWatchBookmarks",
            "sendInitialEvents"} <= {p["name"] for p in listing["parameters"]}
    delete = item["delete"]
    assert {"gracePeriodSeconds", "propagationPolicy", "orphanDependents"} <= {
        p["name"] for p in delete["parameters"]}


@pytest.mark.parametrize("gv,path,method,op_id,action,kind", [
    pytest.param("api/v1", "/api/v1/namespaces/{namespace}/pods", "get",
                 "listCoreV1NamespacedPod", "list", "Pod", id="list"),
    pytest.param("api/v1", "/api/v1/namespaces/{namespace}/pods", "post",
                 "createCoreV1NamespacedPod", "post", "Pod", id="create"),
    pytest.param("api/v1", "/api/v1/namespaces/{namespace}/pods", "delete",
                 "deleteCoreV1CollectionNamespacedPod", "deletecollection", "Pod",
                 id="deletecollection"),
    pytest.param("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", "put",
                 "replaceCoreV1NamespacedPodStatus", "put", "Pod", id="status"),
    pytest.param("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/binding", "post",
                 "createCoreV1NamespacedPodBinding", "post", "Binding", id="binding"),
    pytest.param("api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post",
                 "createCoreV1NamespacedPodEviction", "post", "Eviction", id="eviction"),
    pytest.param("api/v1", "/api/v1/watch/namespaces/{namespace}/pods", "get",
                 "watchCoreV1NamespacedPodList", "watchlist", "Pod", id="watchlist"),
    pytest.param("api/v1", "/api/v1/nodes/{name}", "get", "readCoreV1Node", "get", "Node",
                 id="cluster-scoped"),
    pytest.param("apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/"
                 "scale", "patch", "patchAppsV1NamespacedDeploymentScale", "patch", "Scale",
                 id="scale"),
    pytest.param("apis/rbac.authorization.k8s.io/v1",
                 "/apis/rbac.authorization.k8s.io/v1/clusterroles", "get",
                 "listRbacAuthorizationV1ClusterRole", "list", "ClusterRole",
                 id="dotted-group"),
    pytest.param("apis/example.com/v1", "/apis/example.com/v1/namespaces/{namespace}/widgets",
                 "post", "createExampleComV1NamespacedWidget", "post", "Widget", id="custom"),
])
def test_operations_are_named_as_upstream(cache, gv, path, method, op_id, action, kind):
    op = cache.v3(gv)["paths"][path][method]
    assert op["operationId"] == op_id
    assert op["x-kubernetes-action"] == action
    assert op["x-kubernetes-group-version-kind"]["kind"] == kind


def test_cluster_scoped_resources_have_no_namespaced_paths(cache):
    paths = cache.v3("api/v1")["paths"]
    assert "/api/v1/nodes" in paths and "/api/v1/nodes/{name}/status" in paths
    assert not [p for p in paths if "namespaces/{namespace}/nodes" in p]
    assert [p["name"] for p in paths["/api/v1/nodes/{name}"]["parameters"]] == ["name",
                                                                                "pretty"]


@pytest.mark.parametrize("gv", [*_GVS, "apis/example.com/v1"])
def test_every_patch_and_create_operation_declares_field_validation(cache, gv):
    """kubectl takes the first PATCH operation of a kind's gvk to decide server-side
    validation, so every one must declare it."""
    for _, method, op in _operations(cache.v3(gv)):
        if method in ("patch", "post", "put"):
            assert "fieldValidation" in {p["name"] for p in op["parameters"]
                                         if p["in"] == "query"}


@pytest.mark.parametrize("gv", [*_GVS, "apis/example.com/v1"])
def test_every_operation_gvk_has_a_schema_in_the_document(cache, gv):
    """kubectl explain and apply find a kind's schema by its x-kubernetes-group-version-kind."""
    doc = cache.v3(gv)
    kinds = {(g["group"], g["version"], g["kind"]) for s in doc["components"]["schemas"].values()
             for g in s.get("x-kubernetes-group-version-kind", [])}
    for _, _, op in _operations(doc):
        gvk = op["x-kubernetes-group-version-kind"]
        assert (gvk["group"], gvk["version"], gvk["kind"]) in kinds


def test_a_custom_resource_has_its_own_document_with_gvk_and_no_strategic_merge(cache):
    doc = cache.v3("apis/example.com/v1")
    widget = doc["components"]["schemas"]["com.example.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "version": "v1", "kind": "Widget"}]
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(widget["properties"])
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in doc["components"]["schemas"]
    assert "com.example.v1.WidgetList" in doc["components"]["schemas"]
    item = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]
    assert "application/strategic-merge-patch+json" not in item["patch"]["requestBody"][
        "content"]
    scale = doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale"]
    assert scale["get"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"


def test_the_crd_schema_given_is_not_modified(cache):
    registry = builtin_registry()
    resources = resource_from_crd(_WIDGET_CRD)
    registry.add_custom(resources)
    before = orjson.dumps(resources[0].schema)
    v3_document(registry, "apis/example.com/v1")
    v2_document(registry)
    assert orjson.dumps(resources[0].schema) == before
    assert crd_definition_name(resources[0]) == "com.example.v1.Widget"


def test_index_lists_every_group_version_with_its_document_hash(cache):
    paths = cache.index()["paths"]
    assert list(paths)[:3] == ["api", "api/v1", "apis"]
    assert set(_GVS) | {"apis/example.com/v1"} <= set(paths)
    for gv in [*_GVS, "apis/example.com/v1"]:
        assert paths[gv]["serverRelativeURL"] == f"/openapi/v3/{gv}?hash={cache.v3_hash(gv)}"
    assert orjson.loads(cache.index_bytes()) == cache.index()
    assert orjson.loads(cache.v3_bytes("apis/apps/v1")) == orjson.loads(
        orjson.dumps(cache.v3("apis/apps/v1")))


def test_index_hashes_change_only_for_the_group_versions_a_crd_changes():
    registry = builtin_registry()
    cache = OpenAPICache(registry)
    before = cache.index()["paths"]
    assert cache.index()["paths"] == before  # cached and stable
    assert OpenAPICache(builtin_registry()).index() == cache.index()  # deterministic
    registry.add_custom(resource_from_crd(_WIDGET_CRD))
    assert cache.index()["paths"] == before  # until invalidated
    cache.invalidate()
    after = cache.index()["paths"]
    assert "apis/example.com/v1" in after and "apis/example.com/v1" not in before
    assert after["api/v1"] == before["api/v1"]
    registry.remove_custom("example.com", "widgets")
    cache.invalidate()
    assert cache.index()["paths"] == before
    assert cache.v3("apis/example.com/v1") is None


@pytest.mark.parametrize("gv", [
    pytest.param("apis/nosuch/v1", id="unknown-group"),
    pytest.param("apis/apps/v9", id="unknown-version"),
    pytest.param("api/v1/pods", id="not-a-group-version"),
])
def test_unknown_group_versions_have_no_document(cache, gv):
    assert cache.v3(gv) is None and cache.v3_bytes(gv) is None


def test_discovery_root_documents_are_served(cache):
    assert "/api/" in cache.v3("api")["paths"]
    assert "/apis/" in cache.v3("/apis/")["paths"]


def test_module_functions_match_the_cache():
    registry = builtin_registry()
    assert v3_index(registry) == OpenAPICache(registry).index()
    assert v2_document(registry)["swagger"] == "2.0"
    assert v3_document(registry, "api/v1")["openapi"] == "3.0.0"
