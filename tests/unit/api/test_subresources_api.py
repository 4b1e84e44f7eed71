"""Subresources (scale, binding, eviction), custom resources, discovery and Tables."""

from __future__ import annotations

import orjson

from .manifests import deployment

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

WIDGETS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                       "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "properties": {
                                   "size": {"type": "integer"}}}}}},
                           "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                                         "jsonPath": ".spec.size"}]}]}}


async def _pod(api, name: str, labels: dict | None = None) -> dict:
    return await api.json("POST", PODS, {"metadata": {"name": name, "labels": labels or {}},
                                         "spec": {"containers": [{"name": "c",
                                                                  "image": "nginx"}]}},
                          expect=201)


async def test_scale_reads_and_writes_replicas(api):
    await api.json("POST", DEPLOYS, deployment(), expect=201)
    scale = await api.json("GET", f"{DEPLOYS}/web/scale")
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]["selector"]) == (
        "Scale", 2, "app=web")
    scale["spec"]["replicas"] = 5
    await api.json("PUT", f"{DEPLOYS}/web/scale", scale)
    await api.json("PATCH", f"{DEPLOYS}/web/scale", {"spec": {"replicas": 4}},
                   headers={"content-type": "application/merge-patch+json"})
    d = await api.json("GET", f"{DEPLOYS}/web")
    assert d["spec"]["replicas"] == 4 and d["metadata"]["generation"] == 3


async def test_binding_assigns_a_pod_once(api):
    await _pod(api, "p")
    body = {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
    await api.json("POST", f"{PODS}/p/binding", body, expect=201)
    pod = await api.json("GET", f"{PODS}/p")
    assert pod["spec"]["nodeName"] == "n1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= \
        pod["status"]["conditions"][0].items()
    again = await api.json("POST", f"{PODS}/p/binding", {**body, "target": {"name": "n2"}},
                           expect=409)
    assert 'already assigned to node "n1"' in again["message"]


async def test_eviction_honours_the_disruption_budget(api):
    pod = await _pod(api, "guarded", {"app": "db"})
    await api.json("POST", f"{PODS}/guarded/binding", {"target": {"name": "n1"}}, expect=201)
    pod = await api.json("GET", f"{PODS}/guarded")
    pod["status"]["phase"] = "Running"
    pod["status"]["conditions"].append({"type": "Ready", "status": "True"})  # a healthy pod
    await api.json("PUT", f"{PODS}/guarded/status", pod)
    pdb = await api.json("POST", PDBS, {"metadata": {"name": "db"}, "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}, expect=201)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": "guarded", "namespace": "default"}}
    refused = await api.json("POST", f"{PODS}/guarded/eviction", eviction, expect=429)
    assert refused["reason"] == "TooManyRequests"
    assert refused["details"]["causes"][0]["reason"] == "DisruptionBudget"
    pdb["status"] = {"observedGeneration": 1, "disruptionsAllowed": 1, "currentHealthy": 2,
                     "desiredHealthy": 1, "expectedPods": 2}
    await api.json("PUT", f"{PDBS}/db/status", pdb)
    await api.json("POST", f"{PODS}/guarded/eviction", eviction, expect=201)
    gone = await api.json("GET", f"{PODS}/guarded")
    assert gone["metadata"]["deletionTimestamp"]  # bound pods terminate gracefully
    after = await api.json("GET", f"{PDBS}/db")
    assert after["status"]["disruptionsAllowed"] == 0
    assert "guarded" in after["status"]["disruptedPods"]


async def test_a_crd_serves_its_kind_until_deleted(api):
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    crd = await api.json("POST", crds, WIDGETS_CRD, expect=201)
    assert {c["type"] for c in crd["status"]["conditions"]} >= {"Established"}
    widgets = "/apis/example.com/v1/namespaces/default/widgets"
    w = await api.json("POST", widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                         "metadata": {"name": "w1"}, "spec": {"size": 3}},
                       expect=201)
    assert w["metadata"]["generation"] == 1
    await api.json("PATCH", f"{widgets}/w1", {"spec": {"size": 4}},
                   headers={"content-type": "application/merge-patch+json"})
    table = await api.json("GET", widgets, headers={"accept": TABLE})
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert "Size" in columns
    assert table["rows"][0]["cells"][columns.index("Size")] == 4
    strict = await api.json("POST", widgets, {"apiVersion": "example.com/v1", "kind": "Widget",
                                              "metadata": {"name": "w2"},
                                              "spec": {"colour": "red"}},
                            query={"fieldValidation": "Strict"}, expect=400)
    assert 'unknown field "spec.colour"' in strict["message"]
    resources = await api.json("GET", "/apis/example.com/v1")
    assert [r["name"] for r in resources["resources"]] == ["widgets"]
    await api.json("DELETE", f"{crds}/widgets.example.com")
    await api.json("GET", widgets, expect=404)


async def test_discovery_legacy_and_aggregated(api):
    versions = await api.json("GET", "/api")
    assert versions["versions"] == ["v1"]
    groups = await api.json("GET", "/apis")
    names = [g["name"] for g in groups["groups"]]
    assert {"apps", "batch", "policy", "apiextensions.k8s.io"} <= set(names)
    resp = await api.call("GET", "/apis", headers={"accept": (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json")})
    assert resp.content_type.startswith("application/json;g=apidiscovery.k8s.io;v=v2")
    doc = orjson.loads(resp.body)
    assert doc["kind"] == "APIGroupDiscoveryList"
    core = await api.json("GET", "/api/v1")
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["namespaced"] and "watch" in pods["verbs"] and pods["shortNames"] == ["po"]


async def test_pod_table_has_kubectl_columns(api):
    await _pod(api, "t")
    table = await api.json("GET", PODS, headers={"accept": TABLE})
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert table["rows"][0]["cells"][:3] == ["t", "0/1", "Pending"]


async def test_openapi_and_health(api):
    index = await api.json("GET", "/openapi/v3")
    assert "api/v1" in index["paths"] and "apis/apps/v1" in index["paths"]
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    doc = await api.json("GET", url.split("?")[0])
    assert "io.k8s.api.core.v1.Pod" in doc["components"]["schemas"]
    for path in ("/healthz", "/livez", "/readyz"):
        resp = await api.call("GET", path, token=None)
        assert (resp.status, resp.body) == (200, b"ok")
