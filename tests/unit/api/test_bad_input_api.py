"""Every bad input gets its Status code and reason, and nothing is written."""

from __future__ import annotations

import pytest

from .manifests import configmap, deployment

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def _bad_deploy(mutate):
    d = deployment()
    mutate(d)
    return d


@pytest.mark.parametrize("method,path,kw,code,reason", [
    pytest.param("GET", CMS, {"token": None}, 401, "Unauthorized", id="no-token"),
    pytest.param("GET", CMS, {"token": "wrong"}, 401, "Unauthorized", id="wrong-token"),
    pytest.param("POST", CMS, {"raw": b"{not json"}, 400, "BadRequest", id="malformed-json"),
    pytest.param("POST", CMS, {"raw": b"a: [unclosed", "headers": {
        "content-type": "application/yaml"}}, 400, "BadRequest", id="malformed-yaml"),
    pytest.param("POST", CMS, {"raw": b"x" * (3 * 1024 * 1024 + 1)}, 413,
                 "RequestEntityTooLarge", id="body-over-3MiB"),
    pytest.param("POST", CMS, {"raw": b"[1, 2]"}, 400, "BadRequest", id="not-an-object"),
    pytest.param("POST", CMS, {"body": {"kind": "Secret", "apiVersion": "v1",
                                        "metadata": {"name": "x"}}}, 400, "BadRequest",
                 id="wrong-kind"),
    pytest.param("POST", CMS, {"body": {"metadata": {"name": "Bad_Name"}}}, 422, "Invalid",
                 id="invalid-name"),
    pytest.param("POST", CMS, {"body": {"metadata": {"name": "x", "labels": {
        "bad key!": "v"}}}}, 422, "Invalid", id="invalid-label"),
    pytest.param("POST", CMS, {"body": {"metadata": {}}}, 422, "Invalid", id="no-name"),
    pytest.param("POST", DEPLOYS, {"body": _bad_deploy(
        lambda d: d["spec"].__setitem__("replicas", -1))}, 422, "Invalid",
                 id="negative-replicas"),
    pytest.param("POST", DEPLOYS, {"body": _bad_deploy(
        lambda d: d["spec"]["selector"]["matchLabels"].__setitem__("app", "other"))}, 422,
                 "Invalid", id="selector-mismatch"),
    pytest.param("POST", DEPLOYS, {"body": _bad_deploy(
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("imagex", "x")),
        "query": {"fieldValidation": "Strict"}}, 400, "BadRequest", id="strict-unknown-field"),
    pytest.param("POST", CMS, {"body": configmap("x"), "query": {"fieldValidation": "Loose"}},
                 400, "BadRequest", id="bad-field-validation"),
    pytest.param("GET", "/api/v1/namespaces/default/nothings", {}, 404, "NotFound",
                 id="unknown-resource"),
    pytest.param("GET", CMS, {"query": {"limit": "many"}}, 400, "BadRequest", id="bad-limit"),
    pytest.param("GET", CMS, {"query": {"labelSelector": "a in (b"}}, 400, "BadRequest",
                 id="bad-selector"),
    pytest.param("GET", CMS, {"query": {"resourceVersion": "x",
                                        "resourceVersionMatch": "Exact"}}, 400, "BadRequest",
                 id="bad-resource-version"),
    pytest.param("PATCH", f"{CMS}/x", {"body": {"data": {}}, "headers": {
        "content-type": "text/plain"}}, 415, "UnsupportedMediaType", id="bad-patch-type"),
    pytest.param("DELETE", f"{CMS}/x", {"query": {"propagationPolicy": "Sideways"}}, 400,
                 "BadRequest", id="bad-propagation-policy"),
])
async def test_bad_input_gets_its_status_and_writes_nothing(api, method, path, kw, code,
                                                            reason):
    if method in ("PATCH", "DELETE"):
        await api.json("POST", CMS, configmap("x"), expect=201)
    before = api.store.revision
    resp = await api.call(method, path, **kw)
    import orjson
    status = orjson.loads(resp.body)
    assert (resp.status, status["kind"], status["code"], status["reason"]) == (
        code, "Status", code, reason), status
    assert api.store.revision == before


async def test_invalid_names_the_field_like_upstream(api):
    d = deployment()
    d["spec"]["replicas"] = -1
    status = await api.json("POST", DEPLOYS, d, expect=422)
    assert status["message"].startswith('Deployment.apps "web" is invalid: spec.replicas')
    assert status["details"]["causes"][0]["field"] == "spec.replicas"


async def test_unknown_fields_warn_by_default_and_are_dropped(api):
    cm = configmap("w")
    cm["extra"] = 1
    resp = await api.call("POST", CMS, cm)
    assert resp.status == 201
    assert 'unknown field \\"extra\\"' in resp.headers["warning"] or \
        'unknown field "extra"' in resp.headers["warning"]
    stored = await api.json("GET", f"{CMS}/w")
    assert "extra" not in stored


async def test_immutable_fields_cannot_change(api):
    await api.json("POST", DEPLOYS, deployment(), expect=201)
    patch = {"spec": {"selector": {"matchLabels": {"app": "web", "more": "x"}},
                      "template": {"metadata": {"labels": {"app": "web", "more": "x"}}}}}
    status = await api.json("PATCH", f"{DEPLOYS}/web", patch, expect=422,
                            headers={"content-type": "application/merge-patch+json"})
    assert "spec.selector" in status["message"]


async def test_patch_with_a_stale_resource_version_is_409(api):
    cm = await api.json("POST", CMS, configmap("rv"), expect=201)
    await api.json("PATCH", f"{CMS}/rv", {"data": {"k": "1"}},
                   headers={"content-type": "application/merge-patch+json"})
    await api.json("PATCH", f"{CMS}/rv", {"metadata": {
        "resourceVersion": cm["metadata"]["resourceVersion"]}, "data": {"k": "2"}},
        headers={"content-type": "application/merge-patch+json"}, expect=409)
