"""Object semantics through the router: create, get, update, patch, delete, as kubectl sees them."""

from __future__ import annotations

import orjson
import pytest

from .manifests import configmap, deployment

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"


async def test_system_namespaces_and_kubernetes_service_exist_at_start(api):
    names = [ns["metadata"]["name"]
             for ns in (await api.json("GET", "/api/v1/namespaces"))["items"]]
    assert sorted(names) == ["default", "kube-node-lease", "kube-public", "kube-system"]
    svc = await api.json("GET", "/api/v1/namespaces/default/services/kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"


async def test_create_sets_uid_timestamp_generation_and_store_revision(api):
    created = await api.json("POST", DEPLOYS, deployment(), expect=201)
    md = created["metadata"]
    assert md["uid"] and md["creationTimestamp"] == "2027-01-15T08:00:00Z"
    assert md["generation"] == 1
    assert int(md["resourceVersion"]) == api.store.revision
    got = await api.json("GET", f"{DEPLOYS}/web")
    assert got == created


async def test_upstream_defaults_are_filled_in(api):
    d = await api.json("POST", DEPLOYS, deployment(), expect=201)
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["terminationGracePeriodSeconds"] == 30
    svc = await api.json("POST", "/api/v1/namespaces/default/services", {
        "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                                              "ports": [{"port": 80}]}}, expect=201)
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["sessionAffinity"] == "None"
    assert svc["spec"]["ports"][0]["targetPort"] == 80


async def test_generate_name_makes_a_unique_name(api):
    body = {"metadata": {"generateName": "cfg-"}, "data": {}}
    a = await api.json("POST", CMS, body, expect=201)
    b = await api.json("POST", CMS, body, expect=201)
    assert a["metadata"]["name"].startswith("cfg-") and len(a["metadata"]["name"]) == 9
    assert a["metadata"]["name"] != b["metadata"]["name"]


async def test_create_twice_is_409_already_exists(api):
    await api.json("POST", CMS, configmap("a"), expect=201)
    status = await api.json("POST", CMS, configmap("a"), expect=409)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'configmaps "a" already exists'


async def test_two_writers_from_one_resource_version_exactly_one_wins(api):
    cm = await api.json("POST", CMS, configmap("race"), expect=201)
    first = {**cm, "data": {"k": "first"}}
    second = {**cm, "data": {"k": "second"}}
    ok = await api.call("PUT", f"{CMS}/race", first)
    lost = await api.call("PUT", f"{CMS}/race", second)
    assert (ok.status, lost.status) == (200, 409)
    assert orjson.loads(lost.body)["reason"] == "Conflict"
    assert (await api.json("GET", f"{CMS}/race"))["data"] == {"k": "first"}


async def test_generation_counts_spec_changes_only(api):
    d = await api.json("POST", DEPLOYS, deployment(), expect=201)
    d["metadata"]["labels"]["extra"] = "yes"
    d = await api.json("PUT", f"{DEPLOYS}/web", d)
    assert d["metadata"]["generation"] == 1
    d["spec"]["replicas"] = 5
    d = await api.json("PUT", f"{DEPLOYS}/web", d)
    assert d["metadata"]["generation"] == 2


async def test_an_endpoint_slice_counts_every_change_but_metadata_in_its_generation(api):
    """Upstream's EndpointSlice strategy: generation 1 at create, +1 when anything but
    metadata changes (it has no spec or status)."""
    slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    eps = await api.json("POST", slices, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"port": 80, "protocol": "TCP", "name": ""}],
        "endpoints": []}, expect=201)
    assert eps["metadata"]["generation"] == 1
    eps["endpoints"] = [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}}]
    eps = await api.json("PUT", f"{slices}/web-1", eps)
    assert eps["metadata"]["generation"] == 2
    eps["metadata"]["labels"]["extra"] = "yes"
    eps = await api.json("PUT", f"{slices}/web-1", eps)
    assert eps["metadata"]["generation"] == 2


async def test_an_update_that_changes_nothing_writes_nothing(api):
    cm = await api.json("POST", CMS, configmap("same"), expect=201)
    before = api.store.revision
    again = await api.json("PUT", f"{CMS}/same", cm)
    assert again["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    assert api.store.revision == before


async def test_status_is_separate_from_spec(api):
    d = await api.json("POST", DEPLOYS, deployment(), expect=201)
    d["status"] = {"replicas": 7}
    d = await api.json("PUT", f"{DEPLOYS}/web", d)
    assert "replicas" not in d.get("status", {})
    d["status"] = {"replicas": 3}
    d["spec"]["replicas"] = 9
    d = await api.json("PUT", f"{DEPLOYS}/web/status", d)
    assert d["status"]["replicas"] == 3 and d["spec"]["replicas"] == 2


@pytest.mark.parametrize("content_type,patch", [
    pytest.param("application/merge-patch+json", {"data": {"k": "merged", "new": "1"}},
                 id="merge"),
    pytest.param("application/strategic-merge-patch+json", {"data": {"k": "merged", "new": "1"}},
                 id="strategic"),
    pytest.param("application/json-patch+json", [{"op": "replace", "path": "/data/k",
                                                  "value": "merged"},
                                                 {"op": "add", "path": "/data/new", "value": "1"}],
                 id="json"),
])
async def test_each_patch_type_changes_the_object(api, content_type, patch):
    await api.json("POST", CMS, configmap("p", {"k": "v", "keep": "x"}), expect=201)
    out = await api.json("PATCH", f"{CMS}/p", patch, headers={"content-type": content_type})
    assert out["data"] == {"k": "merged", "keep": "x", "new": "1"}


async def test_strategic_merge_patch_merges_containers_by_name(api):
    d = deployment()
    d["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    await api.json("POST", DEPLOYS, d, expect=201)
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
        "containers": [{"name": "app", "image": "nginx:1.26"}]}}}}
    out = await api.json("PATCH", f"{DEPLOYS}/web", patch,
                         headers={"content-type": "application/strategic-merge-patch+json"})
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("app", "nginx:1.26"),
                                                              ("side", "busybox")]
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert out["metadata"]["generation"] == 2


async def test_delete_returns_the_object_and_it_is_gone(api):
    await api.json("POST", CMS, configmap("gone"), expect=201)
    out = await api.json("DELETE", f"{CMS}/gone")
    assert out["metadata"]["name"] == "gone"
    status = await api.json("GET", f"{CMS}/gone", expect=404)
    assert status["message"] == 'configmaps "gone" not found'


async def test_delete_preconditions_guard_the_delete(api):
    cm = await api.json("POST", CMS, configmap("pre"), expect=201)
    bad = await api.json("DELETE", f"{CMS}/pre", {"preconditions": {"uid": "nope"}},
                         expect=409)
    assert "Precondition failed: UID in precondition: nope" in bad["message"]
    await api.json("DELETE", f"{CMS}/pre", {"preconditions": {
        "uid": cm["metadata"]["uid"], "resourceVersion": cm["metadata"]["resourceVersion"]}})


async def test_finalizers_hold_a_deleted_object_until_removed(api):
    cm = configmap("fin")
    cm["metadata"]["finalizers"] = ["example.com/hold"]
    await api.json("POST", CMS, cm, expect=201)
    held = await api.json("DELETE", f"{CMS}/fin")
    assert held["metadata"]["deletionTimestamp"]
    still = await api.json("GET", f"{CMS}/fin")
    still["metadata"]["finalizers"] = []
    await api.json("PUT", f"{CMS}/fin", still)
    await api.json("GET", f"{CMS}/fin", expect=404)


async def test_dry_run_checks_everything_and_writes_nothing(api):
    before = api.store.revision
    out = await api.json("POST", CMS, configmap("dry"), expect=201, query={"dryRun": "All"})
    assert out["metadata"]["name"] == "dry"
    assert api.store.revision == before
    await api.json("GET", f"{CMS}/dry", expect=404)
    await api.json("POST", CMS, configmap("dry"), expect=400, query={"dryRun": "Some"})


async def test_delete_collection_by_label(api):
    for name, tier in [("a", "x"), ("b", "x"), ("c", "y")]:
        await api.json("POST", CMS, configmap(name, labels={"tier": tier}), expect=201)
    await api.json("DELETE", CMS, query={"labelSelector": "tier=x"})
    left = [c["metadata"]["name"] for c in (await api.json("GET", CMS))["items"]]
    assert left == ["c"]


async def test_namespace_delete_empties_it_and_blocks_new_content(api):
    await api.json("POST", "/api/v1/namespaces", {"metadata": {"name": "team"}}, expect=201)
    ns_cms = "/api/v1/namespaces/team/configmaps"
    await api.json("POST", ns_cms, configmap("one"), expect=201)
    ns = await api.json("DELETE", "/api/v1/namespaces/team")
    assert ns["status"]["phase"] == "Terminating"
    refused = await api.json("POST", ns_cms, configmap("two"), expect=403)
    assert "being terminated" in refused["message"]
    from kubemu.cluster.api.namespaces import sweep
    while await sweep(api.server.handlers):
        pass
    await api.json("GET", "/api/v1/namespaces/team", expect=404)
    assert (await api.json("GET", ns_cms))["items"] == []


async def test_create_in_a_missing_namespace_is_404(api):
    status = await api.json("POST", "/api/v1/namespaces/nowhere/configmaps", configmap("x"),
                            expect=404)
    assert status["message"] == 'namespaces "nowhere" not found'


async def test_a_service_put_without_its_cluster_ip_keeps_it(api):
    svcs = "/api/v1/namespaces/default/services"
    body = {"metadata": {"name": "keep"}, "spec": {"selector": {"app": "x"},
                                                   "clusterIP": "10.96.0.50",
                                                   "ports": [{"port": 80}]}}
    await api.json("POST", svcs, body, expect=201)
    body["spec"] = {"selector": {"app": "y"}, "ports": [{"port": 80}]}
    out = await api.json("PUT", f"{svcs}/keep", body)
    assert out["spec"]["clusterIP"] == "10.96.0.50" and out["spec"]["selector"] == {"app": "y"}


async def test_a_pod_takes_its_priority_class_value(api):
    await api.json("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", {
        "metadata": {"name": "high"}, "value": 1000}, expect=201)
    pod = {"metadata": {"name": "vip"}, "spec": {"priorityClassName": "high",
                                                  "containers": [{"name": "c", "image": "x"}]}}
    out = await api.json("POST", PODS, pod, expect=201)
    assert out["spec"]["priority"] == 1000
    pod["metadata"]["name"] = "nobody"
    pod["spec"]["priorityClassName"] = "missing"
    refused = await api.json("POST", PODS, pod, expect=403)
    assert "no PriorityClass with name missing was found" in refused["message"]
