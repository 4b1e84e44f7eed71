"""Discovery: the legacy and aggregated documents kubectl v1.32 reads, built from the registry."""

from __future__ import annotations

import pytest

from kubemu.cluster.api import discovery
from kubemu.cluster.api.discovery import (
    AGGREGATED_CONTENT_TYPE, AGGREGATED_CONTENT_TYPE_V2BETA1, aggregated_content_type,
    aggregated_discovery, aggregated_version, api_group, api_group_list, api_resource_list,
    api_versions, storage_version_hash, version_info, wants_aggregated)
from kubemu.cluster.api.registry import BUILTIN, Registry, builtin_registry, resource_from_crd

REG = builtin_registry()
KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                  "application/json")


def legacy_entries(registry: Registry) -> list[tuple[str, str, dict]]:
    """(group, version, entry) for every APIResourceList entry the server serves."""
    out = []
    for group, versions in registry.groups():
        for version in versions:
            doc = api_resource_list(registry, group, version)
            out += [(group, version, e) for e in doc["resources"]]
    return out


def aggregated_entries(registry: Registry) -> list[tuple[str, str, dict]]:
    out = []
    for core in (True, False):
        for item in aggregated_discovery(registry, core=core)["items"]:
            for v in item["versions"]:
                out += [(item["metadata"].get("name", ""), v["version"], r)
                        for r in v["resources"]]
    return out


def test_every_builtin_resource_is_listed_exactly_once_in_each_form() -> None:
    expected = sorted((r.group, r.version, r.plural) for r in BUILTIN)
    legacy = sorted((g, v, e["name"]) for g, v, e in legacy_entries(REG)
                    if "/" not in e["name"])
    aggregated = sorted((g, v, e["resource"]) for g, v, e in aggregated_entries(REG))
    assert legacy == expected
    assert aggregated == expected


def test_core_group_lives_only_under_api() -> None:
    core = aggregated_discovery(REG, core=True)
    assert [i["metadata"] for i in core["items"]] == [{}]
    named = aggregated_discovery(REG, core=False)
    assert "" not in [i["metadata"].get("name", "") for i in named["items"]]
    assert [i["metadata"]["name"] for i in named["items"]][:3] == ["apps", "batch",
                                                                  "discovery.k8s.io"]


def test_api_versions_names_the_server_address() -> None:
    assert api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": "127.0.0.1:6443"}]}


def test_group_list_has_preferred_versions_and_no_core_group() -> None:
    doc = api_group_list(REG)
    assert doc["kind"] == "APIGroupList" and doc["apiVersion"] == "v1"
    apps = next(g for g in doc["groups"] if g["name"] == "apps")
    assert apps == {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
    assert "" not in [g["name"] for g in doc["groups"]]


@pytest.mark.parametrize("group, found", [
    pytest.param("batch", True, id="served"),
    pytest.param("", False, id="core-is-not-a-named-group"),
    pytest.param("nope.example.com", False, id="unknown"),
])
def test_api_group(group: str, found: bool) -> None:
    doc = api_group(REG, group)
    assert (doc is not None) == found
    if found:
        assert doc["kind"] == "APIGroup" and doc["preferredVersion"]["version"] == "v1"


@pytest.mark.parametrize("group, version", [
    pytest.param("apps", "v2", id="unknown-version"),
    pytest.param("nope.example.com", "v1", id="unknown-group"),
])
def test_resource_list_of_unserved_group_version_is_none(group: str, version: str) -> None:
    assert api_resource_list(REG, group, version) is None


def test_core_resource_list_entries() -> None:
    doc = api_resource_list(REG, "", "v1")
    assert (doc["kind"], doc["groupVersion"]) == ("APIResourceList", "v1")
    by_name = {e["name"]: e for e in doc["resources"]}
    assert by_name["pods"] == {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                  "watch"],
        "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8="}
    assert by_name["pods/status"] == {"name": "pods/status", "singularName": "",
                                      "namespaced": True, "kind": "Pod",
                                      "verbs": ["get", "patch", "update"]}
    assert by_name["pods/binding"] == {"name": "pods/binding", "singularName": "",
                                       "namespaced": True, "kind": "Binding",
                                       "verbs": ["create"]}
    assert by_name["pods/eviction"] == {"name": "pods/eviction", "singularName": "",
                                        "namespaced": True, "group": "policy", "version": "v1",
                                        "kind": "Eviction", "verbs": ["create"]}
    assert "deletecollection" not in by_name["services"]["verbs"]
    assert by_name["nodes"]["namespaced"] is False
    assert "shortNames" not in by_name["secrets"]
    names = [e["name"] for e in doc["resources"]]
    assert names == sorted(names)


def test_scale_subresource_is_autoscaling_scale() -> None:
    by_name = {e["name"]: e for e in api_resource_list(REG, "apps", "v1")["resources"]}
    assert by_name["deployments/scale"] == {
        "name": "deployments/scale", "singularName": "", "namespaced": True,
        "group": "autoscaling", "version": "v1", "kind": "Scale",
        "verbs": ["get", "patch", "update"]}
    assert "daemonsets/scale" not in by_name


def test_aggregated_pod_entry_and_subresources() -> None:
    doc = aggregated_discovery(REG, core=True)
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupDiscoveryList",
                                                "apidiscovery.k8s.io/v2")
    [version] = doc["items"][0]["versions"]
    assert (version["version"], version["freshness"]) == ("v1", "Current")
    pods = next(r for r in version["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert (pods["scope"], pods["singularResource"], pods["shortNames"], pods["categories"]) == (
        "Namespaced", "pod", ["po"], ["all"])
    assert pods["subresources"] == [
        {"subresource": "binding", "responseKind": {"group": "", "version": "v1",
                                                    "kind": "Binding"}, "verbs": ["create"]},
        {"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1",
                                                     "kind": "Eviction"}, "verbs": ["create"]},
        {"subresource": "status", "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
         "verbs": ["get", "patch", "update"]}]
    namespaces = next(r for r in version["resources"] if r["resource"] == "namespaces")
    assert namespaces["scope"] == "Cluster"
    configmaps = next(r for r in version["resources"] if r["resource"] == "configmaps")
    assert "subresources" not in configmaps and "categories" not in configmaps


def test_aggregated_v2beta1_has_the_same_shape() -> None:
    v2 = aggregated_discovery(REG, core=False)
    beta = aggregated_discovery(REG, core=False, version="v2beta1")
    assert beta["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert beta["items"] == v2["items"]


def test_custom_resources_follow_the_registry() -> None:
    registry = builtin_registry()
    registry.add_custom(resource_from_crd({"spec": {
        "group": "example.com", "scope": "Cluster",
        "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "subresources": {"status": {}, "scale": {}}}]}}))
    assert api_group(registry, "example.com")["preferredVersion"]["groupVersion"] == \
        "example.com/v1"
    names = [e["name"] for e in api_resource_list(registry, "example.com", "v1")["resources"]]
    assert names == ["widgets", "widgets/scale", "widgets/status"]
    item = aggregated_discovery(registry, core=False)["items"][-1]
    assert item["metadata"] == {"name": "example.com"}
    [widgets] = item["versions"][0]["resources"]
    assert (widgets["scope"], widgets["shortNames"]) == ("Cluster", ["wd"])
    registry.remove_custom("example.com", "widgets")
    assert api_group(registry, "example.com") is None


@pytest.mark.parametrize("accept, version", [
    pytest.param(KUBECTL_ACCEPT, "v2", id="kubectl-prefers-v2"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
                 "application/json", "v2beta1", id="only-v2beta1"),
    pytest.param("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList",
                 "v2", id="spaces"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,"
                 "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
                 "v2beta1", id="q-values-order-preference"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0",
                 None, id="q-zero-refuses"),
    pytest.param("application/json, */*", None, id="plain-json"),
    pytest.param("", None, id="no-accept"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList",
                 None, id="unknown-version"),
])
def test_aggregated_version_from_accept(accept: str, version: str | None) -> None:
    assert aggregated_version(accept) == version
    assert wants_aggregated(accept) is (version is not None)


def test_aggregated_content_types() -> None:
    assert aggregated_content_type() == AGGREGATED_CONTENT_TYPE == \
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert aggregated_content_type("v2beta1") == AGGREGATED_CONTENT_TYPE_V2BETA1


@pytest.mark.parametrize("group, version, kind, digest", [
    pytest.param("", "v1", "Pod", "xPOwRZ+Yhw8=", id="core"),
    pytest.param("apps", "v1", "Deployment", storage_version_hash("apps", "v1", "Deployment"),
                 id="stable"),
])
def test_storage_version_hash(group: str, version: str, kind: str, digest: str) -> None:
    assert storage_version_hash(group, version, kind) == digest
    assert len(digest) == 12


def test_version_info() -> None:
    info = version_info(platform="linux/arm64")
    assert (info["major"], info["minor"], info["gitVersion"], info["platform"]) == (
        "1", "32", "v1.32.0-kubemu", "linux/arm64")
    assert "/" in version_info()["platform"]


def test_aggregated_document_parses_with_the_kubernetes_client() -> None:
    client = pytest.importorskip("kubernetes.client")
    api = client.ApiClient()
    for core in (True, False):
        doc = aggregated_discovery(REG, core=core)
        parsed = api._ApiClient__deserialize(doc, "V2APIGroupDiscoveryList")
        resources = [r.resource for item in parsed.items for v in item.versions
                     for r in v.resources]
        assert len(resources) == sum(len(v["resources"]) for i in doc["items"]
                                     for v in i["versions"])
        assert all(r.response_kind is not None for item in parsed.items
                   for v in item.versions for r in v.resources)
    parsed = api._ApiClient__deserialize(api_resource_list(REG, "apps", "v1"),
                                         "V1APIResourceList")
    assert {r.name for r in parsed.resources} >= {"deployments", "deployments/scale"}
    assert discovery.KUBERNETES_VERSION.startswith("v1.32.")
