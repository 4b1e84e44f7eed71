"""ControllerRevision history helpers: hashing, naming, ordering, equality, truncation, and
creation with hash-collision probing against the real in-process API server."""

from __future__ import annotations

import pytest
from kubemu.cluster.controllers import history
from kubemu.cluster.controllers.history import (
    CONTROLLER_REVISION_HASH_LABEL,
    apply_template_patch,
    create_revision,
    equal_revision,
    new_revision,
    next_revision,
    revision_hash,
    revisions_to_truncate,
    sorted_revisions,
    template_patch,
)

from tests import vtime
from tests.kube import api

OWNER = {"apiVersion": "apps/v1", "kind": "StatefulSet",
         "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
         "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}


def rev(name: str, number: int, created: str | None = None) -> dict:
    md: dict = {"name": name}
    if created:
        md["creationTimestamp"] = created
    return {"metadata": md, "revision": number, "data": {}}


@pytest.mark.parametrize(("raw", "fnv32"), [
    pytest.param(b"", 0x811C9DC5, id="empty-is-offset-basis"),
    pytest.param(b"a", 0x050C5D7E, id="fnv32-not-32a"),
])
def test_revision_hash_is_fnv32_of_the_bytes(monkeypatch: pytest.MonkeyPatch, raw: bytes,
                                             fnv32: int) -> None:
    monkeypatch.setattr(history, "safe_encode", lambda text: text)
    assert int(revision_hash(raw)) == fnv32


def test_revision_hash_ignores_key_order_and_changes_with_collision_count() -> None:
    assert revision_hash({"a": 1, "b": 2}) == revision_hash({"b": 2, "a": 1})
    assert revision_hash({"a": 1}) != revision_hash({"a": 1}, 0)
    assert revision_hash({"a": 1}, 0) != revision_hash({"a": 1}, 1)
    assert not set(revision_hash({"a": 1})) & set("aeiou")


def test_new_revision_is_named_by_hash_labelled_and_controlled_by_owner() -> None:
    data = template_patch(OWNER)
    r = new_revision(OWNER, data, revision=3, collision_count=0, labels={"app": "web"})
    hash_ = revision_hash(data, 0)
    assert r["metadata"]["name"] == f"web-{hash_}"
    assert r["metadata"]["labels"] == {"app": "web", CONTROLLER_REVISION_HASH_LABEL: hash_}
    assert r["metadata"]["ownerReferences"][0] == {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u-1",
        "controller": True, "blockOwnerDeletion": True}
    assert r["revision"] == 3 and r["data"]["spec"]["template"]["$patch"] == "replace"


def test_template_patch_round_trips_through_apply() -> None:
    other = {**OWNER, "spec": {"template": {"spec": {"containers": []}}}}
    restored = apply_template_patch(other, {"data": template_patch(OWNER)})
    assert restored["spec"]["template"] == OWNER["spec"]["template"]


@pytest.mark.parametrize(("revs", "order"), [
    pytest.param([rev("b", 2), rev("a", 1)], ["a", "b"], id="by-number"),
    pytest.param([rev("x", 1, "2026-01-02T00:00:00Z"), rev("y", 1, "2026-01-01T00:00:00Z")],
                 ["y", "x"], id="then-by-creation"),
    pytest.param([rev("z", 1), rev("y", 1)], ["y", "z"], id="then-by-name"),
])
def test_sorted_revisions_oldest_first(revs: list[dict], order: list[str]) -> None:
    assert [r["metadata"]["name"] for r in sorted_revisions(revs)] == order


@pytest.mark.parametrize(("revs", "expected"), [
    pytest.param([], 1, id="empty-history-starts-at-1"),
    pytest.param([rev("a", 4), rev("b", 2)], 5, id="one-above-highest"),
])
def test_next_revision(revs: list[dict], expected: int) -> None:
    assert next_revision(revs) == expected


def test_equal_revision_compares_hash_label_and_data() -> None:
    a = new_revision(OWNER, {"x": 1}, revision=1)
    assert equal_revision(a, new_revision(OWNER, {"x": 1}, revision=7))
    assert not equal_revision(a, new_revision(OWNER, {"x": 2}, revision=1))
    forged = new_revision(OWNER, {"x": 2}, revision=1)
    forged["metadata"]["labels"] = a["metadata"]["labels"]
    assert not equal_revision(a, forged)


@pytest.mark.parametrize(("limit", "live", "deleted"), [
    pytest.param(10, set(), [], id="within-limit"),
    pytest.param(1, set(), ["r1", "r2"], id="oldest-first"),
    pytest.param(0, {"r1", "r3"}, ["r2"], id="live-revisions-kept-and-not-counted"),
])
def test_revisions_to_truncate(limit: int, live: set[str], deleted: list[str]) -> None:
    revs = [rev("r3", 3), rev("r1", 1), rev("r2", 2)]
    assert [r["metadata"]["name"] for r in revisions_to_truncate(revs, live, limit)] == deleted


def test_create_revision_returns_equal_existing_and_probes_past_a_collision() -> None:
    async def main() -> None:
        async with api() as kube:
            data = template_patch(OWNER)
            first, count = await create_revision(kube.client, OWNER,
                                                 new_revision(OWNER, data, revision=1))
            assert count == 0 and first["metadata"]["name"] == f"web-{revision_hash(data, 0)}"
            again, count = await create_revision(kube.client, OWNER,
                                                 new_revision(OWNER, data, revision=2))
            assert count == 0 and again["metadata"]["uid"] == first["metadata"]["uid"]
            # occupy the name the next template would take with different data
            other = {"spec": {"template": {"x": 1}}}
            squatter = new_revision(OWNER, {"squat": True}, revision=9)
            squatter["metadata"]["name"] = f"web-{revision_hash(other, 0)}"
            await kube.client.create(squatter, namespace="default")
            made, count = await create_revision(kube.client, OWNER,
                                                new_revision(OWNER, other, revision=3))
            assert count == 1 and made["metadata"]["name"] == f"web-{revision_hash(other, 1)}"
            assert made["data"] == other
    vtime.run(main)
